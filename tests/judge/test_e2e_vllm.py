"""End to end through the CLI on CPU: a tiny vLLM judge, offline and behind vLLM's OpenAI server.

The judges have random weights, so their feedback is gibberish; structured outputs must still
make every verdict they finish valid, and every pair must become a battle. A random judge can
run out of tokens before its verdict (the regex's feedback cap is far above ordinary feedback,
see arena/judge/verdict.py): that output is invalid and retried, so these judges get more
retries than a real one needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.judge.helpers import add_answers, answers_of_length, make_project

REPO = Path(__file__).resolve().parents[2]
PAIRS = 6
RETRIES = 8  # a random judge runs out of tokens in about 1 call in 3


def run_cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def assert_all_valid(project, stdout: str) -> None:  # type: ignore[no-untyped-def]
    assert "battles: 6 judged, 0 reused, 0 invalid" in stdout, stdout
    assert "constrained decoding" in stdout
    rows = project.judgments()
    assert len(rows) == 2 * PAIRS
    assert all(r["valid"] and r["verdict"] in ("A", "B") and r["attempts"] <= 1 + RETRIES for r in rows)
    assert all(r["raw_output"].rstrip().endswith(f"[RESULT] {r['verdict']}") for r in rows)
    assert all(r["p_a"] is not None and 0.0 <= r["p_a"] <= 1.0 for r in rows)
    assert len(project.battles()) == PAIRS


@pytest.mark.e2e
def test_offline_vllm_judge_through_the_cli(tmp_path: Path, tiny_judge_dir: Path) -> None:
    judge = {
        "name": "tiny-prometheus", "backend": "vllm", "model": str(tiny_judge_dir), "dtype": "bfloat16",
        "gpu_memory_utilization": 0.15, "max_model_len": 4096, "enforce_eager": True,
        # a seed with long prompts: on CPU the backend must prefill whole prompts, since vLLM 0.32
        # crashes on seeded requests whose prefill is chunked
        "sampling": {"max_tokens": 96, "seed": 7}, "max_invalid_retries": RETRIES,
    }
    project = make_project(tmp_path / "p", judge)
    add_answers(project, answers_of_length())
    done = run_cli("judge", "-c", str(project.config_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert_all_valid(project, done.stdout)
    again = run_cli("judge", "-c", str(project.config_path))  # nothing pending: no engine start
    assert again.returncode == 0 and "battles: 0 judged, 6 reused" in again.stdout


@pytest.mark.e2e
def test_vllm_server_judge_detects_structured_outputs(tmp_path: Path, vllm_server) -> None:  # type: ignore[no-untyped-def]
    judge = {"name": "tiny-server-judge", "backend": "openai", "model": vllm_server.model,
             "base_url": vllm_server.base_url, "sampling": {"max_tokens": 96, "seed": 7},
             "max_invalid_retries": RETRIES}
    project = make_project(tmp_path / "p", judge)
    add_answers(project, answers_of_length())
    done = run_cli("judge", "-c", str(project.config_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert_all_valid(project, done.stdout)


HHH = REPO.parent / "shared" / "validation" / "hhh_alignment_eval.json"


@pytest.mark.e2e
@pytest.mark.skipif(not HHH.is_file(), reason=f"HHH alignment data not found at {HHH}")
def test_validate_against_a_real_vllm_judge_through_the_cli(tmp_path: Path, vllm_server) -> None:  # type: ignore[no-untyped-def]
    import json

    from sqlalchemy import select

    from arena.store.engine import open_store
    from arena.store.schema import validation_judgments

    judge = {"name": "tiny-server-judge", "backend": "openai", "model": vllm_server.model,
             "base_url": vllm_server.base_url, "tokenizer": str(vllm_server.model_dir),
             "sampling": {"max_tokens": 96, "seed": 7}, "max_invalid_retries": RETRIES}
    project = make_project(tmp_path / "p", judge)
    args = ("judge", "validate", str(HHH), "-c", str(project.config_path), "--limit", "3", "--output", "json")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "constrained decoding" in done.stderr
    report = json.loads(done.stdout)
    assert (report["pairs"], report["pending"], report["overall"]["invalid"]) == (3, 0, 0)
    assert 0.0 <= report["overall"]["agreement"]["value"] <= 1.0
    store = open_store(project.config().storage_url)
    try:
        with store.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(select(validation_judgments))]
    finally:
        store.close()
    assert len(rows) == 6 and all(r["valid"] and r["finish_reason"] == "stop" for r in rows)
    assert all(r["raw_output"].endswith(f"[RESULT] {r['verdict']}") and r["seed"] is not None for r in rows)
    again = run_cli(*args)
    assert again.returncode == 0 and "0 model calls" in again.stderr and "judge not loaded" in again.stderr
    assert json.loads(again.stdout) == report
