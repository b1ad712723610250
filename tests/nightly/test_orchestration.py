"""The nightly runner itself, with stand-in stages: statuses, dependencies, log, summary, lock."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from arena.errors import ArenaError, BackendError
from arena.files import write_atomic
from arena.nightly.runner import NightlyReport, format_summary, run_nightly
from arena.nightly.stages import Stage, StageOutcome
from arena.store.engine import open_store
from arena.store.runlock import RunLock, RunLockedError
from tests.nightly.project import project_config, read_log


def ok(name: str, **counts: int) -> Stage:
    return Stage(name, lambda context: StageOutcome(dict(counts), f"{name} done"))


def fails(name: str, error: Exception, needs: tuple[str, ...] = ()) -> Stage:
    def run(context):  # type: ignore[no-untyped-def]
        raise error
    return Stage(name, run, needs)


def run(config, stages) -> tuple[NightlyReport, str]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    report = run_nightly(config, stages, out=out)
    return report, out.getvalue()


def test_all_stages_ok(tmp_path: Path) -> None:
    config = project_config(tmp_path)
    report, text = run(config, [ok("first", items=3), ok("second")])
    assert report.exit_code == 0 and report.status == "ok"
    assert [r.status for r in report.results] == ["ok", "ok"]
    log = read_log(config)
    assert [line["stage"] for line in log] == ["first", "second", "run"]
    assert {line["run_id"] for line in log} == {report.run_id}
    first = log[0]
    assert first["status"] == "ok" and first["counts"] == {"items": 3}
    assert first["duration_s"] >= 0 and first["started_at"].startswith("20")
    assert log[-1]["exit_code"] == 0 and log[-1]["status"] == "ok"
    assert text.splitlines()[0].startswith(f"arena nightly {report.run_id}: ok")
    assert "first done" in text


def test_a_failed_stage_is_named_and_only_its_dependents_are_skipped(tmp_path: Path) -> None:
    config = project_config(tmp_path)
    stages = [ok("questions"), fails("judge", BackendError("judge server down: connection refused")),
              ok("rate"), Stage("export", lambda c: StageOutcome(), needs=("judge",))]
    report, text = run(config, stages)
    assert [r.status for r in report.results] == ["ok", "failed", "ok", "skipped"]
    assert report.exit_code == 1 and report.failed_stages == ["judge"]
    assert "failed stage(s): judge" in text and "judge server down" in text
    log = read_log(config)
    assert log[1]["error"] == "judge server down: connection refused"
    assert log[-1]["failed_stages"] == ["judge"] and log[-1]["exit_code"] == 1


def test_a_partial_stage_reports_what_it_skipped(tmp_path: Path) -> None:
    config = project_config(tmp_path)
    partial = Stage("generate", lambda c: StageOutcome({"generated": 4}, "4 answers",
                                                       skipped=["model beta: server unreachable"]))
    report, text = run(config, [partial, ok("judge")])
    assert [r.status for r in report.results] == ["partial", "ok"]
    assert report.exit_code == 1 and report.partial_stages == ["generate"]
    assert "skipped: model beta: server unreachable" in text
    assert read_log(config)[0]["skipped"] == ["model beta: server unreachable"]


def test_a_bug_in_a_stage_is_reported_with_its_type(tmp_path: Path) -> None:
    config = project_config(tmp_path)
    report, _ = run(config, [fails("rate", ZeroDivisionError("division by zero")), ok("later")])
    assert report.results[0].error == "ZeroDivisionError: division by zero"
    assert report.results[1].status == "ok"


def test_a_held_lock_stops_the_run_before_any_stage(tmp_path: Path) -> None:
    config = project_config(tmp_path)
    calls: list[str] = []
    store = open_store(config.storage_url)
    holder = RunLock(store)
    holder.acquire()
    try:
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} on host {holder.host}"):
            run_nightly(config, [Stage("x", lambda c: calls.append("x") or StageOutcome())], out=io.StringIO())
    finally:
        holder.release()
        store.close()
    assert calls == []
    # no stage ran, but a cron job's log says why the run stopped
    (record,) = read_log(config)
    assert record["status"] == "locked" and record["exit_code"] == 3 and str(holder.pid) in record["error"]


def test_the_lock_is_released_after_a_run_and_after_a_failure(tmp_path: Path) -> None:
    config = project_config(tmp_path)
    run(config, [fails("boom", ArenaError("no"))])
    report, _ = run(config, [ok("again")])  # would raise RunLockedError if the lock had leaked
    assert report.exit_code == 0


def test_summary_lists_notes_and_counts(tmp_path: Path) -> None:
    config = project_config(tmp_path)
    report, _ = run(config, [Stage("judge", lambda c: StageOutcome({"judgments": 6, "battles": 3}))])
    report.notes.append("took over the lock of a dead run")
    text = format_summary(report)
    assert "6 judgments, 3 battles" in text and "note: took over the lock" in text


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "board.csv"
    write_atomic(target, "a,b\n")
    write_atomic(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["board.csv"]


def test_a_run_whose_lock_was_taken_over_stops_and_fails(tmp_path: Path) -> None:
    config = project_config(tmp_path)

    def steal(context):  # type: ignore[no-untyped-def]
        context.lock.lost.set()  # what the heartbeat does when our row names another run
        return StageOutcome()

    report, text = run(config, [Stage("first", steal), ok("never")])
    assert [r.stage for r in report.results] == ["first", "lock"]
    assert report.exit_code == 1 and "took the lock over" in text


def test_an_unwritable_log_fails_before_any_work(tmp_path: Path) -> None:
    config = project_config(tmp_path, log_file="blocker/nightly.jsonl")
    (tmp_path / "blocker").write_text("a file where the log folder should be")
    calls: list[str] = []
    with pytest.raises(ArenaError, match="cannot write the nightly log"):
        run_nightly(config, [Stage("x", lambda c: calls.append("x") or StageOutcome())], out=io.StringIO())
    assert calls == []
