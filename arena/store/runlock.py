"""One run at a time per store: a row in `run_locks`, taken atomically and kept alive by a heartbeat.

The primary key on the lock's name makes a second insert fail atomically, in SQLite and in any
other database. A holder is dead when it ran on this host and its pid is gone, or when its
heartbeat is older than the stale timeout (the only test that works across hosts). A dead holder
is taken over atomically: delete the row only if it still names that exact holder, then insert.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from arena.errors import ArenaError, StoreError
from arena.store.engine import Store, utcnow
from arena.store.schema import run_locks

STALE_AFTER_S = 600.0  # a heartbeat older than this means the holder is gone
HEARTBEAT_EVERY_S = 30.0
_ACQUIRE_ATTEMPTS = 3


class RunLockedError(ArenaError):
    """Another live run holds the lock. Exit code 3 so schedulers can tell it from a failure."""

    exit_code = 3


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime

    def describe(self, now: dt.datetime | None = None) -> str:
        age = ((now or utcnow()) - self.heartbeat_at).total_seconds()
        return (f"pid {self.pid} on host {self.host}, started {self.started_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(last heartbeat {age:.0f} s ago)")


def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything this module writes is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def holder_is_dead(holder: LockHolder, host: str, now: dt.datetime, stale_after_s: float) -> bool:
    if holder.host == host and not pid_alive(holder.pid):
        return True
    return (now - holder.heartbeat_at).total_seconds() > stale_after_s


class RunLock:
    """The lock named `name` on `store`, held by this process once `acquire()` returned."""

    def __init__(self, store: Store, name: str = "nightly", *, stale_after_s: float = STALE_AFTER_S,
                 heartbeat_every_s: float = HEARTBEAT_EVERY_S) -> None:
        self.store = store
        self.name = name
        self.stale_after_s = stale_after_s
        self.heartbeat_every_s = heartbeat_every_s
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.started_at: dt.datetime | None = None
        self.took_over: LockHolder | None = None  # the dead holder replaced, if any
        self.lost = threading.Event()  # set when another run took the lock from under us
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, taking over a dead holder's; RunLockedError if a live run holds it."""
        for _ in range(_ACQUIRE_ATTEMPTS):
            now = utcnow()
            if self._try_insert(now):
                self.started_at = now
                self._start_heartbeat()
                return
            holder = self.holder()
            if holder is None:
                continue  # released between our insert and our read: try again
            if not holder_is_dead(holder, self.host, now, self.stale_after_s):
                raise RunLockedError(
                    f"another {self.name} run is in progress on this store: {holder.describe(now)}; "
                    "exiting without doing anything")
            if self._take_over(holder, now):
                self.started_at = now
                self.took_over = holder
                self._start_heartbeat()
                return
        raise RunLockedError(f"could not take the {self.name} lock: other runs keep racing for it")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.started_at is None:
            return
        with self.store.transaction() as connection:
            connection.execute(delete(run_locks).where(self._mine()))
        self.started_at = None

    def holder(self) -> LockHolder | None:
        with self.store.connect() as connection:
            row = connection.execute(select(run_locks).where(run_locks.c.name == self.name)).first()
        if row is None:
            return None
        return LockHolder(row.pid, row.host, _as_utc(row.started_at), _as_utc(row.heartbeat_at))

    def heartbeat(self) -> bool:
        """Refresh our heartbeat; False (and `lost` set) if the row no longer names us."""
        with self.store.transaction() as connection:
            result = connection.execute(
                update(run_locks).where(self._mine()).values(heartbeat_at=utcnow()))
        if result.rowcount != 1:
            self.lost.set()
            return False
        return True

    def _mine(self) -> ColumnElement[bool]:
        return and_(run_locks.c.name == self.name, run_locks.c.pid == self.pid,
                    run_locks.c.host == self.host, run_locks.c.started_at == self.started_at)

    def _try_insert(self, now: dt.datetime) -> bool:
        try:
            with self.store.transaction() as connection:
                connection.execute(run_locks.insert().values(
                    name=self.name, pid=self.pid, host=self.host, started_at=now, heartbeat_at=now))
        except IntegrityError:
            return False
        return True

    def _take_over(self, dead: LockHolder, now: dt.datetime) -> bool:
        """Replace `dead` only if the row still names it (unchanged heartbeat included)."""
        try:
            with self.store.transaction() as connection:
                # The delete is the transaction's first statement: in SQLite a write after a read
                # could fail with a stale snapshot instead of waiting for the other writer.
                gone = connection.execute(delete(run_locks).where(and_(
                    run_locks.c.name == self.name, run_locks.c.pid == dead.pid,
                    run_locks.c.host == dead.host,
                    run_locks.c.started_at == dead.started_at,
                    run_locks.c.heartbeat_at == dead.heartbeat_at,
                ))).rowcount
                if gone != 1:
                    raise _Raced()
                connection.execute(run_locks.insert().values(
                    name=self.name, pid=self.pid, host=self.host, started_at=now, heartbeat_at=now))
        except (_Raced, IntegrityError, OperationalError, StoreError):
            return False
        return True

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"{self.name}-lock-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_every_s):
            try:
                if not self.heartbeat():
                    return
            except (OperationalError, StoreError):
                continue  # the store was busy for longer than its timeout; try next beat


class _Raced(Exception):
    pass


@contextmanager
def run_lock(store: Store, name: str = "nightly", **options: float) -> Iterator[RunLock]:
    """Hold the lock for the `with` block; released even when the block raises."""
    lock = RunLock(store, name, **options)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
