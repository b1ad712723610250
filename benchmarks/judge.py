"""Judging speed: the tiny vLLM judge with prefix caching on and off, and orchestration overhead.

    .venv/bin/python benchmarks/judge.py            # both parts
    .venv/bin/python benchmarks/judge.py --skip-vllm  # only the instant-backend overhead

1. Judgments and model calls per second of the tiny random-weight Mistral judge (vLLM offline,
   CPU) on the same pairs with prefix caching on, then off, and the ratio of model calls per
   second. The engine load is not timed. A random judge writes gibberish at about the verdict
   regex's cap of 3 characters per token, so some outputs run out of tokens and are retried in
   later, smaller rounds: judgments per second depends on those retries, calls per second less.
2. Orchestration overhead per judgment: the whole `run_judge` path (plan, sanitise, fit, prompt,
   parse, commit judgment and battle) with an instant backend. Target: >= 5,000 judgments/s.
3. The same for `arena judge validate` on the HHH alignment file (../shared/validation, when
   present): read, sync the items, judge both orders, commit, and the report with 1,000
   bootstrap rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from arena.answers import answer_fingerprint  # noqa: E402
from arena.backends.base import GenerationResult  # noqa: E402
from arena.backends.scripted import ScriptedBackend, ScriptedReply  # noqa: E402
from arena.config import ArenaConfig, load_config  # noqa: E402
from arena.questions.loading import load_questions  # noqa: E402
from arena.store.answers import insert_answer, sync_questions  # noqa: E402
from arena.store.engine import open_store  # noqa: E402
from arena.tinymodels import build_tiny_model  # noqa: E402

CACHE = REPO / ".arena-cache"
SENTENCES = [
    "Chest pain that spreads to the arm needs urgent care.",
    "Take the tablets with food and drink plenty of water.",
    "High blood pressure often has no symptoms, so check it regularly.",
    "See a doctor the same day if the fever lasts more than three days.",
]


def instant_verdict(prompt: str) -> ScriptedReply:
    """A valid verdict at once (alternating by prompt length): measures everything but the judge."""
    verdict = "A" if len(prompt) % 2 else "B"
    return ScriptedReply(text=f"Both were weighed on the rubric. [RESULT] {verdict}", completion_tokens=12)


def instant_backend() -> ScriptedBackend:
    return ScriptedBackend(instant_verdict, "instant")


def make_project(root: Path, judge: dict, models: int, questions: int, answer_sentences: int) -> ArenaConfig:
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"q{i}", "text": f"Question {i}: what should I know about condition {i}?",
                         "category": "general-practice"}) for i in range(questions)]
    (root / "questions.jsonl").write_text("\n".join(lines) + "\n")
    project = {
        "questions": "questions.jsonl",
        "rubric": "arena:rubrics/medical.yaml",
        "models": [{"name": f"m{i:02d}", "backend": "transformers", "model": f"/placeholder/{i}"} for i in range(models)],
        "judge": judge,
    }
    (root / "arena.yaml").write_text(yaml.safe_dump(project))
    config = load_config(root / "arena.yaml")
    question_list = load_questions(config.questions)
    store = open_store(config.storage_url)
    sync_questions(store, question_list)
    with store.transaction() as connection:
        for index, model in enumerate(config.models):
            for question in question_list:
                text = " ".join(SENTENCES[(index + k) % len(SENTENCES)] for k in range(answer_sentences + index))
                result = GenerationResult(key="", text=text, finish_reason="stop")
                insert_answer(connection, model.name, question.id, answer_fingerprint(config, model, question), result)
    store.close()
    return config


def bench_overhead(tiny_judge: Path) -> None:
    from arena.judge import run_judge

    judge = {"name": "instant", "backend": "vllm", "model": str(tiny_judge)}
    with tempfile.TemporaryDirectory() as folder:
        config = make_project(Path(folder), judge, models=8, questions=150, answer_sentences=6)
        started = time.perf_counter()
        summary = run_judge(config, backend=instant_backend(), progress=False)
        elapsed = time.perf_counter() - started
    rate = summary.judgments / elapsed
    print(f"orchestration, instant backend: {summary.judgments} judgments, {summary.judged} battles in "
          f"{elapsed:.2f} s = {rate:,.0f} judgments/s ({1e6 / rate:.0f} us per judgment; target >= 5,000/s)")


HHH = REPO.parent / "shared" / "validation" / "hhh_alignment_eval.json"


def bench_validate_overhead(tiny_judge: Path) -> None:
    from arena.judge.validate import run_validate

    if not HHH.is_file():
        print(f"validate overhead: skipped, no HHH file at {HHH}")
        return
    judge = {"name": "instant", "backend": "vllm", "model": str(tiny_judge)}
    with tempfile.TemporaryDirectory() as folder:
        config = make_project(Path(folder), judge, models=2, questions=1, answer_sentences=1)
        started = time.perf_counter()
        summary = run_validate(config, HHH, backend=instant_backend(), progress=False)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        again = run_validate(config, HHH, backend=instant_backend(), progress=False)
        rerun = time.perf_counter() - started
    print(f"validate, instant backend: {summary.judgments} judgments of {summary.pairs} HHH pairs with the "
          f"report in {elapsed:.2f} s = {summary.judgments / elapsed:,.0f} judgments/s; "
          f"a rerun ({again.model_calls} model calls) {rerun:.2f} s")


def bench_vllm(tiny_judge: Path) -> None:
    from arena.backends import make_backend
    from arena.judge import run_judge

    rates = {}
    for caching in (True, False):
        judge = {"name": "tiny", "backend": "vllm", "model": str(tiny_judge), "dtype": "bfloat16",
                 "gpu_memory_utilization": 0.15, "max_model_len": 4096, "enforce_eager": True,
                 "enable_prefix_caching": caching, "sampling": {"max_tokens": 32}}
        with tempfile.TemporaryDirectory() as folder:
            config = make_project(Path(folder), judge, models=4, questions=12, answer_sentences=3)
            assert config.judge is not None
            backend = make_backend(config.judge)
            try:
                started = time.perf_counter()
                summary = run_judge(config, backend=backend, progress=False)
                elapsed = time.perf_counter() - started
            finally:
                backend.close()
        rates[caching] = summary.model_calls / elapsed
        print(f"vLLM tiny judge, prefix caching {'on ' if caching else 'off'}: {summary.judgments} judgments "
              f"({summary.model_calls} model calls, {summary.retries} retries, {summary.invalid_judgments} invalid) "
              f"in {elapsed:.1f} s = {summary.judgments / elapsed:.1f} judgments/s, "
              f"{rates[caching]:.1f} model calls/s (constrained={summary.constrained})")
    print(f"prefix caching speed-up (model calls/s): {rates[True] / rates[False]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-vllm", action="store_true", help="only the instant-backend overhead")
    args = parser.parse_args()
    tiny_judge = build_tiny_model(CACHE / "tiny-mistral", "mistral")
    bench_overhead(tiny_judge)
    bench_validate_overhead(tiny_judge)
    if not args.skip_vllm:
        bench_vllm(tiny_judge)


if __name__ == "__main__":
    main()
