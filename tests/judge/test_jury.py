"""A jury of three scripted judges (one contrarian) through the command line: `arena judge` runs
each under its own judge key (or one with `--judge`), `arena rate` gives each judge's board, the
jury board and the judges' agreement; a judgment budget is shared by the jury in equal shares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from typer.testing import CliRunner

from arena.cli import app
from arena.errors import ArenaError, ConfigError
from arena.judge import jury_judge_keys
from arena.judge.jury import budget_share
from tests.fakes.project import read_config
from tests.judge.helpers import JURY_MODELS as MODELS
from tests.judge.helpers import JURY_OUTCOMES as OUTCOMES
from tests.judge.helpers import JURY_UNITS as UNITS
from tests.judge.helpers import Project, jury_project

runner = CliRunner()
JURY = "LLWLTT"  # the majority of OUTCOMES' three; unit 5 (L, T, W) has none: a tie


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=True)


def stored_outcomes(project: Project) -> dict[str, str]:
    """Each judge key's outcome string over UNITS, read back from the battles table."""
    codes = {"model_a": "W", "model_b": "L", "tie": "T"}  # model_a is the earlier name (canonical)
    out: dict[str, dict[tuple[str, str, str], str]] = {}
    for battle in project.battles():
        out.setdefault(battle["judge"], {})[(battle["question_id"], battle["model_a"], battle["model_b"])] = \
            codes[battle["winner"]]
    return {judge: "".join(units.get(u, "-") for u in UNITS) for judge, units in out.items()}


def test_a_jury_judges_under_its_own_keys_and_rates_each_judge_the_jury_and_agreement(tmp_path: Path) -> None:
    with jury_project(tmp_path) as (project, servers):
        result = invoke("judge", "-c", str(project.config_path))
        assert result.exit_code == 0, result.output
        assert all(len(s.requests) == 2 * len(UNITS) for s in servers.values())
        assert stored_outcomes(project) == OUTCOMES
        keys = dict(jury_judge_keys(project.config()))
        assert len(set(keys.values())) == 3
        assert {b["judge"]: b["judge_key"] for b in project.battles()} == keys

        rated = invoke("rate", "-c", str(project.config_path), "--format", "json", "--bootstrap", "20")
        assert rated.exit_code == 0, rated.output
        report = json.loads(rated.stdout)

    # the jury board: one battle per (question, pair), by majority, split = tie
    assert report["n_battles"] == len(UNITS)
    assert [j["judge"] for j in report["judges"]] == ["j1", "j2", "j3"]
    boards = {j["judge"]: j["board"] for j in report["judges"]}
    assert all(board["n_battles"] == len(UNITS) for board in boards.values())
    # the contrarian rates the earlier (shorter) models first; j1 the later ones
    assert [r["model"] for r in boards["j3"]["leaderboard"]][0] == "alpha"
    assert [r["model"] for r in boards["j1"]["leaderboard"]][0] == "gamma"
    jury_wins = {r["model"]: r["win_rate"] for r in report["leaderboard"]}
    # from JURY = "LLWLTT" over UNITS: alpha 0+0+0+.5 of 4, beta 1+1+1+.5 of 4, gamma 1+0+.5+.5 of 4
    assert jury_wins == pytest.approx({"alpha": 0.5 / 4, "beta": 3.5 / 4, "gamma": 2 / 4})

    # Cohen's kappa by hand on the six shared battles (see OUTCOMES): j1~j2 7/19, j1~j3 -5/31, j2~j3 -1/14
    kappas = {(p["judge_a"], p["judge_b"]): (p["kappa"], p["n"]) for p in report["agreement"]["pairs"]}
    assert kappas[("j1", "j2")] == (pytest.approx(7 / 19), 6)
    assert kappas[("j1", "j3")] == (pytest.approx(-5 / 31), 6)
    assert kappas[("j2", "j3")] == (pytest.approx(-1 / 14), 6)
    assert report["agreement"]["jury_battles"] == len(UNITS)

    # Krippendorff's alpha, computed here by the package itself from the stored verdicts
    label = {"W": 0, "T": 1, "L": 2}
    data = np.array([[label[c] for c in stored_outcomes(project)[name]] for name in ("j1", "j2", "j3")], dtype=float)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert report["agreement"]["alpha"] == pytest.approx(expected)
    assert report["agreement"]["n_alpha"] == len(UNITS)

    table = invoke("rate", "-c", str(project.config_path), "--bootstrap", "20")
    assert table.exit_code == 0, table.output
    assert "Jury of 3 judges" in table.stdout and "j1 ~ j2" in table.stdout and "0.368" in table.stdout
    assert "Krippendorff's alpha (nominal)" in table.stdout
    markdown = invoke("rate", "-c", str(project.config_path), "--bootstrap", "20", "--format", "markdown")
    assert "| j1 ~ j3 | 6 |" in markdown.stdout
    csv_text = invoke("rate", "-c", str(project.config_path), "--bootstrap", "20", "--format", "csv").stdout
    lines = csv_text.splitlines()
    assert lines[0].startswith("board,rank,")
    assert sorted({line.split(",")[0] for line in lines[1:]}) == ["j1", "j2", "j3", "jury"]
    assert len(lines) == 1 + 4 * len(MODELS)


def test_one_judge_with_the_judge_option_then_the_rest_and_an_unknown_name(tmp_path: Path) -> None:
    with jury_project(tmp_path) as (project, servers):
        only = invoke("judge", "-c", str(project.config_path), "--judge", "j2")
        assert only.exit_code == 0, only.output
        assert [len(s.requests) for s in servers.values()] == [0, 2 * len(UNITS), 0]
        assert set(stored_outcomes(project)) == {"j2"}
        # one judge of three is not a majority: no jury board yet, said in one line
        early = invoke("rate", "-c", str(project.config_path), "--bootstrap", "0")
        assert isinstance(early.exception, ArenaError)
        assert "more than half of the jury" in str(early.exception) and "\n" not in str(early.exception)

        unknown = invoke("judge", "-c", str(project.config_path), "--judge", "nobody")
        assert isinstance(unknown.exception, ConfigError)
        assert "unknown judge 'nobody' (judges: j1, j2, j3)" in str(unknown.exception)

        dry = invoke("judge", "-c", str(project.config_path), "--dry-run")
        assert dry.exit_code == 0
        assert sum(line.startswith("[j1] ") for line in dry.stdout.splitlines()) == 2 * len(UNITS)
        assert not any(line.startswith("[j2] ") for line in dry.stdout.splitlines())

        rest = invoke("judge", "-c", str(project.config_path))
        assert rest.exit_code == 0, rest.output
        assert [len(s.requests) for s in servers.values()] == [2 * len(UNITS)] * 3  # j2's work reused
        assert stored_outcomes(project) == OUTCOMES


def test_judge_and_judges_together_or_twice_the_same_judge_are_refused(tmp_path: Path) -> None:
    with jury_project(tmp_path) as (project, servers):
        first = read_config(project.config_path)["judges"][0]
        project.edit(judge=first)
        result = invoke("judge", "-c", str(project.config_path))
        assert isinstance(result.exception, ConfigError) and "not both" in str(result.exception)

        project.edit(judge=None, judges=[first, {**first, "name": "j1-again"}])
        result = invoke("judge", "-c", str(project.config_path))
        assert isinstance(result.exception, ConfigError) and "the same judge key" in str(result.exception)
        assert all(len(s.requests) == 0 for s in servers.values())


def requests_per_judge(servers: dict[str, Any]) -> list[int]:
    return [len(s.requests) for s in servers.values()]


def jury_battles(project: Project) -> int:
    rated = invoke("rate", "-c", str(project.config_path), "--format", "json", "--bootstrap", "0")
    assert rated.exit_code == 0, rated.output
    return int(json.loads(rated.stdout)["n_battles"])


def test_the_budget_is_shared_by_the_jury_in_equal_shares(tmp_path: Path) -> None:
    with jury_project(tmp_path) as (project, servers):
        result = invoke("judge", "-c", str(project.config_path), "--max-judgments", "12")
        assert result.exit_code == 0, result.output
        # 12 for the whole run, not 12 each: 4 judgments (two battles) per judge
        assert requests_per_judge(servers) == [4, 4, 4]
        assert result.stdout.count("8 judgments left for a later run (--max-judgments)") == 3
        # the same two (question, pair)s by every judge: two jury battles, each judged by all three
        judged = {judge: {u for u, o in zip(UNITS, outcomes, strict=True) if o != "-"}
                  for judge, outcomes in stored_outcomes(project).items()}
        assert len(judged) == 3 and all(units == judged["j1"] for units in judged.values())
        assert jury_battles(project) == 2


def test_a_budget_smaller_than_the_jury_leaves_the_last_judges_not_run(tmp_path: Path) -> None:
    with jury_project(tmp_path) as (project, servers):
        dry = invoke("judge", "-c", str(project.config_path), "--max-judgments", "4", "--dry-run")
        assert dry.exit_code == 0, dry.output
        planned = [line.split(" ")[0] for line in dry.stdout.splitlines()]
        assert planned == ["[j1]", "[j1]", "[j2]", "[j2]"]
        assert "[j3] not run: the judgment budget of 4 was used by earlier judges" in dry.output
        result = invoke("judge", "-c", str(project.config_path), "--max-judgments", "4")
        assert result.exit_code == 0, result.output
        assert requests_per_judge(servers) == [2, 2, 0]  # one whole battle each, while the budget lasts
        assert "judge j3: not run: the judgment budget of 4 was used by earlier judges" in result.stdout.splitlines()
        assert jury_battles(project) == 1  # two of three judges: a majority


def test_a_judge_with_nothing_pending_leaves_its_share_to_the_others(tmp_path: Path) -> None:
    with jury_project(tmp_path) as (project, servers):
        assert invoke("judge", "-c", str(project.config_path), "--judge", "j1").exit_code == 0
        assert requests_per_judge(servers) == [2 * len(UNITS), 0, 0]
        result = invoke("judge", "-c", str(project.config_path), "--max-judgments", "12")
        assert result.exit_code == 0, result.output
        assert requests_per_judge(servers) == [2 * len(UNITS), 6, 6]  # j1's share of 4 went to j2 and j3
        assert "not run" not in result.stdout


def test_budget_shares_are_equal_whole_battles_rounded_up() -> None:
    def shares(budget: int, judges: int) -> list[int]:
        out, left = [], budget
        for position in range(judges):
            out.append(budget_share(left, judges - position))
            left -= out[-1]
        return out

    assert shares(12, 3) == [4, 4, 4]
    assert shares(10, 3) == [4, 4, 2]  # whole battles: the earlier judges take the remainder
    assert shares(4, 3) == [2, 2, 0]
    assert shares(7, 1) == [7] and shares(1, 2) == [1, 0]
