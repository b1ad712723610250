"""`arena judge --pairs adaptive` through the command line, with a scripted judge whose models are
far apart: it stops settled well before exhaustive judging, within a budget when given one, and
never judges a (question, pair, order) twice across invocations; `pairs.stop_when_settled: false`
judges on to the budget, and `pairs.tie_margin_elo` lets a board with two tied models stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arena.cli import app
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.judge.helpers import add_answers, answers_of_length, make_project, scripted_judge

runner = CliRunner()
MODELS = ("alpha", "beta", "gamma")
QUESTIONS = [{"id": f"q{k:02d}", "text": f"Question number {k} about health?",
              "category": ("cardiology", "nutrition")[k % 2]} for k in range(40)]
EXHAUSTIVE = 2 * 3 * len(QUESTIONS)  # both orders of 3 pairs on every question
ADAPTIVE = {"round_judgments": 24, "min_round_judgments": 12, "warmup_battles_per_pair": 4}


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=True)


def adaptive_project(root: Path, server: ScriptedServer, answers: dict[tuple[str, str], str] | None = None,
                     **pairs: Any) -> Any:
    """The three models' project judged by `server`, with `pairs:` settings, and their answers stored
    (by default each model's answer longer than the one before, so the judge orders them)."""
    project = make_project(root, scripted_judge(server.base_url), models=MODELS, questions=QUESTIONS,
                           extra={"pairs": {"mode": "adaptive", **ADAPTIVE, **pairs}})
    add_answers(project, answers or answers_of_length(MODELS, tuple(q["id"] for q in QUESTIONS)))
    return project


def test_adaptive_rounds_stop_settled_and_never_judge_twice(tmp_path: Path) -> None:
    with ScriptedServer(prefer_longer_answer_script) as server:
        project = adaptive_project(tmp_path / "p", server, mode="all")
        config = str(project.config_path)

        dry = invoke("judge", "-c", config, "--pairs", "adaptive", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "first adaptive round of 12 judgments" in dry.output and len(server.requests) == 0

        first = invoke("judge", "-c", config, "--pairs", "adaptive", "--max-judgments", "20")
        assert first.exit_code == 0, first.output
        assert "stopped: budget of 20 judgments used" in first.stdout
        assert len(server.requests) == len(project.judgments()) == 20

        second = invoke("judge", "-c", config, "--pairs", "adaptive")
        assert second.exit_code == 0, second.output
        assert "stopped: ranking settled" in second.stdout
        judgments = project.judgments()
        # every request made one judgment row: nothing was judged twice, nothing overwritten
        assert len(server.requests) == len(judgments) < EXHAUSTIVE / 3
        assert len({(j["answer_a_id"], j["answer_b_id"]) for j in judgments}) == len(judgments)
        assert len(project.battles()) == len(judgments) // 2

        again = invoke("judge", "-c", config, "--pairs", "adaptive")
        assert again.exit_code == 0 and "stopped: ranking settled" in again.stdout
        assert len(server.requests) == len(judgments)


def test_pairs_mode_adaptive_in_the_project_file(tmp_path: Path) -> None:
    with ScriptedServer(prefer_longer_answer_script) as server:
        project = adaptive_project(tmp_path / "p", server)
        result = invoke("judge", "-c", str(project.config_path))
        assert result.exit_code == 0, result.output
        assert "adaptive:" in result.stdout and "stopped: ranking settled" in result.stdout
        assert 0 < len(server.requests) < EXHAUSTIVE / 3


def test_stop_when_settled_false_judges_past_a_settled_ranking_to_the_budget(tmp_path: Path) -> None:
    with ScriptedServer(prefer_longer_answer_script) as server:
        project = adaptive_project(tmp_path / "p", server)
        settled = invoke("judge", "-c", str(project.config_path))
        assert settled.exit_code == 0 and "stopped: ranking settled" in settled.stdout, settled.output
        before = len(server.requests)
        assert 0 < before < EXHAUSTIVE / 3

        project.edit(pairs={"mode": "adaptive", **ADAPTIVE, "stop_when_settled": False})
        going_on = invoke("judge", "-c", str(project.config_path), "--max-judgments", "60")
        assert going_on.exit_code == 0, going_on.output
        assert "stopped: budget of 60 judgments used" in going_on.stdout
        assert len(server.requests) == len(project.judgments()) == before + 60
        # the same judge key: the settled run's battles are reused, not judged again
        assert f"{before // 2} reused" in going_on.stdout
        assert len({b["judge_key"] for b in project.battles()}) == 1


def near_tie_answers() -> dict[tuple[str, str], str]:
    """alpha writes short answers; beta and gamma equally long ones: the judge (longer wins, "A" on
    equal length) ties every beta-gamma battle, its two orders disagreeing."""
    answers = answers_of_length(MODELS, tuple(q["id"] for q in QUESTIONS))
    for model, qid in answers:
        if model != "alpha":
            answers[(model, qid)] = f"{model[:4]} on {qid}: " + "detail " * 6
    return answers


@pytest.mark.parametrize("margin", [0.0, 150.0])
def test_a_tie_margin_lets_a_near_tie_board_stop(tmp_path: Path, margin: float) -> None:
    with ScriptedServer(prefer_longer_answer_script) as server:
        project = adaptive_project(tmp_path / "p", server, near_tie_answers(), tie_margin_elo=margin)
        result = invoke("judge", "-c", str(project.config_path))
        assert result.exit_code == 0, result.output
        ties = [b for b in project.battles() if {b["model_a"], b["model_b"]} == {"beta", "gamma"}]
        assert ties and all(b["winner"] == "tie" for b in ties)
        if margin:
            assert "stopped: ranking settled: 1 adjacent pairs separated at 95%, 1 tied within +-150 Elo" in result.stdout
            assert len(server.requests) < EXHAUSTIVE / 2
        else:  # beta and gamma are never separated: everything is judged
            assert "stopped: no open comparisons left" in result.stdout
            assert len(server.requests) == EXHAUSTIVE
