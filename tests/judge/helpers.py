"""A small judging project on disk: questions, candidate answers inserted into the store, a judge."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from arena.answers import answer_fingerprint
from arena.backends.base import GenerationResult
from arena.config import DEFAULT_RUBRIC, ArenaConfig, load_config
from arena.files import resolve_path
from arena.questions.loading import load_questions
from arena.store.answers import insert_answer, sync_questions
from arena.store.engine import open_store
from arena.store.schema import battles, judgments
from tests.fakes.scripted_server import ScriptedServer, response_sections

REPO = Path(__file__).resolve().parents[2]

QUESTIONS = [
    {"id": "q1", "text": "What are the warning signs of a stroke?", "category": "neurology"},
    {"id": "q2", "text": "How should I take metformin?", "category": "endocrinology",
     "reference_answer": "With meals, starting low, as prescribed."},
]


@dataclass
class Project:
    root: Path
    config_path: Path

    def config(self) -> ArenaConfig:
        return load_config(self.config_path)

    def rows(self, table: Any) -> list[dict[str, Any]]:
        store = open_store(self.config().storage_url)
        try:
            with store.connect() as connection:
                return [dict(r._mapping) for r in connection.execute(select(table).order_by(table.c.id))]
        finally:
            store.close()

    def judgments(self) -> list[dict[str, Any]]:
        return self.rows(judgments)

    def battles(self) -> list[dict[str, Any]]:
        return self.rows(battles)


def make_project(root: Path, judge: dict[str, Any], models: tuple[str, ...] = ("alpha", "beta", "gamma"),
                 questions: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None) -> Project:
    """A project whose models are placeholders: their answers are inserted by `add_answers`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "questions.jsonl").write_text(
        "\n".join(json.dumps(q) for q in (questions or QUESTIONS)) + "\n", encoding="utf-8")
    (root / "rubrics").mkdir(exist_ok=True)  # the project's own copy of the rubric: tests edit it
    shutil.copy(resolve_path(DEFAULT_RUBRIC), root / "rubrics" / "medical.yaml")
    project = {
        "questions": "questions.jsonl",
        "rubric": "rubrics/medical.yaml",
        "models": [{"name": name, "backend": "transformers", "model": f"/placeholder/{name}"} for name in models],
        "judge": judge,
        **(extra or {}),
    }
    path = root / "arena.yaml"
    path.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return Project(root=root, config_path=path)


def add_answers(project: Project, texts: dict[tuple[str, str], str]) -> dict[tuple[str, str], int]:
    """Store answers {(model, question id): text} as if `arena generate` had made them."""
    config = project.config()
    question_list = {q.id: q for q in load_questions(config.questions)}
    store = open_store(config.storage_url)
    ids = {}
    try:
        sync_questions(store, question_list.values())
        with store.transaction() as connection:
            for (model, question_id), text in texts.items():
                fp = answer_fingerprint(config, config.model(model), question_list[question_id])
                result = GenerationResult(key="", text=text, finish_reason="stop", completion_tokens=len(text.split()))
                ids[(model, question_id)] = insert_answer(connection, model, question_id, fp, result)
    finally:
        store.close()
    return ids


def answers_of_length(models: tuple[str, ...] = ("alpha", "beta", "gamma"),
                      question_ids: tuple[str, ...] = ("q1", "q2")) -> dict[tuple[str, str], str]:
    """Answers whose lengths rank the models: later models write longer answers."""
    return {(model, qid): f"{model} on {qid}: " + "detail " * (3 * (rank + 1))
            for rank, model in enumerate(models) for qid in question_ids}


def scripted_judge(base_url: str, **overrides: Any) -> dict[str, Any]:
    return {"name": "scripted-judge", "backend": "openai", "model": "scripted", "base_url": base_url,
            "max_concurrency": 1, "max_retries": 0, **overrides}


# --- a jury of three scripted judges, one a contrarian ----------------------------------------

JURY_MODELS = ("alpha", "beta", "gamma")  # answer ids follow this order, so the lower id is the earlier model
JURY_UNITS = [("q1", "alpha", "beta"), ("q1", "alpha", "gamma"), ("q1", "beta", "gamma"),
         ("q2", "alpha", "beta"), ("q2", "alpha", "gamma"), ("q2", "beta", "gamma")]
# Each judge's both-orders outcome of each unit, for the earlier model: W wins, T tie, L loses.
JURY_OUTCOMES = {
    "j1": "LLLLLT",
    "j2": "LLWLTT",
    "j3": "WWWWWL",  # the contrarian
}


def table_script(outcomes: str) -> Callable[[str], str]:
    """A judge whose both-orders outcome of each unit is `outcomes`: the winner's answer gets the
    verdict in either order; a tie is "A" in both orders (the orders then disagree: a tie)."""
    def script(prompt: str) -> str:
        a, b = response_sections(prompt)
        model_a, question = a.split(" on ")[0].strip(), a.split(" on ")[1].split(":")[0]
        model_b = b.split(" on ")[0].strip()
        low, high = sorted((model_a, model_b), key=JURY_MODELS.index)
        outcome = outcomes[JURY_UNITS.index((question, low, high))]
        if outcome == "T":
            return "Both are about as good. [RESULT] A"
        winner = low if outcome == "W" else high
        letter = "A" if winner == model_a else "B"
        return f"Response {letter} is better. [RESULT] {letter}"
    return script


@contextmanager
def jury_project(tmp_path: Path) -> Iterator[tuple[Project, dict[str, ScriptedServer]]]:
    with ExitStack() as stack:
        servers = {name: stack.enter_context(ScriptedServer(table_script(o), model=f"model-{name}"))
                   for name, o in JURY_OUTCOMES.items()}
        judges = [scripted_judge(s.base_url, name=name, model=f"model-{name}") for name, s in servers.items()]
        project = make_project(tmp_path / "p", judges[0], models=JURY_MODELS)
        raw = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
        del raw["judge"]
        raw["judges"] = judges
        project.config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        add_answers(project, answers_of_length(JURY_MODELS))
        yield project, servers
