"""What `arena judge` would judge now: the request, the pairs, what is stored, the plan.

`build_plan` reads the store (no model is loaded): pairs whose two judgments are valid are
complete (reused); pairs with a stored invalid judgment are skipped unless `retry_invalid`; a
pair whose question's reference answer changed since its judgments is judged again; the rest are
pending, at most `max_judgments` judgments per run, in prompt order (question by question, pair
by pair, the two orders adjacent). `arena judge`, `arena judge --dry-run` and `arena nightly
--dry-run` all plan here, so a dry run and a real run cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from arena.answers import expected_fingerprints
from arena.config import ArenaConfig, JudgeConfig, ModelConfig
from arena.errors import ArenaError, ConfigError
from arena.fingerprint import fingerprint
from arena.judge.key import judge_key_for, judge_rubric, require_judge
from arena.judge.pairs import ORDERS, Order, select_pairs
from arena.judge.rubric import Rubric
from arena.judge.truncate import FittedAnswers
from arena.questions.loading import load_questions
from arena.questions.schema import Question
from arena.store.answers import StoredAnswer, load_current_answers
from arena.store.engine import Store, open_store
from arena.store.judgments import StoredJudgment, load_judgments
from arena.store.leases import DEFAULT_LEASE_S

PairsMode = Literal["all", "sample", "adaptive"]
Selected = tuple[str, str, str]  # (question id, X, Y), X < Y


@dataclass(frozen=True)
class JudgeRequest:
    """What a judging run is asked to do; unset fields take arena.yaml's `pairs` settings."""

    models: tuple[str, ...] | None = None  # the models whose pairs to judge (None: all configured)
    pairs: PairsMode | None = None  # all pairs on every question, or a sample of pairs per question
    per_question: int | None = None  # pairs per question for `sample`
    max_judgments: int | None = None  # at most this many judgments this run; the rest wait
    seed: int | None = None  # of the `sample` draw
    retry_invalid: bool = False  # judge again the pairs whose stored judgment is invalid
    session: str | None = None  # the nightly run id, recorded on the cost ledger's run
    only: frozenset[Selected] | None = None  # judge only these comparisons (an adaptive round)
    batch_pairs: int = 256  # pairs claimed (leased) at a time from the store, for concurrent workers
    lease_s: float = DEFAULT_LEASE_S  # a killed worker's pairs are taken over by others after this


@dataclass
class PairJob:
    """One (question, X, Y) with X < Y: its stored judgments and the orders to judge now."""

    question: Question
    x: StoredAnswer
    y: StoredAnswer
    stored: dict[Order, StoredJudgment]
    todo: list[Order]
    # filled while running: order -> (judgment id, verdict or None)
    final: dict[Order, tuple[int, str | None]] = field(default_factory=dict)
    fitted: FittedAnswers | None = None
    closed: bool = False  # both orders final and counted
    stale: set[Order] = field(default_factory=set)  # stored orders judged with another reference

    def answer_ids(self, order: Order) -> tuple[int, int]:
        """(answer shown as A, answer shown as B)."""
        return (self.x.id, self.y.id) if order == "ab" else (self.y.id, self.x.id)

    def models(self, order: Order) -> tuple[str, str]:
        return (self.x.model, self.y.model) if order == "ab" else (self.y.model, self.x.model)


@dataclass(frozen=True)
class PlannedJudgment:
    """A judgment a run would make: one order of one pair (no model call made to plan it)."""

    question_id: str
    model_a: str  # shown as Response A
    model_b: str  # shown as Response B
    answer_a_id: int
    answer_b_id: int
    retry_of: int | None  # the stored judgment this would overwrite
    reference_changed: bool = False  # it is overwritten because the question's reference changed


@dataclass
class Plan:
    judge_key: str
    jobs: list[PairJob]  # pairs with orders to judge now
    complete: list[PairJob]  # pairs whose two judgments are stored and valid
    pairs_selected: int = 0
    missing_answers: int = 0
    invalid_stored: int = 0  # pairs skipped: a stored judgment is invalid
    deferred: int = 0  # judgments left for a later run by max_judgments
    reference_changed: int = 0  # pairs judged again: their question's reference answer changed

    @property
    def pending(self) -> int:
        return sum(len(job.todo) for job in self.jobs)


def build_plan(config: ArenaConfig, store: Store | None, rubric: Rubric, question_list: Sequence[Question],
               request: JudgeRequest = JudgeRequest()) -> Plan:
    """What a run of `request` would judge now, from the store (None: no store yet, nothing
    answered or judged). Both `arena judge`, its dry run and `arena nightly --dry-run` plan here."""
    judge = require_judge(config)
    judge_key = judge_key_for(judge, rubric)
    models = selected_models(config, request)
    if len(models) < 2:
        raise ConfigError(f"{config.path}: judging needs at least two models, got {len(models)}")
    if request.max_judgments is not None and request.max_judgments < 1:
        raise ArenaError("--max-judgments must be at least 1")
    current = expected_fingerprints(config, models, question_list)
    answers = load_current_answers(store, current) if store is not None else {}
    by_id = {q.id: q for q in question_list}
    mode = request.pairs or config.pairs.mode
    selected = select_pairs(
        [q.id for q in question_list], [m.name for m in models],
        mode="sample" if mode == "sample" else "all",  # adaptive rounds choose among all comparisons
        per_question=request.per_question if request.per_question is not None else config.pairs.per_question,
        seed=request.seed if request.seed is not None else config.pairs.seed,
    )
    if request.only is not None:
        selected = [comparison for comparison in selected if comparison in request.only]
    stored = load_judgments(store, judge_key, by_id) if store is not None else {}
    plan = Plan(judge_key=judge_key, jobs=[], complete=[], pairs_selected=len(selected))
    for question_id, name_x, name_y in selected:
        x, y = answers.get((name_x, question_id)), answers.get((name_y, question_id))
        if x is None or y is None:
            plan.missing_answers += 1
            continue
        job = PairJob(question=by_id[question_id], x=x, y=y, stored={}, todo=[])
        reference_fp = reference_fingerprint(question_reference(job.question, judge))
        for order in ORDERS:
            found = stored.get(job.answer_ids(order))
            if found is not None:
                job.stored[order] = found
                if found.reference_fingerprint != reference_fp:
                    job.stale.add(order)
        live = {o: j for o, j in job.stored.items() if o not in job.stale}
        if any(not j.valid for j in live.values()) and not request.retry_invalid:
            plan.invalid_stored += 1
            continue
        plan.reference_changed += bool(job.stale)
        job.todo = [o for o in ORDERS if o not in live or not live[o].valid]
        (plan.jobs if job.todo else plan.complete).append(job)
    _cap(plan, request.max_judgments)
    return plan


def _cap(plan: Plan, max_judgments: int | None) -> None:
    """Keep the first `max_judgments` pending judgments, in prompt order."""
    if max_judgments is None:
        return
    room = max_judgments
    for job in plan.jobs:
        kept = job.todo[:max(0, room)]
        plan.deferred += len(job.todo) - len(kept)
        room -= len(kept)
        job.todo = kept
    plan.jobs = [job for job in plan.jobs if job.todo]


def selected_models(config: ArenaConfig, request: JudgeRequest) -> list[ModelConfig]:
    """The request's models (every configured one by default); ConfigError naming an unknown one."""
    return config.select_models(list(request.models) if request.models else None)


def plan_judgments(config: ArenaConfig, request: JudgeRequest = JudgeRequest()) -> list[PlannedJudgment]:
    """The judgments `run_judge(config, request)` would make, without calling any model."""
    rubric = judge_rubric(config)
    selected_models(config, request)  # an unknown name fails before the store is made
    question_list = load_questions(config.questions)
    store = open_store(config.storage_url)
    try:
        plan = build_plan(config, store, rubric, question_list, request)
    finally:
        store.close()
    return planned_judgments(plan)


def planned_judgments(plan: Plan) -> list[PlannedJudgment]:
    """The judgments of a plan, in the order a run sends them."""
    planned = []
    for job in plan.jobs:
        for order in job.todo:
            model_a, model_b = job.models(order)
            answer_a, answer_b = job.answer_ids(order)
            previous = job.stored.get(order)
            planned.append(PlannedJudgment(job.question.id, model_a, model_b, answer_a, answer_b,
                                           retry_of=previous.id if previous else None,
                                           reference_changed=order in job.stale))
    return planned


def question_reference(question: Question, judge: JudgeConfig) -> str | None:
    """The reference answer the judge reads for `question`: none when absent or turned off."""
    return question.reference if judge.reference_answers and question.reference else None


def reference_fingerprint(reference: str | None) -> str | None:
    return fingerprint(reference) if reference is not None else None


def format_planned(planned: Iterable[PlannedJudgment]) -> list[str]:
    """One line per planned judgment, for dry runs."""
    def note(p: PlannedJudgment) -> str:
        if p.reference_changed:
            return " [reference changed]"
        return " [retry]" if p.retry_of else ""

    return [f"{p.question_id}: {p.model_a} (A) vs {p.model_b} (B){note(p)}" for p in planned]
