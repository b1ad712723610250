"""Stage 2: a Prometheus 2 judge compares two answers under a rubric; verdicts become battles.

Modules, top to bottom: `rubric` (criteria as data), `prompt` (the trained prompt format),
`sanitize` (untrusted answers made inert), `truncate` (fitting the judge's context), `verdict`
(strict parsing, the constrained-decoding regex, P(A)), `pairs` (which pairs, the both-orders
rule), `key` (the judge key), `plan` (the request and what is left to judge), `writer`
(committing judgments and battles), `run` (the stage itself), `adaptive` (choosing the next
round's pairs), `rounds` (judging in adaptive rounds), `jury` (every judge in turn), and judge
validation against human labels: `validation_data` (the labelled pairs), `validation_report`
(agreement and its intervals), `validate` (the command).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.judge.jury import run_judges
    from arena.judge.key import current_judge_key, jury_judge_keys
    from arena.judge.plan import JudgeRequest, PlannedJudgment, plan_judgments
    from arena.judge.run import JudgeSummary, run_judge

# Loaded on first use: `arena rate` needs only the judge key, and importing the judging stage
# (the adaptive planner pulls in scipy.special) would cost it a tenth of a second.
_EXPORTS = {"run_judges": "jury", "current_judge_key": "key", "jury_judge_keys": "key",
            "JudgeRequest": "plan", "PlannedJudgment": "plan", "plan_judgments": "plan",
            "JudgeSummary": "run", "run_judge": "run"}

__all__ = ["JudgeRequest", "JudgeSummary", "PlannedJudgment", "current_judge_key", "jury_judge_keys",
           "plan_judgments", "run_judge", "run_judges"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"arena.judge.{_EXPORTS[name]}"), name)
