"""The store's run lock: one holder, dead holders taken over, live holders named and refused."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from arena.store.engine import open_store, utcnow
from arena.store.runlock import RunLock, RunLockedError, run_lock
from arena.store.schema import run_locks


@pytest.fixture
def store(store_url: str):
    store = open_store(store_url)
    yield store
    store.close()


def put_holder(store, pid: int, host: str, started: dt.datetime, heartbeat: dt.datetime) -> None:
    with store.transaction() as connection:
        connection.execute(run_locks.insert().values(
            name="nightly", pid=pid, host=host, started_at=started, heartbeat_at=heartbeat))


def lock_rows(store) -> list:
    with store.connect() as connection:
        return list(connection.execute(select(run_locks)))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_acquire_and_release(store) -> None:
    with run_lock(store) as lock:
        rows = lock_rows(store)
        assert [(r.name, r.pid, r.host) for r in rows] == [("nightly", lock.pid, lock.host)]
        assert lock.took_over is None
    assert lock_rows(store) == []


def test_a_live_holder_is_named_and_refused(store) -> None:
    started = utcnow() - dt.timedelta(minutes=5)
    with run_lock(store) as first:
        # the same live process, another run: same host, pid alive, fresh heartbeat
        second = RunLock(store)
        with pytest.raises(RunLockedError) as info:
            second.acquire()
    message = str(info.value)
    assert f"pid {first.pid}" in message and f"host {first.host}" in message
    assert "started" in message and info.value.exit_code == 3
    put_holder(store, 4242, "other-host", started, utcnow())
    with pytest.raises(RunLockedError, match=f"pid 4242 on host other-host, started {started:%Y-%m-%d %H:%M}"):
        RunLock(store).acquire()


def test_a_dead_pid_on_this_host_is_taken_over(store) -> None:
    lock = RunLock(store)
    now = utcnow()
    pid = dead_pid()
    put_holder(store, pid, lock.host, now, now)
    lock.acquire()
    try:
        assert lock.took_over is not None and lock.took_over.pid == pid
        assert [r.pid for r in lock_rows(store)] == [lock.pid]
    finally:
        lock.release()
    assert lock_rows(store) == []


def test_a_stale_heartbeat_on_another_host_is_taken_over(store) -> None:
    old = utcnow() - dt.timedelta(hours=2)
    put_holder(store, 1, "gone-host", old, old)
    with run_lock(store, stale_after_s=600) as lock:
        assert lock.took_over is not None and lock.took_over.host == "gone-host"


def test_a_fresh_heartbeat_on_another_host_is_respected(store) -> None:
    old = utcnow() - dt.timedelta(hours=2)
    put_holder(store, 1, "busy-host", old, utcnow() - dt.timedelta(seconds=30))
    with pytest.raises(RunLockedError, match="busy-host"):
        RunLock(store, stale_after_s=600).acquire()
    assert [r.host for r in lock_rows(store)] == ["busy-host"]


def test_takeover_fails_if_the_holder_changed_meanwhile(store) -> None:
    old = utcnow() - dt.timedelta(hours=2)
    put_holder(store, 1, "gone-host", old, old)
    lock = RunLock(store)
    stale = lock.holder()
    assert stale is not None
    # the holder came back to life and refreshed its heartbeat after we read it
    with store.transaction() as connection:
        connection.execute(run_locks.update().values(heartbeat_at=utcnow()))
    assert lock._take_over(stale, utcnow()) is False
    assert [r.host for r in lock_rows(store)] == ["gone-host"]


def test_heartbeat_refreshes_and_notices_a_lost_lock(store) -> None:
    lock = RunLock(store, heartbeat_every_s=0.05)
    lock.acquire()
    try:
        first = lock.holder().heartbeat_at
        time.sleep(0.3)
        assert lock.holder().heartbeat_at > first
        # someone else deleted our row and took the lock
        with store.transaction() as connection:
            connection.execute(run_locks.delete())
        put_holder(store, 7, "thief", utcnow(), utcnow())
        assert lock.lost.wait(2)
    finally:
        lock.release()
    assert [r.host for r in lock_rows(store)] == ["thief"]  # release never deletes another's row


RACER = textwrap.dedent("""
    import sys, time
    from arena.store.runlock import RunLock, RunLockedError
    from arena.store.engine import open_store
    store = open_store(sys.argv[1])
    lock = RunLock(store)
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    try:
        lock.acquire()
    except RunLockedError:
        sys.exit(3)
    time.sleep(4.0)  # hold long enough that a racer slowed by a busy machine still finds it held
    lock.release()
""")


def test_concurrent_processes_get_exactly_one_lock(store, tmp_path: Path) -> None:
    start_at = time.time() + 6.0  # time for four interpreters to start
    racers = [subprocess.Popen([sys.executable, "-c", RACER, store.url, str(start_at)])
              for _ in range(4)]
    codes = sorted(p.wait(timeout=60) for p in racers)
    assert codes == [0, 3, 3, 3]
    assert lock_rows(store) == []
