"""Populate a test store with questions, answers, judgments and battles, as the earlier stages would."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from sqlalchemy import func, select

from arena.store import Store, answers, battles, judgments, open_store, questions, utcnow

CONFIG_YAML = """\
models:
{models}
questions: questions.jsonl
"""


def write_project(root: Path, model_names: list[str]) -> Path:
    """A minimal arena.yaml (openai models, a one-question file) whose store is root/arena.db."""
    (root / "questions.jsonl").write_text(
        '{"id": "q1", "text": "What is hypertension?", "category": "cardiology"}\n', encoding="utf-8"
    )
    models = "\n".join(
        f"  - name: {name}\n    backend: openai\n    model: {name}\n    base_url: http://127.0.0.1:9/v1"
        for name in model_names
    )
    path = root / "arena.yaml"
    path.write_text(CONFIG_YAML.format(models=models), encoding="utf-8")
    return path


def new_store(root: Path) -> Store:
    return open_store(f"sqlite:///{root / 'arena.db'}")


def add_questions(store: Store, rows: list[tuple[str, str, str]]) -> None:
    """(id, category, audience) rows."""
    with store.transaction() as connection:
        connection.execute(questions.insert(), [
            {"id": qid, "text": f"question {qid}", "category": category, "audience": audience,
             "kind": "general", "safety_critical": False}
            for qid, category, audience in rows
        ])


def add_imported_battles(store: Store, source: str, rows: list[dict]) -> None:
    """Battles as an import would store them; rows need model_a, model_b, winner."""
    with store.transaction() as connection:
        start = connection.execute(select(func.count()).select_from(battles)).scalar_one()
        connection.execute(battles.insert(), [
            {"source": source, "dedup_key": f"{source}-{start + k}", "tstamp": float(k), **row}
            for k, row in enumerate(rows)
        ])


def add_judged_battle(
    store: Store,
    judge_key: str,
    model_a: str,
    model_b: str,
    verdict_ab: str | None,
    verdict_ba: str | None,
    question_id: str = "q1",
    category: str | None = "cardiology",
    lengths: tuple[int, int] = (400, 300),
    tstamp: float = 0.0,
) -> None:
    """One battle judged in both orders (distinct `tstamp` per call), with the winner the judge stage would derive.

    verdict_ab shows model_a as Response A; verdict_ba shows model_b as Response A; None = invalid.
    """
    now = utcnow()
    with store.transaction() as connection:
        answer_ids = [  # fresh answers per battle, as if each came from its own answer settings
            connection.execute(answers.insert().values(
                model=model, question_id=question_id, fingerprint=f"{tstamp:016.3f}", text="x" * length,
                truncated=False, created_at=now,
            )).inserted_primary_key[0]
            for model, length in ((model_a, lengths[0]), (model_b, lengths[1]))
        ]
        judgment_ids = []
        for shown_a, shown_b, verdict in ((0, 1, verdict_ab), (1, 0, verdict_ba)):
            names = (model_a, model_b)
            judgment_ids.append(connection.execute(judgments.insert().values(
                judge_key=judge_key, question_id=question_id, model_a=names[shown_a], model_b=names[shown_b],
                answer_a_id=answer_ids[shown_a], answer_b_id=answer_ids[shown_b], judge="prometheus-test",
                rubric_id="medical", rubric_version="1.0", prompt_version="1", raw_output="...",
                verdict=verdict, valid=verdict is not None, attempts=1, truncated=False, created_at=now,
            )).inserted_primary_key[0])
        first = {"A": model_a, "B": model_b}.get(verdict_ab or "")
        second = {"A": model_b, "B": model_a}.get(verdict_ba or "")
        if first is None or second is None:
            return  # an invalid verdict: no battle
        winner = "tie" if first != second else ("model_a" if first == model_a else "model_b")
        connection.execute(battles.insert().values(
            source="judge", question_id=question_id, category=category, model_a=model_a, model_b=model_b,
            winner=winner, judge="prometheus-test", judge_key=judge_key, judgment_ab_id=judgment_ids[0],
            judgment_ba_id=judgment_ids[1], answer_a_len=lengths[0], answer_b_len=lengths[1],
            dedup_key=f"{judge_key}-{answer_ids[0]}-{answer_ids[1]}-{tstamp}", tstamp=tstamp,
        ))


def fake_judge_stage(monkeypatch: pytest.MonkeyPatch, judge_key: str) -> None:
    """Stand in for `arena.judge.current_judge_key`, whether or not the judge stage is installed."""
    module = types.ModuleType("arena.judge")
    module.current_judge_key = lambda config: judge_key  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "arena.judge", module)
