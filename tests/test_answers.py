"""Answer fingerprints: the fast assembly gives exactly the canonical-JSON fingerprint."""

from __future__ import annotations

from pathlib import Path

from arena.answers import answer_fingerprint, expected_fingerprints
from arena.config import load_config
from arena.fingerprint import fingerprint
from arena.questions.schema import Question
from tests.fakes.project import write_project

TEXTS = ["What is hypertension?", 'Is "low-dose" aspirin safe?\nAnd at night?', "Ça pique: 头痛 \\ \t fièvre ✓"]


def test_expected_fingerprints_are_the_canonical_json_fingerprints(tmp_path: Path) -> None:
    models = [{"name": "a", "backend": "vllm", "model": "/m/a"},
              {"name": "b", "backend": "vllm", "model": "/m/b", "system_prompt": 'Be kind, "always".'}]
    config = load_config(write_project(tmp_path, models=models, questions_file="q.jsonl",
                                       questions=[{"id": "q", "text": "t", "category": "c"}]))
    questions = [Question(id=f"q{k}", text=text, category="c") for k, text in enumerate(TEXTS)]
    expected = expected_fingerprints(config, config.models, questions)
    for model in config.models:
        for question in questions:
            reference = fingerprint({"model": config.answer_fingerprint(model), "question": question.text})
            assert expected[model.name, question.id] == reference == answer_fingerprint(config, model, question)
