"""Rating snapshots in the store: one per `arena rate` whose battles or parameters changed.

`save_snapshot` stores a report unless the latest snapshot of its kind (source, view, judge
key) was made from the same battles and parameters; `latest_snapshot` and `snapshot_history`
read them back as typed reports. Only snapshots of this rating method (`report.METHOD`, which
names the payload version) are read: older ones stay in the store, and the next `arena rate`
makes a current one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import func, select

from arena.ratings.report import METHOD, RatingParams, RatingReport
from arena.store.engine import Store, utcnow
from arena.store.schema import snapshots


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: dt.datetime
    battles_fingerprint: str
    source: str
    category: str | None
    judge: str | None
    judge_key: str | None
    rubric: str | None
    method: str
    report: RatingReport


def _same_kind(query, source: str, category: str | None, judge_key: str | None):  # type: ignore[no-untyped-def]
    query = query.where(snapshots.c.source == source, snapshots.c.method == METHOD)
    query = query.where(snapshots.c.category.is_(None) if category is None else snapshots.c.category == category)
    if judge_key is not None:
        query = query.where(snapshots.c.judge_key == judge_key)
    return query


def _snapshot(row) -> Snapshot:  # type: ignore[no-untyped-def]
    values = row._asdict()
    return Snapshot(report=RatingReport.from_json(values.pop("payload")), **values)


def latest_snapshot(store: Store, source: str = "judge", category: str | None = None,
                    judge_key: str | None = None) -> Snapshot | None:
    """The newest snapshot of this source and view (and judge key, if given)."""
    query = _same_kind(select(snapshots), source, category, judge_key)
    query = query.order_by(snapshots.c.created_at.desc(), snapshots.c.id.desc()).limit(1)
    with store.connect() as connection:
        row = connection.execute(query).first()
    return _snapshot(row) if row else None


def snapshot_history(store: Store, source: str = "judge", category: str | None = None,
                     judge_key: str | None = None) -> list[Snapshot]:
    """Every snapshot of this source and view made by this rating method, oldest first."""
    query = _same_kind(select(snapshots), source, category, judge_key).order_by(snapshots.c.created_at,
                                                                               snapshots.c.id)
    with store.connect() as connection:
        return [_snapshot(row) for row in connection.execute(query)]


def older_snapshots(store: Store, source: str | None = None, judge_key: str | None = None) -> int:
    """How many snapshots (of this source) an earlier rating method made: kept, but not read or reused."""
    query = select(func.count()).select_from(snapshots).where(snapshots.c.method != METHOD)
    if source is not None:
        query = query.where(snapshots.c.source == source)
    if judge_key is not None:
        query = query.where(snapshots.c.judge_key == judge_key)
    with store.connect() as connection:
        return int(connection.execute(query).scalar_one())


def reusable_snapshot(store: Store, *, source: str, category: str | None, judge_key: str | None,
                      battles_fingerprint: str, params: RatingParams) -> Snapshot | None:
    """The latest snapshot of the same kind, if it was made from the same battles and parameters."""
    latest = latest_snapshot(store, source, category, judge_key)
    if latest is None or latest.judge_key != judge_key:
        return None
    if latest.battles_fingerprint == battles_fingerprint and latest.report.params == params:
        return latest
    return None


def snapshot_of_inputs(store: Store, *, source: str, category: str | None, judge_key: str | None,
                       inputs: str, params: RatingParams) -> Snapshot | None:
    """The latest snapshot of the same kind, if it read the same inputs with the same parameters
    (the set of answers rated, known only once battles are read, follows from the inputs)."""
    latest = latest_snapshot(store, source, category, judge_key)
    if latest is not None and latest.judge_key == judge_key and latest.report.inputs == inputs \
            and replace(latest.report.params, answer_set=None) == replace(params, answer_set=None):
        return latest
    return None


def save_snapshot(store: Store, report: RatingReport, *, battles_fingerprint: str, judge: str | None,
                  rubric: str | None) -> Snapshot:
    """Store `report` as a new snapshot, unless the latest one of its kind is identical in input."""
    existing = reusable_snapshot(store, source=report.source, category=report.category,
                                 judge_key=report.judge_key, battles_fingerprint=battles_fingerprint,
                                 params=report.params)
    if existing is not None:
        return existing
    values = {"created_at": utcnow(), "battles_fingerprint": battles_fingerprint, "source": report.source,
              "category": report.category, "judge": judge, "judge_key": report.judge_key, "rubric": rubric,
              "method": report.method}
    with store.transaction() as connection:
        new_id = connection.execute(snapshots.insert().values(**values, payload=report.to_json())
                                    ).inserted_primary_key[0]
    return Snapshot(id=int(new_id), report=report, **values)
