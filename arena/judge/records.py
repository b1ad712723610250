"""Judgments and battles in the store: what is already judged, and writing new results.

A judgment is one order of one pair, unique per (judge key, answer shown as A, answer shown as
B). A battle is written in the same transaction as the second valid judgment of its pair, so a
run that dies leaves no pair with two valid judgments and no battle.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from arena.store import Store, battles, judgments, utcnow

JUDGE_SOURCE = "judge"


@dataclass(frozen=True)
class StoredJudgment:
    id: int
    verdict: str | None
    valid: bool
    attempts: int


def load_judgments(store: Store, judge_key: str, question_ids: Iterable[str]) -> dict[tuple[int, int], StoredJudgment]:
    """{(answer shown as A, answer shown as B): judgment} for the judge key and questions."""
    wanted = set(question_ids)
    query = select(
        judgments.c.id, judgments.c.question_id, judgments.c.answer_a_id, judgments.c.answer_b_id,
        judgments.c.verdict, judgments.c.valid, judgments.c.attempts,
    ).where(judgments.c.judge_key == judge_key)
    found: dict[tuple[int, int], StoredJudgment] = {}
    with store.connect() as connection:
        for row in connection.execute(query):
            if row.question_id in wanted:
                found[(row.answer_a_id, row.answer_b_id)] = StoredJudgment(
                    id=row.id, verdict=row.verdict, valid=bool(row.valid), attempts=row.attempts or 1)
    return found


def load_battle_keys(store: Store, judge_key: str) -> set[str]:
    """The dedup keys of the judge key's battles."""
    query = select(battles.c.dedup_key).where(
        battles.c.source == JUDGE_SOURCE, battles.c.judge_key == judge_key)
    with store.connect() as connection:
        return set(connection.execute(query).scalars())


def battle_dedup_key(judge_key: str, answer_x_id: int, answer_y_id: int) -> str:
    return f"{judge_key}:{answer_x_id}:{answer_y_id}"


def save_judgment(connection: Connection, values: dict[str, Any], replace_id: int | None = None) -> int:
    """Insert a judgment, or overwrite a stored invalid one in place (same id); returns its id."""
    values = {**values, "created_at": utcnow()}
    if replace_id is not None:
        connection.execute(update(judgments).where(judgments.c.id == replace_id).values(**values))
        return replace_id
    return int(connection.execute(judgments.insert().values(**values)).inserted_primary_key[0])


def save_battle(connection: Connection, *, judge_key: str, judge_name: str, question_id: str,
                category: str, model_x: str, model_y: str, winner: str, judgment_ab_id: int,
                judgment_ba_id: int, answer_x_id: int, answer_y_id: int, answer_x_len: int,
                answer_y_len: int) -> None:
    connection.execute(battles.insert().values(
        source=JUDGE_SOURCE, question_id=question_id, category=category, model_a=model_x, model_b=model_y,
        winner=winner, judge=judge_name, judge_key=judge_key, judgment_ab_id=judgment_ab_id,
        judgment_ba_id=judgment_ba_id, answer_a_len=answer_x_len, answer_b_len=answer_y_len,
        dedup_key=battle_dedup_key(judge_key, answer_x_id, answer_y_id), tstamp=time.time(),
    ))
