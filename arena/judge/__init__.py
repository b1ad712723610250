"""Stage 2: a Prometheus 2 judge compares two answers under a rubric; verdicts become battles.

Modules, top to bottom: `rubric` (criteria as data), `prompt` (the trained prompt format),
`sanitize` (untrusted answers made inert), `truncate` (fitting the judge's context), `verdict`
(strict parsing, the constrained-decoding regex, P(A)), `pairs` (which pairs, the both-orders
rule), `key` (the judge key), `records` (store reads and writes), `run` (the stage itself).
"""

from arena.judge.key import current_judge_key
from arena.judge.run import JudgeSummary, PlannedJudgment, plan_judgments, run_judge

__all__ = ["JudgeSummary", "PlannedJudgment", "current_judge_key", "plan_judgments", "run_judge"]
