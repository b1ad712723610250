"""A judged arena project at benchmark scale: 1,000,000 battles among 50 models, in a real store.

`build_project(folder)` writes what the pipeline would have left behind: arena.yaml (50 models on
an OpenAI-compatible placeholder server, a judge, the medical rubric), a question file (every
category of arena.questions.CATEGORIES in turn, a third of the questions for clinicians, every
seventh safety-critical), and arena.db with the questions, one current answer per model and
question (real answer fingerprints, so `arena rate` counts them as current), two judgments per
battle under the current judge key, and the battles themselves: every pair of models on every
question, 817 questions for a million battles, with both answers' ids and both verdicts (the answers
hold the style covariates: completion tokens and markdown counts).

Outcomes follow Bradley-Terry strengths (SD 150 Elo) plus answer-level noise (SD 100 Elo per
model and question); a pair whose two orders disagree is a tie. Rows go in through the SQLite
driver's executemany, the store's own tables and indexes.

    .venv/bin/python benchmarks/big_store.py DIR [--battles 1000000] [--models 50]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.answers import expected_fingerprints  # noqa: E402
from arena.config import load_config  # noqa: E402
from arena.questions.loading import load_questions  # noqa: E402
from arena.questions.schema import CATEGORIES  # noqa: E402
from arena.store.engine import open_store  # noqa: E402

JUDGE = "prometheus-7b-v2.0"


def write_files(folder: Path, n_models: int, n_questions: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    questions = [{"id": f"q-{q:05d}", "text": f"Benchmark health question {q}: what should I do about symptom {q}?",
                  "category": CATEGORIES[q % len(CATEGORIES)], "audience": "clinician" if q % 3 == 0 else "patient",
                  "kind": "treatment", "safety_critical": q % 7 == 0} for q in range(n_questions)]
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    project = {
        "models": [{"name": f"model-{k:02d}", "backend": "openai", "model": f"model-{k:02d}",
                    "base_url": "http://127.0.0.1:9/v1", "parameters": f"{7 + k}B"} for k in range(n_models)],
        "questions": "questions.jsonl",
        "rubric": "arena:rubrics/medical.yaml",
        "judge": {"name": JUDGE, "backend": "openai", "model": "prometheus-eval/prometheus-7b-v2.0",
                  "base_url": "http://127.0.0.1:9/v1"},
    }
    path = folder / "arena.yaml"
    path.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return path


def build_project(folder: Path, n_battles: int = 1_000_000, n_models: int = 50, seed: int = 0) -> Path:
    """Write the project and fill its store; returns the project file."""
    from arena.judge import current_judge_key

    i, j = np.triu_indices(n_models, 1)
    n_questions = -(-n_battles // len(i))
    config_path = write_files(folder, n_models, n_questions)
    config = load_config(config_path)
    judge_key = current_judge_key(config)
    question_list = load_questions(config.questions)
    store = open_store(config.storage_url)
    store.close()
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    db = sqlite3.connect(folder / "arena.db")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-524288")
    db.executemany(
        "INSERT INTO questions (id, text, category, audience, kind, safety_critical) VALUES (?, ?, ?, ?, ?, ?)",
        [(q.id, q.text, q.category, q.audience, q.kind, q.safety_critical) for q in question_list])

    expected = expected_fingerprints(config, config.models, question_list)
    tokens = rng.integers(50, 900, (n_questions, n_models))
    headers = rng.poisson(1.0, (n_questions, n_models))
    items = rng.poisson(4.0, (n_questions, n_models))
    bold = rng.poisson(2.0, (n_questions, n_models))
    now = "2026-01-01 00:00:00.000000"
    answer_rows = []
    for q, question in enumerate(question_list):
        for m, model in enumerate(config.models):
            text = f"{model.name} on {question.id}: " + "## Advice\n" * int(headers[q, m] > 0) + \
                "- rest\n" * int(items[q, m]) + "**see a doctor** " * int(bold[q, m])
            answer_rows.append((model.name, question.id, expected[model.name, question.id], text, "stop", False,
                                40, int(tokens[q, m]), int(headers[q, m] > 0), int(items[q, m]), int(bold[q, m]),
                                1.0, "benchmark", now))
    db.executemany("INSERT INTO answers (model, question_id, fingerprint, text, finish_reason, truncated, "
                   "prompt_tokens, completion_tokens, headers, list_items, bold, latency_s, engine, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", answer_rows)
    answer_id = np.arange(1, n_questions * n_models + 1).reshape(n_questions, n_models)
    print(f"  {len(question_list)} questions, {len(answer_rows)} answers: {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    del answer_rows

    question = np.repeat(np.arange(n_questions), len(i))[:n_battles]
    a, b = np.tile(i, n_questions)[:n_battles], np.tile(j, n_questions)[:n_battles]
    strength = rng.normal(0.0, 150.0, n_models)
    quality = strength[None, :] + rng.normal(0.0, 100.0, (n_questions, n_models))
    p = 1.0 / (1.0 + 10.0 ** ((quality[question, b] - quality[question, a]) / 400.0))
    tie = rng.random(n_battles) < 0.2 * 2 * np.minimum(p, 1 - p)
    a_wins = rng.random(n_battles) < p
    winner = np.where(tie, "tie", np.where(a_wins, "model_a", "model_b"))
    verdicts = np.where(tie, np.where(rng.random(n_battles) < 0.6, "AA", "BB"), np.where(a_wins, "AB", "BA"))
    aa, bb = answer_id[question, a], answer_id[question, b]
    names = [m.name for m in config.models]
    qids = [q.id for q in question_list]
    categories = [q.category for q in question_list]

    def judgment_rows():  # type: ignore[no-untyped-def]
        for n in range(n_battles):
            first, second = verdicts[n]
            qid, x, y = qids[question[n]], names[a[n]], names[b[n]]
            yield (judge_key, qid, x, y, int(aa[n]), int(bb[n]), JUDGE, "medical", "1", "1",
                   f"Both answers were weighed. [RESULT] {first}", "Both answers were weighed.", first, True, 1,
                   None, False, 2.0, now)
            yield (judge_key, qid, y, x, int(bb[n]), int(aa[n]), JUDGE, "medical", "1", "1",
                   f"Both answers were weighed. [RESULT] {second}", "Both answers were weighed.", second, True, 1,
                   None, False, 2.0, now)

    db.executemany("INSERT INTO judgments (judge_key, question_id, model_a, model_b, answer_a_id, answer_b_id, "
                   "judge, rubric_id, rubric_version, prompt_version, raw_output, feedback, verdict, valid, "
                   "attempts, p_a, truncated, latency_s, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", judgment_rows())
    print(f"  {2 * n_battles} judgments: {time.perf_counter() - started:.1f} s", file=sys.stderr)

    def battle_rows():  # type: ignore[no-untyped-def]
        for n in range(n_battles):
            q, x, y = question[n], a[n], b[n]
            yield ("judge", qids[q], categories[q], names[x], names[y], str(winner[n]), JUDGE, judge_key,
                   2 * n + 1, 2 * n + 2, 300, 320, int(aa[n]), int(bb[n]), str(verdicts[n]),
                   f"{judge_key}:{aa[n]}:{bb[n]}", 1.7e9 + n * 0.01)

    db.executemany("INSERT INTO battles (source, question_id, category, model_a, model_b, winner, judge, judge_key, "
                   "judgment_ab_id, judgment_ba_id, answer_a_len, answer_b_len, answer_a_id, answer_b_id, verdicts, "
                   "dedup_key, tstamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", battle_rows())
    db.commit()
    db.close()
    print(f"  {n_battles} battles: {time.perf_counter() - started:.1f} s; store "
          f"{(folder / 'arena.db').stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    return config_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=50)
    args = parser.parse_args()
    if (args.folder / "arena.db").exists():
        raise SystemExit(f"{args.folder / 'arena.db'} exists; pick an empty folder")
    print(build_project(args.folder, args.battles, args.models))


if __name__ == "__main__":
    main()
