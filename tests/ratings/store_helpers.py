"""Populate a test store with questions, answers, judgments and battles, as the earlier stages would."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from arena.answers import answer_fingerprint, answer_style, expected_fingerprints
from arena.config import load_config
from arena.questions.loading import load_questions
from arena.store.answers import load_current_answers, sync_questions
from arena.store.engine import Store, open_store, utcnow
from arena.store.schema import answers, battles, judgments, questions
from tests.fakes import project as fakes
from tests.fakes.project import openai_model


def question_rows(n: int, categories: tuple[str, ...] = ("cardiology",), safety_every: int = 0) -> list[dict]:
    """q1..qn, categories and audiences in turn, every `safety_every`-th safety-critical."""
    return [{"id": f"q{k}", "text": f"Health question number {k}?", "category": categories[(k - 1) % len(categories)],
             "audience": "patient" if k % 3 else "clinician",
             "safety_critical": bool(safety_every) and k % safety_every == 0}
            for k in range(1, n + 1)]


def write_project(root: Path, model_names: list[str], question_list: list[dict] | None = None,
                  storage: str | None = None) -> Path:
    """A minimal arena.yaml (openai models, a question file) whose store is `storage` (default root/arena.db)."""
    return fakes.write_project(
        root, models=[openai_model(name, model=name) for name in model_names],
        questions=question_list or [{"id": "q1", "text": "What is hypertension?", "category": "cardiology"}],
        storage=storage)


def new_store(root: Path) -> Store:
    """The store of the project in `root` (written by `write_project`), or root/arena.db."""
    config_path = root / "arena.yaml"
    if config_path.exists():
        return open_store(load_config(config_path).storage_url)
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


def winner_of(model_a: str, model_b: str, verdict_ab: str, verdict_ba: str) -> str:
    """The both-orders rule: verdict_ab shows model_a as A, verdict_ba shows model_b as A."""
    first = {"A": model_a, "B": model_b}[verdict_ab]
    second = {"A": model_b, "B": model_a}[verdict_ba]
    return "tie" if first != second else ("model_a" if first == model_a else "model_b")


class JudgedStore:
    """A project's store filled as `arena generate` and `arena judge` would: one current answer per
    model and question (with the real answer fingerprint and its style), two judgments and a
    battle per pair (with both answers' ids and both verdicts)."""

    def __init__(self, config_path: Path) -> None:
        self.config = load_config(config_path)
        self.store = open_store(self.config.storage_url)
        self.questions = {q.id: q for q in load_questions(self.config.questions)}
        sync_questions(self.store, self.questions.values())
        self.current: dict[tuple[str, str], dict[str, Any]] = {
            (a.model, a.question_id): {"id": a.id, "model": a.model, "text": a.text, "tokens": a.completion_tokens}
            for a in load_current_answers(self.store, expected_fingerprints(
                self.config, self.config.models, self.questions.values())).values()
        }
        with self.store.connect() as connection:
            self.clock = float(connection.execute(select(func.max(battles.c.tstamp))).scalar() or 0.0)

    def close(self) -> None:
        self.store.close()

    def answer(self, model: str, question_id: str, text: str | None = None, tokens: int | None = None,
               fingerprint: str | None = None) -> dict[str, Any]:
        """The model's current answer to the question (made on first use), or a superseded one
        when `fingerprint` is given."""
        key = (model, question_id)
        if fingerprint is None and key in self.current:
            return self.current[key]
        text = text if text is not None else f"{model} answers {question_id}. " + "detail " * (len(model) + 2)
        tokens = tokens if tokens is not None else len(text.split())
        fp = fingerprint or answer_fingerprint(self.config, self.config.model(model), self.questions[question_id])
        style = answer_style(text, tokens)
        with self.store.transaction() as connection:
            answer_id = connection.execute(answers.insert().values(
                model=model, question_id=question_id, fingerprint=fp, text=text, truncated=False,
                completion_tokens=tokens, headers=style.headers, list_items=style.list_items, bold=style.bold,
                created_at=utcnow())).inserted_primary_key[0]
        made = {"id": answer_id, "model": model, "text": text, "tokens": tokens}
        if fingerprint is None:
            self.current[key] = made
        return made

    def battle(self, judge_key: str, model_a: str, model_b: str, verdict_ab: str | None, verdict_ba: str | None,
               question_id: str = "q1", answer_a: dict | None = None, answer_b: dict | None = None) -> int | None:
        """Judge model_a's and model_b's answers in both orders; the battle's id (None if a verdict is invalid)."""
        a = answer_a or self.answer(model_a, question_id)
        b = answer_b or self.answer(model_b, question_id)
        now = utcnow()
        self.clock += 1.0
        with self.store.transaction() as connection:
            judgment_ids = []
            for shown_a, shown_b, verdict in ((a, b, verdict_ab), (b, a, verdict_ba)):
                judgment_ids.append(connection.execute(judgments.insert().values(
                    judge_key=judge_key, question_id=question_id, model_a=shown_a["model"], model_b=shown_b["model"],
                    answer_a_id=shown_a["id"], answer_b_id=shown_b["id"], judge="prometheus-test",
                    rubric_id="medical", rubric_version="1.0", prompt_version="1", raw_output="...",
                    verdict=verdict, valid=verdict is not None, attempts=1, truncated=False, created_at=now,
                )).inserted_primary_key[0])
            if verdict_ab is None or verdict_ba is None:
                return None
            question = self.questions[question_id]
            return int(connection.execute(battles.insert().values(
                source="judge", question_id=question_id, category=question.category, model_a=model_a,
                model_b=model_b, winner=winner_of(model_a, model_b, verdict_ab, verdict_ba),
                judge="prometheus-test", judge_key=judge_key, judgment_ab_id=judgment_ids[0],
                judgment_ba_id=judgment_ids[1], answer_a_len=len(a["text"]), answer_b_len=len(b["text"]),
                answer_a_id=a["id"], answer_b_id=b["id"], verdicts=verdict_ab + verdict_ba,
                dedup_key=f"{judge_key}:{a['id']}:{b['id']}", tstamp=self.clock,
            )).inserted_primary_key[0])


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
    """One battle judged in both orders, on answers of their own (as a release-1 store held them:
    no answer ids, verdicts or style on the battle row). For the schema-migration tests."""
    now = utcnow()
    with store.transaction() as connection:
        answer_ids = [
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
        if verdict_ab is None or verdict_ba is None:
            return
        connection.execute(battles.insert().values(
            source="judge", question_id=question_id, category=category, model_a=model_a, model_b=model_b,
            winner=winner_of(model_a, model_b, verdict_ab, verdict_ba), judge="prometheus-test",
            judge_key=judge_key, judgment_ab_id=judgment_ids[0], judgment_ba_id=judgment_ids[1],
            answer_a_len=lengths[0], answer_b_len=lengths[1],
            dedup_key=f"{judge_key}-{answer_ids[0]}-{answer_ids[1]}-{tstamp}", tstamp=tstamp,
        ))


def fake_judge_stage(monkeypatch: pytest.MonkeyPatch, judge_key: str) -> None:
    """Stand in for `arena.judge.current_judge_key`, whether or not the judge stage is installed."""
    module = types.ModuleType("arena.judge")
    module.current_judge_key = lambda config: judge_key  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "arena.judge", module)
