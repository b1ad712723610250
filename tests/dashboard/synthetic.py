"""A small store with hand-chosen battles, for unit tests of `arena.dashboard.data`.

Everything a test might want to find is here on purpose: a truncated answer, an invalid verdict,
an order disagreement, two categories, two audiences. Ratings are computed by the real ratings
code (`build_report`, `save_snapshot`), not made up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arena.answers import answer_style
from arena.ratings.build import RatingOptions, build_report
from arena.ratings.data import battles_fingerprint, load_battles
from arena.ratings.diagnostics import judge_diagnostics
from arena.ratings.report import RatingParams, RatingReport
from arena.ratings.snapshots import save_snapshot
from arena.store.battles import BattleSelection
from arena.store.engine import Store, open_store, utcnow
from arena.store.judgments import judgment_counts
from arena.store.schema import answers, battles, judgments, questions
from arena.store.snapshots import answer_set_digest, save_answer_set
from tests.fakes.project import openai_model, write_project

MODELS = ("alpha", "beta", "gamma")  # every question: all three pairs, judged in both orders
STRENGTH = {"alpha": 3, "beta": 2, "gamma": 1}
JUDGE_KEY = "synthjudgekey0001"
JUDGE = "synthetic-judge"
CATEGORIES = ("cardiology", "nutrition")
REFERENCE = "Rest, fluids, and see a doctor if it lasts more than a week."  # question q-001's


@dataclass(frozen=True)
class Synthetic:
    url: str
    config_path: Path
    n_questions: int
    invalid_judgment_ids: tuple[int, ...]
    disagreement_battle_ids: tuple[int, ...]
    truncated_answer_model: str
    truncated_question_id: str


MODEL_ENTRIES = [
    {"name": "alpha", "backend": "vllm", "model": "/models/alpha", "quantization": "awq", "parameters": "8B"},
    openai_model("beta", model="beta"),
    {"name": "gamma", "backend": "transformers", "model": "/models/gamma", "parameters": "1B"},
]


def minimal_project(folder: Path, storage: str | None = None) -> Path:
    """A project file naming one model (never run) and one question in q.jsonl."""
    return write_project(folder, models=[{"name": "m", "backend": "vllm", "model": "/m"}],
                         questions=[{"id": "q1", "text": "t", "category": "c"}], questions_file="q.jsonl",
                         storage=storage)


def _verdict(shown_a: str, shown_b: str, question_number: int) -> str | None:
    """The stronger model wins, except a few planned upsets; None = invalid output."""
    if question_number % 5 == 4:
        return "A"  # position bias: always the first answer
    return "A" if STRENGTH[shown_a] >= STRENGTH[shown_b] else "B"


def make_store(folder: Path, n_questions: int = 20, bootstrap_rounds: int = 50, url: str | None = None) -> Synthetic:
    """The synthetic store at `url` (default: a SQLite file in `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    url = url or f"sqlite:///{folder / 'arena.db'}"
    config_path = write_project(folder, models=MODEL_ENTRIES, storage=url,
                                questions=[{"id": "q-000", "text": "placeholder", "category": "cardiology"}])
    store = open_store(url)
    invalid_ids: list[int] = []
    disagreement_ids: list[int] = []
    now = utcnow()
    with store.transaction() as connection:
        for q in range(n_questions):
            qid = f"q-{q:03d}"
            category = "dermatology" if q == n_questions - 1 else CATEGORIES[q % 2]  # too few to rate
            connection.execute(questions.insert().values(
                id=qid, text=f"Question {q} about {category}: what should I do about symptom {q}?",
                category=category, audience="patient" if q % 3 else "clinician", kind="symptoms",
                safety_critical=q % 4 == 0, reference_answer=REFERENCE if q == 1 else None))
            answer_ids = {}
            for model in MODELS:
                truncated = model == "beta" and q == 1
                text = f"{model} answers question {q}. " + "More detail. " * (STRENGTH[model] + q % 3)
                if model == "alpha" and q % 2:
                    text += "\n- **Seek care** if it gets worse.\n- Rest."
                style = answer_style(text, len(text) // 4)
                answer_ids[model] = connection.execute(answers.insert().values(
                    model=model, question_id=qid, fingerprint="fp", text=text, truncated=truncated,
                    finish_reason="length" if truncated else "stop", completion_tokens=style.tokens,
                    headers=style.headers, list_items=style.list_items, bold=style.bold,
                    created_at=now)).inserted_primary_key[0]
            for i, model_a in enumerate(MODELS):
                for model_b in MODELS[i + 1:]:
                    ids, letters = [], []
                    for shown_a, shown_b in ((model_a, model_b), (model_b, model_a)):
                        verdict = _verdict(shown_a, shown_b, q)
                        invalid = q == 2 and shown_a == "gamma" and shown_b == "alpha"
                        if invalid:
                            verdict = None
                        feedback = None if invalid else f"Feedback on {shown_a} versus {shown_b} for {qid}."
                        judgment_id = connection.execute(judgments.insert().values(
                            judge_key=JUDGE_KEY, question_id=qid, model_a=shown_a, model_b=shown_b,
                            answer_a_id=answer_ids[shown_a], answer_b_id=answer_ids[shown_b], judge=JUDGE,
                            rubric_id="medical", rubric_version="1", prompt_version="1",
                            raw_output=f"{feedback or 'garbled output'} [RESULT] {verdict or '?'}",
                            feedback=feedback, verdict=verdict, valid=not invalid, attempts=3 if invalid else 1,
                            p_a=0.8 if verdict == "A" else 0.2, truncated=False, created_at=now,
                        )).inserted_primary_key[0]
                        ids.append(judgment_id)
                        letters.append(verdict)
                        if invalid:
                            invalid_ids.append(judgment_id)
                    winner = _winner(letters[0], letters[1])
                    battle_id = connection.execute(battles.insert().values(
                        source="judge", question_id=qid, category=category, model_a=model_a, model_b=model_b,
                        winner=winner, judge=JUDGE, judge_key=JUDGE_KEY, judgment_ab_id=ids[0],
                        judgment_ba_id=ids[1], answer_a_id=answer_ids[model_a], answer_b_id=answer_ids[model_b],
                        verdicts=None if None in letters else letters[0] + letters[1],
                        answer_a_len=len(model_a) * 10 + q, answer_b_len=len(model_b) * 10,
                        dedup_key=hashlib.sha256(f"{qid}|{model_a}|{model_b}".encode()).hexdigest(),
                        tstamp=1_700_000_000.0 + q,
                    )).inserted_primary_key[0]
                    if letters[0] is not None and letters[0] == letters[1]:
                        disagreement_ids.append(battle_id)
    rate_store(store, bootstrap_rounds)
    store.close()
    return Synthetic(url=url, config_path=config_path, n_questions=n_questions,
                     invalid_judgment_ids=tuple(invalid_ids), disagreement_battle_ids=tuple(disagreement_ids),
                     truncated_answer_model="beta", truncated_question_id="q-001")


def _winner(ab: str | None, ba: str | None) -> str:
    """AB's "A" and BA's "B" both name model_a; disagreeing or missing verdicts are ties."""
    votes = [v for v in ({"A": "model_a", "B": "model_b"}.get(ab or ""),
                         {"A": "model_b", "B": "model_a"}.get(ba or "")) if v]
    if not votes:
        return "tie (bothbad)"
    return votes[0] if len(set(votes)) == 1 else "tie"


def rate_store(store: Store, bootstrap_rounds: int = 50, min_category_battles: int = 10,
               judge: str = JUDGE) -> RatingReport:
    """What `arena rate` does once the judge key is known and every answer counts as current."""
    bs = load_battles(store, BattleSelection("judge", JUDGE_KEY))
    rated = np.concatenate([bs.answer_a, bs.answer_b])
    selection = BattleSelection("judge", JUDGE_KEY, answer_set=answer_set_digest(rated),
                                max_battle_id=int(bs.battle_id.max()))
    options = RatingOptions(rounds=bootstrap_rounds, min_category_battles=min_category_battles)
    params = RatingParams(bootstrap="question", bootstrap_rounds=bootstrap_rounds, seed=0, anchor=None,
                          style=options.style, min_category_battles=min_category_battles,
                          min_model_battles=options.min_model_battles, prior_sd_elo=1000.0,
                          answer_set=selection.answer_set, configured_models=MODELS)
    report = build_report(bs, options, params, selection=selection,
                          diagnostics=judge_diagnostics(bs, judgment_counts(store, JUDGE_KEY)))
    save_answer_set(store, rated)
    save_snapshot(store, report, battles_fingerprint=battles_fingerprint(bs), judge=judge, rubric="medical v1")
    return report
