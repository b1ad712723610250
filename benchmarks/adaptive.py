"""Benchmark: adaptive pair selection against uniform random selection on a Med42-sized board.

A simulated board: 8 models, 4,000 questions in 10 categories, every pair on every question
judged in both orders (224,000 judgments, the exhaustive board). The truth is drawn from a seed:
each model has a strength (Elo) and a small per-category effect; each answer has its own quality,
strength plus answer-level noise, shared by every battle on that question. A scripted judge
picks Response A with probability logistic(quality_A - quality_B + position bias), each order on
its own; a model must win both orders to win the battle (`arena.judge.pairs.battle_winner`), a
split is a tie. All outcomes are drawn up front, so every method reveals the same battles.

Methods, each revealing battles of that exhaustive board:
- adaptive: `arena.judge.adaptive.plan_round` with its default settings (rounds of 500
  judgments growing to 2,000), refitted after each round, up to `--adaptive-cap` of the
  exhaustive judgments; its stopping rule is recorded but not obeyed, so its curve goes on;
- uniform: every (question, pair) in a seeded random order, read at the same judgment counts
  as adaptive's rounds (500, 1,000, 2,000, 4,000, ...) and every 2,000 after that, to the end.
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
- spread (not run by default): neighbours 25-75 Elo apart, an easy board for both methods.
For each seed the table shows the true gaps and how far apart the exhaustive board's own
closest neighbours are (in standard errors): below about 2 the exhaustive order of that pair is
itself a coin toss of the question sample, and reproducing it takes many judgments.

Goal: the exhaustive ranking at no more than 25% of the exhaustive judgments, and with at most
half the judgments uniform selection needs.

    .venv/bin/python benchmarks/adaptive.py [--seeds 5] [--scenarios mixed,close-top,normal] [--adaptive-cap 0.5]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from dataclasses import dataclass

import numpy as np
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
from arena.ratings.bt import ALPHA, fit_bt, pair_counts
from arena.ratings.data import WINNER_SCORE

N_MODELS = 8
N_QUESTIONS = 4000
N_CATEGORIES = 10
ANSWER_NOISE = 0.8  # sd of an answer's quality around its model's strength, in log-odds
CATEGORY_EFFECT = 0.1  # sd of a model's per-category strength, in log-odds (about 17 Elo)
POSITION_BIAS = 0.5  # log-odds in favour of Response A (the judge picks A 62% of the time on equal answers)
STEP = 2000  # uniform is read where adaptive was, then every 2,000 judgments to the end
SCENARIOS = ("mixed", "close-top", "normal", "spread")
TAU_TARGET = 0.95
TOP = 3
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
    ranking: tuple[int, ...]  # exhaustive board, best first
    closest_z: float  # the exhaustive board's closest adjacent pair, in Fisher standard errors

    @property
    def comparisons(self) -> int:
        return len(self.questions) * len(self.pairs)

    def battle(self, q: int, p: int) -> Battle:
        i, j = self.pairs[p]
        return Battle(self.questions[q], self.models[i], self.models[j], self.winner[q, p])


def draw_strengths(scenario: str, rng: np.random.Generator) -> np.ndarray:
    """Elo strengths, best first (the model names are shuffled later, so order carries no hint)."""
    if scenario == "normal":
        return np.sort(rng.normal(0.0, 100.0, N_MODELS))[::-1]
    if scenario == "mixed":
        gaps = rng.uniform(10.0, 60.0, N_MODELS - 1)
    elif scenario == "spread":
        gaps = rng.uniform(25.0, 75.0, N_MODELS - 1)
    elif scenario == "close-top":
        gaps = np.concatenate([rng.uniform(10.0, 20.0, TOP - 1), rng.uniform(60.0, 120.0, N_MODELS - TOP)])
    else:
        raise SystemExit(f"unknown scenario {scenario!r}: {', '.join(SCENARIOS)}")
    return -np.concatenate([[0.0], np.cumsum(gaps)])


def simulate_board(scenario: str, seed: int) -> Board:
    rng = np.random.default_rng([seed, 16])
    strengths = draw_strengths(scenario, rng)[rng.permutation(N_MODELS)]
    models = tuple(f"model-{k}" for k in range(N_MODELS))
    questions = tuple(f"q{k:04d}" for k in range(N_QUESTIONS))
    category = rng.integers(0, N_CATEGORIES, N_QUESTIONS)
    effect = rng.normal(0.0, CATEGORY_EFFECT, (N_MODELS, N_CATEGORIES))
    effect -= effect.mean(axis=1, keepdims=True)  # a model is better in some categories, not better overall
    quality = ALPHA * strengths[None, :] + effect[:, category].T + rng.normal(0.0, ANSWER_NOISE, (N_QUESTIONS, N_MODELS))
    pairs = tuple(itertools.combinations(range(N_MODELS), 2))
    winner = np.empty((N_QUESTIONS, len(pairs)), dtype=object)
    for p, (i, j) in enumerate(pairs):
        margin = quality[:, i] - quality[:, j]
        verdict_ab = np.where(rng.random(N_QUESTIONS) < expit(margin + POSITION_BIAS), "A", "B")  # X shown as A
        verdict_ba = np.where(rng.random(N_QUESTIONS) < expit(-margin + POSITION_BIAS), "A", "B")  # Y shown as A
        winner[:, p] = [battle_winner(ab, ba) for ab, ba in zip(verdict_ab, verdict_ba)]
    board = Board(
        models, questions, {q: f"category-{c}" for q, c in zip(questions, category)}, strengths, pairs, winner, (), 0.0
    )
    everything = [(q, p) for q in range(N_QUESTIONS) for p in range(len(pairs))]
    theta = fit_theta(board, everything)
    ranking = tuple(int(k) for k in np.argsort(-theta, kind="stable"))
    return Board(**{**board.__dict__, "ranking": ranking, "closest_z": closest_adjacent_z(board, theta, ranking)})


def fit_theta(board: Board, revealed: list[tuple[int, int]]) -> np.ndarray:
    q = np.fromiter((r[0] for r in revealed), dtype=np.int64, count=len(revealed))
    p = np.fromiter((r[1] for r in revealed), dtype=np.int64, count=len(revealed))
    pair_array = np.array(board.pairs)
    score = np.vectorize(WINNER_SCORE.__getitem__, otypes=[float])(board.winner[q, p]) if len(q) else np.zeros(0)
    return fit_bt(pair_counts(pair_array[p, 0], pair_array[p, 1], score, N_MODELS)).theta


def closest_adjacent_z(board: Board, theta: np.ndarray, ranking: tuple[int, ...]) -> float:
    """How far apart the exhaustive board's closest adjacent models are, in Fisher standard errors."""
    p = expit(theta[:, None] - theta[None, :])
    n = np.full((N_MODELS, N_MODELS), float(N_QUESTIONS))
    np.fill_diagonal(n, 0.0)
    weights = n * p * (1 - p)
    information = np.diag(weights.sum(axis=1)) - weights
    covariance = np.linalg.pinv(information)
    return min(
        (theta[a] - theta[b]) / math.sqrt(covariance[a, a] + covariance[b, b] - 2 * covariance[a, b])
        for a, b in zip(ranking[:-1], ranking[1:])
    )


@dataclass(frozen=True)
class Checkpoint:
    judgments: int
    tau: float
    discordant: int  # model pairs ordered unlike the exhaustive board
    same_top: bool

    @property
    def meets_goal(self) -> bool:
        return self.tau >= TAU_TARGET and self.same_top


def checkpoint(board: Board, revealed: list[tuple[int, int]]) -> Checkpoint:
    theta = fit_theta(board, revealed)
    ranking = tuple(int(k) for k in np.argsort(-theta, kind="stable"))
    position = {model: rank for rank, model in enumerate(ranking)}
    tau = kendalltau([position[k] for k in board.ranking], range(N_MODELS)).statistic
    discordant = sum(
        1 for a, b in itertools.combinations(board.ranking, 2) if position[a] > position[b]
    )
    return Checkpoint(JUDGMENTS_PER_COMPARISON * len(revealed), float(tau), discordant, ranking[:TOP] == board.ranking[:TOP])


def run_uniform(board: Board, seed: int, grid: list[int]) -> list[Checkpoint]:
    """Reveal (question, pair) comparisons in a seeded random order; refit at each judgment count of `grid`."""
    rng = np.random.default_rng([seed, 17])
    order = rng.permutation(board.comparisons)
    everything = [(int(k) // len(board.pairs), int(k) % len(board.pairs)) for k in order]
    total = JUDGMENTS_PER_COMPARISON * len(everything)
    grid = [*grid, *range((grid[-1] if grid else 0) + STEP, total, STEP), total]
    return [checkpoint(board, everything[: judgments // JUDGMENTS_PER_COMPARISON]) for judgments in grid]


@dataclass(frozen=True)
class AdaptiveRun:
    checkpoints: list[Checkpoint]
    settled_at: int | None  # judgments when the stopping rule first said "settled"
    settled_meets_goal: bool | None
    stop_reason: str
    seconds_planning: float


def run_adaptive(board: Board, seed: int, cap_judgments: int) -> AdaptiveRun:
    pair_of = {(board.models[i], board.models[j]): p for p, (i, j) in enumerate(board.pairs)}
    question_of = {q: k for k, q in enumerate(board.questions)}
    open_comparisons = {
        Comparison(board.questions[q], board.models[i], board.models[j])
        for q in range(len(board.questions))
        for i, j in board.pairs
    }
    settings = AdaptiveSettings(seed=seed, stop_when_settled=False)
    battles: list[Battle] = []
    revealed: list[tuple[int, int]] = []
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
        for comparison in plan.comparisons:
            q, p = question_of[comparison.question_id], pair_of[(comparison.model_x, comparison.model_y)]
            open_comparisons.remove(comparison)
            battles.append(board.battle(q, p))
            revealed.append((q, p))
        budget = Budget(cap_judgments, budget.used_judgments + plan.judgments)
        checkpoints.append(checkpoint(board, revealed))


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


def percent(judgments: int | None, total: int) -> str:
    return "  not reached" if judgments is None else f"{judgments:>7d} ({100 * judgments / total:4.1f}%)"


def summarise(scenario: str, seeds: list[int], cap_fraction: float) -> None:
    print(f"\n== scenario {scenario}: {N_MODELS} models, {N_QUESTIONS} questions ==")
    rows, tables = [], {"adaptive": [], "uniform": []}
    for seed in seeds:
        start = time.perf_counter()
        board = simulate_board(scenario, seed)
        total = JUDGMENTS_PER_COMPARISON * board.comparisons
        adaptive = run_adaptive(board, seed, int(cap_fraction * total))
        uniform = run_uniform(board, seed, [point.judgments for point in adaptive.checkpoints])
        a, u = reached(adaptive.checkpoints), reached(uniform)
        rows.append((seed, board, total, a, u, adaptive, time.perf_counter() - start))
        tables["adaptive"].append(adaptive.checkpoints)
        tables["uniform"].append(uniform)
    total = rows[0][2]
    print(f"exhaustive board: {total} judgments; adaptive runs up to {cap_fraction:.0%} of them")
    print(
        f"{'seed':>4}  {'true gaps, best first (Elo)':<34} {'closest z':>9}  {'adaptive reached':>17}  "
        f"{'uniform reached':>17}  {'ratio':>5}  {'adaptive settled at':>20}  {'seconds':>7}"
    )
    for seed, board, total, a, u, adaptive, seconds in rows:
        gaps = -np.diff(np.sort(board.strengths_elo)[::-1])
        ratio = f"{a / u:5.2f}" if a is not None and u is not None else "  n/a"
        settled = "never" if adaptive.settled_at is None else (
            f"{adaptive.settled_at} ({'right' if adaptive.settled_meets_goal else 'WRONG'})"
        )
        print(
            f"{seed:>4}  {' '.join(f'{g:.0f}' for g in gaps):<34} {board.closest_z:9.1f}  {percent(a, total):>17}  "
            f"{percent(u, total):>17}  {ratio}  {settled:>20}  {seconds:7.1f}"
        )
    a_values = [r[3] for r in rows]
    u_values = [r[4] for r in rows]
    print(f"summary over {len(rows)} seeds (judgments to reach the exhaustive ranking, share of the {total} exhaustive ones):")
    for name, values in (("adaptive", a_values), ("uniform", u_values)):
        reached_values = [v for v in values if v is not None]
        if reached_values:
            print(
                f"  {name:<8} reached in {len(reached_values)} of {len(values)} seeds; median {statistics.median(reached_values) / total:.1%}, "
                f"mean {statistics.fmean(reached_values) / total:.1%}, worst {max(reached_values) / total:.1%}"
            )
        else:
            print(f"  {name:<8} reached in 0 of {len(values)} seeds")
    pairs = [(a, u) for a, u in zip(a_values, u_values) if a is not None and u is not None]
    if pairs:
        ratios = [a / u for a, u in pairs]
        print(
            f"  adaptive / uniform: median {statistics.median(ratios):.2f}, of the totals {sum(a for a, _ in pairs) / sum(u for _, u in pairs):.2f}, "
            f"worst seed {max(ratios):.2f}"
        )
    goal_25 = sum(a is not None and a <= 0.25 * total for a in a_values)
    goal_half = sum(a is not None and u is not None and a <= 0.5 * u for a, u in zip(a_values, u_values))
    print(f"  goal: at most 25% of exhaustive in {goal_25} of {len(rows)} seeds; at most half of uniform in {goal_half} of {len(rows)} seeds")
    settled = [r[5] for r in rows if r[5].settled_at is not None]
    print(
        f"  stopping rule: settled within the cap in {len(settled)} of {len(rows)} seeds, "
        f"at the exhaustive ranking when it did in {sum(bool(r.settled_meets_goal) for r in settled)} of {len(settled)}"
    )
    print("ranking error by judgments (mean model pairs ordered unlike the exhaustive board; seeds at its ranking):")
    print(f"{'judgments':>18}  {'adaptive':>16}  {'uniform':>16}")
    for fraction in TABLE_FRACTIONS:
        judgments = int(fraction * total)
        cells = []
        for method in ("adaptive", "uniform"):
            points = [at_fraction(run, judgments) for run in tables[method]]
            if any(point is None for point in points) or (method == "adaptive" and fraction > cap_fraction):
                cells.append(f"{'-':>16}")
                continue
            mean = statistics.fmean(point.discordant for point in points)
            hits = sum(point.meets_goal for point in points)
            cells.append(f"{mean:6.2f} ({hits}/{len(points)} at)")
        print(f"{judgments:>9d} ({fraction:4.0%})  {cells[0]:>16}  {cells[1]:>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per scenario (0, 1, ...)")
    parser.add_argument("--scenarios", default="mixed,close-top,normal", help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--adaptive-cap", type=float, default=0.5, help="adaptive runs up to this share of the exhaustive judgments")
    args = parser.parse_args()
    start = time.perf_counter()
    for scenario in args.scenarios.split(","):
        summarise(scenario, list(range(args.seeds)), args.adaptive_cap)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
