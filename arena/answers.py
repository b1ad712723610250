"""Candidate answers in the store: their fingerprints, the current set, and saving them.

An answer is keyed by (model, question id, fingerprint). The fingerprint covers everything that
shapes the answer: the model's answer settings (weights, revision, dtype, quantization, chat
template, system prompt, stops, sampling, context length) and the question text. Changing any of
them makes a new fingerprint, so that model's answers are regenerated and older ones are left in
the store untouched (their judgments stay valid for the text they judged).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection

from arena.answer_style import answer_style
from arena.backends.base import GenerationResult
from arena.config import ArenaConfig, ModelConfig
from arena.fingerprint import FINGERPRINT_LENGTH
from arena.questions import Question
from arena.store.engine import Store, utcnow
from arena.store.schema import answers, battles, judgments, questions


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    model: str
    question_id: str
    text: str
    truncated: bool
    finish_reason: str | None
    completion_tokens: int | None


def answer_fingerprint(config: ArenaConfig, model: ModelConfig, question: Question) -> str:
    """The fingerprint of one answer: the model's answer settings plus the question text,
    `fingerprint({"model": config.answer_fingerprint(model), "question": question.text})`."""
    return expected_fingerprints(config, [model], [question])[(model.name, question.id)]


def chat_messages(config: ArenaConfig, model: ModelConfig, question: Question) -> tuple[dict[str, str], ...]:
    """The conversation a candidate answers: the system prompt (omitted when empty) and the question."""
    system_prompt = config.system_prompt_for(model)
    user = {"role": "user", "content": question.text}
    if not system_prompt:
        return (user,)
    return ({"role": "system", "content": system_prompt}, user)


def expected_fingerprints(
    config: ArenaConfig, models: Iterable[ModelConfig], question_list: Iterable[Question]
) -> dict[tuple[str, str], str]:
    """{(model name, question id): fingerprint} of the answers the current settings call for.

    Each is `fingerprint({"model": settings, "question": text})`; the canonical JSON of that
    two-key object is assembled from its two halves, each encoded once (a million battles' worth
    of answers in a few hundredths of a second instead of most of one).
    """
    tails = [(q.id, f',"question":{json.dumps(q.text, ensure_ascii=False)}}}'.encode()) for q in question_list]
    expected: dict[tuple[str, str], str] = {}
    for model in models:
        settings = config.answer_fingerprint(model)  # reads the template file once per model
        head = f'{{"model":{json.dumps(settings, ensure_ascii=False)}'.encode()
        for question_id, tail in tails:
            expected[(model.name, question_id)] = hashlib.sha256(head + tail).hexdigest()[:FINGERPRINT_LENGTH]
    return expected


def current_answer_ids(
    store: Store, config: ArenaConfig, models: list[ModelConfig], question_list: list[Question]
) -> list[int]:
    """The ids of the stored answers that match the current settings (no answer text is read)."""
    expected = expected_fingerprints(config, models, question_list)
    names = sorted({m.name for m in models})
    if not names:
        return []
    query = select(answers.c.id, answers.c.model, answers.c.question_id, answers.c.fingerprint).where(
        answers.c.model.in_(names))
    with store.connect() as connection:
        return [row.id for row in connection.execute(query)
                if expected.get((row.model, row.question_id)) == row.fingerprint]


def load_current_answers(
    store: Store, config: ArenaConfig, models: list[ModelConfig], question_list: list[Question]
) -> dict[tuple[str, str], StoredAnswer]:
    """The stored answers that match the current settings, keyed by (model name, question id)."""
    expected = expected_fingerprints(config, models, question_list)
    names = sorted({m.name for m in models})
    if not names:
        return {}
    query = select(
        answers.c.id, answers.c.model, answers.c.question_id, answers.c.fingerprint, answers.c.text,
        answers.c.truncated, answers.c.finish_reason, answers.c.completion_tokens,
    ).where(answers.c.model.in_(names))
    current: dict[tuple[str, str], StoredAnswer] = {}
    with store.connect() as connection:
        for row in connection.execute(query):
            key = (row.model, row.question_id)
            if expected.get(key) == row.fingerprint:
                current[key] = StoredAnswer(
                    id=row.id, model=row.model, question_id=row.question_id, text=row.text,
                    truncated=bool(row.truncated), finish_reason=row.finish_reason,
                    completion_tokens=row.completion_tokens,
                )
    return current


def sync_questions(store: Store, question_list: Iterable[Question]) -> None:
    """Insert new questions and update changed ones, so the store mirrors the question files."""
    rows = {q.id: _question_row(q) for q in question_list}
    if not rows:
        return
    with store.transaction() as connection:
        existing = {
            row.id: dict(row._mapping)
            for row in connection.execute(select(questions).where(questions.c.id.in_(list(rows))))
        }
        new = [row for qid, row in rows.items() if qid not in existing]
        if new:
            connection.execute(questions.insert(), new)
        for qid, row in rows.items():
            old = existing.get(qid)
            if old is not None and any(old.get(k) != v for k, v in row.items()):
                values = {k: v for k, v in row.items() if k != "id"}
                connection.execute(update(questions).where(questions.c.id == qid).values(**values))


def _question_row(question: Question) -> dict[str, object]:
    return {
        "id": question.id,
        "text": question.text,
        "category": question.category,
        "audience": question.audience,
        "kind": question.kind,
        "safety_critical": question.safety_critical,
        "reference_answer": question.reference,
    }


def _answer_values(result: GenerationResult) -> dict[str, object]:
    style = answer_style(result.text, result.completion_tokens)
    return {
        "text": result.text,
        "headers": style.headers,
        "list_items": style.list_items,
        "bold": style.bold,
        "finish_reason": result.finish_reason,
        "truncated": result.truncated,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "latency_s": result.latency_s,
        "engine": result.engine,
        "created_at": utcnow(),
    }


_INSERT_ANSWER = answers.insert()
_UPDATE_ANSWER = update(answers).where(answers.c.id == bindparam("answer_id"))


def insert_answer(
    connection: Connection, model: str, question_id: str, answer_fp: str, result: GenerationResult
) -> int:
    """Add a new answer row; returns its id."""
    values = {"model": model, "question_id": question_id, "fingerprint": answer_fp, **_answer_values(result)}
    # One constant statement with separate parameters: SQLAlchemy compiles it once.
    return int(connection.execute(_INSERT_ANSWER, values).inserted_primary_key[0])


def replace_answer(connection: Connection, answer_id: int, result: GenerationResult) -> None:
    """Overwrite an answer in place (same id) and drop what judged its old text.

    Judgments that compared this answer, and the battles made from them, judged a text that no
    longer exists, so they are deleted in the same transaction; `arena judge` makes them again.
    """
    judged = select(judgments.c.id).where(
        or_(judgments.c.answer_a_id == answer_id, judgments.c.answer_b_id == answer_id)
    )
    judgment_ids = [row.id for row in connection.execute(judged)]
    if judgment_ids:
        connection.execute(delete(battles).where(or_(
            battles.c.judgment_ab_id.in_(judgment_ids), battles.c.judgment_ba_id.in_(judgment_ids)
        )))
        connection.execute(delete(judgments).where(judgments.c.id.in_(judgment_ids)))
    connection.execute(_UPDATE_ANSWER, {"answer_id": answer_id, **_answer_values(result)})
