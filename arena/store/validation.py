"""`arena judge validate` in the store: a dataset's labelled pairs and the judge's verdicts on them.

A dataset's items are replaced by the file's on every run; a verdict is keyed by (judge key,
what the judge read, order), so another dataset holding the same pair reuses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DatabaseError

from arena.store.engine import Store, utcnow, write_failed
from arena.store.schema import validation_items, validation_judgments


class LabelledItem(Protocol):
    """A labelled pair as `arena.judge.validation_data.LabelledPair` holds it."""

    @property
    def id(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def instruction(self) -> str: ...
    @property
    def response_a(self) -> str: ...
    @property
    def response_b(self) -> str: ...
    @property
    def reference(self) -> str | None: ...
    @property
    def rubric(self) -> str | None: ...


@dataclass(frozen=True)
class StoredItem:
    item_id: str
    category: str
    label: str
    fingerprint: str


def replace_items(store: Store, dataset: str, source_file: str, pairs: Sequence[LabelledItem]) -> None:
    """Make the store's items of this dataset exactly these (ids, content, labels)."""
    now = utcnow()
    rows = [{
        "dataset": dataset, "item_id": pair.id, "fingerprint": pair.fingerprint, "category": pair.category,
        "label": pair.label, "instruction": pair.instruction, "response_a": pair.response_a,
        "response_b": pair.response_b, "reference": pair.reference, "rubric": pair.rubric,
        "source_file": source_file, "updated_at": now,
    } for pair in pairs]
    try:
        with store.transaction() as connection:
            connection.execute(delete(validation_items).where(validation_items.c.dataset == dataset))
            connection.execute(validation_items.insert(), rows)
    except DatabaseError as exc:
        raise write_failed(store.url, exc) from None


def stored_verdicts(store: Store, judge_key: str) -> dict[tuple[str, str], str | None]:
    """{(item fingerprint, position): verdict or None (invalid)} of a judge key."""
    query = select(validation_judgments.c.item_fingerprint, validation_judgments.c.position,
                   validation_judgments.c.verdict).where(validation_judgments.c.judge_key == judge_key)
    with store.connect() as connection:
        return {(row.item_fingerprint, row.position): row.verdict for row in connection.execute(query)}


def dataset_items(store: Store, dataset: str) -> list[StoredItem]:
    """The dataset's items in file order."""
    query = (select(validation_items.c.item_id, validation_items.c.category, validation_items.c.label,
                    validation_items.c.fingerprint).where(validation_items.c.dataset == dataset)
             .order_by(validation_items.c.id))
    with store.connect() as connection:
        return [StoredItem(*row) for row in connection.execute(query)]


def dataset_source(store: Store, dataset: str) -> str | None:
    """The file the dataset's stored items were read from (None: no items stored under that name)."""
    query = select(validation_items.c.source_file).where(validation_items.c.dataset == dataset).limit(1)
    with store.connect() as connection:
        return connection.execute(query).scalar()


def judge_name_of(store: Store, judge_key: str) -> str | None:
    """The judge named on a judge key's validation verdicts."""
    query = select(validation_judgments.c.judge).where(validation_judgments.c.judge_key == judge_key).limit(1)
    with store.connect() as connection:
        return connection.execute(query).scalar()


def insert_verdicts(store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store finished validation judgments (one transaction); a failed write is a StoreError."""
    now = utcnow()
    try:
        with store.transaction() as connection:
            connection.execute(validation_judgments.insert(), [{**row, "created_at": now} for row in rows])
    except DatabaseError as exc:
        raise write_failed(store.url, exc) from None


def validation_version(store: Store) -> tuple[int, int]:
    """Changes whenever validation items are synced or validation judgments land: a cache key."""
    with store.connect() as connection:
        return (connection.execute(select(func.max(validation_items.c.id))).scalar() or 0,
                connection.execute(select(func.max(validation_judgments.c.id))).scalar() or 0)


@dataclass(frozen=True)
class ValidationRun:
    dataset: str
    judge_key: str
    judge: str
    judgments: int
    last_judged: dt.datetime


def validation_runs(store: Store) -> list[ValidationRun]:
    """One per (dataset, judge key) with stored validation judgments, newest first."""
    joined = validation_items.join(
        validation_judgments, validation_items.c.fingerprint == validation_judgments.c.item_fingerprint)
    query = (select(validation_items.c.dataset, validation_judgments.c.judge_key,
                    func.max(validation_judgments.c.judge), func.count(), func.max(validation_judgments.c.created_at))
             .select_from(joined)
             .group_by(validation_items.c.dataset, validation_judgments.c.judge_key)
             .order_by(func.max(validation_judgments.c.created_at).desc()))
    with store.connect() as connection:
        return [ValidationRun(*row) for row in connection.execute(query)]
