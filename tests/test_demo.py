"""The README's first command: `arena demo` runs the whole pipeline offline on tiny models."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from arena.demo import SHIPPED_QUESTIONS, sample_questions
from arena.files import resolve_path

DEMO_MODELS = ("tiny-llama3", "tiny-qwen-chatml", "tiny-llama3-hf")


def run_demo(out_dir: Path, questions: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "arena.cli", "demo", "--dir", str(out_dir), "--questions", str(questions)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchone()[0]


def test_sample_spans_categories_before_repeating_one() -> None:
    import json

    picked = [json.loads(line)["category"] for line in sample_questions(resolve_path(SHIPPED_QUESTIONS), 12)]
    assert len(picked) == 12 and len(set(picked)) == 12


@pytest.mark.e2e
def test_demo_runs_generate_judge_and_rate_then_reuses_everything(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    first = run_demo(out_dir, questions=4)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "SMOKE TEST" in first.stderr
    assert "Bradley-Terry ratings" in first.stdout
    assert all(name in first.stdout for name in DEMO_MODELS)

    db = out_dir / "arena.db"
    pairs = 3 * 4  # three model pairs on each of four questions
    assert count(db, "select count(*) from answers") == 3 * 4
    assert count(db, "select count(*) from judgments where valid") == 2 * pairs
    assert count(db, "select count(*) from battles") == pairs
    assert count(db, "select count(*) from snapshots") == 1

    second = run_demo(out_dir, questions=4)
    assert second.returncode == 0, second.stderr[-3000:]
    assert count(db, "select count(*) from answers") == 3 * 4
    assert count(db, "select count(*) from judgments") == 2 * pairs
    assert count(db, "select count(*) from snapshots") == 1
