"""Adaptive pair selection: spend the judge's next round where it most changes the ranking.

Exhaustive judging (every question, every pair, both orders) grows with the square of the number
of models, and most of it is wasted: once two models are far apart, more battles between them
change nothing. This module plans judging in rounds. It is pure: it sees the models, the battles
already made (both-orders rule applied, as `arena.judge.pairs` defines them), the comparisons
still open (a (question, X, Y) whose two orders are not judged yet) and the question categories,
and it returns the next round's comparisons and whether the ranking is settled. The caller judges
the plan (two judgments per comparison), stores the battles, and asks again.

Estimate. A Bradley-Terry fit of the battles (`arena.ratings.bt`) gives ratings theta and their
Fisher information I (a weighted graph Laplacian, n_ij p_ij (1 - p_ij) per pair). Battles on one
question share its answers, so they are not independent, and ties (half a win) make scores less
variable than I assumes: the covariance used is the Fisher covariance I^+ scaled by a design
effect k = (sum of the question-clustered sandwich variances of all pair differences) / (the same
sum under I^+), at least 0.25. So the intervals are those a question-level bootstrap would give,
while the planning keeps the simple structure of I. Every standard error below is from it.

Selection rule (how a round is filled). A round is M times the fewest battles any model has
(on a fresh board that is the judgments made so far; with a new model, its battles), at least
`min_round_judgments` (500) and at most `round_judgments` (2,000), and never more than the
budget left: small rounds refit often while some rating is still poor.
1. Warm-up: every pair first gets `warmup_battles_per_pair` (10) battles; a round fills the
   pairs with the fewest battles first (ties broken by the seed). This spreads the first rounds
   uniformly over pairs, and places a new model entering an existing board: only its pairs are
   short.
2. Then greedy: the rest of the round is handed out in chunks (1/40 of the round). Each chunk
   goes to the pair whose battles most lower the expected number of wrongly ordered model
   pairs at the end of the round, per battle:
       R = sum over all model pairs (i, j) of P(the order of i and j is wrong) = Phi(-|d_ij| / s_ij).
   Battles planned for a pair shrink every s (a rank-one update of I: battles between i and k
   also inform i versus j); the estimate d will move by N(0, s0^2 - s^2), s0 the standard error
   at the round's start, so the risk expected after the round is E[Phi(-|d'| / s)], computed by
   Gauss-Hermite quadrature. Here s is measured against the exhaustive board (every open
   comparison judged), the best any judging of this question set can do: by nested fits its
   variance is that of the battles judged minus that of the exhaustive board, so it reaches
   zero when a pair's questions run out, and a near-tie that only its last questions can settle
   is finished rather than abandoned. (The stopping rule below keeps the full variance.)
   A pair is valued at the best gain per battle over look-ahead sizes of 1, 2, 4, ..., 1024
   chunks (what is open at most), because one small chunk can seldom flip an order and would
   look worthless (the KG(*) policy of Frazier and Powell). So pairs whose intervals overlap
   (small |d| / s) and that are still uncertain win; pairs already far apart gain nothing. A
   model with few battles has large s against everyone, and the gain is largest against the
   models near its estimated rating: it gets priority there. Pairs whose every
   question is judged drop out. When no pair can change the order any more (a settled ranking
   with `stop_when_settled=False`), chunks go where they most narrow the intervals of the
   differences between neighbours in the ranking.
3. Questions: within a pair, each pick takes the category this pair has least of relative to
   that category's share of the pair's questions (judged and open), and a question not yet used
   for that pair at random (seeded) within it. A comparison is chosen at most once, never one
   already judged.
Everything is deterministic for a given seed and input (input order does not matter).

Stopping rule (checked before each round, in this order).
- settled: after the warm-up, every adjacent pair of the fitted ranking is separated at the
  `confidence` level jointly: |d| / s >= z with z = Phi^-1(1 - (1 - confidence) / (2 (M - 1)))
  (Bonferroni over the M - 1 adjacent pairs; 2.69 for 8 models at 95%, which also guards
  against stopping on a lucky round), or, when `tie_margin_elo` > 0, the pair's interval of the
  difference lies within +-tie_margin_elo (tied for practical purposes). With
  `stop_when_settled=False` a settled ranking is reported but rounds go on to the budget.
- no open comparisons left.
- budget: fewer than two judgments (one comparison) left of `Budget.max_judgments`.
The reason is a sentence: "stopped: budget of 56000 judgments used", "stopped: ranking settled:
...". Only this module decides; the caller prints `status.reason`.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy.special import expit, ndtr, ndtri

from arena.errors import ArenaError
from arena.judge.pairs import ORDERS, Winner
from arena.ratings import bt
from arena.store.schema import WINNER_SCORE

JUDGMENTS_PER_COMPARISON = len(ORDERS)  # both orders make one battle
CHUNKS_PER_ROUND = 40  # the greedy hands out a round in this many steps
_LOOKAHEAD_DOUBLINGS = 10  # look-ahead sizes: chunk * 1, 2, 4, ..., 1024
_QUADRATURE_NODES = 40  # Gauss-Hermite nodes for the expected risk
_MIN_DESIGN_EFFECT = 0.25  # a floor against a degenerate sandwich on very little data
_NEGLIGIBLE_RISK = 1e-9  # a target pair this surely ordered is left out of the gain
_LEAST_VARIANCE = 1e-300  # a settled difference's variance: keeps the risk's d / s defined
_NO_CATEGORY = ""

StopReason = Literal["settled", "exhausted", "budget", "too-few-models"]


class Comparison(NamedTuple):
    """One (question, pair) to judge in both orders; X shown first in order "ab"."""

    question_id: str
    model_x: str
    model_y: str


class Battle(NamedTuple):
    """A judged comparison: "model_a" means X won both orders, a split is a tie."""

    question_id: str
    model_x: str
    model_y: str
    winner: Winner


@dataclass(frozen=True)
class AdaptiveSettings:
    round_judgments: int = 2000  # the largest round, in judgments
    min_round_judgments: int = 500  # the smallest (rounds grow with the least-judged model's battles)
    warmup_battles_per_pair: int = 10
    confidence: float = 0.95
    tie_margin_elo: float = 0.0  # > 0: a pair tied within this many Elo counts as settled
    stop_when_settled: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not JUDGMENTS_PER_COMPARISON <= self.min_round_judgments <= self.round_judgments:
            raise ArenaError(
                f"adaptive: need {JUDGMENTS_PER_COMPARISON} <= min_round_judgments <= round_judgments, "
                f"got {self.min_round_judgments} and {self.round_judgments}"
            )
        if self.warmup_battles_per_pair < 0:
            raise ArenaError("adaptive: warmup_battles_per_pair must not be negative")
        if not 0.0 < self.confidence < 1.0:
            raise ArenaError("adaptive: confidence must be between 0 and 1")
        if self.tie_margin_elo < 0:
            raise ArenaError("adaptive: tie_margin_elo must not be negative")


@dataclass(frozen=True)
class Budget:
    """Judgments allowed in this run (None: no limit) and judgments this run has made so far."""

    max_judgments: int | None = None
    used_judgments: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.max_judgments is None else max(0, self.max_judgments - self.used_judgments)


@dataclass(frozen=True)
class ModelEstimate:
    name: str
    elo: float
    standard_error_elo: float
    battles: int


@dataclass(frozen=True)
class PairSeparation:
    """Two models adjacent in the fitted ranking, `higher` rated above `lower`."""

    higher: str
    lower: str
    difference_elo: float
    standard_error_elo: float
    battles: int  # between these two
    open: int  # comparisons of these two still open
    separated: bool  # |difference| / standard error reaches the stopping threshold
    tied: bool  # the difference's interval lies within +-tie_margin_elo

    @property
    def z(self) -> float:
        return self.difference_elo / self.standard_error_elo if self.standard_error_elo > 0 else math.inf


@dataclass(frozen=True)
class RankingStatus:
    estimates: tuple[ModelEstimate, ...]  # best first
    adjacent: tuple[PairSeparation, ...]  # (1st, 2nd), (2nd, 3rd), ...
    threshold_z: float  # |difference| / standard error that counts as separated
    design_effect: float  # clustered sandwich over Fisher variance (battles sharing a question, ties)
    warmed_up: bool
    settled: bool
    stop: StopReason | None  # None: plan another round
    reason: str  # one line for the user
    rule: str  # the stopping rule, stated

    @property
    def stopped(self) -> bool:
        return self.stop is not None

    @property
    def ranking(self) -> tuple[str, ...]:
        return tuple(estimate.name for estimate in self.estimates)


@dataclass(frozen=True)
class RoundPlan:
    comparisons: tuple[Comparison, ...]  # sorted by question, each at most once
    warmup_comparisons: int  # how many of them the warm-up chose
    status: RankingStatus

    @property
    def judgments(self) -> int:
        return JUDGMENTS_PER_COMPARISON * len(self.comparisons)


def plan_round(
    models: Sequence[str],
    battles: Iterable[Battle],
    open_comparisons: Iterable[Comparison],
    categories: Mapping[str, str | None],
    budget: Budget = Budget(),
    settings: AdaptiveSettings = AdaptiveSettings(),
) -> RoundPlan:
    """The next round's comparisons and the ranking's status (an empty plan when stopped)."""
    board = _Board.build(models, battles, open_comparisons, categories)
    fitted = _fit_and_status(board, budget, settings)
    if isinstance(fitted, RankingStatus):
        return RoundPlan((), 0, fitted)
    estimate, threshold, status = fitted
    if status.stopped:
        return RoundPlan((), 0, status)
    size = _round_size(board, budget, settings)
    capacity = size // JUDGMENTS_PER_COMPARISON
    rng = np.random.default_rng([settings.seed, len(board.a)])  # the same board state plans the same round
    warmup = _warmup_allocation(board, settings.warmup_battles_per_pair, capacity, rng)
    allocation = _greedy_allocation(board, estimate, warmup, capacity - int(warmup.sum()), settings.tie_margin_elo, threshold)
    comparisons = _pick_questions(board, allocation, rng)
    return RoundPlan(tuple(sorted(comparisons)), int(warmup.sum()), status)


def _round_size(board: _Board, budget: Budget, settings: AdaptiveSettings) -> int:
    """M times the fewest battles any model has (on a fresh board: the judgments so far), within
    the settings and the budget: small rounds refit often while some rating is still poor."""
    size = min(settings.round_judgments, max(settings.min_round_judgments, board.n_models * int(board.battles_per_model().min())))
    return size if budget.remaining is None else min(size, budget.remaining)


def ranking_status(
    models: Sequence[str],
    battles: Iterable[Battle],
    open_comparisons: Iterable[Comparison],
    categories: Mapping[str, str | None],
    budget: Budget = Budget(),
    settings: AdaptiveSettings = AdaptiveSettings(),
) -> RankingStatus:
    """The status `plan_round` would report, without planning."""
    fitted = _fit_and_status(_Board.build(models, battles, open_comparisons, categories), budget, settings)
    return fitted if isinstance(fitted, RankingStatus) else fitted[2]


def _fit_and_status(board: _Board, budget: Budget, settings: AdaptiveSettings) -> RankingStatus | tuple[_Estimate, float, RankingStatus]:
    """The board's fit, its separation threshold and its status; only the status when fewer
    than two models can be ranked."""
    if board.n_models < 2:
        return _too_few_models_status(board)
    estimate = _estimate(board)
    threshold = _threshold_z(board.n_models, settings.confidence)
    return estimate, threshold, _status(board, estimate, threshold, budget, settings)


def stopping_rule(n_models: int, settings: AdaptiveSettings) -> str:
    """The stopping rule in words, with its numbers for this board."""
    z = _threshold_z(max(n_models, 2), settings.confidence)
    tied = f", or its interval of the difference lies within +-{settings.tie_margin_elo:g} Elo" if settings.tie_margin_elo else ""
    return (
        f"settled when, after the warm-up ({settings.warmup_battles_per_pair} battles per pair), every adjacent "
        f"pair of the ranking is separated at {settings.confidence:.0%} jointly over the {max(n_models - 1, 1)} "
        f"adjacent pairs (|difference| >= {z:.2f} standard errors, question-clustered){tied}; "
        "otherwise stop when no comparison is open or the judgment budget is used"
    )


# --- the board: models, battles and open comparisons as indices ------------------------------


@dataclass(frozen=True)
class _Board:
    models: tuple[str, ...]  # sorted
    a: np.ndarray  # (B,) model index of X
    b: np.ndarray  # (B,) model index of Y
    score: np.ndarray  # (B,) 1 = X won, 0.5 tie, 0 = Y won
    question: np.ndarray  # (B,) question index (for clustering)
    pair_i: np.ndarray  # (P,) all pairs i < j
    pair_j: np.ndarray
    battles_per_pair: np.ndarray  # (P,)
    judged_per_category: tuple[dict[str, int], ...]  # per pair
    open_by_category: tuple[dict[str, list[Comparison]], ...]  # per pair, unsorted

    @property
    def n_models(self) -> int:
        return len(self.models)

    def battles_per_model(self) -> np.ndarray:
        return np.bincount(self.a, minlength=self.n_models) + np.bincount(self.b, minlength=self.n_models)

    def open_per_pair(self) -> np.ndarray:
        return np.array([sum(len(v) for v in by_category.values()) for by_category in self.open_by_category], dtype=np.int64)

    @classmethod
    def build(
        cls,
        models: Sequence[str],
        battles: Iterable[Battle],
        open_comparisons: Iterable[Comparison],
        categories: Mapping[str, str | None],
    ) -> _Board:
        names = tuple(sorted(set(models)))
        pair_i, pair_j = np.triu_indices(len(names), k=1)
        pair_of = {(names[i], names[j]): p for p, (i, j) in enumerate(zip(pair_i, pair_j, strict=False))}
        pair_of.update({(y, x): p for (x, y), p in list(pair_of.items())})
        columns, judged, judged_per_category = _collect_battles(battles, names, pair_of, categories, len(pair_i))
        a, b, score, question, pair = columns
        return cls(
            models=names,
            a=a,
            b=b,
            score=score,
            question=question,
            pair_i=pair_i.astype(np.int64),
            pair_j=pair_j.astype(np.int64),
            battles_per_pair=np.bincount(pair, minlength=len(pair_i)).astype(np.int64),
            judged_per_category=judged_per_category,
            open_by_category=_group_open(open_comparisons, pair_of, judged, categories),
        )


def _pair_of(pair_of: Mapping[tuple[str, str], int], question_id: str, x: str, y: str, what: str) -> int:
    pair = pair_of.get((x, y))
    if pair is None:
        models = {name for key in pair_of for name in key}
        unknown = [name for name in (x, y) if name not in models]
        problem = f"names a model not on the board: {unknown[0]}" if unknown else "pairs a model with itself"
        raise ArenaError(f"adaptive: {what} ({question_id}, {x}, {y}) {problem}")
    return pair


def _collect_battles(
    battles: Iterable[Battle],
    names: tuple[str, ...],
    pair_of: Mapping[tuple[str, str], int],
    categories: Mapping[str, str | None],
    n_pairs: int,
) -> tuple[tuple[np.ndarray, ...], list[set[str]], tuple[dict[str, int], ...]]:
    """Battles as arrays (X, Y, score of X, question index, pair), and per pair its judged questions."""
    index = {name: k for k, name in enumerate(names)}
    a, b, score, question, pairs = [], [], [], [], []
    question_index: dict[str, int] = {}
    judged: list[set[str]] = [set() for _ in range(n_pairs)]
    judged_per_category: list[dict[str, int]] = [defaultdict(int) for _ in range(n_pairs)]
    for question_id, x, y, winner in battles:
        pair = _pair_of(pair_of, question_id, x, y, "battle")
        if winner not in WINNER_SCORE:
            raise ArenaError(f"adaptive: battle ({question_id}, {x}, {y}) has unknown winner {winner!r}")
        a.append(index[x])
        b.append(index[y])
        score.append(WINNER_SCORE[winner])
        question.append(question_index.setdefault(question_id, len(question_index)))
        pairs.append(pair)
        if question_id not in judged[pair]:
            judged[pair].add(question_id)
            judged_per_category[pair][categories.get(question_id) or _NO_CATEGORY] += 1
    columns = (
        np.array(a, dtype=np.int64),
        np.array(b, dtype=np.int64),
        np.array(score, dtype=np.float64),
        np.array(question, dtype=np.int64),
        np.array(pairs, dtype=np.int64),
    )
    return columns, judged, tuple(judged_per_category)


def _group_open(
    open_comparisons: Iterable[Comparison],
    pair_of: Mapping[tuple[str, str], int],
    judged: list[set[str]],
    categories: Mapping[str, str | None],
) -> tuple[dict[str, list[Comparison]], ...]:
    """Open comparisons per pair and category, without judged ones and duplicates (either order)."""
    offered = [set(questions) for questions in judged]
    grouped: list[dict[str, list[Comparison]]] = [defaultdict(list) for _ in judged]
    for comparison in open_comparisons:  # the hot loop: every open comparison, every round
        question_id, x, y = comparison
        pair = pair_of.get((x, y))
        if pair is None:
            pair = _pair_of(pair_of, question_id, x, y, "open comparison")
        if question_id in offered[pair]:
            continue
        offered[pair].add(question_id)
        grouped[pair][categories.get(question_id) or _NO_CATEGORY].append(
            comparison if type(comparison) is Comparison else Comparison(question_id, x, y)
        )
    return tuple(grouped)


# --- the estimate: the one place that depends on arena.ratings.bt ----------------------------


@dataclass(frozen=True)
class _Estimate:
    theta: np.ndarray  # (M,) natural log-odds, mean zero
    basis: np.ndarray  # (M, M) inv(I + 11'/M), I the Fisher information: pinv(I) on differences
    design_effect: float  # the covariance of differences is design_effect * basis
    elo_per_logit: float
    elo: np.ndarray  # (M,) ratings on the Elo scale


def _bt_fit(board: _Board) -> tuple[np.ndarray, float, float, np.ndarray]:
    """theta, the prior's precision per rating (natural log-odds), Elo per logit, Elo ratings.

    The only use of `arena.ratings.bt`: keep it here so a change of the fitter (its prior, another
    regularisation) is adapted in one place.
    """
    theta = bt.fit_bt(bt.pair_counts(board.a, board.b, board.score, board.n_models))
    return theta, bt.PRIOR_PRECISION, 1.0 / bt.ALPHA, bt.to_elo(theta)


def _estimate(board: _Board) -> _Estimate:
    m = board.n_models
    theta, prior_precision, elo_per_logit, elo = _bt_fit(board)
    counts = np.zeros((m, m))
    np.add.at(counts, (board.a, board.b), 1.0)
    np.add.at(counts, (board.b, board.a), 1.0)
    p = expit(theta[:, None] - theta[None, :])
    weights = counts * p * (1.0 - p)
    information = np.diag(weights.sum(axis=1) + prior_precision) - weights
    basis = np.linalg.inv(information + np.full((m, m), 1.0 / m))
    return _Estimate(theta, basis, _design_effect(board, theta, basis), elo_per_logit, elo)


def _design_effect(board: _Board, theta: np.ndarray, basis: np.ndarray) -> float:
    """Question-clustered sandwich over Fisher variance, summed over all pair differences.

    Above 1 when a question's battles agree (they share its answers); below 1 when many ties
    make scores less variable than the Fisher information assumes (ties count as half).
    """
    if len(board.a) == 0:
        return 1.0
    residual = board.score - expit(theta[board.a] - theta[board.b])
    gradient = np.zeros((int(board.question.max()) + 1, board.n_models))
    np.add.at(gradient, (board.question, board.a), residual)
    np.add.at(gradient, (board.question, board.b), -residual)
    sandwich = basis @ (gradient.T @ gradient) @ basis
    fisher_total = _difference_variances(basis, board.pair_i, board.pair_j).sum()
    sandwich_total = _difference_variances(sandwich, board.pair_i, board.pair_j).sum()
    return max(_MIN_DESIGN_EFFECT, float(sandwich_total / fisher_total)) if fisher_total > 0 else 1.0


def _difference_variances(covariance: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return covariance[i, i] + covariance[j, j] - 2.0 * covariance[i, j]


# --- status -------------------------------------------------------------------------------


def _threshold_z(n_models: int, confidence: float) -> float:
    return float(ndtri(1.0 - (1.0 - confidence) / (2.0 * max(n_models - 1, 1))))


def _status(board: _Board, estimate: _Estimate, threshold: float, budget: Budget, settings: AdaptiveSettings) -> RankingStatus:
    covariance = estimate.design_effect * estimate.basis
    order = np.argsort(-estimate.elo, kind="stable")
    battles_per_model = board.battles_per_model()
    m = board.n_models
    centred = covariance - covariance.mean(axis=0, keepdims=True) - covariance.mean(axis=1, keepdims=True) + covariance.mean()
    estimates = tuple(
        ModelEstimate(board.models[k], float(estimate.elo[k]), float(math.sqrt(max(centred[k, k], 0.0)) * estimate.elo_per_logit), int(battles_per_model[k]))
        for k in order
    )
    open_per_pair = board.open_per_pair()
    adjacent = tuple(
        _separation(board, estimate, covariance, int(hi), int(lo), threshold, settings.tie_margin_elo, open_per_pair)
        for hi, lo in zip(order[:-1], order[1:], strict=False)
    )
    short = (board.battles_per_pair < settings.warmup_battles_per_pair) & (open_per_pair > 0)
    warmed_up = not short.any()
    settled = warmed_up and all(pair.separated or pair.tied for pair in adjacent)
    stop, reason = _decide(settled, warmed_up, int(short.sum()), adjacent, int(open_per_pair.sum()), budget, settings)
    return RankingStatus(estimates, adjacent, threshold, estimate.design_effect, warmed_up, settled, stop, reason, stopping_rule(m, settings))


def _separation(
    board: _Board, estimate: _Estimate, covariance: np.ndarray, hi: int, lo: int, threshold: float, margin: float, open_per_pair: np.ndarray
) -> PairSeparation:
    pair = _pair_index(min(hi, lo), max(hi, lo), board.n_models)
    difference = float(estimate.elo[hi] - estimate.elo[lo])
    variance = covariance[hi, hi] + covariance[lo, lo] - 2.0 * covariance[hi, lo]
    standard_error = float(math.sqrt(max(variance, 0.0)) * estimate.elo_per_logit)
    separated = difference >= threshold * standard_error
    tied = margin > 0 and difference + threshold * standard_error <= margin
    return PairSeparation(
        board.models[hi], board.models[lo], difference, standard_error, int(board.battles_per_pair[pair]), int(open_per_pair[pair]), separated, tied
    )


def _decide(
    settled: bool, warmed_up: bool, short_pairs: int, adjacent: tuple[PairSeparation, ...], open_total: int, budget: Budget, settings: AdaptiveSettings
) -> tuple[StopReason | None, str]:
    if settled and settings.stop_when_settled:
        return "settled", f"stopped: ranking settled: {_settled_summary(adjacent, settings)}"
    if open_total == 0:
        return "exhausted", "stopped: no open comparisons left (every pair is judged on every question it can be)"
    remaining = budget.remaining
    if remaining is not None and remaining < JUDGMENTS_PER_COMPARISON:
        return "budget", f"stopped: budget of {budget.max_judgments} judgments used"
    if settled:
        return None, f"ranking settled ({_settled_summary(adjacent, settings)}); going on to the budget"
    if not warmed_up:
        return None, f"warm-up: {short_pairs} pairs have fewer than {settings.warmup_battles_per_pair} battles"
    unresolved = [pair for pair in adjacent if not (pair.separated or pair.tied)]
    listed = ", ".join(f"{pair.higher} vs {pair.lower} at {pair.z:.2f}" for pair in unresolved[:3])
    more = f" and {len(unresolved) - 3} more" if len(unresolved) > 3 else ""
    return None, (
        f"not settled: {len(unresolved)} of {len(adjacent)} adjacent pairs not separated at {settings.confidence:.0%} "
        f"(standard errors apart: {listed}{more})"
    )


def _settled_summary(adjacent: tuple[PairSeparation, ...], settings: AdaptiveSettings) -> str:
    separated = [pair for pair in adjacent if pair.separated]
    tied = [pair for pair in adjacent if pair.tied and not pair.separated]
    text = f"every adjacent pair separated at {settings.confidence:.0%}"
    if tied:
        text = f"{len(separated)} adjacent pairs separated at {settings.confidence:.0%}, {len(tied)} tied within +-{settings.tie_margin_elo:g} Elo"
    if separated:
        closest = min(separated, key=lambda pair: pair.z)
        text += f" (closest: {closest.higher} vs {closest.lower}, {closest.z:.2f} standard errors apart)"
    return text


def _too_few_models_status(board: _Board) -> RankingStatus:
    estimates = tuple(ModelEstimate(name, 1000.0, 0.0, 0) for name in board.models)
    return RankingStatus(estimates, (), math.inf, 1.0, True, False, "too-few-models", "stopped: fewer than two models to compare", "")


# --- allocation: how many comparisons each pair gets this round -----------------------------


def _pair_index(i: int, j: int, m: int) -> int:
    return i * m - i * (i + 1) // 2 + (j - i - 1)


def _warmup_allocation(board: _Board, target: int, capacity: int, rng: np.random.Generator) -> np.ndarray:
    """Comparisons per pair that bring the pairs with the fewest battles up to `target` first."""
    open_per_pair = board.open_per_pair()
    allocation = np.zeros(len(open_per_pair), dtype=np.int64)
    tiebreak = rng.permutation(len(open_per_pair))
    heap = [
        (int(board.battles_per_pair[p]), int(tiebreak[p]), p)
        for p in range(len(open_per_pair))
        if board.battles_per_pair[p] < target and open_per_pair[p] > 0
    ]
    heapq.heapify(heap)
    left = capacity
    while heap and left > 0:
        battles, rank, p = heapq.heappop(heap)
        allocation[p] += 1
        left -= 1
        if battles + 1 < target and allocation[p] < open_per_pair[p]:
            heapq.heappush(heap, (battles + 1, rank, p))
    return allocation


def _greedy_allocation(
    board: _Board, estimate: _Estimate, warmup: np.ndarray, capacity: int, margin_elo: float, threshold: float
) -> np.ndarray:
    """Add `capacity` comparisons to `warmup`, chunk by chunk, where each most lowers the ranking risk."""
    allocation = warmup.copy()
    if capacity <= 0:
        return allocation
    i, j = board.pair_i, board.pair_j
    open_per_pair = board.open_per_pair()
    left_open = open_per_pair - allocation
    basis = estimate.basis
    kappa = estimate.design_effect
    p = expit(estimate.theta[i] - estimate.theta[j])
    weight = p * (1.0 - p)  # Fisher information of one battle of each pair
    exhaustive = kappa * _difference_variances(_add_battles(basis, i, j, open_per_pair * weight), i, j)
    start_variance = _to_exhaustive(kappa * _difference_variances(basis, i, j), exhaustive)  # the estimate moves by what the round removes
    basis = _add_battles(basis, i, j, allocation * weight)
    difference = estimate.theta[i] - estimate.theta[j]
    margin = margin_elo / estimate.elo_per_logit
    quadrature = _Quadrature.standard_normal(margin, threshold)
    chunk = max(1, math.ceil(capacity / CHUNKS_PER_ROUND))
    order = np.argsort(-estimate.theta, kind="stable")
    neighbours = np.array([_pair_index(min(a, b), max(a, b), board.n_models) for a, b in zip(order[:-1], order[1:], strict=False)])
    while capacity > 0 and (left_open > 0).any():
        variance = _to_exhaustive(kappa * _difference_variances(basis, i, j), exhaustive)  # (P,) the target pairs
        value = _value_per_battle(basis, i, j, start_variance, variance, difference, weight, left_open, chunk, kappa, quadrature)
        if value.max() <= 1e-15:  # the order is as sure as it gets: narrow the neighbours' intervals
            value = _narrowing_per_battle(basis, i, j, neighbours, weight, left_open, chunk)
        best = int(np.argmax(value))
        size = int(min(chunk, capacity, left_open[best]))
        allocation[best] += size
        left_open[best] -= size
        capacity -= size
        basis = _add_battles(basis, i[[best]], j[[best]], np.array([size * weight[best]]))
    return allocation


def _to_exhaustive(variance: np.ndarray, exhaustive: np.ndarray) -> np.ndarray:
    """The variance of a difference around the exhaustive board's, not the truth's.

    The exhaustive board (every open comparison judged) is a superset of the battles judged so
    far, so the two estimates differ by a variance of I_judged^-1 - I_exhaustive^-1 (nested fits):
    it falls to zero as a pair's questions run out, which the planner must see to finish a
    near-tie that only completing its questions can settle.
    """
    return np.maximum(variance - exhaustive, _LEAST_VARIANCE)


def _value_per_battle(
    basis: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    start_variance: np.ndarray,
    variance: np.ndarray,
    difference: np.ndarray,
    weight: np.ndarray,
    left_open: np.ndarray,
    chunk: int,
    kappa: float,
    quadrature: _Quadrature,
) -> np.ndarray:
    """For each candidate pair: the most expected ranking risk removed per battle, over look-ahead sizes.

    The risk is that expected at the end of the round: the variances of the pair differences fall
    from `start_variance` (the round's start) to what the allocation so far leaves (`variance`,
    from `basis`) and then to what n more battles of the candidate leave. A small look-ahead
    undervalues information (the order only changes if the estimate can cross zero), so each
    candidate is valued at the best of chunk, 2 chunks, 4 chunks, ... battles (up to what is
    open), as the KG(*) policy of Frazier and Powell does.
    """
    sizes = chunk * 2 ** np.arange(_LOOKAHEAD_DOUBLINGS + 1)  # (S,)
    size = np.minimum(sizes[None, :], left_open[:, None]).astype(np.float64)  # (C, S)
    now = quadrature.expected_risk(difference, start_variance, variance)  # (P,) each target pair's risk
    targets = np.flatnonzero(now > _NEGLIGIBLE_RISK)  # more battles cannot lower a risk below what it is
    cross_all = basis[:, i] - basis[:, j]  # (M, C): B u_c
    cross = cross_all[i[targets]] - cross_all[j[targets]]  # (T, C): u_t' B u_c
    own = cross_all[i, np.arange(len(i))] - cross_all[j, np.arange(len(i))]  # (C,): u_c' B u_c
    added = size * weight[:, None]  # (C, S)
    shrink = added / (1.0 + added * own[:, None])  # (C, S)
    after = np.maximum(variance[targets, None, None] - kappa * cross[:, :, None] ** 2 * shrink[None], _LEAST_VARIANCE)  # (T, C, S)
    later = quadrature.expected_risk(difference[targets, None, None], start_variance[targets, None, None], after)
    gain = np.maximum(now[targets, None, None] - later, 0.0).sum(axis=0)  # (C, S)
    per_battle = np.where(size > 0, gain / np.maximum(size, 1.0), -1.0)
    return per_battle.max(axis=1)


def _narrowing_per_battle(
    basis: np.ndarray, i: np.ndarray, j: np.ndarray, neighbours: np.ndarray, weight: np.ndarray, left_open: np.ndarray, chunk: int
) -> np.ndarray:
    """For each candidate pair: how much a chunk of its battles lowers the summed variance of the
    differences between neighbours in the ranking, per battle (-1 where nothing is open)."""
    size = np.minimum(chunk, left_open).astype(np.float64)
    cross_all = basis[:, i] - basis[:, j]  # (M, C)
    cross = cross_all[i[neighbours]] - cross_all[j[neighbours]]  # (N, C)
    own = cross_all[i, np.arange(len(i))] - cross_all[j, np.arange(len(i))]
    added = size * weight
    reduction = (cross**2).sum(axis=0) * added / (1.0 + added * own)
    return np.where(size > 0, reduction / np.maximum(size, 1.0), -1.0)


def _add_battles(basis: np.ndarray, i: np.ndarray, j: np.ndarray, information: np.ndarray) -> np.ndarray:
    """inv(A + sum_k information_k e_k e_k') by Sherman-Morrison, e_k = unit(i_k) - unit(j_k)."""
    for ik, jk, h in zip(i, j, information, strict=False):
        if h <= 0:
            continue
        column = basis[:, ik] - basis[:, jk]
        basis = basis - np.outer(column, column) * (h / (1.0 + h * (column[ik] - column[jk])))
    return basis


@dataclass(frozen=True)
class _Quadrature:
    """Gauss-Hermite expectation of the ranking risk over a normal future estimate."""

    nodes: np.ndarray
    weights: np.ndarray
    margin: float  # log-odds; > 0: a pair whose interval lies within it counts as resolved
    threshold: float

    @classmethod
    def standard_normal(cls, margin: float, threshold: float) -> _Quadrature:
        nodes, weights = np.polynomial.hermite_e.hermegauss(_QUADRATURE_NODES)
        return cls(nodes, weights / weights.sum(), margin, threshold)

    def expected_risk(self, difference: np.ndarray, variance: np.ndarray, after: np.ndarray) -> np.ndarray:
        """E[Phi(-|d'| / s')] with d' ~ N(d, s^2 - s'^2): the risk expected once the variance is `after`.

        With after == variance this is today's risk, Phi(-|d| / s).
        """
        spread = np.sqrt(np.maximum(variance - after, 0.0))
        future = difference[..., None] + spread[..., None] * self.nodes  # (..., K)
        scale = np.sqrt(after)[..., None]
        risk = ndtr(-np.abs(future) / scale)
        if self.margin > 0:
            risk = np.where(np.abs(future) + self.threshold * scale <= self.margin, 0.0, risk)
        return (risk * self.weights).sum(axis=-1)


# --- questions: which comparisons of each pair ------------------------------------------------


def _pick_questions(board: _Board, allocation: np.ndarray, rng: np.random.Generator) -> list[Comparison]:
    chosen: list[Comparison] = []
    for p in np.flatnonzero(allocation):
        chosen.extend(_pick_for_pair(board.open_by_category[p], board.judged_per_category[p], int(allocation[p]), rng))
    return chosen


def _pick_for_pair(
    open_by_category: Mapping[str, list[Comparison]], judged: Mapping[str, int], count: int, rng: np.random.Generator
) -> list[Comparison]:
    """`count` open comparisons, each from the category this pair has least of for its share.

    A category's share is its questions for this pair (judged and open); within a category the
    order is a seeded shuffle of the sorted comparisons, so the input order does not matter.
    """
    categories = sorted(category for category, items in open_by_category.items() if items)
    queues: dict[str, list[Comparison]] = {}
    for c in categories:
        items = sorted(open_by_category[c])
        queues[c] = [items[k] for k in rng.permutation(len(items))]
    share = {c: judged.get(c, 0) + len(queues[c]) for c in categories}
    used = {c: judged.get(c, 0) for c in categories}
    tiebreak = rng.permutation(len(categories))
    heap = [(used[c] / share[c], int(tiebreak[n]), c) for n, c in enumerate(categories)]
    heapq.heapify(heap)
    picked: list[Comparison] = []
    while heap and len(picked) < count:
        _, rank, c = heapq.heappop(heap)
        picked.append(queues[c].pop())
        used[c] += 1
        if queues[c]:
            heapq.heappush(heap, (used[c] / share[c], rank, c))
    return picked
