"""Rating snapshots in the store, and the sets of answers they rated.

A snapshot row holds a rating report's JSON payload; reading it back as a typed report is
`arena.ratings.snapshots`' job. Rows are read by kind: a source, a view (category) and, when
given, a judge key, made by one rating method.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.sql import Select

from arena.store.engine import Store, inserted_id
from arena.store.schema import rated_answers, snapshots


@dataclass(frozen=True)
class SnapshotRow:
    id: int
    created_at: dt.datetime
    battles_fingerprint: str
    source: str
    category: str | None
    judge: str | None
    judge_key: str | None
    rubric: str | None
    method: str
    payload: dict[str, Any]


def _same_kind(query: Select[Any], method: str, source: str, category: str | None,
               judge_key: str | None) -> Select[Any]:
    query = query.where(snapshots.c.source == source, snapshots.c.method == method)
    query = query.where(snapshots.c.category.is_(None) if category is None else snapshots.c.category == category)
    if judge_key is not None:
        query = query.where(snapshots.c.judge_key == judge_key)
    return query


def latest_row(store: Store, method: str, source: str, category: str | None = None,
               judge_key: str | None = None) -> SnapshotRow | None:
    """The newest snapshot of this kind."""
    query = _same_kind(select(snapshots), method, source, category, judge_key)
    query = query.order_by(snapshots.c.created_at.desc(), snapshots.c.id.desc()).limit(1)
    with store.connect() as connection:
        row = connection.execute(query).first()
    return SnapshotRow(**row._asdict()) if row else None


def history_rows(store: Store, method: str, source: str, category: str | None = None,
                 judge_key: str | None = None) -> list[SnapshotRow]:
    """Every snapshot of this kind, oldest first."""
    query = _same_kind(select(snapshots), method, source, category, judge_key)
    query = query.order_by(snapshots.c.created_at, snapshots.c.id)
    with store.connect() as connection:
        return [SnapshotRow(**row._asdict()) for row in connection.execute(query)]


def count_other_methods(store: Store, method: str, source: str | None = None, judge_key: str | None = None) -> int:
    """How many snapshots (of this source and judge key) another rating method made."""
    query = select(func.count()).select_from(snapshots).where(snapshots.c.method != method)
    if source is not None:
        query = query.where(snapshots.c.source == source)
    if judge_key is not None:
        query = query.where(snapshots.c.judge_key == judge_key)
    with store.connect() as connection:
        return int(connection.execute(query).scalar_one())


def sources_with_snapshots(store: Store, method: str) -> list[str]:
    """Battle sources that have a snapshot of this method, in no particular order."""
    query = select(snapshots.c.source).where(snapshots.c.method == method).distinct()
    with store.connect() as connection:
        return list(connection.execute(query).scalars().all())


def insert_snapshot(store: Store, *, created_at: dt.datetime, battles_fingerprint: str, source: str,
                    category: str | None, judge: str | None, judge_key: str | None, rubric: str | None,
                    method: str, payload: dict[str, Any]) -> int:
    """Store a snapshot; its id."""
    values = {"created_at": created_at, "battles_fingerprint": battles_fingerprint, "source": source,
              "category": category, "judge": judge, "judge_key": judge_key, "rubric": rubric,
              "method": method, "payload": payload}
    with store.transaction() as connection:
        return inserted_id(connection.execute(snapshots.insert().values(**values)))


def newest_snapshot_id(store: Store) -> int:
    with store.connect() as connection:
        return connection.execute(select(func.max(snapshots.c.id))).scalar() or 0


# --- the answers a rating counted -----------------------------------------------------------


def answer_set_digest(answer_ids: Iterable[int]) -> str:
    """The key of a set of answer ids (order and repeats do not matter)."""
    ids = np.unique(np.asarray(list(answer_ids), dtype=np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()[:32]


def save_answer_set(store: Store, answer_ids: np.ndarray) -> str:
    """Store this set of answer ids once (keyed by its digest); returns the digest."""
    ids = np.unique(answer_ids[answer_ids >= 0])
    digest = answer_set_digest(ids)
    with store.transaction() as connection:
        known = connection.execute(select(rated_answers.c.answer_set)
                                   .where(rated_answers.c.answer_set == digest).limit(1)).first()
        if known is None:
            rows = [{"answer_set": digest, "answer_id": int(k)} for k in ids]
            for start in range(0, len(rows), 10_000):
                connection.execute(rated_answers.insert(), rows[start:start + 10_000])
    return digest
