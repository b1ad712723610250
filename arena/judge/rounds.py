"""`arena judge --pairs adaptive` (`pairs.mode: adaptive`): judging in rounds the ranking asks for.

Each round is planned from the store: the battles of the current judge key and the comparisons
still open, exactly as `plan.build_plan` sees them; `adaptive.plan_round` chooses the round's
(question, pair) comparisons where they most settle the ranking, and the round is judged through
the normal run (`run.run_judge` with `JudgeRequest.only`): resumable, each judgment committed as
it lands. Then the next round refits on what was stored. It stops when `plan_round` says so
(the ranking settled, nothing open, the budget `--max-judgments` used) or when a round makes no
judgment at all (the backend failed it), and the summary says why. A later invocation continues
from the stored battles; only open comparisons are ever planned, so no (question, pair, order)
is judged twice.

The backend is made once for all the rounds (a vLLM judge starts one engine). A jury runs the
rounds judge by judge, each on its own battles (`run.run_judges`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from arena.backends.base import Backend
from arena.config import ArenaConfig
from arena.judge.adaptive import AdaptiveSettings, Battle, Budget, Comparison, RoundPlan, plan_round
from arena.judge.key import judge_key_for, judge_rubric, require_judge
from arena.judge.pairs import battle_winner
from arena.judge.plan import JudgeRequest, PlannedJudgment, Selected, build_plan, planned_judgments
from arena.judge.rubric import Rubric
from arena.judge.run import JudgeSummary, make_backend, run_judge
from arena.questions.loading import load_questions
from arena.questions.schema import Question
from arena.store.answers import sync_questions
from arena.store.engine import Store, open_store

NO_PROGRESS = "stopped: a round made no judgment (the judge's requests failed); run again to continue"

_COUNTED = ("judged", "invalid", "too_long", "judgments", "invalid_judgments", "retries", "model_calls",
            "errors", "truncated", "disagreements")


def adaptive_settings(config: ArenaConfig) -> AdaptiveSettings:
    """The planner's settings from `pairs:`. They choose which comparisons are judged, not how a
    judgment is made, so they are no part of the judge key (`arena.judge.key`)."""
    pairs = config.pairs
    return AdaptiveSettings(round_judgments=pairs.round_judgments, min_round_judgments=pairs.min_round_judgments,
                            warmup_battles_per_pair=pairs.warmup_battles_per_pair, confidence=pairs.confidence,
                            tie_margin_elo=pairs.tie_margin_elo, stop_when_settled=pairs.stop_when_settled,
                            seed=pairs.seed)


@dataclass(frozen=True)
class Board:
    """What the store holds for one judge key, as the adaptive planner reads it."""

    models: tuple[str, ...]
    battles: tuple[Battle, ...]
    open: tuple[Comparison, ...]
    categories: dict[str, str | None]
    complete: int  # comparisons with both orders judged and valid
    invalid_stored: int
    missing_answers: int


def read_board(config: ArenaConfig, store: Store | None, rubric: Rubric, questions: Sequence[Question],
               request: JudgeRequest) -> Board:
    plan = build_plan(config, store, rubric, questions, replace(request, pairs="all", max_judgments=None, only=None))
    battles = tuple(Battle(job.question.id, job.x.model, job.y.model,
                           battle_winner(job.stored["ab"].verdict or "", job.stored["ba"].verdict or ""))
                    for job in plan.complete)
    models = tuple(m.name for m in config.select_models(list(request.models) if request.models else None))
    return Board(models=models, battles=battles,
                 open=tuple(Comparison(job.question.id, job.x.model, job.y.model) for job in plan.jobs),
                 categories={q.id: q.category for q in questions}, complete=len(plan.complete),
                 invalid_stored=plan.invalid_stored, missing_answers=plan.missing_answers)


def next_round(config: ArenaConfig, board: Board, max_judgments: int | None, used: int) -> RoundPlan:
    return plan_round(board.models, board.battles, board.open, board.categories,
                      Budget(max_judgments, used), adaptive_settings(config))


def run_adaptive(config: ArenaConfig, request: JudgeRequest = JudgeRequest(), *, backend: Backend | None = None,
                 progress: bool = True) -> JudgeSummary:
    """Judge in adaptive rounds until settled, exhausted or out of budget; one summary of all rounds."""
    started = time.perf_counter()
    judge = require_judge(config)
    rubric = judge_rubric(config)
    questions = load_questions(config.questions)
    owned = backend is None
    store = open_store(config.storage_url)
    try:
        sync_questions(store, questions)
        board = read_board(config, store, rubric, questions, request)
        total = JudgeSummary(judge_key="", judge=judge.name, rubric=f"{rubric.id} v{rubric.version}",
                             pairs_selected=board.complete + len(board.open), reused=board.complete,
                             invalid_stored=board.invalid_stored, missing_answers=board.missing_answers,
                             adaptive_rounds=0)
        used = 0
        while True:
            planned = next_round(config, board, request.max_judgments, used)
            total.adaptive_stop = planned.status.reason
            if planned.status.stopped or not planned.comparisons:
                break
            backend = backend or make_backend(judge)
            remaining = None if request.max_judgments is None else request.max_judgments - used
            only = _selected(planned)
            summary = run_judge(config, replace(request, pairs="all", only=only, max_judgments=remaining),
                                backend=backend, progress=progress)
            _add(total, summary)
            total.adaptive_rounds = (total.adaptive_rounds or 0) + 1
            used += summary.judgments
            if summary.judgments == 0:
                total.adaptive_stop = NO_PROGRESS
                break
            board = read_board(config, store, rubric, questions, request)
        total.judge_key = judge_key_for(judge, rubric)
    finally:
        store.close()
        if owned and backend is not None:
            backend.close()
    total.elapsed_s = time.perf_counter() - started
    return total


def _selected(planned: RoundPlan) -> frozenset[Selected]:
    return frozenset((c.question_id, c.model_x, c.model_y) for c in planned.comparisons)


def _add(total: JudgeSummary, summary: JudgeSummary) -> None:
    for name in _COUNTED:
        setattr(total, name, getattr(total, name) + getattr(summary, name))
    total.constrained = summary.constrained if summary.constrained is not None else total.constrained
    total.error_examples = (total.error_examples + summary.error_examples)[:3]


def plan_first_round(config: ArenaConfig, request: JudgeRequest = JudgeRequest()) -> tuple[list[PlannedJudgment], str]:
    """The judgments the first adaptive round would make now (a dry run), and the ranking's status."""
    rubric = judge_rubric(config)
    questions = load_questions(config.questions)
    store = open_store(config.storage_url)
    try:
        board = read_board(config, store, rubric, questions, request)
        planned = next_round(config, board, request.max_judgments, 0)
        if planned.status.stopped or not planned.comparisons:
            return [], planned.status.reason
        only = _selected(planned)
        plan = build_plan(config, store, rubric, questions, replace(request, pairs="all", only=only,
                                                                      max_judgments=request.max_judgments))
    finally:
        store.close()
    return planned_judgments(plan), f"first adaptive round of {planned.judgments} judgments; {planned.status.reason}"
