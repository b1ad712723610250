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
from arena.store import snapshots
from tests.ratings.store_helpers import add_imported_battles, add_judged_battle, fake_judge_stage, new_store, write_project
from tests.ratings.synthetic import draw_battles

runner = CliRunner()
MODELS = ["small-1b", "mid-7b", "big-70b"]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    config = write_project(tmp_path, MODELS)
    rng = np.random.default_rng(0)
    a, b, score = draw_battles(np.array([-80.0, 0.0, 120.0]), 900, rng)
    winners = {1.0: "model_a", 0.0: "model_b", 0.5: "tie"}
    store = new_store(tmp_path)
    add_imported_battles(store, "import:crowd", [
        {"model_a": MODELS[x], "model_b": MODELS[y], "winner": winners[s], "category": "cardiology",
         "answer_a_len": int(rng.integers(100, 900)), "answer_b_len": int(rng.integers(100, 900))}
        for x, y, s in zip(a, b, score)
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
    header = next(line for line in lines if line.startswith("rank"))
    assert all(word in header for word in ("rank (95% CI)", "model", "rating", "95% CI", "battles", "win rate"))
    first = lines[lines.index(header) + 2].split()
    assert first[0] == "1" and first[2] == "big-70b"
    assert "Online Elo (K=4, battle order)" in out
    assert "Length-controlled ratings" in out and "length coefficient" in out
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
    payload = json.loads(invoke(*base, "--format", "json").stdout)
    assert payload["source"] == "import:crowd" and len(payload["leaderboard"]) == 3
    markdown = invoke(*base, "--format", "markdown").stdout
    assert markdown.startswith("| Rank | Rank (95% CI) | Model |") and "| big-70b |" in markdown
    target = tmp_path / "board.md"
    result = invoke(*base, "--format", "markdown", "--out", str(target))
    assert result.stdout == "" and target.read_text(encoding="utf-8") == markdown
    assert invoke(*base, "--format", "xml").exit_code != 0


def test_rate_with_anchor_and_category(project: Path) -> None:
    base = ["rate", "-c", str(project), "--source", "import:crowd", "--bootstrap", "50", "--format", "json"]
    anchored = json.loads(invoke(*base, "--anchor", "mid-7b=1200").stdout)
    mid = next(r for r in anchored["leaderboard"] if r["model"] == "mid-7b")
    assert mid["rating"] == pytest.approx(1200.0)
    category = json.loads(invoke(*base, "--category", "cardiology").stdout)
    assert category["category"] == "cardiology" and category["n_battles"] == 900
    missing = invoke(*base, "--category", "oncology")
    assert isinstance(missing.exception, ArenaError) and "oncology" in str(missing.exception)
    bad = invoke(*base, "--anchor", "nobody=1000")
    assert isinstance(bad.exception, ArenaError) and "nobody" in str(bad.exception)


def test_rate_judge_source_uses_only_the_current_judge_key(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(project.parent)
    for k in range(12):
        add_judged_battle(store, "current", "big-70b", "small-1b", "A", "B", tstamp=float(k))
        add_judged_battle(store, "current", "mid-7b", "small-1b", "A" if k % 3 else "B", "B", tstamp=50.0 + k)
        add_judged_battle(store, "current", "big-70b", "mid-7b", "B" if k % 4 == 0 else "A", "B", tstamp=100.0 + k)
        add_judged_battle(store, "old", "small-1b", "big-70b", "A", "B", tstamp=200.0 + k)
    store.close()
    fake_judge_stage(monkeypatch, "current")
    result = invoke("rate", "-c", str(project), "--bootstrap", "50", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["judge_key"] == "current" and payload["n_battles"] == 36
    assert payload["leaderboard"][0]["model"] == "big-70b"
    assert payload["diagnostics"]["judgments"] == 72
    monkeypatch.setitem(__import__("sys").modules, "arena.judge", None)  # the judge stage not installed
    fallback = json.loads(invoke("rate", "-c", str(project), "--bootstrap", "50", "--format", "json").stdout)
    assert fallback["judge_key"] == "old" and any("latest judged battles" in n for n in fallback["notes"])


def test_rate_without_battles_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_project(tmp_path, MODELS)
    new_store(tmp_path).close()
    fake_judge_stage(monkeypatch, "current")
    result = invoke("rate", "-c", str(config))
    assert isinstance(result.exception, ArenaError)
    assert "arena judge" in str(result.exception) and "\n" not in str(result.exception)
