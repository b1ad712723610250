"""`arena nightly`: one idempotent, crash-safe run of the whole pipeline under the store's lock.

This module runs the stages (`stages.py`) in order under the lock, logs each, and prints the
summary. A stage that fails is logged and reported; the stages that do not depend on it still
run (a judge that is down does not stop the exports from being refreshed). A model whose server
is down makes its generation "partial": the other models go on. Exit status: 0 when every stage
is ok, 1 when any stage failed or was partial (an operator must see a down server), 2 for a bad
project file, 3 when another run holds the lock.

Every stage appends one JSON line to the structured log (`nightly.log_file`), followed by one
line for the whole run; stdout gets a short human summary.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from arena import testing
from arena.config import ArenaConfig
from arena.errors import ArenaError
from arena.files import append_line, check_writable
from arena.nightly.stages import RunContext, Stage, default_stages
from arena.store.engine import open_store, utcnow
from arena.store.runlock import RunLockedError, run_lock

Status = Literal["ok", "partial", "failed", "skipped"]

@dataclass
class StageResult:
    run_id: str
    stage: str
    status: Status
    started_at: str
    duration_s: float
    counts: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    skipped: list[str] = field(default_factory=list)
    error: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "stage": self.stage, "status": self.status,
            "started_at": self.started_at, "duration_s": round(self.duration_s, 3),
            "counts": self.counts, "skipped": self.skipped, "error": self.error,
        }


@dataclass
class NightlyReport:
    run_id: str
    started_at: str
    results: list[StageResult] = field(default_factory=list)
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def failed_stages(self) -> list[str]:
        return [r.stage for r in self.results if r.status == "failed"]

    @property
    def partial_stages(self) -> list[str]:
        return [r.stage for r in self.results if r.status == "partial"]

    @property
    def status(self) -> Status:
        if self.failed_stages:
            return "failed"
        return "partial" if self.partial_stages else "ok"

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "ok" else 1

    def result(self, stage: str) -> StageResult | None:
        return next((r for r in self.results if r.stage == stage), None)

    def record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "stage": "run", "status": self.status,
            "started_at": self.started_at, "duration_s": round(self.duration_s, 3),
            "failed_stages": self.failed_stages, "partial_stages": self.partial_stages,
            "exit_code": self.exit_code, "notes": self.notes,
        }


# --- running -------------------------------------------------------------------------------

def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_nightly(config: ArenaConfig, stages: Iterable[Stage] | None = None,
                out: TextIO | None = None) -> NightlyReport:
    """Run every stage under the store's lock; log each stage; print the summary to `out`.

    Raises RunLockedError (exit code 3) at once when another live run holds the lock.
    """
    out = out or sys.stdout
    stages = list(stages) if stages is not None else default_stages()
    check_writable(config.nightly.log_file, "nightly log")
    run_id, started_at = new_run_id(), utcnow().isoformat()
    try:
        store = open_store(config.storage_url)
        try:
            with run_lock(store, "nightly") as lock:
                report = _run_stages(RunContext(config, store, run_id, lock), stages)
        finally:
            store.close()
    except RunLockedError as exc:  # not a failure: logged, and exit code 3 for the scheduler
        append_log(config.nightly.log_file, {"run_id": run_id, "stage": "run", "status": "locked",
                                             "started_at": started_at, "error": str(exc), "exit_code": exc.exit_code})
        raise
    except ArenaError as exc:  # the store cannot be opened or locked: no stage ran, but a cron job gets a record
        report = failed_to_start(config.nightly.log_file, run_id, started_at, exc)
    print(format_summary(report), file=out)
    return report


def failed_to_start(log_file: Path, run_id: str, started_at: str, exc: ArenaError) -> NightlyReport:
    """The report of a run that could not open or lock its store: one failed "store" stage, logged."""
    report = NightlyReport(run_id, started_at)
    failed = StageResult(run_id, "store", "failed", started_at, 0.0, error=str(exc), summary=str(exc))
    report.results.append(failed)
    append_log(log_file, failed.record())
    append_log(log_file, report.record())
    return report


def _run_stages(context: RunContext, stages: list[Stage]) -> NightlyReport:
    log_file = context.config.nightly.log_file
    report = NightlyReport(context.run_id, utcnow().isoformat())
    lock = context.lock
    if lock is not None and lock.took_over is not None:
        report.notes.append(f"took over the lock of a dead run ({lock.took_over.describe()})")
    started = time.monotonic()
    try:
        for stage in stages:
            result = _run_stage(context, stage, report)
            report.results.append(result)
            append_log(log_file, result.record())
            if lock is not None and lock.lost.is_set():
                lost = StageResult(context.run_id, "lock", "failed", utcnow().isoformat(), 0.0,
                                   error="another run took the lock over (this run looked dead): stopped")
                lost.summary = lost.error or ""
                report.results.append(lost)
                append_log(log_file, lost.record())
                break
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM from systemd/SLURM via stop_on_sigterm()
        report.duration_s = time.monotonic() - started
        append_log(log_file, {**report.record(), "status": "interrupted", "exit_code": 130})
        raise
    report.duration_s = time.monotonic() - started
    append_log(log_file, report.record())
    return report


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (systemd stop, SLURM time limit) into KeyboardInterrupt, so the lock is
    released and the log says "interrupted" instead of the process vanishing."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_stage(context: RunContext, stage: Stage, report: NightlyReport) -> StageResult:
    started_at = utcnow().isoformat()
    blocked = [n for n in stage.needs if (r := report.result(n)) is None or r.status not in ("ok", "partial")]
    if blocked:
        return StageResult(context.run_id, stage.name, "skipped", started_at, 0.0,
                           summary=f"not run: {', '.join(blocked)} did not finish")
    testing.pause_point(stage.name)
    clock = time.monotonic()
    try:
        outcome = stage.run(context)
    except ArenaError as exc:
        return StageResult(context.run_id, stage.name, "failed", started_at,
                           time.monotonic() - clock, error=str(exc), summary=str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken stage must not hide the others' results
        traceback.print_exc(file=sys.stderr)
        error = f"{type(exc).__name__}: {exc}"
        return StageResult(context.run_id, stage.name, "failed", started_at,
                           time.monotonic() - clock, error=error, summary=error)
    return StageResult(context.run_id, stage.name, "partial" if outcome.partial else "ok",
                       started_at, time.monotonic() - clock, counts=outcome.counts,
                       summary=outcome.summary, skipped=outcome.skipped)


# --- the structured log ---------------------------------------------------------------------

def append_log(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (a single write, so concurrent appends never interleave)."""
    append_line(path, json.dumps(record, ensure_ascii=False, default=str))


# --- the human summary -----------------------------------------------------------------------

def format_summary(report: NightlyReport) -> str:
    lines = [f"arena nightly {report.run_id}: {report.status} in {report.duration_s:.1f} s"]
    lines += [f"  note: {note}" for note in report.notes]
    width = max((len(r.stage) for r in report.results), default=0)
    for result in report.results:
        detail = result.summary or _format_counts(result.counts)
        lines.append(f"  {result.stage:<{width}}  {result.status:<7}  {detail}".rstrip())
        lines += [f"  {'':<{width}}  skipped: {item}" for item in result.skipped]
    if report.failed_stages:
        lines.append(f"failed stage(s): {', '.join(report.failed_stages)}")
    if report.partial_stages:
        lines.append(f"partial stage(s): {', '.join(report.partial_stages)} (see 'skipped' above)")
    return "\n".join(lines)


def _format_counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())
