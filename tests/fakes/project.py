"""The one builder of an arena project on disk, for tests only.

    path = write_project(tmp_path, models=[openai_model("alpha", server.base_url)],
                         questions=[{"id": "q1", "text": "What is a fever?", "category": "c"}],
                         judge=openai_model("scripted-judge", server.base_url, max_retries=0))
    project = Project(tmp_path, path)
    project.add_answers({("alpha", "q1"): "Rest and fluids."})   # as `arena generate` would
    project.battles()                                            # the store's rows, as dicts

`write_project` writes `root/arena.yaml` and what it names: the questions file (when given its
rows) and the rubric (when given one to write or copy). It writes exactly the keys it is given,
in one order, so a test's project file holds only what the test chose; what the builder takes:

- `models`: the model entries, made with `openai_model` (any OpenAI-compatible server: nothing
  listens on the default URL) or `placeholder_model` (a transformers model that never loads:
  for tests that insert the answers themselves), or written out.
- `questions`: the rows of the questions file (`questions_file`, default questions.jsonl),
  written as JSON lines; None leaves the file as it is (written earlier, or by the test).
  `question_files` is what `questions:` names (default: `questions_file`).
- `rubric`: None names none (the packaged default); a str is named as is (`arena:...` or a path
  beside the project); a Path is copied into `root/rubrics/` (the project's own copy: tests
  edit it); a mapping is written to `root/rubric.yaml`.
- `judge` or `judges` (a jury), `storage` (a SQLAlchemy URL; none: arena.db beside the file),
  and `extra`: any other top-level keys (`system_prompt`, `pairs`, `nightly`, ...), last.

Rooms keep their own defaults in thin wrappers (tests/judge/helpers.py, tests/nightly/project.py,
tests/ratings/store_helpers.py) that call this builder. `read_config` and `edit_config` change
a written project file's keys, for tests that rewrite one step by step.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Table, select

from arena.answers import answer_fingerprint
from arena.backends.base import GenerationResult
from arena.config import ArenaConfig, load_config
from arena.questions.loading import load_questions
from arena.store.answers import insert_answer, sync_questions
from arena.store.engine import Store, open_store
from arena.store.schema import answers, battles, judgments, questions

Entry = Mapping[str, Any]  # a model's or judge's entry in arena.yaml
Rubric = str | Path | Mapping[str, Any] | None

CONFIG_NAME = "arena.yaml"
QUESTIONS_FILE = "questions.jsonl"
UNREACHABLE_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing answers there


def openai_model(name: str, base_url: str = UNREACHABLE_URL, *, model: str = "scripted",
                 **options: Any) -> dict[str, Any]:
    """A model (or judge) entry on an OpenAI-compatible server; `options` are its other keys."""
    return {"name": name, "backend": "openai", "model": model, "base_url": base_url, **options}


def placeholder_model(name: str, **options: Any) -> dict[str, Any]:
    """A transformers model whose weights do not exist: it is never loaded, its answers are inserted."""
    return {"name": name, "backend": "transformers", "model": f"/placeholder/{name}", **options}


def write_questions(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """A questions file: one JSON object a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(dict(row)) + "\n" for row in rows), encoding="utf-8")
    return path


def write_yaml(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


def _rubric_entry(root: Path, rubric: Rubric) -> str | None:
    if rubric is None or isinstance(rubric, str):
        return rubric
    if isinstance(rubric, Path):
        (root / "rubrics").mkdir(exist_ok=True)
        shutil.copy(rubric, root / "rubrics" / rubric.name)
        return f"rubrics/{rubric.name}"
    write_yaml(root / "rubric.yaml", rubric)
    return "rubric.yaml"


def write_project(
    root: Path,
    *,
    models: Sequence[Entry],
    questions: Iterable[Mapping[str, Any]] | None,
    questions_file: str = QUESTIONS_FILE,
    question_files: Sequence[str] | None = None,
    rubric: Rubric = None,
    judge: Entry | None = None,
    judges: Sequence[Entry] | None = None,
    storage: str | None = None,
    extra: Mapping[str, Any] | None = None,
    config_name: str = CONFIG_NAME,
) -> Path:
    """Write (or rewrite) the project in `root` (see the module's docstring); the project file's path."""
    root.mkdir(parents=True, exist_ok=True)
    if questions is not None:
        write_questions(root / questions_file, questions)
    files = list(question_files or [questions_file])
    project: dict[str, Any] = {"questions": files[0] if len(files) == 1 else files}
    rubric_entry = _rubric_entry(root, rubric)
    if rubric_entry is not None:
        project["rubric"] = rubric_entry
    project["models"] = [dict(entry) for entry in models]
    if judge is not None:
        project["judge"] = dict(judge)
    if judges is not None:
        project["judges"] = [dict(entry) for entry in judges]
    if storage:
        project["storage"] = storage
    project.update(extra or {})
    return write_yaml(root / config_name, project)


def read_config(path: Path) -> dict[str, Any]:
    """A project file's keys, as written."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def edit_config(path: Path, **changes: Any) -> Path:
    """Set top-level keys of a written project file; a key given None is removed."""
    data = read_config(path)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return write_yaml(path, data)


@dataclass(frozen=True)
class Project:
    """A project written by `write_project`: its config, its store's rows, answers put in its store."""

    root: Path
    config_path: Path

    def config(self) -> ArenaConfig:
        return load_config(self.config_path)

    def edit(self, **changes: Any) -> None:
        edit_config(self.config_path, **changes)

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = open_store(self.config().storage_url)
        try:
            yield store
        finally:
            store.close()

    def rows(self, table: Table) -> list[dict[str, Any]]:
        """The table's rows in id order (questions: in id order too, by their string id)."""
        with self.store() as store, store.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(table).order_by(table.c.id))]

    def questions(self) -> list[dict[str, Any]]:
        return self.rows(questions)

    def answers(self) -> list[dict[str, Any]]:
        return self.rows(answers)

    def judgments(self) -> list[dict[str, Any]]:
        return self.rows(judgments)

    def battles(self) -> list[dict[str, Any]]:
        return self.rows(battles)

    def add_answers(self, texts: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], int]:
        """Store answers {(model, question id): text} as `arena generate` would (the questions
        synced, each answer with its real fingerprint); their ids."""
        config = self.config()
        question_list = {q.id: q for q in load_questions(config.questions)}
        ids = {}
        with self.store() as store:
            sync_questions(store, question_list.values())
            with store.transaction() as connection:
                for (model, question_id), text in texts.items():
                    fp = answer_fingerprint(config, config.model(model), question_list[question_id])
                    result = GenerationResult(key="", text=text, finish_reason="stop",
                                              completion_tokens=len(text.split()))
                    ids[(model, question_id)] = insert_answer(connection, model, question_id, fp, result)
        return ids
