"""Benchmark: adaptive pair selection against uniform random selection on a Med42-sized board.

A simulated board: 8 models, 4,000 questions in 10 categories, every pair on every question
judged in both orders (224,000 judgments, the exhaustive board). The truth is drawn from a seed:
each model has a strength (Elo) and a small per-category effect; each answer has its own quality,
strength plus answer-level noise, shared by every battle on that question. A scripted judge
picks Response A with probability logistic(quality_A - quality_B + position bias), each order on
its own; a model must win both orders to win the battle (`arena.judge.pairs.battle_winner`), a
split is a tie. All outcomes are drawn up front, so every method reveals the same battles.

Methods, each revealing battles of that exhaustive board, `--runs` (5) times per seed, since
one lucky run can look very good: per seed the median run's judgments are compared.
- adaptive: `arena.judge.adaptive.plan_round` with its default settings (rounds of 500
  judgments growing to 2,000), refitted after each round, up to `--adaptive-cap` of the
  exhaustive judgments, once per planner seed (its question picks and tie breaks); its stopping
  rule is recorded (whether it said "settled", and whether the ranking then was the exhaustive
  one) but not obeyed, so its curve goes on;
- uniform: every (question, pair) in a seeded random order, one run per order, read at the same
  judgment counts as the first adaptive run's rounds (500 to 2,000 judgments each) and every
  2,000 after that, to the end;
- oracle design, a reference and not a method (it knows the exhaustive board's ratings):
  `optimal_design` finds the allocation over the open pairs that needs the fewest battles for
  every adjacent difference of the exhaustive ranking to come within its own size of the
  exhaustive estimate (normal approximation, Fisher information at the exhaustive ratings, the
  nested-fits variance the planner uses), and how many battles uniform needs for the same: the
  per-seed "design" column is that ratio, what choosing pairs could save if sampling variance
  were all that stood between a partial board and the exhaustive one. Its battles are then
  revealed in those proportions (random questions within a pair), `--runs` times, read like
  uniform; the "oracle" column is its median run over uniform's.
After each step the board is refitted (`arena.ratings.bt.fit_bt`) and compared with the
exhaustive board's ranking. "Reached" is the first step from which, at every later step of
that run, Kendall tau >= 0.95 and the top 3 are the same (in order) as the exhaustive board's.
With 8 models tau >= 0.95 allows no swapped pair, so this is the exhaustive ranking itself.

Scenarios (strengths drawn from the seed):
- mixed: neighbours 10-60 Elo apart (uniform), from very close to clearly apart;
- close-top: the top 3 models 10-20 Elo apart, the rest 60-120 Elo apart, where adaptivity
  matters most;
- normal: 8 strengths drawn from N(0, 100 Elo), which often puts two neighbours within a few
  Elo of each other (a near-tie);
- new-model: 9 models 10-60 Elo apart; 8 of them already judged exhaustively, and the ninth
  (drawn from the seed) enters: only its 8 pairs are open (64,000 judgments exhaustively). The
  goal is the 9-model exhaustive ranking;
- spread (not run by default): neighbours 25-75 Elo apart, an easy board for both methods.
For each seed the table shows the true gaps and how far apart the exhaustive board's own
closest neighbours are (in standard errors): below about 2 the exhaustive order of that pair is
itself a coin toss of the question sample, and reproducing it takes many judgments.

Goal: the exhaustive ranking at no more than 25% of the exhaustive judgments, and with at most
half the judgments uniform selection needs.

What the oracle shows. Choosing pairs buys precision: the optimal design needs a third of
uniform's judgments or less for the same variance against the exhaustive board (median seed:
mixed 0.32, close-top 0.16, near-ties 0.45). Yet revealed in those proportions, its median run
reaches the exhaustive ranking about when uniform's does in mixed (per-seed median 0.97, totals
1.08), at 0.69 (0.61) in close-top and 0.60 (0.59) in near-ties, behind the planner's 0.58
(0.56), 0.23 (0.22) and 0.54 (0.49); only where every run has it does the bound show (0.36 and
0.27 of uniform's worst run in mixed and close-top). Two reasons, each measured. The ranking to
reproduce is the fit of the uniform, exhaustive design, and the scripted judge is not exactly
Bradley-Terry (a battle scores the mean of two logistic orders, and a question's answers carry
their noise into all its battles), so a board concentrated on a few pairs estimates slightly
different differences: a newcomer's difference from one opponent, fitted on their 4,000 battles
alone, moves by up to 8 Elo from the exhaustive board's, near the closest gaps (10 Elo and up).
With POSITION_BIAS, ANSWER_NOISE and CATEGORY_EFFECT set to 0 (Bradley-Terry exact), the oracle's
median run falls from 0.94 to 0.68 of uniform's (totals 1.03 to 0.72; mixed, 10 seeds, read every
250 judgments). And the median run gets there at 1-3% of the exhaustive judgments, where the
closest pair is well under one standard error apart and which run holds the order first is
largely luck. So being told the answer and allocating for precision does not bring the median run
within half of uniform's in mixed; the planner gets nearer. For a new model entering a judged
board the bound itself is 0.88-0.96 (median 0.92): every battle of the newcomer informs its one
unknown rating about equally whoever the opponent (p (1 - p) is 0.17-0.25 across them), so no
choice among its pairs can halve uniform's judgments.

Ten seeds by default: boards differ far more than runs on one board do (in mixed, per-seed
ratios of adaptive to uniform run from 0.31 to 1.35), and seeds 0-4 and 5-9 alone gave median
ratios of 0.71 and 0.41. Five seeds measured which boards were drawn more than the planner. The
ten take about 30 minutes of CPU for the four scenarios (the oracle adds about a minute).

    .venv/bin/python benchmarks/adaptive.py [--seeds 10] [--scenarios mixed,close-top,normal,new-model]
        [--adaptive-cap 0.5] [--runs 5] [--min-round 500] [--max-round 2000]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import kendalltau

from arena.judge.adaptive import (
    JUDGMENTS_PER_COMPARISON,
    AdaptiveSettings,
    Battle,
    Budget,
    Comparison,
    plan_round,
)
from arena.judge.pairs import battle_winner
from arena.ratings.bt import ALPHA, PairCounts, fit_bt
from arena.store.schema import WINNER_SCORE

N_MODELS = 8
N_QUESTIONS = 4000
N_CATEGORIES = 10
ANSWER_NOISE = 0.8  # sd of an answer's quality around its model's strength, in log-odds
CATEGORY_EFFECT = 0.1  # sd of a model's per-category strength, in log-odds (about 17 Elo)
POSITION_BIAS = 0.5  # log-odds in favour of Response A (the judge picks A 62% of the time on equal answers)
STEP = 2000  # uniform is read where adaptive was, then every 2,000 judgments to the end
SCENARIOS = ("mixed", "close-top", "normal", "new-model", "spread")
TAU_TARGET = 0.95
TOP = 3
GOAL_SHARE = 0.25  # the goal: the exhaustive ranking within this share of the exhaustive judgments
DESIGN_Z = 1.0  # the oracle design's target: each adjacent difference within 1 / DESIGN_Z of its size
TABLE_FRACTIONS = (0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.35, 0.50)


@dataclass(frozen=True)
class Board:
    """The exhaustive board: every battle's outcome, and its ranking."""

    models: tuple[str, ...]
    questions: tuple[str, ...]
    categories: dict[str, str]
    strengths_elo: np.ndarray  # (M,) the truth
    pairs: tuple[tuple[int, int], ...]  # (P,) i < j
    winner: np.ndarray  # (Q, P) object: Winner of X = models[i] against Y = models[j]
    score: np.ndarray  # (Q, P) float: X's score (1, 0.5, 0), for fast refits
    ranking: tuple[int, ...]  # exhaustive board, best first
    theta: np.ndarray  # (M,) the exhaustive board's ratings, in log-odds
    newcomer: int | None  # new-model scenario: the model entering a board judged without it

    @property
    def closest_z(self) -> float:
        """How far apart the exhaustive board's closest adjacent models are, in Fisher standard errors."""
        problem = PrecisionProblem.of(self)
        return float(np.min((problem.contrasts @ self.theta) / np.sqrt(problem.exhaustive)))

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """(question, pair) comparisons, as (n, 2) index arrays: judged before the run, and open to it."""
        everything = all_comparisons(len(self.questions), len(self.pairs))
        if self.newcomer is None:
            return everything[:0], everything
        involved = np.array([self.newcomer in pair for pair in self.pairs])[everything[:, 1]]
        return everything[~involved], everything[involved]

    def battle(self, q: int, p: int) -> Battle:
        i, j = self.pairs[p]
        return Battle(self.questions[q], self.models[i], self.models[j], self.winner[q, p])


def all_comparisons(n_questions: int, n_pairs: int) -> np.ndarray:
    q, p = np.divmod(np.arange(n_questions * n_pairs), n_pairs)
    return np.stack([q, p], axis=1)


def draw_strengths(scenario: str, rng: np.random.Generator, n_models: int) -> np.ndarray:
    """Elo strengths, best first (the model names are shuffled later, so order carries no hint)."""
    if scenario == "normal":
        return np.sort(rng.normal(0.0, 100.0, n_models))[::-1]
    if scenario in ("mixed", "new-model"):
        gaps = rng.uniform(10.0, 60.0, n_models - 1)
    elif scenario == "spread":
        gaps = rng.uniform(25.0, 75.0, n_models - 1)
    elif scenario == "close-top":
        gaps = np.concatenate([rng.uniform(10.0, 20.0, TOP - 1), rng.uniform(60.0, 120.0, n_models - TOP)])
    else:
        raise SystemExit(f"unknown scenario {scenario!r}: {', '.join(SCENARIOS)}")
    return -np.concatenate([[0.0], np.cumsum(gaps)])


def simulate_board(scenario: str, seed: int) -> Board:
    rng = np.random.default_rng([seed, 16])
    n_models = N_MODELS + 1 if scenario == "new-model" else N_MODELS
    strengths = draw_strengths(scenario, rng, n_models)[rng.permutation(n_models)]
    newcomer = int(rng.integers(0, n_models)) if scenario == "new-model" else None
    models = tuple(f"model-{k}" for k in range(n_models))
    questions = tuple(f"q{k:04d}" for k in range(N_QUESTIONS))
    category = rng.integers(0, N_CATEGORIES, N_QUESTIONS)
    effect = rng.normal(0.0, CATEGORY_EFFECT, (n_models, N_CATEGORIES))
    effect -= effect.mean(axis=1, keepdims=True)  # a model is better in some categories, not better overall
    quality = ALPHA * strengths[None, :] + effect[:, category].T + rng.normal(0.0, ANSWER_NOISE, (N_QUESTIONS, n_models))
    pairs = tuple(itertools.combinations(range(n_models), 2))
    winner = np.empty((N_QUESTIONS, len(pairs)), dtype=object)
    for p, (i, j) in enumerate(pairs):
        margin = quality[:, i] - quality[:, j]
        verdict_ab = np.where(rng.random(N_QUESTIONS) < expit(margin + POSITION_BIAS), "A", "B")  # X shown as A
        verdict_ba = np.where(rng.random(N_QUESTIONS) < expit(-margin + POSITION_BIAS), "A", "B")  # Y shown as A
        winner[:, p] = [battle_winner(ab, ba) for ab, ba in zip(verdict_ab, verdict_ba, strict=False)]
    score = np.vectorize(WINNER_SCORE.__getitem__, otypes=[float])(winner)
    board = Board(
        models, questions, {q: f"category-{c}" for q, c in zip(questions, category, strict=False)}, strengths, pairs, winner, score, (),
        np.zeros(n_models), newcomer,
    )
    theta = fit_counts(board, outcome_counts(board, all_comparisons(N_QUESTIONS, len(pairs))))
    ranking = tuple(int(k) for k in np.argsort(-theta, kind="stable"))
    return Board(**{**board.__dict__, "ranking": ranking, "theta": theta})


def outcome_counts(board: Board, revealed: np.ndarray) -> np.ndarray:
    """(P, 3) battles per pair: X won, tie, Y won (so a growing board is refitted without re-reading it)."""
    q, p = revealed[:, 0], revealed[:, 1]
    score = board.score[q, p]
    outcome = np.where(score == 1.0, 0, np.where(score == 0.0, 2, 1))
    return np.bincount(p * 3 + outcome, minlength=3 * len(board.pairs)).reshape(-1, 3).astype(np.float64)


def fit_counts(board: Board, counts: np.ndarray) -> np.ndarray:
    present = counts.sum(axis=1) > 0
    pair_array = np.array(board.pairs)[present]
    return fit_bt(PairCounts(len(board.models), pair_array[:, 0], pair_array[:, 1], counts[present]))


@dataclass(frozen=True)
class Checkpoint:
    judgments: int
    tau: float
    discordant: int  # model pairs ordered unlike the exhaustive board
    same_top: bool

    @property
    def meets_goal(self) -> bool:
        return self.tau >= TAU_TARGET and self.same_top


def checkpoint(board: Board, counts: np.ndarray, judgments: int) -> Checkpoint:
    """The board fitted on these outcome counts, against the exhaustive ranking, after `judgments` of the run."""
    theta = fit_counts(board, counts)
    ranking = tuple(int(k) for k in np.argsort(-theta, kind="stable"))
    position = {model: rank for rank, model in enumerate(ranking)}
    tau = kendalltau([position[k] for k in board.ranking], range(len(ranking))).statistic
    discordant = sum(1 for a, b in itertools.combinations(board.ranking, 2) if position[a] > position[b])
    return Checkpoint(judgments, float(tau), discordant, ranking[:TOP] == board.ranking[:TOP])


def run_uniform(board: Board, seed: int, order: int, grid: list[int]) -> list[Checkpoint]:
    """Reveal (question, pair) comparisons in a seeded random order; refit at each judgment count of `grid`."""
    open_comparisons = board.split()[1]
    return read_sequence(board, open_comparisons[np.random.default_rng([seed, 17, order]).permutation(len(open_comparisons))], grid)


def read_sequence(board: Board, sequence: np.ndarray, grid: list[int]) -> list[Checkpoint]:
    """Reveal the open (question, pair) comparisons in this order; refit at each judgment count of
    `grid`, then every STEP judgments to the end."""
    total = JUDGMENTS_PER_COMPARISON * len(sequence)
    grid = [*grid, *range((grid[-1] if grid else 0) + STEP, total, STEP), total]
    counts, done, points = outcome_counts(board, board.split()[0]), 0, []
    for judgments in grid:
        upto = judgments // JUDGMENTS_PER_COMPARISON
        counts = counts + outcome_counts(board, sequence[done:upto])
        done = upto
        points.append(checkpoint(board, counts, judgments))
    return points


@dataclass(frozen=True)
class Design:
    """The variance-optimal allocation of battles over the open pairs, known only to an oracle."""

    shares: np.ndarray  # (P,) each pair's share of the design's battles (0 where nothing is open)
    ratio: float  # the design's battles over uniform's for the same precision of every adjacent difference


@dataclass(frozen=True)
class PrecisionProblem:
    """Battles on the open pairs against the precision of the exhaustive ranking's adjacent differences."""

    pair_i: np.ndarray  # (P,) i < j
    pair_j: np.ndarray
    weight: np.ndarray  # (P,) Fisher information of one battle, at the exhaustive ratings
    contrasts: np.ndarray  # (M - 1, M) the adjacent differences of the exhaustive ranking
    fixed: np.ndarray  # (P,) battles judged before the run
    is_open: np.ndarray  # (P,) pairs with open comparisons
    exhaustive: np.ndarray  # (M - 1,) each difference's variance on the exhaustive board
    allowed: np.ndarray  # (M - 1,) its variance around the exhaustive estimate, at most

    @classmethod
    def of(cls, board: Board) -> PrecisionProblem:
        theta = board.theta
        pair_i, pair_j = (np.array(side) for side in zip(*board.pairs, strict=False))
        p = expit(theta[pair_i] - theta[pair_j])
        contrasts = np.zeros((len(board.ranking) - 1, len(board.models)))
        rows = np.arange(len(contrasts))
        contrasts[rows, list(board.ranking[:-1])], contrasts[rows, list(board.ranking[1:])] = 1.0, -1.0
        prejudged, open_comparisons = board.split()
        fixed = np.bincount(prejudged[:, 1], minlength=len(board.pairs)).astype(np.float64)
        is_open = np.bincount(open_comparisons[:, 1], minlength=len(board.pairs)) > 0
        problem = cls(pair_i, pair_j, p * (1.0 - p), contrasts, fixed, is_open, np.zeros(len(contrasts)), np.zeros(len(contrasts)))
        exhaustive = problem.variances(np.full(len(board.pairs), float(N_QUESTIONS)))
        return replace(problem, exhaustive=exhaustive, allowed=((contrasts @ theta) / DESIGN_Z) ** 2)

    @property
    def open_pairs(self) -> int:
        return int(self.is_open.sum())

    def variances(self, battles: np.ndarray) -> np.ndarray:
        """Each adjacent difference's variance with these battles per pair (all pairs)."""
        laplacian = np.zeros((self.contrasts.shape[1],) * 2)
        information = battles * self.weight
        np.add.at(laplacian, (self.pair_i, self.pair_i), information)
        np.add.at(laplacian, (self.pair_j, self.pair_j), information)
        np.add.at(laplacian, (self.pair_i, self.pair_j), -information)
        np.add.at(laplacian, (self.pair_j, self.pair_i), -information)
        return np.einsum("km,mn,kn->k", self.contrasts, np.linalg.pinv(laplacian), self.contrasts)

    def slack(self, open_battles: np.ndarray) -> np.ndarray:
        """How far each difference is inside what is allowed (< 0: outside), with these battles on
        the open pairs, relative to what is allowed (nested fits: judged minus exhaustive)."""
        battles = self.fixed.copy()
        battles[self.is_open] += open_battles
        return (self.allowed - (self.variances(battles) - self.exhaustive)) / self.allowed


def optimal_design(board: Board) -> Design:
    """The fewest battles on the open pairs that bring each adjacent difference d of the exhaustive
    ranking within d / DESIGN_Z of the exhaustive board's estimate, and the same for uniform.

    Normal approximation with the Fisher information at the exhaustive ratings: a difference's
    variance around the exhaustive estimate is that of the battles judged minus the exhaustive
    board's (nested fits), as the planner reckons it. The target hardly matters: from 1/2 to 2
    standard errors, no mixed seed's ratio moved by more than 0.06.
    """
    problem = PrecisionProblem.of(board)
    need = uniform_need(problem)
    result = minimize(  # in units of uniform's battles per pair: unscaled, SLSQP stopped short on some boards
        lambda scaled: scaled.mean(),
        np.ones(problem.open_pairs),
        method="SLSQP",
        bounds=[(1e-3 / need, N_QUESTIONS / need)] * problem.open_pairs,
        constraints=[{"type": "ineq", "fun": lambda scaled: problem.slack(scaled * need)}],
        options={"maxiter": 1000, "ftol": 1e-10},
    )
    if not result.success or problem.slack(result.x * need).min() < -1e-6:
        raise SystemExit(f"optimal design: the solver found no feasible allocation ({result.message})")
    shares = np.zeros(len(board.pairs))
    shares[problem.is_open] = result.x / result.x.sum()
    return Design(shares, float(result.x.mean()))


def uniform_need(problem: PrecisionProblem) -> float:
    """Battles per open pair with which uniform meets the precision, by bisection."""
    low, high = 1.0, float(N_QUESTIONS)
    while high - low > 0.01:
        middle = (low + high) / 2
        low, high = (middle, high) if (problem.slack(np.full(problem.open_pairs, middle)) < 0).any() else (low, middle)
    return high


def run_design(board: Board, design: Design, seed: int, order: int, grid: list[int]) -> list[Checkpoint]:
    """Reveal the open comparisons in the design's proportions (each pair's k-th battle at time
    (k + 1/2) / share), random questions within a pair; refit at each judgment count of `grid`."""
    open_comparisons = board.split()[1]
    rng = np.random.default_rng([seed, 18, order])
    times, comparisons = [], []
    for p in np.flatnonzero(design.shares):
        of_pair = open_comparisons[open_comparisons[:, 1] == p]
        comparisons.append(of_pair[rng.permutation(len(of_pair))])
        times.append((np.arange(len(of_pair)) + 0.5) / design.shares[p])
    sequence = np.concatenate(comparisons)[np.argsort(np.concatenate(times), kind="stable")]
    return read_sequence(board, sequence, grid)


@dataclass(frozen=True)
class AdaptiveRun:
    checkpoints: list[Checkpoint]
    settled_at: int | None  # judgments when the stopping rule first said "settled"
    settled_meets_goal: bool | None
    stop_reason: str
    seconds_planning: float


def run_adaptive(board: Board, planner_seed: int, cap_judgments: int, min_round: int, max_round: int) -> AdaptiveRun:
    pair_of = {(board.models[i], board.models[j]): p for p, (i, j) in enumerate(board.pairs)}
    question_of = {q: k for k, q in enumerate(board.questions)}
    prejudged, open_pairs = board.split()
    open_comparisons = {Comparison(board.questions[q], *(board.models[k] for k in board.pairs[p])) for q, p in open_pairs.tolist()}
    settings = AdaptiveSettings(seed=planner_seed, stop_when_settled=False, min_round_judgments=min_round, round_judgments=max_round)
    battles = [board.battle(q, p) for q, p in prejudged.tolist()]
    counts = outcome_counts(board, prejudged)
    checkpoints: list[Checkpoint] = []
    settled_at, settled_meets_goal, planning = None, None, 0.0
    budget = Budget(max_judgments=cap_judgments)
    while True:
        start = time.perf_counter()
        plan = plan_round(list(board.models), battles, open_comparisons, board.categories, budget, settings)
        planning += time.perf_counter() - start
        if plan.status.settled and settled_at is None and checkpoints:
            settled_at, settled_meets_goal = checkpoints[-1].judgments, checkpoints[-1].meets_goal
        if plan.status.stopped:
            return AdaptiveRun(checkpoints, settled_at, settled_meets_goal, plan.status.reason, planning)
        revealed = []
        for comparison in plan.comparisons:
            q, p = question_of[comparison.question_id], pair_of[(comparison.model_x, comparison.model_y)]
            open_comparisons.remove(comparison)
            battles.append(board.battle(q, p))
            revealed.append((q, p))
        budget = Budget(cap_judgments, budget.used_judgments + plan.judgments)
        counts = counts + outcome_counts(board, np.array(revealed, dtype=np.int64).reshape(-1, 2))
        checkpoints.append(checkpoint(board, counts, budget.used_judgments))


def reached(checkpoints: list[Checkpoint]) -> int | None:
    """Judgments from which every later checkpoint meets the goal (None: not by the end)."""
    first = None
    for point in checkpoints:
        if point.meets_goal and first is None:
            first = point.judgments
        elif not point.meets_goal:
            first = None
    return first


def at_fraction(checkpoints: list[Checkpoint], judgments: int) -> Checkpoint | None:
    """The last checkpoint at or below `judgments`."""
    below = [point for point in checkpoints if point.judgments <= judgments]
    return below[-1] if below else None


def percent(judgments: float | None, total: int) -> str:
    return "not reached" if judgments is None else f"{judgments:.0f} ({100 * judgments / total:.1f}%)"


@dataclass(frozen=True)
class SeedResult:
    seed: int
    board: Board
    total: int  # judgments of the exhaustive work (the newcomer's pairs only, for new-model)
    adaptive: list[AdaptiveRun]  # one run per planner seed
    uniform: list[list[Checkpoint]]  # one run per random order
    design: Design
    oracle: list[list[Checkpoint]]  # the design's proportions, one run per random order
    seconds: float

    @property
    def adaptive_reached(self) -> list[int | None]:
        return [reached(run.checkpoints) for run in self.adaptive]

    @property
    def adaptive_median(self) -> float | None:
        """The median run's judgments (None when the median run did not reach it within the cap)."""
        median = statistics.median(math.inf if judgments is None else judgments for judgments in self.adaptive_reached)
        return None if math.isinf(median) else median

    @property
    def uniform_reached(self) -> list[int]:  # uniform always reaches it: at the end it is the exhaustive board
        return [reached(run) or self.total for run in self.uniform]

    @property
    def uniform_median(self) -> float:
        return statistics.median(self.uniform_reached)

    @property
    def oracle_reached(self) -> list[int]:
        return [reached(run) or self.total for run in self.oracle]

    @property
    def oracle_median(self) -> float:
        return statistics.median(self.oracle_reached)


def run_seed(scenario: str, seed: int, cap_fraction: float, runs: int, min_round: int, max_round: int) -> SeedResult:
    start = time.perf_counter()
    board = simulate_board(scenario, seed)
    total = JUDGMENTS_PER_COMPARISON * len(board.split()[1])
    adaptive = [run_adaptive(board, seed + 1000 * run, int(cap_fraction * total), min_round, max_round) for run in range(runs)]
    grid = [point.judgments for point in adaptive[0].checkpoints]
    uniform = [run_uniform(board, seed, order, grid) for order in range(runs)]
    design = optimal_design(board)
    oracle = [run_design(board, design, seed, order, grid) for order in range(runs)]
    return SeedResult(seed, board, total, adaptive, uniform, design, oracle, time.perf_counter() - start)


def span(values: Sequence[int | None], total: int) -> str:
    """The range of the runs' judgments as shares ('cap' for a run that did not reach it within the cap)."""
    reached_values = [v for v in values if v is not None]
    low = f"{min(reached_values) / total:.1%}" if reached_values else "cap"
    high = "cap" if None in values else f"{max(reached_values) / total:.1%}"
    return f"({low}-{high})"


def print_seeds(results: list[SeedResult]) -> None:
    print(
        f"{'seed':>4}  {'true gaps, best first (Elo)':<30} {'closest z':>9}  {'adaptive reached: median':>24} "
        f"{'(range)':>15}  {'uniform reached: median':>23} {'(range)':>15}  {'ratio':>5}  {'settled (right)':>15}  {'design':>6}  {'oracle':>6}  {'seconds':>7}"
    )
    for r in results:
        gaps = -np.diff(np.sort(r.board.strengths_elo)[::-1])
        a, u = r.adaptive_median, r.uniform_median
        ratio = f"{a / u:5.2f}" if a is not None else "  n/a"
        settled = [run for run in r.adaptive if run.settled_at is not None]
        right = sum(bool(run.settled_meets_goal) for run in settled)
        print(
            f"{r.seed:>4}  {' '.join(f'{g:.0f}' for g in gaps):<30} {r.board.closest_z:9.1f}  "
            f"{percent(a, r.total):>24} {span(r.adaptive_reached, r.total):>15}  "
            f"{percent(u, r.total):>23} {span(r.uniform_reached, r.total):>15}  {ratio}  "
            f"{f'{len(settled)} of {len(r.adaptive)} ({right})':>15}  {r.design.ratio:6.2f}  {r.oracle_median / u:6.2f}  {r.seconds:7.1f}"
        )


def print_summary(results: list[SeedResult], cap_fraction: float) -> None:
    total, n = results[0].total, len(results)
    a_values = [r.adaptive_median for r in results]
    u_values = [r.uniform_median for r in results]
    a_ok = [a for a in a_values if a is not None]
    print(f"summary over {n} seeds (judgments to reach the exhaustive ranking, as a share of {total}; per seed the median run):")
    if a_ok:
        print(
            f"  adaptive  reached within {cap_fraction:.0%} in {len(a_ok)} of {n} seeds; median {statistics.median(a_ok) / total:.1%}, "
            f"mean {statistics.fmean(a_ok) / total:.1%}, worst {max(a_ok) / total:.1%}"
        )
    else:
        print(f"  adaptive  reached within {cap_fraction:.0%} in 0 of {n} seeds")
    print(
        f"  uniform   median {statistics.median(u_values) / total:.1%}, "
        f"mean {statistics.fmean(u_values) / total:.1%}, worst {max(u_values) / total:.1%}"
    )
    both = [(a, u) for a, u in zip(a_values, u_values, strict=False) if a is not None]
    if both:
        ratios = [a / u for a, u in both]
        print(
            f"  adaptive / uniform: median {statistics.median(ratios):.2f}, "
            f"of the totals {sum(a for a, _ in both) / sum(u for _, u in both):.2f}, worst seed {max(ratios):.2f}"
        )
    every_adaptive = [a for r in results for a in r.adaptive_reached]
    every_uniform = [u for r in results for u in r.uniform_reached]
    if None not in every_adaptive:
        worst = max(a for a in every_adaptive if a is not None)
        print(
            f"  reliably (from where every run is at it and stays): adaptive {worst / total:.1%} (all {len(every_adaptive)} planner "
            f"seeds), uniform {max(every_uniform) / total:.1%} (all {len(every_uniform)} random orders); "
            f"ratio {worst / max(every_uniform):.2f}"
        )
    else:
        print(
            f"  reliably: adaptive did not reach it within {cap_fraction:.0%} in {every_adaptive.count(None)} of "
            f"{len(every_adaptive)} runs; uniform {max(every_uniform) / total:.1%} (all {len(every_uniform)} random orders)"
        )
    within_quarter = sum(a is not None and a <= GOAL_SHARE * total for a in a_values)
    within_half = sum(a is not None and a <= 0.5 * u for a, u in zip(a_values, u_values, strict=False))
    print(f"  goal: <= {GOAL_SHARE:.0%} of exhaustive in {within_quarter} of {n} seeds; <= half of uniform in {within_half} of {n} seeds")
    print_oracle(results)
    runs = [run for r in results for run in r.adaptive]
    settled = [run for run in runs if run.settled_at is not None]
    print(
        f"  stopping rule: settled within the cap in {len(settled)} of {len(runs)} runs, "
        f"at the exhaustive ranking when it did in {sum(bool(run.settled_meets_goal) for run in settled)} of {len(settled)}"
    )


def print_oracle(results: list[SeedResult]) -> None:
    """The oracle design against uniform, on the same measures as adaptive."""
    total = results[0].total
    bounds = [r.design.ratio for r in results]
    ratios = [r.oracle_median / r.uniform_median for r in results]
    oracle_worst = max(o for r in results for o in r.oracle_reached)
    uniform_worst = max(u for r in results for u in r.uniform_reached)
    print(
        f"  oracle design (knows the exhaustive ratings; a reference, not a method): needs {statistics.median(bounds):.2f} of uniform's "
        f"judgments for the same precision (median seed; {min(bounds):.2f}-{max(bounds):.2f}); yet reached: median run "
        f"{statistics.median(r.oracle_median for r in results) / total:.1%}, oracle / uniform: median {statistics.median(ratios):.2f}, "
        f"of the totals {sum(r.oracle_median for r in results) / sum(r.uniform_median for r in results):.2f}, "
        f"reliably {oracle_worst / total:.1%} ({oracle_worst / uniform_worst:.2f})"
    )


def print_error_table(results: list[SeedResult], cap_fraction: float) -> None:
    total = results[0].total
    print("ranking error by judgments: mean model pairs ordered unlike the exhaustive board (share of runs at its ranking)")
    print(f"{'judgments':>18}  {'adaptive':>16}  {'uniform':>16}")
    methods = (("adaptive", [run.checkpoints for r in results for run in r.adaptive]), ("uniform", [u for r in results for u in r.uniform]))
    for fraction in TABLE_FRACTIONS:
        judgments = int(fraction * total)
        cells = []
        for method, runs in methods:
            found = [at_fraction(run, judgments) for run in runs]
            points = [point for point in found if point is not None]
            if len(points) < len(found) or (method == "adaptive" and fraction > cap_fraction):
                cells.append(f"{'-':>16}")
                continue
            mean = statistics.fmean(point.discordant for point in points)
            at = sum(point.meets_goal for point in points) / len(points)
            cells.append(f"{mean:5.2f} ({at:4.0%} at)")
        print(f"{judgments:>9d} ({fraction:4.0%})  {cells[0]:>16}  {cells[1]:>16}")


def summarise(scenario: str, seeds: list[int], cap_fraction: float, runs: int, min_round: int, max_round: int) -> None:
    results = [run_seed(scenario, seed, cap_fraction, runs, min_round, max_round) for seed in seeds]
    board = results[0].board
    print(f"\n== scenario {scenario}: {len(board.models)} models, {N_QUESTIONS} questions ==")
    work = "exhaustive board" if board.newcomer is None else "the new model's pairs, exhaustively, on the judged board of the others"
    print(
        f"{work}: {results[0].total} judgments; per seed {runs} runs of each method: adaptive with {runs} planner seeds "
        f"up to {cap_fraction:.0%} of them, uniform in {runs} random orders to the end"
    )
    if board.newcomer is not None:
        print("new model's place in the exhaustive ranking, per seed: " + ", ".join(
            f"{r.seed}: {r.board.ranking.index(r.board.newcomer) + 1} of {len(r.board.models)}" for r in results
        ))
    print_seeds(results)
    print_summary(results, cap_fraction)
    print_error_table(results, cap_fraction)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per scenario (0, 1, ...)")
    parser.add_argument("--scenarios", default="mixed,close-top,normal,new-model", help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--adaptive-cap", type=float, default=0.5, help="adaptive runs up to this share of the exhaustive judgments")
    parser.add_argument("--runs", type=int, default=5,
                        help="runs of each method per seed: adaptive with this many planner seeds, uniform in this many random orders")
    parser.add_argument("--min-round", type=int, default=AdaptiveSettings().min_round_judgments,
                        help="adaptive's smallest round in judgments (pairs.min_round_judgments); both methods are "
                             "read after each round, so it is also how finely 'reached' is measured")
    parser.add_argument("--max-round", type=int, default=AdaptiveSettings().round_judgments,
                        help="adaptive's largest round in judgments (pairs.round_judgments)")
    args = parser.parse_args()
    start = time.perf_counter()
    for scenario in args.scenarios.split(","):
        summarise(scenario, list(range(args.seeds)), args.adaptive_cap, args.runs, args.min_round, args.max_round)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
