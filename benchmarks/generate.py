"""Benchmark of `arena generate`.

Prints (1) the orchestration overhead: answers stored per second with an in-process backend
that answers instantly, so only our code (fingerprints, requests, one commit per answer,
progress) is measured; target >= 5,000/s, so the pipeline never limits a GPU; (2) answers
per second for the same prompts on the tiny local model through the vLLM backend and through
the transformers backend, and their ratio.

    .venv/bin/python benchmarks/generate.py [--answers 20000] [--model-answers 64] [--skip-models]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from arena.backends.scripted import ScriptedBackend, ScriptedReply
from arena.config import ArenaConfig, load_config
from arena.generate import run_generate
from arena.tinymodels import build_tiny_model

REPO = Path(__file__).resolve().parent.parent


INSTANT_ANSWER = ScriptedReply(text="An instant answer. " * 20, prompt_tokens=40, completion_tokens=80)
# Answers every request at once with a fixed text: measures everything but the model.
INSTANT = ScriptedBackend.factory(lambda request: INSTANT_ANSWER, engine="instant")


def write_project(folder: Path, questions: int, models: list[dict[str, object]]) -> ArenaConfig:
    with open(folder / "questions.jsonl", "w", encoding="utf-8") as f:
        for i in range(questions):
            text = f"Question {i}: what are the warning signs of a heart attack, and when should I call for help?"
            f.write(json.dumps({"id": f"q{i:06d}", "text": text, "category": "cardiology"}) + "\n")
    project = {"questions": "questions.jsonl", "models": models}
    (folder / "arena.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return load_config(folder / "arena.yaml")


def orchestration(answers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        config = write_project(Path(tmp), answers, [{"name": "instant", "backend": "openai",
                                                     "model": "instant", "base_url": "http://unused"}])
        started = time.perf_counter()
        summary = run_generate(config, backend_factory=INSTANT, out=io.StringIO(), progress=True)
        elapsed = time.perf_counter() - started
        assert summary.generated == answers and summary.failed == 0
        # the second run only reads: how fast "nothing to do" is decided
        started = time.perf_counter()
        again = run_generate(config, backend_factory=INSTANT, out=io.StringIO(), progress=False)
        reuse_elapsed = time.perf_counter() - started
        assert again.reused == answers and again.generated == 0
    rate = answers / elapsed
    print(f"orchestration: {answers} answers stored in {elapsed:.2f} s = {rate:,.0f} answers/s "
          f"(target >= 5,000/s: {'met' if rate >= 5000 else 'NOT met'}); "
          f"rerun with nothing to do: {reuse_elapsed:.2f} s")
    return rate


def model_rate(backend: str, model_dir: Path, answers: int, max_tokens: int) -> float:
    entry: dict[str, object] = {
        "name": f"tiny-{backend}", "backend": backend, "model": str(model_dir), "dtype": "bfloat16",
        "stop": ["<|eot_id|>"], "sampling": {"max_tokens": max_tokens, "seed": 0},
    }
    if backend == "vllm":
        entry.update(gpu_memory_utilization=0.15, max_model_len=1024, enforce_eager=True)
    else:
        entry.update(batch_size=16)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_project(Path(tmp), answers, [entry])
        from arena.backends import make_backend

        backend_obj = make_backend(config.models[0])  # load outside the timing
        started = time.perf_counter()
        summary = run_generate(config, backend_factory=lambda _m: backend_obj, out=io.StringIO())
        elapsed = time.perf_counter() - started
        assert summary.generated == answers, summary
    rate = answers / elapsed
    print(f"{backend}: {answers} answers of up to {max_tokens} tokens in {elapsed:.2f} s = {rate:,.1f} answers/s "
          f"(model load excluded)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=20000, help="answers for the orchestration figure")
    parser.add_argument("--model-answers", type=int, default=64, help="answers per tiny-model backend")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--skip-models", action="store_true", help="only the orchestration figure")
    args = parser.parse_args()
    orchestration(args.answers)
    if args.skip_models:
        return
    model_dir = build_tiny_model(REPO / ".arena-cache" / "tiny-llama3", "llama3")
    vllm = model_rate("vllm", model_dir, args.model_answers, args.max_tokens)
    transformers = model_rate("transformers", model_dir, args.model_answers, args.max_tokens)
    print(f"vllm / transformers: {vllm / transformers:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
