"""`arena nightly`: one idempotent, crash-safe run of the whole pipeline under the store's lock.

Stages run in order: questions -> generate -> judge -> rate -> export. Each stage is itself
incremental (answers are keyed by fingerprints, judgments by the judge key, a snapshot is
stored only when the battles changed), so a second run with nothing new makes no model calls
and stores nothing, and a run killed at any moment is finished by the next one.

A stage that fails is logged and reported; the stages that do not depend on it still run
(a judge that is down does not stop the exports from being refreshed). A model whose server
is down makes its generation "partial": the other models go on. Exit status: 0 when every
stage is ok, 1 when any stage failed or was partial (an operator must see a down server),
2 for a bad project file, 3 when another run holds the lock.

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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from arena import testing
from arena.config import ArenaConfig
from arena.errors import ArenaError
from arena.files import append_line, check_writable, write_atomic
from arena.store.engine import Store, open_store, utcnow
from arena.store.runlock import RunLock, run_lock

if TYPE_CHECKING:  # the stages' modules are imported by the stages that use them
    from arena.questions.schema import Question
    from arena.ratings.report import RatingReport

Status = Literal["ok", "partial", "failed", "skipped"]

@dataclass
class StageOutcome:
    """What a stage did: counts for the log, one human line, and what it had to skip."""

    counts: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    skipped: list[str] = field(default_factory=list)  # e.g. "model x: server unreachable"

    @property
    def partial(self) -> bool:
        return bool(self.skipped)


@dataclass
class RunContext:
    config: ArenaConfig
    store: Store
    run_id: str
    lock: RunLock | None = None
    report: RatingReport | None = None  # set by the rate stage, read by export


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[RunContext], StageOutcome]
    needs: tuple[str, ...] = ()  # stages that must be ok or partial for this one to run


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
    store = open_store(config.storage_url)
    try:
        with run_lock(store, "nightly") as lock:
            report = _run_stages(RunContext(config, store, new_run_id(), lock), stages)
    finally:
        store.close()
    print(format_summary(report), file=out)
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


# --- the stages ------------------------------------------------------------------------------

EXPORT_FORMATS = {"leaderboard.csv": "csv", "leaderboard.json": "json", "leaderboard.md": "markdown"}


def default_stages() -> list[Stage]:
    return [
        Stage("questions", stage_questions),
        Stage("generate", stage_generate, needs=("questions",)),
        Stage("judge", stage_judge, needs=("questions",)),
        Stage("rate", stage_rate, needs=("questions",)),  # current answers are those of the current texts
        Stage("export", stage_export, needs=("rate",)),
    ]


def stage_questions(context: RunContext) -> StageOutcome:
    """Read the question files and mirror them into the store (new and edited questions)."""
    from arena.questions.loading import load_questions
    from arena.store.answers import stored_question_ids, sync_questions

    loaded = load_questions(context.config.questions)
    known = stored_question_ids(context.store)
    sync_questions(context.store, loaded)
    new = sum(1 for q in loaded if q.id not in known)
    return StageOutcome({"questions": len(loaded), "new": new},
                        f"{len(loaded)} questions ({new} new) in {len(context.config.questions)} file(s)")


def stage_generate(context: RunContext) -> StageOutcome:
    """Generate the missing answers; a model that fails (server down) is skipped, not fatal."""
    import io

    from arena.generate import run_generate

    summary = run_generate(context.config, out=io.StringIO(), progress=sys.stderr.isatty())
    counts = {"generated": summary.generated, "reused": summary.reused, "failed": summary.failed,
              "truncated": summary.truncated,
              "per_model": {m.model: {"generated": m.generated, "reused": m.reused, "failed": m.failed}
                            for m in summary.models}}
    skipped = [f"model {m.model}: {m.failed} of {m.questions} answers missing: "
               f"{m.error or 'some requests failed'}" for m in summary.models if m.failed]
    text = (f"{summary.generated} answers generated, {summary.reused} reused"
            + (f", {summary.truncated} truncated" if summary.truncated else ""))
    return StageOutcome(counts, text, skipped)


def stage_judge(context: RunContext) -> StageOutcome:
    """Judge the pending battles of the current judge key, within the nightly budget."""
    from arena.judge.plan import JudgeRequest
    from arena.judge.run import run_judge

    request = JudgeRequest(max_judgments=context.config.nightly.max_judgments)
    summary = run_judge(context.config, request, progress=sys.stderr.isatty())
    counts = {"judgments": summary.judgments, "battles": summary.judged, "reused": summary.reused,
              "model_calls": summary.model_calls, "invalid": summary.invalid,
              "deferred": summary.deferred, "missing_answers": summary.missing_answers,
              "errors": summary.errors}
    text = (f"{summary.judged} battles judged ({summary.judgments} judgments, "
            f"{summary.model_calls} calls), {summary.reused} already done")
    if summary.deferred:
        text += f", {summary.deferred} judgments left for the next run (budget)"
    if summary.missing_answers:
        text += f", {summary.missing_answers} pairs lack an answer"
    if summary.failed and summary.judgments == 0:
        raise ArenaError(f"judge {summary.judge}: {summary.errors} requests failed: "
                         + "; ".join(summary.error_examples))
    skipped = [f"{summary.errors} judge requests failed: {'; '.join(summary.error_examples)}"] \
        if summary.failed else []
    return StageOutcome(counts, text, skipped)


def stage_rate(context: RunContext) -> StageOutcome:
    """Refit the ratings on the current judge's battles; a snapshot only if the battles changed."""
    from arena.ratings.rate import RateRequest, run_rate

    result = run_rate(context.config, RateRequest(), context.store)
    context.report = result.snapshot.report
    snapshot = result.snapshot
    counts = {"battles": snapshot.report.n_battles, "snapshot_id": snapshot.id,
              "new_snapshot": not result.reused}
    if result.reused:
        return StageOutcome(counts, f"battles unchanged: kept snapshot {snapshot.id}")
    return StageOutcome(counts, f"stored snapshot {snapshot.id} ({counts['battles']} battles)")


def stage_export(context: RunContext) -> StageOutcome:
    """Write the leaderboard as CSV, JSON and Markdown; each file replaced atomically."""
    from arena.ratings.render import render

    report = context.report
    if report is None:
        raise ArenaError("no ratings to export (the rate stage produced none)")
    folder = context.config.nightly.export_dir
    for name in EXPORT_FORMATS:  # temp files of a run killed while writing
        for leftover in folder.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)
    written = 0
    for name, fmt in EXPORT_FORMATS.items():
        path = folder / name
        text = render(report, fmt)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        write_atomic(path, text)
        written += 1
    unchanged = len(EXPORT_FORMATS) - written
    return StageOutcome({"written": written, "unchanged": unchanged},
                        f"{written} file(s) written, {unchanged} unchanged in {folder}")


# --- the dry run -------------------------------------------------------------------------------

@dataclass
class NightlyPlan:
    """What a run would do now. Battles of answers not generated yet count as pending."""

    questions: int
    question_files: int
    answers_to_generate: dict[str, int]
    battles_to_judge: int = 0
    judge_calls: int = 0  # one per order of each pending battle, minus valid stored judgments
    budget: int | None = None
    judge_key: str | None = None
    store_exists: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def judge_calls_tonight(self) -> int:
        return self.judge_calls if self.budget is None else min(self.judge_calls, self.budget)


def plan_nightly(config: ArenaConfig) -> NightlyPlan:
    """Read the config, question files and store (never writing) and count the pending work."""
    from arena.answers import expected_fingerprints
    from arena.errors import StoreError
    from arena.questions.loading import load_questions
    from arena.store.answers import load_current_answers

    questions = load_questions(config.questions)
    try:
        store: Store | None = open_store(config.storage_url, create=False)
    except StoreError:
        store = None
    try:
        current = load_current_answers(store, expected_fingerprints(config, config.models, questions)) if store else {}
        plan = NightlyPlan(
            questions=len(questions), question_files=len(config.questions),
            answers_to_generate={m.name: sum((m.name, q.id) not in current for q in questions)
                                 for m in config.models},
            budget=config.nightly.max_judgments, store_exists=store is not None,
        )
        if not plan.store_exists:
            plan.notes.append(f"no store yet at {config.storage_url}: everything is pending")
        _plan_judging(config, store, questions, plan)
    finally:
        if store is not None:
            store.close()
    return plan


def _plan_judging(config: ArenaConfig, store: Store | None, questions: list[Question], plan: NightlyPlan) -> None:
    """The judge stage's plan, as `arena judge --dry-run` makes it (`arena.judge.plan.build_plan`),
    with the pairs whose answers tonight's generate stage makes counted as pending: two judgments each."""
    from arena.judge.key import judge_rubric
    from arena.judge.plan import build_plan

    if config.judge is None:
        plan.notes.append("no judge configured: the judge stage would fail")
        return
    try:
        judged = build_plan(config, store, judge_rubric(config), questions)
    except ArenaError as exc:
        plan.notes.append(f"the judge stage would fail: {exc}")
        return
    plan.judge_key = judged.judge_key
    plan.battles_to_judge = len(judged.jobs) + judged.missing_answers
    plan.judge_calls = judged.pending + 2 * judged.missing_answers
    if judged.invalid_stored:
        plan.notes.append(f"{judged.invalid_stored} pairs with an invalid stored judgment are left alone "
                          "(`arena judge --retry-invalid` judges them again)")
    if judged.reference_changed:
        plan.notes.append(f"{judged.reference_changed} pairs are judged again: their question's reference "
                          "answer changed")


def format_plan(plan: NightlyPlan) -> str:
    lines = ["arena nightly --dry-run: would do the following (nothing was changed)",
             f"  questions: {plan.questions} in {plan.question_files} file(s)"]
    lines += [f"  note: {note}" for note in plan.notes]
    total = sum(plan.answers_to_generate.values())
    lines.append(f"  answers to generate: {total}")
    lines += [f"    {name}: {n} answers to generate" for name, n in plan.answers_to_generate.items()]
    if plan.judge_key is not None:
        budget = ("no budget" if plan.budget is None
                  else f"budget {plan.budget} per run: {plan.judge_calls_tonight} tonight")
        lines.append(f"  judge key {plan.judge_key}: {plan.battles_to_judge} battles to judge, "
                     f"{plan.judge_calls} judge calls estimated ({budget})")
    lines.append("  then: refit the ratings, store a snapshot if the battles changed, write the exports")
    return "\n".join(lines)
