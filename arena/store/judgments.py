"""Judgments and the battles `arena judge` makes from them: what is already judged, and writing more.

A judgment is one order of one pair, unique per (judge key, answer shown as A, answer shown as
B). The battle of a pair is keyed by `battle_dedup_key` and is written in the same transaction
as the pair's second valid judgment (`judge_writes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, false, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError, IntegrityError

from arena.store.engine import Store, write_failed
from arena.store.schema import JUDGE_SOURCE, battles, judgments


@dataclass(frozen=True)
class StoredJudgment:
    id: int
    verdict: str | None
    valid: bool
    attempts: int
    reference_fingerprint: str | None = None  # the reference answer it was judged with


def battle_dedup_key(judge_key: str, answer_x_id: int, answer_y_id: int) -> str:
    """The key of the battle of a pair: its judge key and both answers (X < Y by model name)."""
    return f"{judge_key}:{answer_x_id}:{answer_y_id}"


# --- what is already judged -----------------------------------------------------------------


def load_judgments(store: Store, judge_key: str, question_ids: Iterable[str]) -> dict[tuple[int, int], StoredJudgment]:
    """{(answer shown as A, answer shown as B): judgment} for the judge key and questions."""
    wanted = set(question_ids)
    query = select(
        judgments.c.id, judgments.c.question_id, judgments.c.answer_a_id, judgments.c.answer_b_id,
        judgments.c.verdict, judgments.c.valid, judgments.c.attempts, judgments.c.reference_fingerprint,
    ).where(judgments.c.judge_key == judge_key)
    found: dict[tuple[int, int], StoredJudgment] = {}
    with store.connect() as connection:
        for row in connection.execute(query):
            if row.question_id in wanted:
                found[(row.answer_a_id, row.answer_b_id)] = StoredJudgment(
                    id=row.id, verdict=row.verdict, valid=bool(row.valid), attempts=row.attempts or 1,
                    reference_fingerprint=row.reference_fingerprint)
    return found


def load_battle_keys(store: Store, judge_key: str) -> set[str]:
    """The dedup keys of the judge key's battles."""
    query = select(battles.c.dedup_key).where(
        battles.c.source == JUDGE_SOURCE, battles.c.judge_key == judge_key)
    with store.connect() as connection:
        return set(connection.execute(query).scalars())


def judgment_counts(store: Store, judge_key: str) -> tuple[int, int]:
    """(invalid judgments, all judgments) of a judge key."""
    invalid = func.coalesce(func.sum(case((judgments.c.valid.is_(False), 1), else_=0)), 0)
    query = select(func.count(), invalid).where(judgments.c.judge_key == judge_key)
    with store.connect() as connection:
        total, invalid_count = connection.execute(query).one()
    return int(invalid_count), int(total)


def judged_rubric(store: Store, judge_key: str) -> str | None:
    """`rubric_id@version` of the rubric a judge key's judgments used; None when it has none."""
    query = (select(judgments.c.rubric_id, judgments.c.rubric_version)
             .where(judgments.c.judge_key == judge_key).limit(1))
    with store.connect() as connection:
        row = connection.execute(query).first()
    return f"{row.rubric_id}@{row.rubric_version}" if row else None


@dataclass(frozen=True)
class InvalidJudgment:
    judgment: int
    question_id: str
    shown_a: str
    shown_b: str
    attempts: int
    truncated: bool
    raw_output: str  # its first 300 characters


def invalid_judgments(store: Store, judge_key: str | None, limit: int = 50) -> tuple[int, list[InvalidJudgment]]:
    """How many judgments have no usable verdict, and the newest `limit` of them."""
    conditions = [judgments.c.valid == false()]
    if judge_key is not None:
        conditions.append(judgments.c.judge_key == judge_key)
    query = (
        select(judgments.c.id, judgments.c.question_id, judgments.c.model_a, judgments.c.model_b,
               judgments.c.attempts, judgments.c.truncated, func.substr(judgments.c.raw_output, 1, 300))
        .where(*conditions).order_by(judgments.c.id.desc()).limit(limit)
    )
    with store.connect() as connection:
        total = connection.execute(select(func.count()).select_from(judgments).where(*conditions)).scalar_one()
        rows = connection.execute(query).all()
    return total, [InvalidJudgment(*row) for row in rows]


def judgments_of_pairs(store: Store, judge_key: str,
                       pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StoredJudgment]:
    """{(answer shown as A, answer shown as B): judgment} now stored for these orders of pairs."""
    wanted = set(pairs)
    found: dict[tuple[int, int], StoredJudgment] = {}
    ids = sorted({a for a, _ in wanted})
    with store.connect() as connection:
        for start in range(0, len(ids), 500):
            query = select(
                judgments.c.id, judgments.c.answer_a_id, judgments.c.answer_b_id, judgments.c.verdict,
                judgments.c.valid, judgments.c.attempts, judgments.c.reference_fingerprint,
            ).where(judgments.c.judge_key == judge_key, judgments.c.answer_a_id.in_(ids[start:start + 500]))
            for row in connection.execute(query):
                if (row.answer_a_id, row.answer_b_id) in wanted:
                    found[(row.answer_a_id, row.answer_b_id)] = StoredJudgment(
                        id=row.id, verdict=row.verdict, valid=bool(row.valid), attempts=row.attempts or 1,
                        reference_fingerprint=row.reference_fingerprint)
    return found


class DuplicateWork(Exception):
    """A judgment or battle another worker stored first (its unique key is taken)."""


# --- writing --------------------------------------------------------------------------------


class JudgeWrites:
    """The writes of one transaction of `arena judge`: judgments, then the battles they complete."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def overwrite_judgment(self, judgment_id: int, values: Mapping[str, Any]) -> None:
        """Replace a stored judgment in place (a retried invalid one, or one of a changed reference)."""
        self.connection.execute(update(judgments).where(judgments.c.id == judgment_id), dict(values))

    def insert_judgments(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Add judgments; their ids, in the order given."""
        if not rows:
            return []
        statement = judgments.insert().returning(judgments.c.id, sort_by_parameter_order=True)
        return list(self.connection.execute(statement, [dict(row) for row in rows]).scalars().all())

    def delete_battles(self, dedup_keys: Sequence[str]) -> None:
        """Drop judged battles by key (a pair judged again: its old battle judged another prompt)."""
        if dedup_keys:
            self.connection.execute(battles.delete().where(
                battles.c.source == JUDGE_SOURCE, battles.c.dedup_key.in_(list(dedup_keys))))

    def insert_battles(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.connection.execute(battles.insert(), [dict(row) for row in rows])


@contextmanager
def judge_writes(store: Store) -> Iterator[JudgeWrites]:
    """One transaction of judge writes; a locked, read-only or broken store is a one-line StoreError."""
    try:
        with store.transaction() as connection:
            yield JudgeWrites(connection)
    except IntegrityError:
        raise DuplicateWork() from None
    except DatabaseError as exc:
        raise write_failed(store.url, exc) from None
