"""Adaptive pair selection: plans never repeat a comparison, rounds stop for the stated reason,
the warm-up covers every pair, a new model is placed first, and a small simulated board reaches
its exhaustive ranking with fewer judgments than exhaustive judging."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from arena.errors import ArenaError
from arena.judge.adaptive import (
    JUDGMENTS_PER_COMPARISON,
    AdaptiveSettings,
    Battle,
    Budget,
    Comparison,
    RoundPlan,
    plan_round,
    ranking_status,
)
from arena.judge.pairs import Winner, battle_winner
from arena.ratings.bt import ALPHA, fit_bt, pair_counts

CATEGORIES = ("cardiology", "neurology", "oncology")


class Simulation:
    """A scripted judge over a fixed board: strengths in Elo, answer noise, position bias."""

    def __init__(self, strengths_elo: dict[str, float], n_questions: int, seed: int = 0, answer_noise: float = 0.5) -> None:
        rng = np.random.default_rng(seed)
        self.models = sorted(strengths_elo)
        self.questions = [f"q{k:03d}" for k in range(n_questions)]
        self.categories = {q: CATEGORIES[k % len(CATEGORIES)] for k, q in enumerate(self.questions)}
        quality = {
            (m, q): ALPHA * strengths_elo[m] + rng.normal(0.0, answer_noise) for m in self.models for q in self.questions
        }
        self.winner: dict[tuple[str, str, str], Winner] = {}
        for q in self.questions:
            for x, y in itertools.combinations(self.models, 2):
                margin = quality[(x, q)] - quality[(y, q)]
                ab = "A" if rng.random() < 1 / (1 + np.exp(-(margin + 0.4))) else "B"
                ba = "A" if rng.random() < 1 / (1 + np.exp(-(-margin + 0.4))) else "B"
                self.winner[(q, x, y)] = battle_winner(ab, ba)

    def all_comparisons(self, models: list[str] | None = None) -> set[Comparison]:
        chosen = self.models if models is None else models
        return {Comparison(q, x, y) for q in self.questions for x, y in itertools.combinations(chosen, 2)}

    def judge(self, comparison: Comparison) -> Battle:
        return Battle(*comparison, self.winner[tuple(comparison)])  # type: ignore[arg-type]

    def exhaustive_ranking(self) -> list[str]:
        return ranking_of(self.models, [self.judge(c) for c in self.all_comparisons()])


def ranking_of(models: list[str], battles: list[Battle]) -> list[str]:
    index = {m: k for k, m in enumerate(models)}
    score = {"model_a": 1.0, "tie": 0.5, "model_b": 0.0}
    theta = fit_bt(
        pair_counts(
            np.array([index[b.model_x] for b in battles]),
            np.array([index[b.model_y] for b in battles]),
            np.array([score[b.winner] for b in battles]),
            len(models),
        )
    )
    return [models[k] for k in np.argsort(-theta, kind="stable")]


def run_rounds(
    sim: Simulation,
    budget: int | None,
    settings: AdaptiveSettings,
    battles: list[Battle] | None = None,
    open_comparisons: set[Comparison] | None = None,
    on_plan: Callable[[RoundPlan, int], None] = lambda plan, used: None,
) -> tuple[list[Battle], list[RoundPlan]]:
    battles = [] if battles is None else battles
    open_comparisons = sim.all_comparisons() if open_comparisons is None else open_comparisons
    plans, used = [], 0
    while True:
        plan = plan_round(sim.models, battles, open_comparisons, sim.categories, Budget(budget, used), settings)
        plans.append(plan)
        on_plan(plan, used)
        if plan.status.stopped:
            return battles, plans
        assert plan.comparisons, "a round that does not stop plans something"
        for comparison in plan.comparisons:
            open_comparisons.remove(comparison)
            battles.append(sim.judge(comparison))
        used += plan.judgments


def unordered(question_id: str, x: str, y: str) -> tuple[str, frozenset[str]]:
    return question_id, frozenset((x, y))


def test_plans_never_repeat_a_comparison_nor_choose_a_judged_one() -> None:
    sim = Simulation({"a": 0.0, "b": 30.0, "c": 60.0, "d": 65.0}, n_questions=40)
    # judged battles come in either orientation; open candidates repeat and include judged ones
    judged = [sim.judge(c) for c in sorted(sim.all_comparisons())[::3]]
    battles = [Battle(b.question_id, b.model_y, b.model_x, b.winner) if k % 2 else b for k, b in enumerate(judged)]
    candidates = sorted(sim.all_comparisons()) * 2 + [Comparison(b.question_id, b.model_y, b.model_x) for b in judged]
    seen = {unordered(*b[:3]) for b in battles}
    used = 0
    settings = AdaptiveSettings(round_judgments=60, min_round_judgments=60, stop_when_settled=False, seed=3)
    while True:
        plan = plan_round(sim.models, battles, candidates, sim.categories, Budget(None, used), settings)
        if plan.status.stopped:
            break
        keys = [unordered(*c) for c in plan.comparisons]
        assert len(keys) == len(set(keys)), "a comparison chosen twice in one round"
        assert not set(keys) & seen, "a comparison already judged (in some order) was chosen again"
        assert 0 < plan.judgments <= settings.round_judgments
        seen |= set(keys)
        battles += [sim.judge(c) for c in plan.comparisons]
        used += plan.judgments
    assert plan.status.stop == "exhausted" and not plan.comparisons
    assert seen == {unordered(*c) for c in sim.all_comparisons()}  # everything once, nothing twice
    assert len(battles) == len(sim.all_comparisons())


def test_rounds_run_to_the_budget_and_say_so() -> None:
    sim = Simulation({"a": 0.0, "b": 5.0, "c": 10.0}, n_questions=200)  # far too close to settle
    settings = AdaptiveSettings(round_judgments=100, min_round_judgments=100)
    battles, plans = run_rounds(sim, budget=530, settings=settings)
    assert [plan.judgments for plan in plans] == [100, 100, 100, 100, 100, 30, 0]
    assert len(battles) * JUDGMENTS_PER_COMPARISON == 530
    assert plans[-1].status.stop == "budget"
    assert plans[-1].status.reason == "stopped: budget of 530 judgments used"
    assert all(not plan.status.stopped for plan in plans[:-1])


def test_a_settled_ranking_stops_early_with_its_reason() -> None:
    sim = Simulation({"a": 0.0, "b": 250.0, "c": 500.0, "d": 750.0}, n_questions=500)
    settings = AdaptiveSettings(round_judgments=200, min_round_judgments=200)
    battles, plans = run_rounds(sim, budget=6000, settings=settings)
    status = plans[-1].status
    assert status.stop == "settled" and status.settled and status.warmed_up
    assert status.reason.startswith("stopped: ranking settled: every adjacent pair separated at 95%")
    assert len(battles) * JUDGMENTS_PER_COMPARISON < 6000 / 2
    assert status.ranking == ("d", "c", "b", "a")
    assert all(pair.z >= status.threshold_z for pair in status.adjacent)
    assert "every adjacent pair of the ranking is separated at 95%" in status.rule
    # the same board without the stop: the settled ranking is reported and rounds go on
    going_on = plan_round(sim.models, battles, sim.all_comparisons() - {Comparison(*b[:3]) for b in battles},
                          sim.categories, Budget(6000, 0), AdaptiveSettings(stop_when_settled=False))
    assert going_on.status.settled and not going_on.status.stopped and going_on.comparisons
    assert going_on.status.reason.startswith("ranking settled (")


def test_a_tie_margin_settles_two_indistinguishable_models() -> None:
    sim = Simulation({"a": 0.0, "b": 1.0, "c": 400.0}, n_questions=400)
    strict = AdaptiveSettings(round_judgments=400, min_round_judgments=400)
    _, strict_plans = run_rounds(sim, budget=2000, settings=strict)
    assert strict_plans[-1].status.stop == "budget"
    tolerant = AdaptiveSettings(round_judgments=400, min_round_judgments=400, tie_margin_elo=60.0)
    _, plans = run_rounds(sim, budget=2000, settings=tolerant)
    status = plans[-1].status
    assert status.stop == "settled", status.reason
    assert "tied within +-60 Elo" in status.reason and "within +-60 Elo" in status.rule
    assert [pair.tied for pair in status.adjacent] == [False, True]


def test_no_open_comparison_left_stops() -> None:
    sim = Simulation({"a": 0.0, "b": 5.0}, n_questions=30)
    battles, plans = run_rounds(sim, budget=None, settings=AdaptiveSettings(stop_when_settled=False))
    assert len(battles) == 30
    assert plans[-1].status.stop == "exhausted"
    assert plans[-1].status.reason.startswith("stopped: no open comparisons left")


def test_plans_are_deterministic_for_a_seed_and_ignore_input_order() -> None:
    sim = Simulation({"a": 0.0, "b": 40.0, "c": 60.0, "d": 200.0, "e": 210.0}, n_questions=60)
    battles = [sim.judge(c) for c in sorted(sim.all_comparisons())[::4]]
    open_comparisons = sorted(sim.all_comparisons() - {Comparison(*b[:3]) for b in battles})
    settings = AdaptiveSettings(round_judgments=300, min_round_judgments=300, seed=7)

    def plan(order_seed: int, seed: int = 7) -> RoundPlan:
        shuffled_battles, shuffled_open = battles[:], open_comparisons[:]
        random.Random(order_seed).shuffle(shuffled_battles)
        random.Random(order_seed).shuffle(shuffled_open)
        chosen = AdaptiveSettings(**{**settings.__dict__, "seed": seed})
        return plan_round(list(reversed(sim.models)), shuffled_battles, shuffled_open, sim.categories, Budget(), chosen)

    first = plan(0)
    assert first.comparisons and first.comparisons == plan(0).comparisons == plan(1).comparisons
    assert first.comparisons == tuple(sorted(first.comparisons))
    assert plan(0, seed=8).comparisons != first.comparisons


def test_the_warm_up_covers_every_pair_evenly_first() -> None:
    sim = Simulation({"a": 0.0, "b": 100.0, "c": 200.0, "d": 300.0, "e": 400.0}, n_questions=50)
    settings = AdaptiveSettings(warmup_battles_per_pair=4, round_judgments=40, min_round_judgments=40)
    first = plan_round(sim.models, [], sim.all_comparisons(), sim.categories, Budget(), settings)
    per_pair = Counter(frozenset((c.model_x, c.model_y)) for c in first.comparisons)
    assert len(per_pair) == 10 and set(per_pair.values()) == {2}  # 20 comparisons over 10 pairs
    assert first.warmup_comparisons == 20 and first.status.reason.startswith("warm-up: 10 pairs have fewer than 4")
    battles = [sim.judge(c) for c in first.comparisons]
    second = plan_round(sim.models, battles, sim.all_comparisons() - set(first.comparisons), sim.categories,
                        Budget(), settings)
    per_pair += Counter(frozenset((c.model_x, c.model_y)) for c in second.comparisons)
    assert set(per_pair.values()) == {4} and second.warmup_comparisons == 20


def test_a_round_spreads_a_pair_over_the_categories() -> None:
    sim = Simulation({"a": 0.0, "b": 3.0}, n_questions=300)  # one pair: everything goes to it
    settings = AdaptiveSettings(round_judgments=120, min_round_judgments=120)
    plan = plan_round(sim.models, [], sim.all_comparisons(), sim.categories, Budget(), settings)
    assert Counter(sim.categories[c.question_id] for c in plan.comparisons) == {c: 20 for c in CATEGORIES}


def test_rounds_grow_with_the_least_judged_model() -> None:
    sim = Simulation({"a": 0.0, "b": 20.0, "c": 40.0, "d": 60.0}, n_questions=600)
    _, plans = run_rounds(sim, budget=7000, settings=AdaptiveSettings(stop_when_settled=False))
    sizes = [plan.judgments for plan in plans]
    assert sizes[:2] == [500, 500] and 500 < sizes[2] < 2000 and max(sizes) == 2000 and sum(sizes) == 7000
    # a new model on a well-judged board: small rounds again until it has battles
    old = [m for m in sim.models if m != "d"]
    board = [sim.judge(c) for c in sim.all_comparisons(old)]
    open_comparisons = sim.all_comparisons() - {Comparison(*b[:3]) for b in board}
    plan = plan_round(sim.models, board, open_comparisons, sim.categories, Budget(), AdaptiveSettings())
    assert plan.judgments == 500


def test_a_new_model_is_placed_first_and_against_its_neighbours() -> None:
    strengths = {"a": 0.0, "b": 150.0, "c": 300.0, "d": 450.0, "e": 600.0, "new": 310.0}
    sim = Simulation(strengths, n_questions=400, seed=2)
    old = [m for m in sim.models if m != "new"]
    old_comparisons = sorted(sim.all_comparisons(old))
    board = [sim.judge(c) for c in random.Random(0).sample(old_comparisons, len(old_comparisons) // 2)]  # ~200 per pair
    open_comparisons = sim.all_comparisons() - {Comparison(*b[:3]) for b in board}
    settings = AdaptiveSettings(round_judgments=400, min_round_judgments=400)
    warmup = plan_round(sim.models, board, open_comparisons, sim.categories, Budget(), settings)
    assert warmup.warmup_comparisons == 5 * settings.warmup_battles_per_pair  # only the new model's pairs are short
    first_opponents = Counter(c.model_y if c.model_x == "new" else c.model_x for c in warmup.comparisons if "new" in c[1:])
    assert set(first_opponents) == set(old) and min(first_opponents.values()) >= settings.warmup_battles_per_pair
    battles = board + [sim.judge(c) for c in warmup.comparisons]
    open_comparisons -= set(warmup.comparisons)
    placing = plan_round(sim.models, battles, open_comparisons, sim.categories, Budget(), settings)
    opponents = Counter(c.model_y if c.model_x == "new" else c.model_x for c in placing.comparisons if "new" in c[1:])
    assert sum(opponents.values()) >= 0.8 * len(placing.comparisons)  # the new model's pairs come first
    assert opponents.most_common(1)[0][0] == "c"  # against the model nearest its rating
    assert opponents["c"] > 5 * (opponents["a"] + opponents["e"])  # and hardly against far ones


def test_battles_sharing_a_question_widen_the_intervals() -> None:
    """Answer-level noise makes a question's battles agree; the clustered covariance sees it."""
    sim = Simulation({"a": 0.0, "b": 50.0, "c": 100.0}, n_questions=300, answer_noise=3.0)
    shared = [sim.judge(c) for c in sorted(sim.all_comparisons())]
    alone = [Battle(f"{b.question_id}/{b.model_x}/{b.model_y}", *b[1:]) for b in shared]  # as if independent
    clustered = ranking_status(sim.models, shared, [], sim.categories)
    independent = ranking_status(sim.models, alone, [], {})
    assert clustered.design_effect > 1.3 * independent.design_effect
    assert clustered.estimates[0].standard_error_elo > 1.1 * independent.estimates[0].standard_error_elo


def test_bad_input_is_a_one_line_error() -> None:
    with pytest.raises(ArenaError, match=r"open comparison \(q1, a, zeta\) names a model not on the board: zeta"):
        plan_round(["a", "b"], [], [Comparison("q1", "a", "zeta")], {})
    with pytest.raises(ArenaError, match=r"battle \(q1, a, a\) pairs a model with itself"):
        plan_round(["a", "b"], [Battle("q1", "a", "a", "tie")], [], {})
    with pytest.raises(ArenaError, match="unknown winner 'x'"):
        plan_round(["a", "b"], [Battle("q1", "a", "b", "x")], [], {})  # type: ignore[arg-type]
    with pytest.raises(ArenaError, match="min_round_judgments <= round_judgments"):
        AdaptiveSettings(round_judgments=100, min_round_judgments=200)
    lonely = plan_round(["a"], [], [], {})
    assert lonely.status.stop == "too-few-models" and not lonely.comparisons


def test_adaptive_reaches_the_exhaustive_ranking_with_fewer_judgments() -> None:
    """5 models, 300 questions: adaptive holds the exhaustive board's ranking from a third of its judgments on."""
    sim = Simulation({"a": 0.0, "b": 60.0, "c": 90.0, "d": 200.0, "e": 400.0}, n_questions=300, seed=0)
    exhaustive = tuple(sim.exhaustive_ranking())
    total = JUDGMENTS_PER_COMPARISON * len(sim.all_comparisons())
    seen: list[tuple[int, tuple[str, ...], bool]] = []  # judgments so far, fitted ranking, settled
    settings = AdaptiveSettings(round_judgments=100, min_round_judgments=100, stop_when_settled=False)
    battles, _ = run_rounds(
        sim, total // 2, settings, on_plan=lambda plan, used: seen.append((used, plan.status.ranking, plan.status.settled))
    )
    assert seen[-1][1] == exhaustive
    wrong_until = max((judgments for judgments, ranking, _ in seen if ranking != exhaustive), default=0)
    assert wrong_until <= 0.35 * total, f"the ranking still differed at {wrong_until} of {total} judgments"
    settled = [(judgments, ranking) for judgments, ranking, is_settled in seen if is_settled]
    assert settled and settled[0][1] == exhaustive and settled[0][0] <= 0.35 * total  # it stops, and rightly
    per_pair = Counter(frozenset(b[1:3]) for b in battles)
    assert per_pair[frozenset(("b", "c"))] > 3 * per_pair[frozenset(("a", "e"))]  # spent where it was close
