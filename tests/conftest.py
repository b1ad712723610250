"""Session fixtures shared by the whole suite: tiny local models and one real vLLM server.

Tiny models are built once and cached on disk (`.arena-cache/` in the repo, or $ARENA_TEST_CACHE).
The vLLM OpenAI server is started once per session on a free loopback port and stopped by its
pid at the end, because every engine start costs about 30 s on two cores.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from arena.tinymodels import build_tiny_model

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ARENA_TEST_CACHE", REPO / ".arena-cache"))
SERVER_START_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny random-weight Llama with a Llama 3 chat template."""
    return build_tiny_model(CACHE / "tiny-llama3", "llama3")


@pytest.fixture(scope="session")
def tiny_chatml_model_dir() -> Path:
    """A tiny random-weight Qwen2 with a ChatML chat template."""
    return build_tiny_model(CACHE / "tiny-chatml", "chatml")


@pytest.fixture(scope="session")
def tiny_judge_dir() -> Path:
    """A tiny random-weight Mistral with the Mistral [INST] template, standing in for Prometheus 2."""
    return build_tiny_model(CACHE / "tiny-mistral", "mistral")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class VllmServer:
    base_url: str  # e.g. http://127.0.0.1:PORT/v1
    model: str  # the served model name
    model_dir: Path
    pid: int
    log_path: Path


def start_vllm_server(model_dir: Path, served_name: str, log_path: Path,
                      max_model_len: int = 4096) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--served-model-name", served_name,
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "bfloat16", "--max-model-len", str(max_model_len),
        "--enforce-eager", "--gpu-memory-utilization", "0.15",
        # vLLM's CPU sampler crashes on seeded requests whose prefill is chunked
        # ("CPU Generator does not use offset"); the judge sends seeds with long prompts.
        "--no-enable-chunked-prefill",
    ]
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"vLLM server exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop_process(process)
    raise RuntimeError(f"vLLM server did not answer within {SERVER_START_TIMEOUT_S} s; log: {log_path}")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """One real vLLM OpenAI-compatible server for the session, serving the tiny Llama as "tiny"."""
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    process, base_url = start_vllm_server(tiny_model_dir, "tiny", log_path)
    try:
        yield VllmServer(base_url=base_url, model="tiny", model_dir=tiny_model_dir,
                         pid=process.pid, log_path=log_path)
    finally:
        stop_process(process)
