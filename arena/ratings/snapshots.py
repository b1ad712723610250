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

from arena.ratings.report import METHOD, RatingParams, RatingReport
from arena.store import snapshots as rows
from arena.store.engine import Store, utcnow
from arena.store.schema import JUDGE_SOURCE


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


def _snapshot(row: rows.SnapshotRow) -> Snapshot:
    return Snapshot(id=row.id, created_at=row.created_at, battles_fingerprint=row.battles_fingerprint,
                    source=row.source, category=row.category, judge=row.judge, judge_key=row.judge_key,
                    rubric=row.rubric, method=row.method, report=RatingReport.from_json(row.payload))


def latest_snapshot(store: Store, source: str = JUDGE_SOURCE, category: str | None = None,
                    judge_key: str | None = None) -> Snapshot | None:
    """The newest snapshot of this source and view (and judge key, if given)."""
    row = rows.latest_row(store, METHOD, source, category, judge_key)
    return _snapshot(row) if row else None


def snapshot_history(store: Store, source: str = JUDGE_SOURCE, category: str | None = None,
                     judge_key: str | None = None) -> list[Snapshot]:
    """Every snapshot of this source and view made by this rating method, oldest first."""
    return [_snapshot(row) for row in rows.history_rows(store, METHOD, source, category, judge_key)]


def older_snapshots(store: Store, source: str | None = None, judge_key: str | None = None) -> int:
    """How many snapshots (of this source) an earlier rating method made: kept, but not read or reused."""
    return rows.count_other_methods(store, METHOD, source, judge_key)


def snapshot_sources(store: Store) -> list[str]:
    """Battle sources that have a current snapshot: judged battles first, then imports by name."""
    return sorted(rows.sources_with_snapshots(store, METHOD), key=lambda s: (s != JUDGE_SOURCE, s))


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
    snapshot = Snapshot(id=0, created_at=utcnow(), battles_fingerprint=battles_fingerprint, source=report.source,
                        category=report.category, judge=judge, judge_key=report.judge_key, rubric=rubric,
                        method=report.method, report=report)
    new_id = rows.insert_snapshot(
        store, created_at=snapshot.created_at, battles_fingerprint=battles_fingerprint, source=snapshot.source,
        category=snapshot.category, judge=judge, judge_key=snapshot.judge_key, rubric=rubric, method=snapshot.method,
        payload=report.to_json())
    return replace(snapshot, id=new_id)
