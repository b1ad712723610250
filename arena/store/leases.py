"""Leases: several workers (`arena judge`, `arena generate`, on one machine or many) share one store.

Each worker plans as a single run does, then claims a batch of its pending units (a unit is a
string key: one pair to judge, one answer to generate) by inserting lease rows. The claim is one
statement, `INSERT ... ON CONFLICT (unit) DO UPDATE ... WHERE expires_at < now RETURNING unit`:
a unit nobody holds is inserted, a unit whose lease expired (its worker was killed) is taken
over, and a unit a live worker holds is left alone; the rows returned are the ones won. The
same statement works on SQLite and PostgreSQL, needs no queue table to be filled first, and
loses nothing to a race: the unit's primary key lets exactly one claim win. (`SELECT ... FOR
UPDATE SKIP LOCKED` would need a queue row for every unit before any worker starts, and a
transaction held open while the unit is worked on.) A heartbeat thread renews the worker's
leases; leases are deleted when their batch is committed. A worker on this host whose process
is gone (killed, or the machine's own earlier run) does not make the next run wait for its leases
to expire: they are released at once (a live process of another PID namespace with the same host
name would look dead too; at worst it then repeats work, whose results the unique keys keep
once). Clocks: expiry compares the
claiming worker's UTC clock with the holder's, so hosts must keep their clocks in sync (NTP)
to within a small part of the lease.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from arena.store.engine import Store, upsert_insert, utcnow, write_failed
from arena.store.schema import work_leases

DEFAULT_LEASE_S = 300.0  # a killed worker's units are taken over after this long
_CLAIM_CHUNK = 500  # units per INSERT statement


def new_worker_id() -> str:
    """host:pid:random, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _release_dead_local_workers(connection: Any) -> None:
    """Delete the leases of workers on this host whose process no longer exists."""
    host = socket.gethostname()
    workers = connection.execute(select(work_leases.c.worker).distinct()
                                 .where(work_leases.c.worker.startswith(f"{host}:"))).scalars().all()
    for worker in workers:
        pid = worker.removeprefix(f"{host}:").partition(":")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _process_is_gone(int(pid)):
            connection.execute(delete(work_leases).where(work_leases.c.worker == worker))


def _claim_statement(connection: Any, rows: list[dict[str, Any]], now: dt.datetime) -> Any:
    """INSERT the lease rows; take over those whose lease expired; RETURNING the units won."""
    statement = upsert_insert(connection, work_leases).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[work_leases.c.unit],
        set_={"worker": statement.excluded.worker, "expires_at": statement.excluded.expires_at},
        where=work_leases.c.expires_at < now,
    ).returning(work_leases.c.unit)


class Leases:
    """This worker's leases on `store`; `start()` begins the heartbeat, `close()` ends it and
    releases what is still held."""

    def __init__(self, store: Store, lease_s: float = DEFAULT_LEASE_S, worker: str | None = None) -> None:
        self.store = store
        self.lease_s = lease_s
        self.worker = worker or new_worker_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Leases:
        self._thread = threading.Thread(target=self._beat, name="arena-lease-heartbeat", daemon=True)
        self._thread.start()
        return self

    def claim(self, units: Sequence[str]) -> list[str]:
        """The units of `units` this worker now holds (nobody held them, or their lease expired)."""
        won: set[str] = set()
        for start in range(0, len(units), _CLAIM_CHUNK):
            chunk = list(dict.fromkeys(units[start:start + _CLAIM_CHUNK]))
            now = utcnow()
            expires = now + dt.timedelta(seconds=self.lease_s)
            try:
                with self.store.transaction() as connection:
                    if start == 0:
                        _release_dead_local_workers(connection)
                    rows = [{"unit": unit, "worker": self.worker, "expires_at": expires} for unit in chunk]
                    won.update(connection.execute(_claim_statement(connection, rows, now)).scalars())
            except DatabaseError as exc:
                raise write_failed(self.store.url, exc) from None
        return [unit for unit in units if unit in won]

    def release(self, units: Sequence[str]) -> None:
        """Give up these units (their work is committed, or abandoned)."""
        if not units:
            return
        try:
            with self.store.transaction() as connection:
                for start in range(0, len(units), _CLAIM_CHUNK):
                    connection.execute(delete(work_leases).where(
                        work_leases.c.worker == self.worker,
                        work_leases.c.unit.in_(list(units[start:start + _CLAIM_CHUNK]))))
        except DatabaseError as exc:
            raise write_failed(self.store.url, exc) from None

    def renew(self) -> int:
        """Push back the expiry of every lease this worker holds; how many it holds."""
        expires = utcnow() + dt.timedelta(seconds=self.lease_s)
        with self.store.transaction() as connection:
            return int(connection.execute(update(work_leases).where(work_leases.c.worker == self.worker)
                                          .values(expires_at=expires)).rowcount)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self.store.transaction() as connection:
                connection.execute(delete(work_leases).where(work_leases.c.worker == self.worker))
        except DatabaseError:
            pass  # the store failed: the leases expire on their own

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
            except DatabaseError:
                continue  # busy or briefly unreachable: the next beat tries again
