"""The stages of a nightly run, in order: questions -> generate -> judge -> rate -> export -> cost.

Each stage is itself incremental (answers are keyed by fingerprints, judgments by the judge key,
a snapshot is stored only when the battles changed), so a second run with nothing new makes no
model calls and stores nothing, and a run killed at any moment is finished by the next one.
Each stage's own modules are imported when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arena.config import ArenaConfig
from arena.errors import ArenaError
from arena.files import write_atomic
from arena.store.engine import Store
from arena.store.runlock import RunLock

if TYPE_CHECKING:
    from arena.ratings.report import RatingReport


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


EXPORT_FORMATS = {"leaderboard.csv": "csv", "leaderboard.json": "json", "leaderboard.md": "markdown"}


def default_stages() -> list[Stage]:
    return [
        Stage("questions", stage_questions),
        Stage("generate", stage_generate, needs=("questions",)),
        Stage("judge", stage_judge, needs=("questions",)),
        Stage("rate", stage_rate, needs=("questions",)),  # current answers are those of the current texts
        Stage("export", stage_export, needs=("rate",)),
        Stage("cost", stage_cost),
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

    from arena.generate import GenerateRequest, run_generate

    summary = run_generate(context.config, GenerateRequest(session=context.run_id), out=io.StringIO(),
                           progress=sys.stderr.isatty())
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
    """Judge the pending battles of every judge (a jury judges in turn), all within the one nightly
    budget (the jury shares it: `arena.judge.jury`)."""
    from arena.judge.jury import run_judges
    from arena.judge.plan import JudgeRequest

    request = JudgeRequest(max_judgments=context.config.nightly.max_judgments, session=context.run_id)
    summaries = run_judges(context.config, request, progress=sys.stderr.isatty())
    counts: dict[str, Any] = {name: sum(getattr(s, name) for s in summaries) for name in (
        "judgments", "judged", "reused", "model_calls", "invalid", "deferred", "missing_answers", "errors")}
    counts["battles"] = counts.pop("judged")
    if len(summaries) > 1:
        counts["per_judge"] = {s.judge: {"judgments": s.judgments, "battles": s.judged, "reused": s.reused,
                                         "errors": s.errors} for s in summaries}
    texts = []
    for summary in summaries:
        if summary.not_run:
            texts.append(f"{summary.judge}: {summary.not_run}")
            continue
        text = (f"{summary.judged} battles judged ({summary.judgments} judgments, "
                f"{summary.model_calls} calls), {summary.reused} already done")
        if summary.deferred:
            text += f", {summary.deferred} judgments left for the next run (budget)"
        if summary.missing_answers:
            text += f", {summary.missing_answers} pairs lack an answer"
        if summary.adaptive_stop:
            text += f"; adaptive, {summary.adaptive_stop}"
        texts.append(f"{summary.judge}: {text}" if len(summaries) > 1 else text)
    if all(s.failed and s.judgments == 0 for s in summaries):
        raise ArenaError("; ".join(f"judge {s.judge}: {s.errors} requests failed: " + "; ".join(s.error_examples)
                                   for s in summaries))
    who = (lambda s: f"judge {s.judge}: ") if len(summaries) > 1 else (lambda s: "")
    skipped = [f"{who(s)}{s.errors} judge requests failed: {'; '.join(s.error_examples)}"
               for s in summaries if s.failed]
    return StageOutcome(counts, "; ".join(texts), skipped)


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


def stage_cost(context: RunContext) -> StageOutcome:
    """What this run's generate and judge stages spent, from the cost ledger (`ratings/cost.py`)."""
    from arena.ratings.cost import read_session_cost
    from arena.ratings.render_cost import session_line

    total = read_session_cost(context.store, context.run_id)
    if total is None:
        return StageOutcome({"runs": 0}, session_line(None))
    counts = {"runs": total.runs, "prompt_tokens": total.prompt_tokens,
              "completion_tokens": total.completion_tokens, "gpu_hours": round(total.gpu_hours, 6),
              "money_usd": None if total.money is None else round(total.money, 6)}
    return StageOutcome(counts, session_line(total))
