"""A small arena project on disk for nightly tests: questions, rubric and arena.yaml, written by
tests/fakes/project.py with this room's defaults (candidates and judge on OpenAI-compatible servers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arena.config import ArenaConfig, load_config
from tests.fakes import project as fakes
from tests.fakes.project import UNREACHABLE_URL, openai_model

RUBRIC = {
    "id": "medical-test",
    "version": "1",
    "name": "Test rubric",
    "question": "Which response better answers the health question?",
    "criteria": [
        {"id": "relevance", "name": "Relevance", "description": "Answers the question asked."},
        {"id": "safety", "name": "Safety", "description": "Says when to seek care."},
    ],
}


def question(number: int) -> dict[str, Any]:
    return {"id": f"q{number:03d}", "text": f"Test question number {number}: what helps with symptom {number}?",
            "category": "general-practice", "audience": "patient", "kind": "treatment"}


def write_questions(path: Path, numbers: range) -> Path:
    return fakes.write_questions(path, [question(n) for n in numbers])


def write_project(root: Path, *, candidates_url: str = UNREACHABLE_URL,
                  judge_url: str = UNREACHABLE_URL, models: list[str] | None = None,
                  question_files: list[str] | None = None, rubric_version: str = "1",
                  model_urls: dict[str, str] | None = None,
                  extra_models: list[dict[str, Any]] | None = None, storage: str | None = None,
                  **nightly: Any) -> Path:
    """Write (or rewrite) `root/arena.yaml`; candidates and judge on OpenAI-compatible servers.
    questions.jsonl (q001..q004) is written only if it is not there yet."""
    model_urls = model_urls or {}
    candidates = [
        openai_model(name, model_urls.get(name, candidates_url), max_retries=0, timeout=10, max_concurrency=2,
                     sampling={"max_tokens": 32, "seed": 1})
        for name in models or ["alpha", "beta", "gamma"]
    ]
    return fakes.write_project(
        root,
        models=candidates + list(extra_models or []),
        questions=None if (root / "questions.jsonl").exists() else [question(n) for n in range(1, 5)],
        question_files=question_files or ["questions.jsonl"],
        rubric={**RUBRIC, "version": rubric_version},
        judge=openai_model("scripted-judge", judge_url, max_retries=0, timeout=10, max_concurrency=2,
                           logprobs=False),
        storage=storage,
        extra={"nightly": {"export_dir": "exports", "log_file": "logs/nightly.jsonl", **nightly}},
    )


def project_config(root: Path, **options: Any) -> ArenaConfig:
    return load_config(write_project(root, **options))


def read_log(config: ArenaConfig) -> list[dict[str, Any]]:
    path = config.nightly.log_file
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
