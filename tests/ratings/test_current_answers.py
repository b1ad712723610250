"""Only current answers count: the issue's scenario through generate, judge and rate.

Three models answer five questions and are judged (15 battles, 10 per model). Then one model's
temperature changes: it answers again and its new answers are judged (10 more battles). The
store now holds 25 battles, but the board must rate 15: 10 per model, the changed model's new
answers only. The old battles stay in the store and in `arena battles export`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from sqlalchemy import select

from arena.answers import expected_fingerprints
from arena.battles_io import export_battles
from arena.config import load_config
from arena.generate import run_generate
from arena.judge import run_judge
from arena.questions.loading import load_questions
from arena.ratings.data import load_battles
from arena.ratings.rate import RateRequest, run_rate
from arena.store.answers import load_current_answers
from arena.store.battles import BattleSelection
from arena.store.engine import open_store
from arena.store.schema import battles
from tests.fakes import project as fakes
from tests.fakes.project import openai_model
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.nightly.project import RUBRIC, question

MODELS = ("alpha", "beta", "gamma")


def candidate_script(prompt: str) -> str:
    return f"Rest, fluids, and see a doctor if it lasts. ({len(prompt) % 7} notes)"


def write_project(root: Path, candidates: str, judge: str, gamma_temperature: float) -> Path:
    return fakes.write_project(
        root,
        models=[openai_model(name, candidates, max_retries=0, timeout=10,
                             sampling={"max_tokens": 32, "seed": 1,
                                       "temperature": gamma_temperature if name == "gamma" else 0.0})
                for name in MODELS],
        questions=[question(n) for n in range(1, 6)],
        rubric=RUBRIC,
        judge=openai_model("scripted-judge", judge, max_retries=0, timeout=10, logprobs=False),
    )


def test_a_changed_model_is_rated_on_its_new_answers_only(tmp_path: Path) -> None:
    with ScriptedServer(candidate_script) as candidates, ScriptedServer(prefer_longer_answer_script) as judge:
        config = load_config(write_project(tmp_path, candidates.base_url, judge.base_url, 0.0))
        assert not run_generate(config, progress=False).failed
        run_judge(config, progress=False)
        first = run_rate(config, RateRequest(bootstrap_rounds=20)).snapshot.report
        assert first.n_battles == 15 and {r.battles for r in first.board.rows} == {10}

        config = load_config(write_project(tmp_path, candidates.base_url, judge.base_url, 0.7))
        assert run_generate(config, progress=False).generated == 5  # gamma answers again
        run_judge(config, progress=False)

    store = open_store(config.storage_url)
    with store.connect() as connection:
        stored = connection.execute(select(battles.c.id)).all()
    current = load_current_answers(store, expected_fingerprints(config, config.models, load_questions(config.questions)))
    report = run_rate(config, RateRequest(bootstrap_rounds=20), store).snapshot.report
    assert len(stored) == 25
    assert report.n_battles == 15 and {r.model: r.battles for r in report.board.rows} == {m: 10 for m in MODELS}
    assert any("10 battle(s) of superseded answers" in note for note in report.notes)
    rated = load_battles(store, report.selection)  # what the dashboard shows with this snapshot
    gamma = rated.models.index("gamma")
    gamma_answers = set(np.where(rated.a == gamma, rated.answer_a, rated.answer_b)[(rated.a == gamma)
                                                                                  | (rated.b == gamma)])
    assert gamma_answers == {current["gamma", f"q{k:03d}"].id for k in range(1, 6)}
    assert rated.n_battles == 15
    out = io.StringIO()
    assert export_battles(store, out, source="judge") == 25  # superseded battles are history, still exported
    assert all(json.loads(line)["answer_a_id"] for line in out.getvalue().splitlines())
    assert report.selection.answer_set == report.params.answer_set
    assert report.selection == BattleSelection("judge", report.judge_key, report.params.answer_set,
                                               max(r.id for r in stored), None)
    store.close()


def test_an_edited_question_and_a_removed_model_leave_the_board(tmp_path: Path) -> None:
    """Editing a question's text supersedes every answer to it until they are regenerated and
    judged again; a model taken out of the project file takes its battles off the board."""
    with ScriptedServer(candidate_script) as candidates, ScriptedServer(prefer_longer_answer_script) as judge:
        config = load_config(write_project(tmp_path, candidates.base_url, judge.base_url, 0.0))
        assert not run_generate(config, progress=False).failed
        run_judge(config, progress=False)
        assert run_rate(config, RateRequest(bootstrap_rounds=20)).snapshot.report.n_battles == 15

        edited = [question(n) for n in range(1, 6)]
        edited[0] = {**edited[0], "text": "Test question number 1, reworded: what helps with symptom 1?"}
        fakes.write_questions(tmp_path / fakes.QUESTIONS_FILE, edited)
        report = run_rate(config, RateRequest(bootstrap_rounds=20)).snapshot.report
        store = open_store(config.storage_url)
        assert report.n_battles == 12 and "q001" not in load_battles(store, report.selection).questions
        store.close()
        assert any("3 battle(s) of superseded answers" in note for note in report.notes)

        assert run_generate(config, progress=False).generated == 3  # the edited question, answered again
        run_judge(config, progress=False)
        assert run_rate(config, RateRequest(bootstrap_rounds=20)).snapshot.report.n_battles == 15

    without_gamma = load_config(fakes.write_project(
        tmp_path, models=[m for m in load_config(config.path).model_dump(mode="json")["models"]
                          if m["name"] != "gamma"], questions=None, rubric=RUBRIC,
        judge=openai_model("scripted-judge", judge.base_url, max_retries=0, timeout=10, logprobs=False)))
    report = run_rate(without_gamma, RateRequest(bootstrap_rounds=20)).snapshot.report
    assert report.n_battles == 5 and [r.model for r in sorted(report.board.rows, key=lambda r: r.model)] == [
        "alpha", "beta"]
