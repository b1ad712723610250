"""Battles in and out in the Chatbot Arena format: round trips, malformed rows, idempotent re-import."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from arena.battles_io import BATTLE_FIELDS, OPTIONAL_FIELDS, export_battles, import_battles
from arena.cli import app
from arena.errors import ArenaError, DataError
from arena.store.engine import open_store
from arena.store.schema import battles
from tests.ratings.store_helpers import new_store, write_project

ROWS = [
    {"model_a": "gpt-4", "model_b": "claude-v1", "winner": "model_a", "question_id": "q1",
     "category": "cardiology", "judge": "user_17", "tstamp": 1700000000.5},
    {"model_a": "claude-v1", "model_b": "vicuna-13b", "winner": "tie (bothbad)", "tstamp": 1700000001.0},
    {"model_a": "vicuna-13b", "model_b": "gpt-4", "winner": "model_b", "answer_a_len": 120, "answer_b_len": 480},
    {"model_a": "vicuna-13b", "model_b": "gpt-4", "winner": "model_b", "answer_a_len": 120, "answer_b_len": 480},
    {"model_a": "gpt-4", "model_b": "vicuna-13b", "winner": "model_a", "question_id": "q2", "judge": "prometheus",
     "judge_key": "0123456789abcdef", "answer_a_id": 11, "answer_b_id": 12, "verdicts": "AB",
     "answer_a_tokens": 230, "answer_b_tokens": 90, "answer_a_headers": 2, "answer_b_headers": 0,
     "answer_a_list_items": 7, "answer_b_list_items": 1, "answer_a_bold": 3, "answer_b_bold": 0,
     "tstamp": 1700000002.25},
    {"model_a": "gpt-4", "model_b": "vicuna-13b", "winner": "tie"},
]


def stored_count(store, source: str | None = None) -> int:  # type: ignore[no-untyped-def]
    query = select(func.count()).select_from(battles)
    if source:
        query = query.where(battles.c.source == source)
    with store.connect() as connection:
        return connection.execute(query).scalar_one()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def core(record: dict) -> dict:
    """Every battle field but the source label, with CSV's empty cells as None."""
    return {k: (None if record.get(k) in (None, "") else record.get(k)) for k in BATTLE_FIELDS if k != "tstamp"}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_import_round_trip(tmp_path: Path, fmt: str, store_url: str) -> None:
    store = open_store(store_url)
    report = import_battles(store, write_jsonl(tmp_path / "votes.jsonl", ROWS))
    assert (report.imported, report.skipped, report.source) == (6, 0, "import:votes")
    out = io.StringIO()
    assert export_battles(store, out, fmt, source="import:votes") == 6
    exported = tmp_path / f"exported.{fmt}"
    exported.write_text(out.getvalue(), encoding="utf-8")
    again = import_battles(store, exported, source="copy")
    assert again.imported == 6 and again.skipped == 0
    second = io.StringIO()
    export_battles(store, second, fmt, source="copy")
    first_rows = _parse(out.getvalue(), fmt)
    second_rows = _parse(second.getvalue(), fmt)
    assert [core(r) for r in first_rows] == [core(r) for r in second_rows]
    assert sorted(map(repr, map(core, first_rows))) == sorted(map(repr, map(core, ROWS)))  # nothing lost
    assert float(first_rows[0]["tstamp"]) == 1700000000.5
    store.close()


def _parse(text: str, fmt: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    import csv

    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for key, kind, _ in OPTIONAL_FIELDS:
            if kind == "count":
                row[key] = int(row[key]) if row[key] else None
    return rows


def test_reimporting_the_same_file_adds_nothing_but_identical_rows_stay_two(tmp_path: Path, store_url: str) -> None:
    store = open_store(store_url)
    path = write_jsonl(tmp_path / "votes.jsonl", ROWS)
    import_battles(store, path)
    again = import_battles(store, path)
    assert (again.imported, again.already_present) == (0, 6)
    assert stored_count(store, "import:votes") == 6  # rows 3 and 4 are identical battles, both kept
    shuffled = write_jsonl(tmp_path / "votes.jsonl", [ROWS[k] for k in (5, 3, 0, 4, 2, 1)])
    assert import_battles(store, shuffled).imported == 0  # the same battles in another order: nothing new
    grown = write_jsonl(tmp_path / "votes.jsonl", [ROWS[2], *ROWS, ROWS[2]])  # two more copies of row 3
    assert import_battles(store, grown).imported == 2
    store.close()


def test_malformed_new_fields_name_the_problem(tmp_path: Path) -> None:
    base = {"model_a": "x", "model_b": "y", "winner": "tie"}
    path = write_jsonl(tmp_path / "odd.jsonl", [{**base, "verdicts": "AC"}, {**base, "answer_a_id": -3},
                                                 {**base, "answer_b_tokens": 2.5}, {**base, "judge_key": "k" * 40}])
    store = new_store(tmp_path)
    report = import_battles(store, path)
    store.close()
    assert report.imported == 0
    assert ["verdicts 'AC'" in report.problems[0], "answer_a_id -3" in report.problems[1],
            "answer_b_tokens 2.5" in report.problems[2], "judge_key is longer" in report.problems[3]] == [True] * 4


def test_malformed_rows_are_reported_with_their_line_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(ROWS[0]) + "\n"
        + '{"model_a": "x", "model_b": "y", "winner": "draw"}\n'
        + "\n"
        + '{"model_a": "x", "model_b": "y", "winner": "tie"\n'
        + '{"model_a": "x", "model_b": "x", "winner": "tie"}\n'
        + '{"model_a": "x", "winner": "tie"}\n'
        + '{"model_a": "x", "model_b": "y", "winner": "tie", "tstamp": "yesterday"}\n'
        + '["x", "y", "tie"]\n'
        + json.dumps(ROWS[1]) + "\n",
        encoding="utf-8",
    )
    store = new_store(tmp_path)
    report = import_battles(store, path)
    assert report.imported == 2 and report.rows == 8 and report.skipped == 6
    lines = [p.split(": ", 1)[0] for p in report.problems]
    assert lines == [f"{path}:{n}" for n in (2, 4, 5, 6, 7, 8)]
    assert "winner 'draw'" in report.problems[0]
    assert "malformed JSON" in report.problems[1]
    assert "same model" in report.problems[2]
    assert "model_b is missing" in report.problems[3]
    assert "tstamp 'yesterday' is not a number" in report.problems[4]
    store.close()


def test_csv_problems_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    path.write_text(
        "model_a,model_b,winner,tstamp\n"
        "a,b,model_a,1\n"
        "a,b\n"
        "a,b,model_c,2\n"
        '"multi\nline",b,tie,3\n'
        "b,a,tie,4\n",
        encoding="utf-8",
    )
    store = new_store(tmp_path)
    report = import_battles(store, path)
    assert report.imported == 3
    assert [p.split(": ", 1)[0] for p in report.problems] == [f"{path}:3", f"{path}:4"]
    with pytest.raises(DataError, match="lacks winner"):
        bad = tmp_path / "nohead.csv"
        bad.write_text("model_a,model_b\na,b\n", encoding="utf-8")
        import_battles(store, bad)
    store.close()


def test_json_array_as_lmarena_publishes(tmp_path: Path) -> None:
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps([ROWS[0], {"model_a": "a"}, ROWS[1]]), encoding="utf-8")
    store = new_store(tmp_path)
    report = import_battles(store, path)
    assert report.imported == 2 and report.problems == [f"{path}: item 2: model_b is missing"]
    store.close()


def test_judge_label_is_reserved_and_unknown_extension_asks_for_format(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    path = write_jsonl(tmp_path / "v.jsonl", ROWS)
    with pytest.raises(DataError, match="reserved"):
        import_battles(store, path, source="judge")
    other = tmp_path / "votes.txt"
    other.write_text(path.read_text(), encoding="utf-8")
    with pytest.raises(DataError, match="--format"):
        import_battles(store, other)
    assert import_battles(store, other, fmt="jsonl").imported == 6
    store.close()


def test_cli_import_export_and_rate_the_imported_source(tmp_path: Path, store_url: str) -> None:
    runner = CliRunner()
    config = write_project(tmp_path, ["gpt-4"], storage=store_url)
    path = write_jsonl(tmp_path / "crowd.jsonl", ROWS * 20 + [{"model_a": "only"}])
    result = runner.invoke(app, ["battles", "import", str(path), "-c", str(config), "--source", "crowd"])
    assert result.exit_code == 0, result.output
    assert "imported 120 battle(s)" in result.stdout and "skipped 1 malformed row(s)" in result.stdout
    assert f"{path}:121: model_b is missing" in result.stderr
    rated = runner.invoke(app, ["rate", "-c", str(config), "--source", "crowd", "--bootstrap", "20"])
    assert rated.exit_code == 0, rated.output
    assert "gpt-4" in rated.stdout
    out = tmp_path / "out.csv"
    exported = runner.invoke(app, ["battles", "export", "-c", str(config), "--source", "crowd", "--format", "csv",
                                   "--out", str(out)])
    assert exported.exit_code == 0 and len(out.read_text().splitlines()) == 121
    everything = runner.invoke(app, ["battles", "export", "-c", str(config), "--source", "all"])
    assert len(everything.stdout.splitlines()) == 120
    broken = write_jsonl(tmp_path / "broken.jsonl", [{"model_a": "x"}])
    failed = runner.invoke(app, ["battles", "import", str(broken), "-c", str(config)])
    assert isinstance(failed.exception, ArenaError) and "all 1 row(s) are malformed" in str(failed.exception)


def test_an_exported_judged_board_imports_and_rates_the_same(tmp_path: Path, monkeypatch,  # type: ignore[no-untyped-def]
                                                              store_url: str) -> None:
    """Lossless: judge key, question, both answers and their style travel, so the ratings do too."""
    from arena.config import load_config
    from arena.ratings.rate import RateRequest, run_rate
    from tests.ratings.store_helpers import JudgedStore, fake_judge_stage, question_rows

    config_path = write_project(tmp_path, ["m1", "m2", "m3"], question_rows(20, ("cardiology", "oncology")),
                                storage=store_url)
    judged = JudgedStore(config_path)
    for k in range(1, 21):
        for n, (x, y) in enumerate((("m1", "m2"), ("m1", "m3"), ("m2", "m3"))):
            judged.battle("key", x, y, *[("A", "B"), ("B", "A"), ("A", "A")][(k + n) % 3], question_id=f"q{k}")
    out = io.StringIO()
    assert export_battles(judged.store, out, source="judge") == 60
    (tmp_path / "board.jsonl").write_text(out.getvalue(), encoding="utf-8")
    assert import_battles(judged.store, tmp_path / "board.jsonl").imported == 60
    judged.close()
    fake_judge_stage(monkeypatch, "key")
    config = load_config(config_path)
    original = run_rate(config, RateRequest(bootstrap_rounds=50)).snapshot.report
    imported = run_rate(config, RateRequest(source="import:board", bootstrap_rounds=50)).snapshot.report
    assert original.board.rows == imported.board.rows
    assert original.board.style == imported.board.style and original.board.n_questions == 20
    assert [v.rows for v in original.views] == [v.rows for v in imported.views]


def test_large_files_are_checked_in_worker_processes_with_the_same_result(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import arena.battles_io as battles_io

    rows = ROWS * 30 + [{"model_a": "x", "winner": "tie"}] + ROWS
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    (tmp_path / "serial").mkdir()
    serial_store = new_store(tmp_path / "serial")
    serial = import_battles(serial_store, path)
    monkeypatch.setattr(battles_io, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(battles_io, "_CHUNK_BYTES", 1000)  # several ranges, so several workers' results in order
    (tmp_path / "parallel").mkdir()
    parallel_store = new_store(tmp_path / "parallel")
    parallel = import_battles(parallel_store, path)
    assert (parallel.rows, parallel.imported, parallel.problems) == (serial.rows, serial.imported, serial.problems)
    assert parallel.problems == [f"{path}:181: model_b is missing"]
    def keys(store):  # type: ignore[no-untyped-def]
        with store.connect() as connection:
            return connection.execute(select(battles.c.dedup_key).order_by(battles.c.id)).scalars().all()

    assert keys(serial_store) == keys(parallel_store)  # the same battles, content keys and order
    assert import_battles(parallel_store, path).imported == 0
    serial_store.close()
    parallel_store.close()


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_line_ranges_number_lines_as_text_mode_reads_them(tmp_path: Path, size: int) -> None:
    import arena.battles_io as battles_io

    good = json.dumps(ROWS[0])
    path = tmp_path / "endings.jsonl"
    path.write_bytes(("\ufeff" + good + "\r\n\n" + good + "\r" + "{bad\n" + good + "\n\n" + "{bad").encode())
    ranges = list(battles_io._line_ranges(path, size))
    assert b"".join(path.read_bytes()[start:end] for _, start, end, _ in ranges) == path.read_bytes()
    checked = [battles_io._check_range(job) for job in ranges]
    problems = [p.split(": ", 1)[0] for _, _, found in checked for p in found]
    assert problems == [f"{path}:4", f"{path}:7"]  # as numbered by reading the file in text mode
    assert sum(rows for rows, _, _ in checked) == 5 and sum(len(kept) for _, kept, _ in checked) == 3


def test_a_jsonl_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(ROWS[0]).encode() + b"\n" + b'{"model_a": "caf\xe9"}\n')
    store = new_store(tmp_path)
    with pytest.raises(DataError, match=r"latin1.jsonl: not UTF-8 text \(byte \d+\)"):
        import_battles(store, path)
    store.close()
