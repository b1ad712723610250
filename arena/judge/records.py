"""Judgments and battles in the store: what is already judged.

A judgment is one order of one pair, unique per (judge key, answer shown as A, answer shown as
B). Writing them is `writer.py`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from arena.store.engine import Store
from arena.store.schema import battles, judgments

JUDGE_SOURCE = "judge"


@dataclass(frozen=True)
class StoredJudgment:
    id: int
    verdict: str | None
    valid: bool
    attempts: int
    reference_fingerprint: str | None = None  # the reference answer it was judged with


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


def battle_dedup_key(judge_key: str, answer_x_id: int, answer_y_id: int) -> str:
    return f"{judge_key}:{answer_x_id}:{answer_y_id}"
