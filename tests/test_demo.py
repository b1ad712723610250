"""The README's first command: `arena demo` runs the whole pipeline offline on the real SmolLM2.

One end-to-end test: real English answers through vLLM, llama.cpp and OpenVINO plus a random-weight
floor, a ChatML judge under constrained decoding whose every verdict is valid and whose feedback
is stored, the board printed, the engines' logs in a file rather than on the terminal, and a
rerun that reuses everything.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from arena.demo import SHIPPED_QUESTIONS, sample_questions
from arena.files import resolve_path
from tests.conftest import CACHE
from tests.test_real_models_e2e import looks_english

REAL = ("smollm2-vllm-bf16", "smollm2-llamacpp-q4", "smollm2-openvino", "smollm2-openvino-terse")
FLOOR = "tiny-random-floor"
QUESTIONS = 2
MAX_STATUS_LINES = 90  # measured: ~70 (stage lines, one line per bar update run, notes)


def run_demo(out_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ARENA_MODEL_CACHE": str(CACHE)}
    command = [sys.executable, "-m", "arena.cli", "demo", "--dir", str(out_dir), "--questions", str(QUESTIONS)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)


def rows(db: Path, sql: str) -> list[sqlite3.Row]:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_sample_spans_categories_before_repeating_one() -> None:
    picked = [json.loads(line)["category"] for line in sample_questions(resolve_path(SHIPPED_QUESTIONS), 12)]
    assert len(picked) == 12 and len(set(picked)) == 12


def explorer_texts(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from tests.dashboard.test_app import open_app

    at = open_app(config_path, monkeypatch, "explorer")
    return " ".join([t.value for t in at.text] + [m.value for m in at.markdown])


@pytest.mark.e2e
def test_demo_shows_real_answers_judged_and_rated_quietly_then_reuses_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino_genai")
    pytest.importorskip("llama_cpp")
    out_dir = tmp_path / "demo"
    first = run_demo(out_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "neither a good doctor nor a good judge" in first.stderr
    assert "Bradley-Terry ratings" in first.stdout
    assert all(name in first.stdout for name in (*REAL, FLOOR)), first.stdout
    assert f"arena dashboard -c {out_dir / 'arena.yaml'}" in first.stderr
    # quiet: arena's lines and bars on the terminal, the engines' chatter in the log it names
    # stdout is the board; stderr arena's stage lines, bars (one line each: they redraw with \r) and notes
    status_lines = first.stderr.split("\n")
    assert len(status_lines) <= MAX_STATUS_LINES, first.stderr
    (log_line,) = [line for line in first.stderr.splitlines() if line.startswith("engine logs: ")]
    log = Path(log_line.split()[2])
    assert log.is_file() and "vllm" in log.read_text(errors="replace").lower()
    assert "INFO" not in first.stderr

    db = out_dir / "arena.db"
    answers = rows(db, "SELECT model, text FROM answers")
    assert len(answers) == 5 * QUESTIONS
    real = [row["text"] for row in answers if row["model"] in REAL]
    assert sum(looks_english(text) for text in real) >= len(real) - 1, real
    assert not any("<|im_end|>" in row["text"] for row in answers)
    judgments = rows(db, "SELECT valid, verdict, feedback, raw_output, attempts FROM judgments")
    pairs = 10 * QUESTIONS  # five candidates: ten pairs per question
    assert len(judgments) == 2 * pairs
    # constrained decoding: every verdict valid (a few may need a retry, when feedback runs out of tokens)
    assert all(j["valid"] and j["verdict"] in ("A", "B") for j in judgments)
    assert sum(j["attempts"] for j in judgments) <= len(judgments) + len(judgments) // 4
    assert all(len(j["feedback"].strip()) >= 20 and "[RESULT]" in j["raw_output"] for j in judgments)
    assert len(rows(db, "SELECT id FROM battles")) == pairs
    # the dashboard's explorer shows the judge's feedback (Streamlit's AppTest on the demo's store)
    shown = explorer_texts(out_dir / "arena.yaml", monkeypatch)
    assert any(j["feedback"].strip()[:40] in shown for j in judgments)

    second = run_demo(out_dir)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(rows(db, "SELECT id FROM answers")) == 5 * QUESTIONS
    assert len(rows(db, "SELECT id FROM judgments")) == 2 * pairs
    assert len(rows(db, "SELECT id FROM snapshots")) == 1
