"""`arena rate` through the command line, against a store populated in tmp_path."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from arena.cli import app
from arena.errors import ArenaError
from arena.store.schema import snapshots
from tests.ratings.store_helpers import (
    JudgedStore,
    add_imported_battles,
    fake_judge_stage,
    new_store,
    question_rows,
    write_project,
)
from tests.ratings.synthetic import draw_battles

runner = CliRunner()
MODELS = ["small-1b", "mid-7b", "big-70b"]


@pytest.fixture()
def project(tmp_path: Path, store_url: str) -> Path:
    config = write_project(tmp_path, MODELS, storage=store_url)
    rng = np.random.default_rng(0)
    a, b, score = draw_battles(np.array([-80.0, 0.0, 120.0]), 900, rng)
    winners = {1.0: "model_a", 0.0: "model_b", 0.5: "tie"}
    store = new_store(tmp_path)
    add_imported_battles(store, "import:crowd", [
        {"model_a": MODELS[x], "model_b": MODELS[y], "winner": winners[s], "category": "cardiology",
         "question_id": f"q{k % 90}", **{f"answer_{side}_{name}": int(rng.integers(0, 900))
                                         for side in "ab" for name in ("tokens", "headers", "list_items", "bold")}}
        for k, (x, y, s) in enumerate(zip(a, b, score, strict=False))
    ])
    store.close()
    return config


def snapshot_count(root: Path) -> int:
    store = new_store(root)
    with store.connect() as connection:
        count = connection.execute(select(func.count()).select_from(snapshots)).scalar_one()
    store.close()
    return count


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=True)


def test_rate_prints_the_leaderboard_sections_and_stores_one_snapshot(project: Path) -> None:
    result = invoke("rate", "-c", str(project), "--source", "import:crowd", "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert "900 battles on 90 questions" in lines[0]
    assert "200 question-level (questions resampled with all their battles) bootstrap rounds" in lines[1]
    header = next(line for line in lines if line.startswith("rank"))
    assert all(word in header for word in ("rank (95% CI)", "model", "rating", "95% CI", "battles", "win rate",
                                           "style-controlled", "flags"))
    first = lines[lines.index(header) + 2].split()
    assert first[0] == "1" and first[2] == "big-70b"
    assert "Online Elo (K=4, battle order)" in out
    assert "Style control (answer length (tokens), markdown headers, markdown list items, bold spans)" in out
    assert "clustered by question (90 clusters)" in out
    assert "Judge diagnostics" in out and "cardiology" in out
    assert snapshot_count(project.parent) == 1
    again = invoke("rate", "-c", str(project), "--source", "import:crowd", "--bootstrap", "200")
    assert again.exit_code == 0 and again.stdout == out
    assert "reused rating snapshot 1" in again.stderr
    assert snapshot_count(project.parent) == 1


def test_rate_formats_and_out_file(project: Path, tmp_path: Path) -> None:
    base = ["rate", "-c", str(project), "--source", "import:crowd", "--bootstrap", "100"]
    rows = list(csv.DictReader(io.StringIO(invoke(*base, "--format", "csv").stdout)))
    assert [r["model"] for r in rows][0] == "big-70b" and float(rows[0]["rating"]) > 1000
    assert {r["ci_method"] for r in rows} == {"question-bootstrap-100"} and rows[0]["rating_sc"]
    payload = json.loads(invoke(*base, "--format", "json").stdout)
    assert payload["source"] == "import:crowd" and len(payload["leaderboard"]) == 3
    assert payload["params"]["bootstrap"] == "question" and payload["style_control"]["status"] == "ok"
    markdown = invoke(*base, "--format", "markdown").stdout
    assert "95% CI: 100 question-level" in markdown.splitlines()[0]
    assert "| Rank | Rank (95% CI) | Model |" in markdown and "| big-70b |" in markdown
    target = tmp_path / "board.md"
    result = invoke(*base, "--format", "markdown", "--out", str(target))
    assert result.stdout == "" and target.read_text(encoding="utf-8") == markdown
    assert invoke(*base, "--format", "xml").exit_code != 0


def test_battle_bootstrap_style_choice_and_compare(project: Path) -> None:
    base = ["rate", "-c", str(project), "--source", "import:crowd", "--bootstrap", "100"]
    battle = json.loads(invoke(*base, "--bootstrap-by", "battle", "--format", "json").stdout)
    assert battle["params"]["bootstrap"] == "battle"
    assert "by battle" in battle["style_control"]["interval"]
    lengths = json.loads(invoke(*base, "--style", "tokens", "--format", "json").stdout)
    assert [c["covariate"] for c in lengths["style_control"]["coefficients"]] == ["tokens"]
    off = json.loads(invoke(*base, "--style", "none", "--format", "json").stdout)
    assert off["style_control"]["status"] == "off" and off["leaderboard"][0]["rating_sc"] is None
    compared = invoke(*base, "--compare", "big-70b", "small-1b")
    assert compared.exit_code == 0, compared.output
    assert "P(big-70b rated above small-1b) = 1.000 over 100 question-level bootstrap rounds" in compared.stdout
    assert "exact sign test on the" in compared.stdout
    duel = json.loads(invoke(*base, "--compare", "big-70b", "small-1b", "--format", "json").stdout)["comparison"]
    assert duel["model_a"] == "big-70b" and duel["prob_a_above"] == 1.0 and duel["sign_test_p"] < 0.001
    assert invoke(*base, "--bootstrap-by", "day").exit_code != 0
    bad_style = invoke(*base, "--style", "emoji")
    assert isinstance(bad_style.exception, ArenaError) and "emoji" in str(bad_style.exception)
    unknown = invoke(*base, "--compare", "big-70b", "nobody")
    assert isinstance(unknown.exception, ArenaError) and "nobody" in str(unknown.exception)


def test_rate_with_anchor_and_category(project: Path) -> None:
    base = ["rate", "-c", str(project), "--source", "import:crowd", "--bootstrap", "50", "--format", "json"]
    anchored = json.loads(invoke(*base, "--anchor", "mid-7b=1200").stdout)
    mid = next(r for r in anchored["leaderboard"] if r["model"] == "mid-7b")
    assert mid["rating"] == pytest.approx(1200.0)
    category = json.loads(invoke(*base, "--category", "cardiology").stdout)
    assert category["category"] == "cardiology" and category["n_battles"] == 900 and category["views"] == {}
    missing = invoke(*base, "--category", "oncology")
    assert isinstance(missing.exception, ArenaError) and "oncology" in str(missing.exception)
    bad = invoke(*base, "--anchor", "nobody=1000")
    assert isinstance(bad.exception, ArenaError) and "nobody" in str(bad.exception)


def test_rate_judge_source_uses_only_the_current_judge_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           store_url: str) -> None:
    config = write_project(tmp_path, MODELS, question_rows(12), storage=store_url)
    store = JudgedStore(config)
    for k in range(1, 13):
        q = f"q{k}"
        store.battle("current", "big-70b", "small-1b", "A", "B", question_id=q)
        store.battle("current", "mid-7b", "small-1b", "A" if k % 3 else "B", "B", question_id=q)
        store.battle("current", "big-70b", "mid-7b", "B" if k % 4 == 0 else "A", "B", question_id=q)
        store.battle("old", "small-1b", "big-70b", "A", "B", question_id=q)
    store.close()
    fake_judge_stage(monkeypatch, "current")
    result = invoke("rate", "-c", str(config), "--bootstrap", "50", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["judge_key"] == "current" and payload["n_battles"] == 36
    assert payload["leaderboard"][0]["model"] == "big-70b"
    assert payload["diagnostics"]["judgments"] == 72
    assert payload["selection"]["answer_set"] == payload["params"]["answer_set"] is not None
    monkeypatch.setitem(__import__("sys").modules, "arena.judge", None)  # the judge stage not installed
    fallback = json.loads(invoke("rate", "-c", str(config), "--bootstrap", "50", "--format", "json").stdout)
    assert fallback["judge_key"] == "old" and any("latest judged battles" in n for n in fallback["report_notes"])


def test_rate_without_battles_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_project(tmp_path, MODELS)
    new_store(tmp_path).close()
    fake_judge_stage(monkeypatch, "current")
    result = invoke("rate", "-c", str(config))
    assert isinstance(result.exception, ArenaError)
    assert "arena judge" in str(result.exception) and "\n" not in str(result.exception)
