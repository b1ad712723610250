"""`arena judge`: every judge of the project in turn (a jury), each with all pairs or in adaptive rounds.

A jury's judges are independent runs under their own judge keys: each is planned, resumable and
committed on its own (`run.run_judge`, or `rounds.run_adaptive` for `pairs.mode: adaptive`), so a
judge that fails leaves the others' work stored.

A judgment budget (`--max-judgments`, `nightly.max_judgments`) is one budget for the whole run,
shared by the jury in equal shares: a jury board rates a (question, pair) only once more than half
of the judges have judged it, so a budget spent judge after judge would leave the last judges
nothing and the jury no battle. Each judge gets an equal share of what is left for it and the
judges after it; what a judge does not use (nothing pending, a settled ranking) is shared again
among the judges after it. A share is whole battles (two judgments) where the budget allows,
rounded up, so the earlier judges take a remainder and a budget smaller than the jury leaves the
last judges out: they are reported as not run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from arena.backends.base import Backend
from arena.config import ArenaConfig, JudgeConfig
from arena.judge.key import jury_judge_keys, require_judge
from arena.judge.plan import JudgeRequest
from arena.judge.rounds import run_adaptive
from arena.judge.run import JudgeSummary, run_judge


def budget_share(left: int, judges_left: int) -> int:
    """One judge's share of `left` judgments, with `judges_left` judges (itself included) to share them:
    an equal share in whole battles (two judgments each), rounded up, never more than is left."""
    return min(left, 2 * math.ceil(left / (2 * judges_left)))


def run_judges(config: ArenaConfig, request: JudgeRequest = JudgeRequest(), *, judge_name: str | None = None,
               backends: Mapping[str, Backend] | None = None, progress: bool = True) -> list[JudgeSummary]:
    """Run every judge of the project (a jury) in turn, or only `judge_name`; one summary each.

    Each judge is a whole `run_judge` under its own judge key: planned, resumable and committed
    on its own, so a judge that fails leaves the others' work stored. `request.max_judgments` is
    the budget of the whole run, not of each judge: the judges share it in equal shares, what one
    leaves unused going to those after it (`budget_share`); judges left without any are not run,
    and their summaries say so. `backends` replaces the configured backends by judge name (tests)."""
    keys = dict(jury_judge_keys(config)) if len(config.jury) > 1 else {}  # one key for two judges: refused first
    adaptive = (request.pairs or config.pairs.mode) == "adaptive"
    judges = config.select_judges(judge_name)
    budget = request.max_judgments
    summaries: list[JudgeSummary] = []
    used = 0
    for position, judge in enumerate(judges):
        if budget is not None and used >= budget:
            summaries.append(_not_run(judge, keys.get(judge.name, ""), budget))
            continue
        share = None if budget is None else budget_share(budget - used, len(judges) - position)
        backend = (backends or {}).get(judge.name)
        run = run_adaptive if adaptive else run_judge
        summary = run(config.with_judge(judge), replace(request, max_judgments=share), backend=backend,
                      progress=progress)
        summaries.append(summary)
        used += summary.judgments
    if not summaries:
        require_judge(config)  # no judge configured: its one-line error
    return summaries


def not_run_reason(budget: int) -> str:
    return f"not run: the judgment budget of {budget} was used by earlier judges"


def _not_run(judge: JudgeConfig, judge_key: str, budget: int) -> JudgeSummary:
    return JudgeSummary(judge_key=judge_key, judge=judge.name, rubric="", not_run=not_run_reason(budget))
