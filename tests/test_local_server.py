"""arena.local_server on stand-in servers (a few seconds): a server that dies at once, one that
never answers, and a real HTTP server that starts and is stopped with its process group."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from arena.local_server import ServerStartError, free_port, start_server, stop_process_group


def alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_server_that_exits_at_once_names_itself_its_exit_code_and_its_log_tail(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    log_path.write_text("an earlier run's line\n")
    command = [sys.executable, "-c", "import sys; print('port already taken'); sys.exit(3)"]
    with pytest.raises(ServerStartError) as caught:
        start_server(command, f"http://127.0.0.1:{free_port()}/", log_path, "the stand-in server", 30)
    assert caught.value.summary == f"the stand-in server exited with 3 (log: {log_path})"
    assert caught.value.tail == "port already taken"  # this run's output only
    assert "\n" not in caught.value.summary and "port already taken" in str(caught.value)
    assert "an earlier run's line" in log_path.read_text()  # appended to, not overwritten


def test_a_server_that_never_answers_times_out_and_its_process_group_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    # the server and a worker it spawned, as vLLM spawns its engine core: both must end
    script = ("import os, subprocess, sys, time\n"
              "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{worker.pid}}')\n"
              "time.sleep(60)\n")
    started = time.monotonic()
    with pytest.raises(ServerStartError, match=r"^the sleeper did not answer within 3 s \(log: "):
        start_server([sys.executable, "-c", script], f"http://127.0.0.1:{free_port()}/", tmp_path / "server.log",
                      "the sleeper", 3)
    assert time.monotonic() - started < 30
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert len(pids) == 2 and gone_within(pids, 10), pids


def test_a_real_http_server_starts_answers_and_stops(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    process = start_server(command, url, tmp_path / "logs" / "http.log", "http.server", 30, cwd=tmp_path)
    try:
        assert process.poll() is None
        assert httpx.get(url, timeout=5).status_code == 200
    finally:
        stop_process_group(process, timeout_s=10)
    assert process.returncode is not None and not alive(process.pid)
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=2)


def test_stopping_an_exited_process_is_a_no_op() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    process.wait()
    stop_process_group(process)
    assert process.returncode == 0
