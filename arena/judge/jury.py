"""`arena judge`: every judge of the project in turn (a jury), each with all pairs or in adaptive rounds.

A jury's judges are independent runs under their own judge keys: each is planned, resumable and
committed on its own (`run.run_judge`, or `rounds.run_adaptive` for `pairs.mode: adaptive`), so a
judge that fails leaves the others' work stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from arena.backends.base import Backend
from arena.config import ArenaConfig
from arena.judge.key import jury_judge_keys, require_judge
from arena.judge.plan import JudgeRequest
from arena.judge.rounds import run_adaptive
from arena.judge.run import JudgeSummary, run_judge


def run_judges(config: ArenaConfig, request: JudgeRequest = JudgeRequest(), *, judge_name: str | None = None,
               backends: Mapping[str, Backend] | None = None, progress: bool = True) -> list[JudgeSummary]:
    """Run every judge of the project (a jury) in turn, or only `judge_name`; one summary each.

    Each judge is a whole `run_judge` under its own judge key: planned, resumable and committed
    on its own, so a judge that fails leaves the others' work stored. `backends` replaces the
    configured backends by judge name (tests)."""
    if len(config.jury) > 1:
        jury_judge_keys(config)  # two judges under one key would share their judgments: refused first
    adaptive = (request.pairs or config.pairs.mode) == "adaptive"
    summaries = []
    for judge in config.select_judges(judge_name):
        backend = (backends or {}).get(judge.name)
        if adaptive:
            summaries.append(run_adaptive(config.with_judge(judge), request, backend=backend, progress=progress))
        else:
            summaries.append(run_judge(config.with_judge(judge), request, backend=backend, progress=progress))
    if not summaries:
        require_judge(config)  # no judge configured: its one-line error
    return summaries
