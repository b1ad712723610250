"""`arena generate` end to end through the real CLI process, on tiny local models.

One vLLM-offline run, the shared vLLM OpenAI server for the `openai` backend, the transformers
backend (no engine start), a run killed part-way and resumed, and bad input.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from arena.files import resolve_path
from arena.local_server import free_port
from tests.fakes import project as fakes

REPO = Path(__file__).resolve().parent.parent


def write_project(folder: Path, models: list[dict[str, Any]], questions: int = 8, **top: Any) -> Path:
    rows = [{"id": f"q{i:03d}", "text": f"Question {i}: my chest hurts when I climb stairs; what should I do?",
             "category": "cardiology"} for i in range(questions)]
    return fakes.write_project(folder, models=models, questions=rows, extra=top)


def cli_env(single_thread: bool = False) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if single_thread:
        # torch's OpenMP threads spin-wait: on a shared 2-core machine two of them run ~30x slower
        env["OMP_NUM_THREADS"] = "1"
    return env


def cli(*args: str, cwd: Path, timeout: float = 900, single_thread: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=cli_env(single_thread))


def rows(db: Path, query: str = "SELECT model, question_id, text, finish_reason, truncated, prompt_tokens, "
                                "completion_tokens, latency_s, engine FROM answers ORDER BY id") -> list[tuple]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def summary_table(stdout: str) -> dict[str, dict[str, int]]:
    """The closing table as {model: {column: value}}."""
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    assert lines and lines[0][:2] == ["model", "questions"], stdout[-2000:]  # nothing else on stdout
    header = lines[0]
    table = {}
    for parts in lines[1:]:
        if len(parts) == len(header) and all(p.isdigit() for p in parts[1:]):
            table[parts[0]] = dict(zip(header[1:], map(int, parts[1:]), strict=False))
    return table


def tiny_entry(name: str, backend: str, model_dir: Path, **extra: Any) -> dict[str, Any]:
    entry = {"name": name, "backend": backend, "model": str(model_dir), "dtype": "bfloat16",
             "stop": ["<|eot_id|>", "<|end_of_text|>"], "sampling": {"max_tokens": 16, "seed": 0}}
    entry.update(extra)
    return entry


@pytest.mark.e2e
def test_vllm_offline_backend(tmp_path: Path, tiny_model_dir: Path) -> None:
    entry = tiny_entry("tiny-vllm", "vllm", tiny_model_dir, gpu_memory_utilization=0.15, max_model_len=1024,
                       enforce_eager=True)
    project = write_project(tmp_path, [entry], questions=12)
    result = cli("generate", "-c", str(project), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary_table(result.stdout)["tiny-vllm"]["generated"] == 12
    stored = rows(tmp_path / "arena.db")
    assert len(stored) == 12 and len({r[1] for r in stored}) == 12
    for model, _, _text, reason, truncated, prompt_tokens, completion_tokens, latency, engine in stored:
        assert model == "tiny-vllm" and engine.startswith("vllm ")
        assert reason in ("stop", "length") and bool(truncated) == (reason == "length")
        assert 1 <= completion_tokens <= 16 and prompt_tokens > 10 and latency > 0
    assert any(r[4] for r in stored)  # random weights rarely stop on their own within 16 tokens
    assert "tiny-vllm" in result.stderr  # the progress bar
    with sqlite3.connect(tmp_path / "arena.db") as connection:  # the cost ledger's run
        (run,) = connection.execute("SELECT backend, gpus, items, prompt_tokens, wall_s FROM runs").fetchall()
    assert run[:4] == ("vllm", 0, 12, sum(r[5] for r in stored))  # vLLM's CPU build holds no GPU
    assert run[4] > 1.0  # loading the engine counts

    again = cli("generate", "-c", str(project), cwd=tmp_path, timeout=120)  # nothing to do: no engine
    assert again.returncode == 0
    assert summary_table(again.stdout)["tiny-vllm"] == {"questions": 12, "generated": 0, "reused": 12,
                                                        "failed": 0, "truncated": 0}


@pytest.mark.e2e
def test_openai_backend_against_a_real_vllm_server(tmp_path: Path, vllm_server: Any) -> None:
    template = tmp_path / "chatml.jinja"
    template.write_text(resolve_path("arena:templates/meditron-chatml.jinja").read_text())
    models = [
        {"name": "tiny-http", "backend": "openai", "model": vllm_server.model, "base_url": vllm_server.base_url,
         "stop": ["<|eot_id|>"], "max_concurrency": 4, "sampling": {"max_tokens": 16, "top_k": 20, "seed": 1}},
        # a template file: arena renders the prompt and uses /v1/completions
        {"name": "tiny-http-template", "backend": "openai", "model": vllm_server.model,
         "base_url": vllm_server.base_url, "chat_template": "chatml.jinja", "stop": ["<|im_end|>"],
         "sampling": {"max_tokens": 16}},
    ]
    project = write_project(tmp_path, models, questions=10)
    result = cli("generate", "-c", str(project), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    table = summary_table(result.stdout)
    assert table["tiny-http"]["generated"] == 10 and table["tiny-http-template"]["generated"] == 10
    stored = rows(tmp_path / "arena.db")
    assert len(stored) == 20
    assert {r[8] for r in stored} == {"vllm 0.32.0 (openai server)"}
    assert all(r[6] is not None and r[6] <= 16 and r[5] > 0 for r in stored)

    limited = cli("generate", "-c", str(project), "--models", "tiny-http", "--limit", "3", "--force", cwd=tmp_path,
                  timeout=300)
    assert limited.returncode == 0, limited.stderr[-3000:]
    forced = summary_table(limited.stdout)
    assert list(forced) == ["tiny-http"]
    assert {k: forced["tiny-http"][k] for k in ("questions", "generated", "reused", "failed")} == {
        "questions": 3, "generated": 3, "reused": 0, "failed": 0}
    assert len(rows(tmp_path / "arena.db")) == 20  # replaced in place, no new rows


def test_transformers_backend_and_a_server_that_is_down(tmp_path: Path, tiny_model_dir: Path) -> None:
    models = [
        {"name": "down", "backend": "openai", "model": "tiny", "base_url": f"http://127.0.0.1:{free_port()}/v1",
         "max_retries": 1, "timeout": 2},
        tiny_entry("tiny-hf", "transformers", tiny_model_dir, batch_size=4),
    ]
    project = write_project(tmp_path, models, questions=8)
    result = cli("generate", "-c", str(project), cwd=tmp_path, timeout=600, single_thread=True)
    assert result.returncode == 1
    table = summary_table(result.stdout)
    assert table["down"]["failed"] == 8 and table["down"]["generated"] == 0
    assert table["tiny-hf"]["generated"] == 8 and table["tiny-hf"]["failed"] == 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [f"error: model 'down': server at {models[0]['base_url']} unreachable after 2 attempt(s) "
                           "(ConnectError: [Errno 111] Connection refused)"]
    stored = rows(tmp_path / "arena.db")
    assert {r[0] for r in stored} == {"tiny-hf"} and len(stored) == 8
    assert all(r[8].startswith("transformers ") and 1 <= r[6] <= 16 for r in stored)


def answers_so_far(db: Path) -> int:
    """Answers stored by a running process; 0 while it has not yet made the store's tables."""
    try:
        return rows(db, "SELECT count(*) FROM answers")[0][0] if db.exists() else 0
    except sqlite3.OperationalError:  # "no such table" until the schema is committed
        return 0


def test_a_killed_run_resumes_with_exactly_the_missing_answers(tmp_path: Path, tiny_model_dir: Path) -> None:
    total = 120
    entry = tiny_entry("tiny-hf", "transformers", tiny_model_dir, batch_size=1,
                       sampling={"max_tokens": 32, "seed": 0})
    entry["stop"] = []  # run every answer to max_tokens: steady, slow enough to interrupt
    project = write_project(tmp_path, [entry], questions=total)
    db = tmp_path / "arena.db"
    process = subprocess.Popen([sys.executable, "-m", "arena.cli", "generate", "-c", str(project)], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env(single_thread=True))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if answers_so_far(db) >= 5:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    before = rows(db, "SELECT id, question_id, text FROM answers ORDER BY id")
    assert 5 <= len(before) < total

    result = cli("generate", "-c", str(project), cwd=tmp_path, timeout=600, single_thread=True)
    assert result.returncode == 0, result.stderr[-3000:]
    missing = total - len(before)
    assert summary_table(result.stdout)["tiny-hf"] == {
        "questions": total, "generated": missing, "reused": len(before), "failed": 0, "truncated": missing}
    after = rows(db, "SELECT id, question_id, text FROM answers ORDER BY id")
    assert after[:len(before)] == before  # finished answers untouched
    assert sorted(r[1] for r in after) == [f"q{i:03d}" for i in range(total)]  # each question exactly once


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("questions: questions.jsonl\nmodels:\n  - name: a\n   backend: vllm\n", r"arena\.yaml:\d+:\d+: malformed YAML"),
    ("questions: questions.jsonl\nmodels: [{name: a, backend: ollama, model: x}]\n",
     r"models\[0\] \(a\)\.backend: Input should be 'vllm', 'openai', 'transformers' or 'openvino'"),
    ("questions: missing.jsonl\nmodels: [{name: a, backend: vllm, model: x}]\n",
     r"questions: file not found: .*missing\.jsonl"),
    ("questions: questions.jsonl\nmodels: [{name: a, backend: vllm, model: x, sampling: {temperature: -1}}]\n",
     r"models\[0\] \(a\)\.sampling\.temperature: Input should be greater than or equal to 0"),
    ("questions: questions.jsonl\nmodels: [{name: a, backend: vllm, model: x, sampling: {top_p: 1.5}}]\n",
     r"models\[0\] \(a\)\.sampling\.top_p: Input should be less than or equal to 1"),
    ("questions: bad.jsonl\nmodels: [{name: a, backend: vllm, model: x}]\n",
     r"bad\.jsonl:2: malformed JSON"),
])
def test_bad_input_is_one_clear_line_and_a_failing_exit(tmp_path: Path, yaml_text: str, message: str) -> None:
    import re

    write_project(tmp_path, [{"name": "x", "backend": "vllm", "model": "x"}], questions=2)
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "text": "ok?", "category": "cardiology"}\n{"id": "b", text}\n')
    (tmp_path / "arena.yaml").write_text(yaml_text)
    result = cli("generate", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(message, lines[0]), result.stderr


def test_unknown_model_name(tmp_path: Path) -> None:
    project = write_project(tmp_path, [{"name": "a", "backend": "vllm", "model": "x"}], questions=2)
    result = cli("generate", "-c", str(project), "--models", "a,zzz", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {project}: unknown model 'zzz' (known: a)"
