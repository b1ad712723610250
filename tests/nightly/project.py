"""A small arena project on disk for nightly tests: questions, rubric and arena.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from arena.config import ArenaConfig, load_config

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
    path.write_text("".join(json.dumps(question(n)) + "\n" for n in numbers), encoding="utf-8")
    return path


def write_project(root: Path, *, candidates_url: str = "http://127.0.0.1:9/v1",
                  judge_url: str = "http://127.0.0.1:9/v1", models: list[str] | None = None,
                  question_files: list[str] | None = None, rubric_version: str = "1",
                  model_urls: dict[str, str] | None = None,
                  extra_models: list[dict[str, Any]] | None = None, storage: str | None = None,
                  **nightly: Any) -> Path:
    """Write (or rewrite) `root/arena.yaml`; candidates and judge on OpenAI-compatible servers."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "questions.jsonl").exists():
        write_questions(root / "questions.jsonl", range(1, 5))
    (root / "rubric.yaml").write_text(yaml.safe_dump({**RUBRIC, "version": rubric_version}), encoding="utf-8")
    names = models or ["alpha", "beta", "gamma"]
    model_urls = model_urls or {}
    project = {
        "models": [
            {"name": name, "backend": "openai", "model": "scripted",
             "base_url": model_urls.get(name, candidates_url), "max_retries": 0, "timeout": 10,
             "max_concurrency": 2, "sampling": {"max_tokens": 32, "seed": 1}}
            for name in names
        ] + list(extra_models or []),
        "questions": question_files or ["questions.jsonl"],
        "rubric": "rubric.yaml",
        "judge": {"name": "scripted-judge", "backend": "openai", "model": "scripted",
                  "base_url": judge_url, "max_retries": 0, "timeout": 10, "max_concurrency": 2,
                  "logprobs": False},
        "nightly": {"export_dir": "exports", "log_file": "logs/nightly.jsonl", **nightly},
        **({"storage": storage} if storage else {}),
    }
    path = root / "arena.yaml"
    path.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return path


def project_config(root: Path, **options: Any) -> ArenaConfig:
    return load_config(write_project(root, **options))


def read_log(config: ArenaConfig) -> list[dict[str, Any]]:
    path = config.nightly.log_file
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
