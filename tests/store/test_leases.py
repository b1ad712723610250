"""Leases: a unit is held by one live worker; an expired lease, or one of a worker on this host
whose process is gone, is taken over at once (a killed run's resume does not wait out the lease)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from arena.store.engine import open_store
from arena.store.leases import Leases


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_live_worker_keeps_its_units_a_gone_one_does_not(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'arena.db'}")
    host = socket.gethostname()
    try:
        live = Leases(store, lease_s=300, worker=f"{host}:1:abc")  # pid 1 is always alive
        assert live.claim(["u1", "u2"]) == ["u1", "u2"]
        gone = Leases(store, lease_s=300, worker=f"{host}:{dead_pid()}:def")
        assert gone.claim(["u3"]) == ["u3"]
        other_host = Leases(store, lease_s=300, worker=f"elsewhere-{host}:{dead_pid()}:123")
        assert other_host.claim(["u4"]) == ["u4"]

        me = Leases(store, lease_s=300)
        assert me.claim(["u1", "u2", "u3", "u4", "u5"]) == ["u3", "u5"]  # the gone local worker's, and a free one
        expired = Leases(store, lease_s=-1, worker=f"elsewhere-{host}:9:456")
        assert expired.claim(["u6"]) == ["u6"]
        assert me.claim(["u4", "u6"]) == ["u6"]  # another host's live lease waits; an expired one is taken
    finally:
        store.close()
