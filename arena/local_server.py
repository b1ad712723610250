"""Local servers on a loopback port: start one, wait until it answers, stop its whole process group.

One place for how arena and its tests run local servers: `arena demo` starts llama-cpp-python's
server; the tests start vLLM's and llama-cpp-python's OpenAI servers, the dashboard and
PostgreSQL's port; the benchmarks start vLLM and llama.cpp. Each used to carry its own copy of
the start-wait-stop loop, and the copies drifted (one never timed out, one never killed).

A server runs in its own session (process group), so stopping it also ends the workers it
spawned (vLLM's engine core, uvicorn's children): SIGTERM to the group, SIGKILL after a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

STOP_TIMEOUT_S = 30
LOG_TAIL_CHARS = 3000
POLL_S = 0.5


class ServerStartError(RuntimeError):
    """A local server exited before it answered, or did not answer in time.

    `summary` is one line (what, the exit code or the timeout, the log's path); str() adds the
    tail of what the server wrote in this run."""

    def __init__(self, summary: str, tail: str) -> None:
        super().__init__(f"{summary}\n{tail}" if tail else summary)
        self.summary = summary
        self.tail = tail


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(command: list[str], health_url: str, log_path: Path, what: str, timeout_s: float, *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `command` in its own process group, its output appended to `log_path`, and return
    once GET `health_url` answers 200. Raises ServerStartError naming `what` if the process exits
    first or `timeout_s` passes; the process is stopped whenever the wait does not succeed."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        start_offset = log.tell()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=None if env is None else dict(env), cwd=cwd)
    try:
        _wait_until_healthy(process, health_url, log_path, start_offset, what, timeout_s)
    except BaseException:  # a failed start, and Ctrl-C or SIGTERM while waiting, leave no server behind
        stop_process_group(process)
        raise
    return process


def _wait_until_healthy(process: subprocess.Popen[bytes], health_url: str, log_path: Path, start_offset: int,
                        what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise ServerStartError(f"{what} exited with {process.returncode} (log: {log_path})",
                                   _log_tail(log_path, start_offset))
        if _answers(health_url):
            return
        if time.monotonic() > deadline:
            raise ServerStartError(f"{what} did not answer within {timeout_s:g} s (log: {log_path})",
                                   _log_tail(log_path, start_offset))
        time.sleep(POLL_S)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _log_tail(log_path: Path, start_offset: int) -> str:
    """The end of what this run wrote (the log may hold earlier runs above it)."""
    with open(log_path, "rb") as log:
        log.seek(start_offset)
        return log.read().decode(errors="replace")[-LOG_TAIL_CHARS:].strip()


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the process's group, SIGKILL if it has not exited after `timeout_s`."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def vllm_server_command(model_dir: Path, served_name: str, port: int, max_model_len: int,
                        structured_backend: str = "guidance") -> list[str]:
    """vLLM's OpenAI-compatible server on `model_dir`, with the settings that work on a CPU."""
    return [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--served-model-name", served_name,
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "bfloat16", "--max-model-len", str(max_model_len),
        "--enforce-eager", "--gpu-memory-utilization", "0.15",
        # vLLM's CPU sampler crashes on seeded requests whose prefill is chunked
        # ("CPU Generator does not use offset"); the judge sends seeds with long prompts.
        "--no-enable-chunked-prefill",
        # the judge's verdict regex decodes ~15x faster under llguidance than under xgrammar
        "--structured-outputs-config.backend", structured_backend,
    ]
