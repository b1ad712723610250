"""`arena nightly --dry-run`: what a run would do now, read from the config, the question files
and the store, never writing. The judge stage is planned by the judge's own `build_plan`, as
`arena judge --dry-run` plans it."""

from __future__ import annotations

from dataclasses import dataclass, field

from arena.answers import expected_fingerprints
from arena.config import ArenaConfig
from arena.errors import ArenaError, StoreError
from arena.judge.jury import budget_share
from arena.judge.key import judge_rubric
from arena.judge.plan import build_plan
from arena.questions.loading import load_questions
from arena.questions.schema import Question
from arena.store.answers import load_current_answers
from arena.store.engine import Store, open_store, redacted_url


@dataclass(frozen=True)
class JudgePlan:
    """One judge's pending work (a jury has one per judge)."""

    judge: str
    judge_key: str
    battles_to_judge: int
    judge_calls: int


@dataclass
class NightlyPlan:
    """What a run would do now. Battles of answers not generated yet count as pending."""

    questions: int
    question_files: int
    answers_to_generate: dict[str, int]
    battles_to_judge: int = 0
    judge_calls: int = 0  # one per order of each pending battle, minus valid stored judgments
    budget: int | None = None
    judge_key: str | None = None  # the first judge's (a jury's judges are in `judges`)
    judges: list[JudgePlan] = field(default_factory=list)
    store_exists: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def judge_calls_tonight(self) -> int:
        return sum(self.judge_calls_per_judge_tonight())

    def judge_calls_per_judge_tonight(self) -> list[int]:
        """Each judge's calls tonight: a jury shares the one budget as `arena judge` does
        (`arena.judge.jury.budget_share`), each judge taking at most its pending calls."""
        if self.budget is None:
            return [j.judge_calls for j in self.judges]
        tonight, left = [], self.budget
        for position, judge in enumerate(self.judges):
            calls = min(judge.judge_calls, budget_share(left, len(self.judges) - position))
            tonight.append(calls)
            left -= calls
        return tonight


def plan_nightly(config: ArenaConfig) -> NightlyPlan:
    """Read the config, question files and store (never writing) and count the pending work."""
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
            plan.notes.append(f"no store yet at {redacted_url(config.storage_url)}: everything is pending")
        _plan_judging(config, store, questions, plan)
    finally:
        if store is not None:
            store.close()
    return plan


def _plan_judging(config: ArenaConfig, store: Store | None, questions: list[Question], plan: NightlyPlan) -> None:
    """The judge stage's plan, as `arena judge --dry-run` makes it (`arena.judge.plan.build_plan`),
    with the pairs whose answers tonight's generate stage makes counted as pending: two judgments each."""
    if not config.jury:
        plan.notes.append("no judge configured: the judge stage would fail")
        return
    for judge in config.jury:
        _plan_one_judge(config.with_judge(judge), store, questions, plan)


def _plan_one_judge(config: ArenaConfig, store: Store | None, questions: list[Question], plan: NightlyPlan) -> None:
    try:
        judged = build_plan(config, store, judge_rubric(config), questions)
    except ArenaError as exc:
        plan.notes.append(f"the judge stage would fail: {exc}")
        return
    one = JudgePlan(judge=config.jury[0].name, judge_key=judged.judge_key,
                    battles_to_judge=len(judged.jobs) + judged.missing_answers,
                    judge_calls=judged.pending + 2 * judged.missing_answers)
    plan.judges.append(one)
    plan.judge_key = plan.judge_key or one.judge_key
    plan.battles_to_judge += one.battles_to_judge
    plan.judge_calls += one.judge_calls
    if config.pairs.mode == "adaptive" and one.judge_calls:
        plan.notes.append(f"judge {one.judge}: pairs.mode adaptive: at most {one.judge_calls} judge calls; the "
                          "rounds stop once the ranking is settled, usually far sooner")
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
    shared = " shared by the jury" if len(plan.judges) > 1 else ""
    for judge, tonight in zip(plan.judges, plan.judge_calls_per_judge_tonight(), strict=True):
        budget = "no budget" if plan.budget is None else f"budget {plan.budget} per run{shared}: {tonight} tonight"
        name = f"judge {judge.judge}, " if len(plan.judges) > 1 else ""
        lines.append(f"  {name}judge key {judge.judge_key}: {judge.battles_to_judge} battles to judge, "
                     f"{judge.judge_calls} judge calls estimated ({budget})")
    lines.append("  then: refit the ratings, store a snapshot if the battles changed, write the exports")
    return "\n".join(lines)
