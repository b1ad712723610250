"""The project builder writes what it is given, loads as a valid project, and fills the store."""

from __future__ import annotations

from pathlib import Path

from arena.config import DEFAULT_RUBRIC
from arena.files import resolve_path
from tests.fakes.project import (
    Project,
    edit_config,
    openai_model,
    placeholder_model,
    read_config,
    write_project,
)

QUESTIONS = [{"id": "q1", "text": "What is a fever?", "category": "c"},
             {"id": "q2", "text": "What is a rash?", "category": "c"}]


def test_only_the_given_keys_are_written(tmp_path: Path) -> None:
    path = write_project(tmp_path, models=[openai_model("a")], questions=QUESTIONS)
    assert read_config(path) == {"questions": "questions.jsonl", "models": [
        {"name": "a", "backend": "openai", "model": "scripted", "base_url": "http://127.0.0.1:9/v1"}]}
    config = Project(tmp_path, path).config()
    assert config.questions == [tmp_path / "questions.jsonl"] and config.judge is None
    assert config.storage_url == f"sqlite:///{tmp_path / 'arena.db'}"


def test_rubrics_questions_judges_storage_and_extra_keys(tmp_path: Path) -> None:
    judge = openai_model("j", max_retries=0)
    copied = write_project(tmp_path / "copied", models=[placeholder_model("a")], questions=QUESTIONS,
                           rubric=resolve_path(DEFAULT_RUBRIC), judge=judge, storage="sqlite:////tmp/x.db",
                           extra={"system_prompt": "Be brief."})
    config = Project(copied.parent, copied).config()
    assert config.rubric == copied.parent / "rubrics" / "medical.yaml"
    assert config.judge is not None and config.judge.name == "j"
    assert config.storage_url == "sqlite:////tmp/x.db" and config.system_prompt == "Be brief."

    rubric = {"id": "r", "version": "2", "name": "R", "question": "Which is better?",
              "criteria": [{"id": "c", "name": "C", "description": "Clear."}]}
    written = write_project(tmp_path / "written", models=[placeholder_model("a")], questions=QUESTIONS,
                            rubric=rubric, judges=[judge, {**judge, "name": "k", "model": "other"}])
    assert read_config(written)["rubric"] == "rubric.yaml" and (written.parent / "rubric.yaml").exists()
    assert [j.name for j in Project(written.parent, written).config().jury] == ["j", "k"]

    named = write_project(tmp_path / "named", models=[placeholder_model("a")], questions=None,
                          question_files=["a.jsonl", "b.jsonl"], rubric="arena:rubrics/medical.yaml")
    assert not (tmp_path / "named" / "questions.jsonl").exists()  # None: no questions file written
    assert read_config(named)["questions"] == ["a.jsonl", "b.jsonl"]
    assert read_config(named)["rubric"] == "arena:rubrics/medical.yaml"


def test_edit_config_sets_and_removes_keys(tmp_path: Path) -> None:
    path = write_project(tmp_path, models=[placeholder_model("a")], questions=QUESTIONS, judge=openai_model("j"))
    edit_config(path, judge=None, pairs={"mode": "all"})
    assert "judge" not in read_config(path) and read_config(path)["pairs"] == {"mode": "all"}


def test_answers_are_stored_as_generate_would(tmp_path: Path) -> None:
    project = Project(tmp_path, write_project(tmp_path, models=[placeholder_model("a"), placeholder_model("b")],
                                              questions=QUESTIONS))
    ids = project.add_answers({("a", "q1"): "Rest.", ("b", "q1"): "Rest and fluids."})
    assert [q["id"] for q in project.questions()] == ["q1", "q2"]
    stored = project.answers()
    assert [(a["id"], a["model"], a["text"], a["completion_tokens"]) for a in stored] == [
        (ids["a", "q1"], "a", "Rest.", 1), (ids["b", "q1"], "b", "Rest and fluids.", 3)]
    assert project.judgments() == [] and project.battles() == []
