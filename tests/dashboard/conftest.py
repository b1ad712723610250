"""A project made by the real pipeline for the dashboard's tests, and a running dashboard.

`pipeline_project`: three tiny local models (transformers backend, no vLLM engine) answer twelve
questions with `run_generate`, a scripted OpenAI-compatible judge compares them with
`run_judge`, and `arena rate --format json` (the CLI, in a subprocess) rates them and stores the
snapshot. The test then holds the JSON that `arena rate` printed, to compare with the page.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from arena.dashboard import APP as DASHBOARD_APP
from arena.files import resolve_path
from arena.local_server import free_port, start_server, stop_process_group
from tests.fakes import project as fakes
from tests.fakes.project import openai_model
from tests.fakes.scripted_server import (
    ScriptedServer,
    prefer_longer_answer_script,
    response_sections,
)

REPO = Path(__file__).resolve().parents[2]
APP = DASHBOARD_APP
QUESTIONS_PER_CATEGORY = {"cardiology": 4, "nutrition": 4, "mental-health": 4}


@dataclass(frozen=True)
class PipelineProject:
    config_path: Path
    rated: dict[str, Any]  # what `arena rate --format json` printed
    models: tuple[str, ...]


def pick_questions(count_by_category: dict[str, int]) -> list[dict[str, Any]]:
    """A few of the shipped questions, the first ones of each category."""
    picked: list[dict[str, Any]] = []
    wanted = dict(count_by_category)
    for line in resolve_path("arena:questions/health-v1.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("//"):
            continue
        question = json.loads(line)
        if wanted.get(question["category"], 0) > 0:
            wanted[question["category"]] -= 1
            picked.append(question)
    return picked


@functools.cache
def judge_rules() -> dict[str, list[str]]:
    """Question texts (their first 60 characters) by how the scripted judge treats them."""
    questions = pick_questions(QUESTIONS_PER_CATEGORY)
    cardiology = [q["text"][:60] for q in questions if q["category"] == "cardiology"]
    return {
        "invalid": cardiology[:1],  # never a verdict: an invalid judgment in both orders
        "first": cardiology[1:2],  # always "A": the two orders disagree
        "shorter": [q["text"][:60] for q in questions if q["category"] == "mental-health"],
    }


def judge_script(prompt: str) -> str:
    """Prefers the longer answer, the shorter one on mental-health questions, plus two odd cases."""
    rules = judge_rules()
    if any(text in prompt for text in rules["invalid"]):
        return "I cannot decide between these two responses."
    if any(text in prompt for text in rules["first"]):
        return "Response A comes first, so it is better. [RESULT] A"
    verdict = prefer_longer_answer_script(prompt)
    if any(text in prompt for text in rules["shorter"]):
        a, b = response_sections(prompt)
        winner = "A" if len(a) < len(b) else "B"
        return f"Response {winner} is more concise. [RESULT] {winner}"
    return verdict


def write_project(root: Path, models: dict[str, tuple[Path, int]], judge_url: str) -> Path:
    return fakes.write_project(
        root,
        models=[
            {"name": name, "backend": "transformers", "model": str(folder), "parameters": "tiny",
             "dtype": "float32", "batch_size": 4,
             "sampling": {"max_tokens": max_tokens, "temperature": 0.0, "seed": 1}}
            for name, (folder, max_tokens) in models.items()
        ],
        questions=pick_questions(QUESTIONS_PER_CATEGORY),
        rubric="arena:rubrics/medical.yaml",
        judge=openai_model("scripted-judge", judge_url, max_retries=0, timeout=10, max_concurrency=2,
                           logprobs=False, max_invalid_retries=1),
    )


def arena_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=600, check=False)


@pytest.fixture(scope="session")
def pipeline_project(tiny_model_dir: Path, tiny_chatml_model_dir: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> PipelineProject:
    from arena.config import load_config
    from arena.generate import run_generate
    from arena.judge import run_judge

    models = {"llama-long": (tiny_model_dir, 48), "chatml-mid": (tiny_chatml_model_dir, 24),
              "llama-short": (tiny_model_dir, 8)}
    root = tmp_path_factory.mktemp("dashboard-pipeline")
    with ScriptedServer(judge_script) as judge_server:
        config_path = write_project(root, models, judge_server.base_url)
        config = load_config(config_path)
        generated = run_generate(config, progress=False)
        assert not generated.failed, generated
        run_judge(config, progress=False)
    rated = arena_cli("rate", "-c", str(config_path), "--format", "json", "--bootstrap", "200")
    assert rated.returncode == 0, rated.stderr
    return PipelineProject(config_path=config_path, rated=json.loads(rated.stdout), models=tuple(models))


@dataclass(frozen=True)
class RunningDashboard:
    url: str
    pid: int
    log_path: Path


@pytest.fixture(scope="module")
def running_dashboard(pipeline_project: PipelineProject,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDashboard]:
    """`arena dashboard -c ... --port P` on a free loopback port, stopped by its process group."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("dashboard-server") / "streamlit.log"
    command = [sys.executable, "-m", "arena.cli", "dashboard", "-c", str(pipeline_project.config_path),
               "--port", str(port), "--address", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}"
    process = start_server(command, f"{url}/_stcore/health", log_path, "streamlit", 60,
                           env={**os.environ, "ARENA_CONFIG": ""})
    try:
        yield RunningDashboard(url=url, pid=process.pid, log_path=log_path)
    finally:
        stop_process_group(process, timeout_s=15)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")
