"""Committing judgments and battles as they finish, from a group-commit thread.

Each finished judgment is handed to the writer at once (`store.GroupCommitThread`): alone when
results come one at a time (a real judge), together with everything that arrived during the
previous commit when they come in bursts. The battle of a pair goes into the same transaction
as its second valid judgment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arena.judge.pairs import ORDERS, Order, battle_winner
from arena.judge.plan import PairJob
from arena.store.commit import GroupCommitThread
from arena.store.engine import Store, utcnow
from arena.store.judgments import DuplicateWork, battle_dedup_key, judge_writes
from arena.store.schema import JUDGE_SOURCE


@dataclass
class Finished:
    """A judgment ready to store: the pair's job, the order, and the judgment's column values."""

    job: PairJob
    order: Order
    values: dict[str, Any]


class JudgmentWriter:
    """A thread that commits `Finished` judgments in arrival order; `close()` flushes and joins."""

    def __init__(self, store: Store, judge_key: str, judge_name: str,
                 on_committed: Callable[[Finished, tuple[str | None, str | None] | None], None]) -> None:
        self.store = store
        self.judge_key = judge_key
        self.judge_name = judge_name
        self.on_committed = on_committed
        self.error: BaseException | None = None
        self.duplicates = 0  # judgments another worker had stored first (not stored again)
        self._thread = GroupCommitThread(self._commit_group, name="arena-judgment-writer")

    def submit(self, finished: Finished) -> None:
        if self.error is not None:
            raise self.error
        self._thread.put(finished)

    def close(self) -> None:
        """Commit everything submitted, stop the thread, and re-raise a write error if any."""
        self._thread.close()
        if self.error is not None:
            raise self.error

    def _commit_group(self, group: list[Finished]) -> None:
        if self.error is not None:  # after a write error nothing more is stored
            return
        try:
            try:
                committed = list(zip(group, self._commit(group), strict=True))
            except DuplicateWork:  # another worker stored some of these first: keep the rest
                committed = self._commit_one_by_one(group)
        except BaseException as exc:  # noqa: BLE001 - handed to the submitting thread (a StoreError
            self.error = exc  # when the store is locked, read-only or broken: one line, no traceback)
            return
        for finished, outcome in committed:
            self.on_committed(finished, outcome)

    def _commit_one_by_one(self, group: list[Finished]) -> list[tuple[Finished, tuple[str | None, str | None] | None]]:
        for finished in group:  # forget what the rolled-back transaction recorded
            finished.job.final.pop(finished.order, None)
            finished.job.closed = False
        committed = []
        for finished in group:
            try:
                committed.append((finished, self._commit([finished])[0]))
            except DuplicateWork:
                finished.job.final.pop(finished.order, None)
                self.duplicates += 1
        return committed

    def _commit(self, group: list[Finished]) -> list[tuple[str | None, str | None] | None]:
        """One transaction: the group's judgments, then the battles they complete.

        Returns, per judgment, the pair's (AB verdict, BA verdict) when this judgment completed
        the pair, else None.
        """
        now = utcnow()
        with judge_writes(self.store) as writes:
            new = [f for f in group if f.order not in f.job.stored]
            for finished in group:
                previous = finished.job.stored.get(finished.order)
                if previous is not None:  # --retry-invalid: overwrite the stored invalid judgment
                    writes.overwrite_judgment(previous.id, {**finished.values, "created_at": now})
                    finished.job.final[finished.order] = (previous.id, finished.values["verdict"])
            ids = writes.insert_judgments([{**f.values, "created_at": now} for f in new])
            for finished, judgment_id in zip(new, ids, strict=False):
                finished.job.final[finished.order] = (judgment_id, finished.values["verdict"])
            outcomes: list[tuple[str | None, str | None] | None] = []
            battle_rows = []
            for finished in group:
                pair = completed_pair(finished.job)
                if pair is None or finished.job.closed:
                    outcomes.append(None)
                    continue
                finished.job.closed = True
                (ab_id, ab), (ba_id, ba) = pair
                outcomes.append((ab, ba))
                if ab is not None and ba is not None:
                    battle_rows.append(battle_row(self.judge_key, self.judge_name, finished.job, ab_id, ab, ba_id, ba))
            # a pair judged again for a changed reference: its old battle judged another prompt
            writes.delete_battles([battle_dedup_key(self.judge_key, f.job.x.id, f.job.y.id)
                                   for f, outcome in zip(group, outcomes, strict=False) if outcome is not None and f.job.stale])
            writes.insert_battles(battle_rows)
        return outcomes


def completed_pair(job: PairJob) -> tuple[tuple[int, str | None], tuple[int, str | None]] | None:
    """Both orders' (judgment id, verdict) once both are final, from this run or the store."""
    known: dict[Order, tuple[int, str | None]] = {}
    for order in ORDERS:
        if order in job.final:
            known[order] = job.final[order]
        elif order in job.stored and order not in job.todo:
            known[order] = (job.stored[order].id, job.stored[order].verdict)
    return (known["ab"], known["ba"]) if len(known) == 2 else None


def battle_row(judge_key: str, judge_name: str, job: PairJob, ab_id: int, ab: str, ba_id: int,
               ba: str) -> dict[str, Any]:
    """The battle of a pair with two valid judgments: X is model_a, winner by the both-orders rule.

    It records both answers (their ids: the ratings read their style from the answers table) and
    both verdicts (the judge diagnostics read them from the battle rows).
    """
    return dict(
        source=JUDGE_SOURCE, question_id=job.question.id, category=job.question.category,
        model_a=job.x.model, model_b=job.y.model, winner=battle_winner(ab, ba), judge=judge_name,
        judge_key=judge_key, judgment_ab_id=ab_id, judgment_ba_id=ba_id,
        answer_a_len=len(job.x.text), answer_b_len=len(job.y.text),
        answer_a_id=job.x.id, answer_b_id=job.y.id, verdicts=ab + ba,
        dedup_key=battle_dedup_key(judge_key, job.x.id, job.y.id), tstamp=time.time(),
    )
