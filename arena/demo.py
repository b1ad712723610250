"""The offline smoke demo: the whole pipeline on tiny models the project builds itself.

It needs no GPU and no model hub. The tiny models have random weights, so their answers and the
judge's feedback are gibberish: the demo shows that generation, judging, rating and the dashboard
work end to end, not which model is better at medicine.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from arena.config import DEFAULT_RUBRIC
from arena.files import resolve_path
from arena.questions.loading import iter_question_lines

SHIPPED_QUESTIONS = "arena:questions/health-v1.jsonl"

# Settings that let vLLM run on a CPU-only machine (on CPU the memory share is of RAM).
CPU_VLLM_OPTIONS = {
    "dtype": "bfloat16",
    "enforce_eager": True,
    "gpu_memory_utilization": 0.15,
}


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


def demo_config(models_dir: Path, max_tokens: int) -> dict:
    """The demo's arena.yaml: two candidates on vLLM, one on transformers, a vLLM judge."""
    sampling = {"temperature": 0.7, "top_p": 0.9, "max_tokens": max_tokens, "seed": 0}
    return {
        "questions": ["questions.jsonl"],
        "rubric": DEFAULT_RUBRIC,
        "models": [
            {
                "name": "tiny-llama3",
                "backend": "vllm",
                "model": str(models_dir / "tiny-llama3"),
                "stop": ["<|eot_id|>", "<|end_of_text|>"],
                "sampling": sampling,
                "max_model_len": 1024,
                "parameters": "0.5M",
                **CPU_VLLM_OPTIONS,
            },
            {
                "name": "tiny-qwen-chatml",
                "backend": "vllm",
                "model": str(models_dir / "tiny-chatml"),
                "stop": ["<|im_end|>"],
                "sampling": {**sampling, "top_k": 20, "repetition_penalty": 1.05},
                "max_model_len": 1024,
                "parameters": "0.5M",
                **CPU_VLLM_OPTIONS,
            },
            {
                "name": "tiny-llama3-hf",
                "backend": "transformers",
                "model": str(models_dir / "tiny-llama3-b"),
                "stop": ["<|eot_id|>"],
                "sampling": {**sampling, "temperature": 0.4},
                "parameters": "0.5M",
                "batch_size": 16,
            },
        ],
        "judge": {
            "name": "tiny-prometheus-standin",
            "backend": "vllm",
            "model": str(models_dir / "tiny-mistral"),
            "max_model_len": 4096,
            "context_length": 4096,
            "sampling": {"max_tokens": 128, "seed": 0},
            # random weights write gibberish at about 3 characters per token, the verdict regex's
            # cap, so about one output in three runs out of tokens before its verdict: retry more
            "max_invalid_retries": 8,
            **CPU_VLLM_OPTIONS,
        },
    }


def prepare_demo(out_dir: Path, question_count: int = 12, max_tokens: int = 48) -> Path:
    """Build the tiny models and write `arena.yaml` and `questions.jsonl` into `out_dir`."""
    from arena.tinymodels import build_tiny_model

    out_dir.mkdir(parents=True, exist_ok=True)
    models_dir = out_dir / "models"
    build_tiny_model(models_dir / "tiny-llama3", "llama3", seed=0)
    build_tiny_model(models_dir / "tiny-chatml", "chatml", seed=0)
    build_tiny_model(models_dir / "tiny-llama3-b", "llama3", seed=1)
    build_tiny_model(models_dir / "tiny-mistral", "mistral", seed=0)
    questions = sample_questions(resolve_path(SHIPPED_QUESTIONS), question_count)
    (out_dir / "questions.jsonl").write_text("\n".join(questions) + "\n", encoding="utf-8")
    config_path = out_dir / "arena.yaml"
    header = "# Smoke demo: tiny random-weight models built locally. Written by `arena demo`.\n"
    body = yaml.safe_dump(demo_config(models_dir, max_tokens), sort_keys=False)
    config_path.write_text(header + body, encoding="utf-8")
    return config_path
