"""Questions and answers in the store: mirroring the question files, reading the current answers,
saving new ones.

Which answers are current is decided outside (`arena.answers.expected_fingerprints`: the
fingerprint the settings call for, per model and question); this module reads the stored answers
that carry those fingerprints. Saving an answer also counts its style (`arena.answers`), once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from arena.answers import answer_style
from arena.questions.schema import Question
from arena.store.engine import Store, inserted_id, upsert_insert, utcnow
from arena.store.schema import answers, battles, judgments, questions

AnswerKey = tuple[str, str]  # (model name, question id)


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    model: str
    question_id: str
    text: str
    truncated: bool
    finish_reason: str | None
    completion_tokens: int | None


class GeneratedAnswer(Protocol):
    """What a backend returned for one question (`arena.backends.base.GenerationResult`)."""

    key: str
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    engine: str | None

    @property
    def truncated(self) -> bool: ...


Result = TypeVar("Result", bound=GeneratedAnswer)


# --- questions ------------------------------------------------------------------------------


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
        if new:  # another worker may be adding the same questions right now
            connection.execute(upsert_insert(connection, questions).on_conflict_do_nothing(), new)
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


def stored_question_ids(store: Store) -> set[str]:
    with store.connect() as connection:
        return set(connection.execute(select(questions.c.id)).scalars())


# --- reading answers ------------------------------------------------------------------------


def current_answer_ids(store: Store, expected: Mapping[AnswerKey, str]) -> list[int]:
    """The ids of the stored answers whose fingerprint is the expected one (no text is read)."""
    names = sorted({model for model, _ in expected})
    if not names:
        return []
    query = select(answers.c.id, answers.c.model, answers.c.question_id, answers.c.fingerprint).where(
        answers.c.model.in_(names))
    with store.connect() as connection:
        return [row.id for row in connection.execute(query)
                if expected.get((row.model, row.question_id)) == row.fingerprint]


def load_current_answers(store: Store, expected: Mapping[AnswerKey, str]) -> dict[AnswerKey, StoredAnswer]:
    """The stored answers whose fingerprint is the expected one, keyed by (model name, question id)."""
    names = sorted({model for model, _ in expected})
    if not names:
        return {}
    query = select(
        answers.c.id, answers.c.model, answers.c.question_id, answers.c.fingerprint, answers.c.text,
        answers.c.truncated, answers.c.finish_reason, answers.c.completion_tokens,
    ).where(answers.c.model.in_(names))
    current: dict[AnswerKey, StoredAnswer] = {}
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


def count_rows(store: Store) -> tuple[int, int, int]:
    """(answers, judgments, battles) in the store."""
    with store.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (answers, judgments, battles))


# --- saving answers -------------------------------------------------------------------------


def _answer_values(result: GeneratedAnswer) -> dict[str, object]:
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
    connection: Connection, model: str, question_id: str, answer_fp: str, result: GeneratedAnswer
) -> int:
    """Add a new answer row; returns its id."""
    values = {"model": model, "question_id": question_id, "fingerprint": answer_fp, **_answer_values(result)}
    # One constant statement with separate parameters: SQLAlchemy compiles it once.
    return inserted_id(connection.execute(_INSERT_ANSWER, values))


def add_answers(store: Store, model: str, answers_by_question: Mapping[str, tuple[str, GeneratedAnswer]]) -> dict[str, int]:
    """Insert {question id: (fingerprint, result)} for one model in one transaction; their ids."""
    with store.transaction() as connection:
        return {question_id: insert_answer(connection, model, question_id, fp, result)
                for question_id, (fp, result) in answers_by_question.items()}


def replace_answer(connection: Connection, answer_id: int, result: GeneratedAnswer) -> None:
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


def save_answers(
    store: Store,
    model: str,
    results: Sequence[Result],
    fingerprints: Mapping[AnswerKey, str],
    replaceable: Mapping[AnswerKey, StoredAnswer],
    *,
    saved: Callable[[Result], Any],
    already_stored: Callable[[Result], Any],
) -> None:
    """Commit one model's answers (each result's key is its question id) in one transaction.

    An answer in `replaceable` is overwritten in place (`replace_answer`), any other is inserted.
    When another run stored one of them meanwhile, they are saved one by one and theirs is kept.
    `saved` / `already_stored` are called per result once its fate is committed. Any other
    database error propagates.
    """
    def save(connection: Connection, result: Result) -> None:
        key = (model, result.key)
        if key in replaceable:
            replace_answer(connection, replaceable[key].id, result)
        else:
            insert_answer(connection, model, result.key, fingerprints[key], result)

    with store.connect() as connection:
        try:
            with connection.begin():
                for result in results:
                    save(connection, result)
        except IntegrityError:
            for result in results:
                try:
                    with connection.begin():
                        save(connection, result)
                except IntegrityError:
                    already_stored(result)
                    continue
                saved(result)
            return
    for result in results:
        saved(result)
