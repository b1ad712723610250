"""Model names written as Markdown or as spreadsheet formulas are shown and written literally:
the dashboard (through AppTest), the Markdown leaderboard, and every CSV arena writes."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from arena.cli import app
from arena.safe_text import csv_cell, csv_text, markdown_text
from arena.store.engine import open_store
from tests.dashboard.conftest import APP
from tests.dashboard.synthetic import make_store, rate_store

LINK = "[pwn](http://x.example)"
FORMULA = '=HYPERLINK("http://x.example","click")'
HTML = "<b>**bold**</b> www.x.example"
HOSTILE = {"alpha": LINK, "beta": FORMULA, "gamma": HTML}
HOSTILE_JUDGE = "[judge](http://j.example) **x**"  # a judge is named in the project file too


def test_markdown_text_shows_everything_literally() -> None:
    assert markdown_text(LINK) == r"\[pwn\]\(http\://x.example\)"
    assert markdown_text(HTML) == r"\<b\>\*\*bold\*\*\</b\> www\.x.example"
    assert markdown_text("# heading\n - item $x$") == r"\# heading \- item \$x\$"
    assert markdown_text("a\nb", keep_lines=True) == "a  \nb"
    assert markdown_text("llama-3.1:8b") == "llama-3.1:8b"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cell_neutralises_formulas(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize("text", ["=SUM(A1)", "'=SUM(A1)", "''+1", "-", "'quoted'", "it's", "alpha", "", "@x"])
def test_csv_text_undoes_csv_cell_exactly(text: str) -> None:
    assert csv_text(csv_cell(text)) == text


def test_csv_cell_keeps_ordinary_text_and_numbers() -> None:
    assert [csv_cell(v) for v in ("alpha", "a=b", -12.5, 3, None)] == ["alpha", "a=b", -12.5, 3, None]


@pytest.fixture()
def hostile_project(tmp_path: Path) -> Path:
    synthetic = make_store(tmp_path / "hostile")
    with sqlite3.connect(synthetic.url.removeprefix("sqlite:///")) as connection:
        for old, new in HOSTILE.items():
            for table, columns in (("answers", ("model",)), ("judgments", ("model_a", "model_b")),
                                   ("battles", ("model_a", "model_b"))):
                for column in columns:
                    connection.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))
        connection.execute("DELETE FROM rated_answers")
        connection.execute("DELETE FROM snapshots")
    store = open_store(synthetic.url)
    rate_store(store, judge=HOSTILE_JUDGE)
    store.close()
    return synthetic.config_path


def test_the_dashboard_shows_hostile_names_literally(hostile_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_CONFIG", str(hostile_project))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception
    headline = at.markdown[0].value
    assert markdown_text(LINK) in headline  # alpha, the strongest, leads
    shown = [e.value for kind in ("markdown", "caption", "warning", "info") for e in at.get(kind)]
    for text in shown:
        for name in HOSTILE.values():
            assert name not in text, text
    at.switch_page("pages/explorer.py")
    at.run()
    assert not at.exception
    shown = [e.value for kind in ("markdown", "caption", "subheader") for e in at.get(kind)]
    assert any(markdown_text(LINK) in text or markdown_text(HTML) in text or markdown_text(FORMULA) in text
               for text in shown)
    assert [text for text in shown if any(name in text for name in HOSTILE.values())] == []
    at.switch_page("pages/judge.py")
    at.run()
    assert not at.exception
    shown = [e.value for kind in ("markdown", "caption", "subheader") for e in at.get(kind)]
    assert any(markdown_text(HOSTILE_JUDGE) in text for text in shown), shown
    assert [text for text in shown if HOSTILE_JUDGE in text] == []


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_every_csv_and_the_markdown_leaderboard_are_safe(hostile_project: Path, tmp_path: Path) -> None:
    from arena.config import load_config
    from arena.dashboard.data import newest_snapshot
    from arena.ratings.render import render

    store = open_store(load_config(hostile_project).storage_url)
    try:
        report = newest_snapshot(store, "judge").report
    finally:
        store.close()
    # what `arena rate --format csv|markdown` prints and nightly writes as leaderboard.csv / .md
    cells = csv_cells(render(report, "csv"))
    assert "'" + FORMULA in cells and FORMULA not in cells
    markdown = render(report, "markdown")
    assert markdown_text(LINK) in markdown and LINK not in markdown and HTML not in markdown
    battles = tmp_path / "battles.csv"
    exported = CliRunner().invoke(app, ["battles", "export", "-c", str(hostile_project), "--source", "all",
                                        "--format", "csv", "--out", str(battles)])
    assert exported.exit_code == 0, exported.output
    cells = csv_cells(battles.read_text())
    assert "'" + FORMULA in cells and FORMULA not in cells
    # and the file imports back without loss: the names as they were, not with the apostrophe
    imported = CliRunner().invoke(app, ["battles", "import", str(battles), "-c", str(hostile_project),
                                        "--source", "roundtrip"])
    assert imported.exit_code == 0, imported.output
    store = open_store(load_config(hostile_project).storage_url)
    try:
        with store.connect() as connection:
            names = {row[0] for row in connection.exec_driver_sql(
                "SELECT model_a FROM battles WHERE source = 'roundtrip' UNION SELECT model_b FROM battles "
                "WHERE source = 'roundtrip'")}
    finally:
        store.close()
    assert FORMULA in names and "'" + FORMULA not in names and set(HOSTILE.values()) <= names


def test_the_dashboards_csv_downloads_are_safe(hostile_project: Path) -> None:
    from arena.config import load_config
    from arena.dashboard import data

    config = load_config(hostile_project)
    store = open_store(config.storage_url)
    try:
        snapshot = data.newest_snapshot(store, "judge")
        frame = data.leaderboard_frame(snapshot.report.view(None), config)
        board = csv_cells(data.leaderboard_csv(frame).decode())
        battles = csv_cells(data.battles_download(store, data.snapshot_selection(snapshot, None), "csv").decode())
    finally:
        store.close()
    for cells in (board, battles):
        assert "'" + FORMULA in cells and FORMULA not in cells
