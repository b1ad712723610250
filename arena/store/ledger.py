"""The cost ledger's runs: one row per model per `arena generate` and per judge per `arena judge`.

A run is recorded from the moment its backend is asked for (loading a model holds its GPUs too)
to the moment it is released. Its totals (items stored, prompt and completion tokens, wall
seconds so far) are written while it goes, at most every few seconds and at its end, so a run
that is killed keeps what it spent up to its last update. The entry's price per million tokens
is copied onto the row when the run starts: a later change of price does not rewrite history.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from arena.store.engine import Store, utcnow
from arena.store.schema import runs

UPDATE_EVERY_S = 5.0  # how often a running run's totals are written


@dataclass(frozen=True)
class RunStart:
    """What a run is, known when it starts."""

    kind: str  # "generate" or "judge" (schema.RUN_KINDS)
    name: str  # the model's or the judge's name
    backend: str
    gpus: int
    judge_key: str | None = None
    session: str | None = None  # the nightly run id
    price_prompt: float | None = None  # USD per million tokens
    price_completion: float | None = None


@dataclass(frozen=True)
class RunRow:
    """A stored run, as the ledger reads it."""

    id: int
    kind: str
    name: str
    judge_key: str | None
    backend: str
    gpus: int
    session: str | None
    started_at: dt.datetime
    finished: bool
    wall_s: float
    items: int
    prompt_tokens: int
    completion_tokens: int
    price_prompt: float | None
    price_completion: float | None


class RunRecorder:
    """Keeps one run's totals and writes them to its row. `add` may be called from a writer
    thread while `finish` is called from the run's own thread."""

    def __init__(self, store: Store, start: RunStart, started: float, started_at: dt.datetime) -> None:
        self.store = store
        self.started = started  # time.monotonic() when the run began
        self.items = self.prompt_tokens = self.completion_tokens = 0
        self._lock = threading.Lock()
        self._written = time.monotonic()
        with store.transaction() as connection:
            key = connection.execute(runs.insert().values(
                kind=start.kind, name=start.name, judge_key=start.judge_key, backend=start.backend,
                gpus=start.gpus, session=start.session, started_at=started_at, finished_at=None,
                wall_s=time.monotonic() - started, items=0, prompt_tokens=0, completion_tokens=0,
                price_prompt=start.price_prompt, price_completion=start.price_completion,
            )).inserted_primary_key
        assert key is not None
        self.id = int(key[0])

    def add(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Count one stored item (an answer or a judgment) and what it spent."""
        with self._lock:
            self.items += 1
            self.prompt_tokens += prompt_tokens or 0
            self.completion_tokens += completion_tokens or 0

    def update_if_due(self) -> None:
        """Write the totals so far if the last write is old; a failed write waits for the next."""
        if time.monotonic() - self._written < UPDATE_EVERY_S:
            return
        try:
            self._write(finished=False)
        except Exception:  # noqa: BLE001 - a busy store: the next update or `finish` writes the totals
            self._written = time.monotonic()

    def finish(self) -> None:
        self._write(finished=True)

    def _write(self, finished: bool) -> None:
        with self._lock:
            values: dict[str, object] = {"items": self.items, "prompt_tokens": self.prompt_tokens,
                      "completion_tokens": self.completion_tokens, "wall_s": time.monotonic() - self.started}
        if finished:
            values["finished_at"] = utcnow()
        with self.store.transaction() as connection:
            connection.execute(update(runs).where(runs.c.id == self.id).values(**values))
        self._written = time.monotonic()


def start_run(store: Store, start: RunStart, started: float, started_at: dt.datetime) -> RunRecorder:
    """Record a run that began at `started` (time.monotonic()) / `started_at` (UTC)."""
    return RunRecorder(store, start, started, started_at)


def load_runs(store: Store, session: str | None = None) -> list[RunRow]:
    """Every recorded run (or one nightly session's), oldest first."""
    query = select(runs).order_by(runs.c.id)
    if session is not None:
        query = query.where(runs.c.session == session)
    with store.connect() as connection:
        return [RunRow(id=r.id, kind=r.kind, name=r.name, judge_key=r.judge_key, backend=r.backend, gpus=r.gpus,
                       session=r.session, started_at=r.started_at, finished=r.finished_at is not None,
                       wall_s=float(r.wall_s), items=r.items, prompt_tokens=r.prompt_tokens,
                       completion_tokens=r.completion_tokens, price_prompt=r.price_prompt,
                       price_completion=r.price_completion)
                for r in connection.execute(query)]


def last_session(store: Store) -> str | None:
    """The nightly run id of the newest run a nightly run made (None: none yet)."""
    query = select(runs.c.session).where(runs.c.session.is_not(None)).order_by(runs.c.id.desc()).limit(1)
    with store.connect() as connection:
        return connection.execute(query).scalar()
