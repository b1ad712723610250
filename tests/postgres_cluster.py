"""A throwaway PostgreSQL cluster for the test session: initdb in a temporary folder, a loopback port.

Debian's `postgresql` package (installed by scripts/setup.sh) provides the server binaries; the
server refuses to run as root, so when the tests run as root the cluster is created and started as
the unprivileged user `nobody` (through `runuser`). Durability is switched off (fsync, full page
writes, synchronous commit): the cluster lives only as long as the session. Each test that asks for
a store gets a database of its own (`new_database`), so tests never see each other's rows.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from arena.local_server import free_port

UNPRIVILEGED_USER = "nobody"
SUPERUSER = "arena"
START_TIMEOUT_S = 60


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest installed major version), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command] if os.geteuid() == 0 else command


@dataclass
class Cluster:
    """A running cluster; `url(database)` is a SQLAlchemy URL for psycopg 3."""

    bin_dir: Path
    folder: Path
    port: int
    _databases: int = field(default=0, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        credentials = SUPERUSER if password is None else f"{SUPERUSER}:{password}"
        return f"postgresql+psycopg://{credentials}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        command = [str(self.bin_dir / "psql"), "-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", SUPERUSER, "-d", database, "-c", sql]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    def new_database(self) -> str:
        """A fresh, empty database; returns its name."""
        self._databases += 1
        name = f"test_{os.getpid()}_{self._databases}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                                        "stop"]), capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb and start a cluster on a free loopback port; RuntimeError saying why when it cannot."""
    bin_dir = server_binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql; scripts/setup.sh installs it)")
    folder = Path(tempfile.mkdtemp(prefix="arena-pg-"))
    folder.chmod(0o777)  # the unprivileged server user writes its data folder and socket here
    port = free_port()
    initdb = _as_server_user([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", SUPERUSER,
                              "--auth=trust", "-E", "UTF8", "--no-sync"])
    result = subprocess.run(initdb, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off "
               "-c synchronous_commit=off -c max_connections=200")
    start = _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "server.log"),
                             "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"])
    result = subprocess.run(start, capture_output=True, text=True)
    cluster = Cluster(bin_dir, folder, port)
    if result.returncode != 0:
        log = (folder / "server.log").read_text(errors="replace")[-2000:] if (folder / "server.log").exists() else ""
        cluster.stop()
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()} {log}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            cluster.psql("SELECT 1")
            return cluster
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                cluster.stop()
                raise
            time.sleep(0.2)
