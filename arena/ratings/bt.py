"""Bradley-Terry on pairwise counts with one weak Gaussian prior, and batched refits for the bootstrap.

The model: P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400)), a tie counted as half a win for
each side (as LMArena/FastChat do). Internally ratings are natural log-odds `theta`
(R = 1000 + theta / ALPHA, ALPHA = ln(10) / 400).

The prior: every theta is N(0, (PRIOR_SD_ELO * ALPHA)^2), independently, in the fit, in every
bootstrap round and in the style-controlled fit alike. Ratings therefore always exist (a model
that never lost, or a comparison graph in pieces, still gets a finite rating), no round switches
between a plain and a regularised fit, and the penalised optimum has mean-zero theta by itself.
It is weak: with 100 battles per pair it moves no rating by more than 1 Elo for models within
500 Elo of each other, and with little data it shrinks far less than the intervals are wide
(tests/ratings/test_prior.py; benchmarks/rating_simulations.py prints the figures).

Everything works on the sufficient statistics: for each unordered pair of models, how often the
first won, tied and lost. The fit is Newton's method with a backtracking line search. Bootstrap
rounds are refitted all at once from the full fit, first with quasi-Newton steps that reuse the
full fit's Hessian (a resample's Hessian is close to it, so a few cheap steps converge), then
with full Newton for any round those steps did not settle. Cost grows with the number of model
pairs and rounds, not with the number of battles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCALE = 400.0
BASE = 10.0
INIT_RATING = 1000.0
ALPHA = math.log(BASE) / SCALE  # natural log-odds per Elo point
PRIOR_SD_ELO = 1000.0  # the prior's standard deviation of a rating around the mean
PRIOR_PRECISION = 1.0 / (PRIOR_SD_ELO * ALPHA) ** 2  # lambda: the prior's weight in natural log-odds

_NEWTON_TOL = 1e-9  # largest step, in natural log-odds, that counts as converged
_REFIT_TOL = 1e-4  # the same for bootstrap rounds (about 0.02 Elo, far below their spread)
_QUASI_STEPS = 12  # fixed-Hessian steps before a round falls back to full Newton
_MAX_ITER = 200
_MAX_STEP = 4.0  # cap on one Newton step (about 700 Elo), against overshooting far from the optimum


@dataclass(frozen=True)
class PairCounts:
    """Outcome counts per unordered pair (i < j): columns i wins, tie, j wins."""

    n_models: int
    i: np.ndarray  # (P,) int
    j: np.ndarray  # (P,) int
    counts: np.ndarray  # (P, 3) float

    @property
    def n_battles(self) -> int:
        return int(round(self.counts.sum()))

    def wins_and_totals(self, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Wins of i (ties as half) and battles per pair, for these or resampled counts (..., P, 3)."""
        c = self.counts if counts is None else counts
        return c[..., 0] + 0.5 * c[..., 1], c.sum(axis=-1)


def pair_cells(a: np.ndarray, b: np.ndarray, score_a: np.ndarray, n_models: int) -> tuple[PairCounts, np.ndarray]:
    """Per-pair counts of battles (model indices a, b; score of a: 1, 0.5, 0), and each battle's cell.

    A battle's cell is 3 * (its pair's row in the counts) + (0: lower index won, 1: tie, 2: higher won),
    the index into `counts.ravel()` that the bootstrap resamples.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    score_a = np.asarray(score_a, dtype=np.float64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    score_lo = np.where(a == lo, score_a, 1.0 - score_a)
    outcome = np.where(score_lo == 1.0, 0, np.where(score_lo == 0.0, 2, 1))
    code = lo * n_models + hi
    present = np.bincount(code, minlength=n_models * n_models) > 0  # models are few: no sort needed
    pairs = np.flatnonzero(present)
    cell = (np.cumsum(present) - 1)[code] * 3 + outcome
    counts = np.bincount(cell, minlength=3 * len(pairs)).reshape(-1, 3)
    pc = PairCounts(n_models, (pairs // n_models).astype(np.int64), (pairs % n_models).astype(np.int64),
                    counts.astype(np.float64))
    return pc, cell


def pair_counts(a: np.ndarray, b: np.ndarray, score_a: np.ndarray, n_models: int) -> PairCounts:
    return pair_cells(a, b, score_a, n_models)[0]


def comparison_groups(pc: PairCounts) -> list[list[int]]:
    """The connected parts of the comparison graph (models linked by any battle), largest first.

    Ratings in different parts are not comparable: nothing but the prior relates them.
    """
    parent = list(range(pc.n_models))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j in zip(pc.i.tolist(), pc.j.tolist(), strict=False):
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for k in range(pc.n_models):
        groups.setdefault(root(k), []).append(k)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def _incidence(pc: PairCounts) -> np.ndarray:
    """D (P x M): +1 at i, -1 at j."""
    d = np.zeros((len(pc.i), pc.n_models))
    rows = np.arange(len(pc.i))
    d[rows, pc.i] = 1.0
    d[rows, pc.j] = -1.0
    return d


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), through tanh: exact to rounding, and several times faster than scipy's expit."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _objective(theta: np.ndarray, pc: PairCounts, wins: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """The log posterior (up to a constant) of each row of theta (B, M)."""
    diff = theta[:, pc.i] - theta[:, pc.j]
    likelihood = -(wins * np.logaddexp(0.0, -diff) + (totals - wins) * np.logaddexp(0.0, diff)).sum(axis=1)
    return likelihood - 0.5 * PRIOR_PRECISION * (theta**2).sum(axis=1)


def _gradient(theta: np.ndarray, d: np.ndarray, wins: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the log posterior (B, M), and the win probabilities (B, P)."""
    p = logistic(theta @ d.T)
    return (wins - totals * p) @ d - PRIOR_PRECISION * theta, p


def _hessians(pc: PairCounts, d: np.ndarray, totals: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Negative Hessians of the log posterior, (B, M, M)."""
    m = pc.n_models
    weight = totals * p * (1.0 - p)
    hessian = np.zeros((len(weight), m, m))
    hessian[:, pc.i, pc.j] = -weight
    hessian[:, pc.j, pc.i] = -weight
    hessian[:, np.arange(m), np.arange(m)] = weight @ np.abs(d) + PRIOR_PRECISION
    return hessian


def _line_search(theta: np.ndarray, step: np.ndarray, pc: PairCounts, wins: np.ndarray,
                 totals: np.ndarray) -> np.ndarray:
    """Step lengths (halving) that do not lower the log posterior, one per row."""
    current = _objective(theta, pc, wins, totals)
    length = np.ones(len(theta))
    for _ in range(60):
        worse = _objective(theta + length[:, None] * step, pc, wins, totals) < current - 1e-12 * (1.0 + np.abs(current))
        if not worse.any():
            break
        length[worse] *= 0.5
    return length


def _newton(theta: np.ndarray, pc: PairCounts, wins: np.ndarray, totals: np.ndarray, tol: float) -> np.ndarray:
    """Maximise the log posterior for each row (round) of wins/totals (B, P); theta (B, M)."""
    theta = theta.copy()
    d = _incidence(pc)
    active = np.arange(theta.shape[0])
    for _ in range(_MAX_ITER):
        if len(active) == 0:
            break
        th, w, n = theta[active], wins[active], totals[active]
        gradient, p = _gradient(th, d, w, n)
        step = np.linalg.solve(_hessians(pc, d, n, p), gradient[..., None])[..., 0]
        largest = np.abs(step).max(axis=1)
        step *= np.minimum(1.0, _MAX_STEP / np.maximum(largest, 1e-300))[:, None]
        length = _line_search(th, step, pc, w, n)
        theta[active] = th + length[:, None] * step
        active = active[(length * largest) >= tol]
    return theta


def fit_bt(pc: PairCounts) -> np.ndarray:
    """The posterior mode of theta (M,), mean zero, for these counts."""
    wins, totals = pc.wins_and_totals()
    return _newton(np.zeros((1, pc.n_models)), pc, wins[None], totals[None], _NEWTON_TOL)[0]


def refit_rounds(pc: PairCounts, theta: np.ndarray, wins: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """The posterior mode for each resample (wins of i, battles: (B, P) each), started from the full fit.

    Quasi-Newton steps with the full fit's Hessian first: one matrix for every round, in single
    precision (the steps are corrections of at most a few hundredths; float32 keeps them exact to
    about 1e-7). A round stops when its next correction is predicted below _REFIT_TOL from the
    shrinking of its last two steps; a round whose steps grow, or that has not settled after
    _QUASI_STEPS, is finished by full Newton in double precision.
    """
    d = _incidence(pc)
    full_wins, full_totals = pc.wins_and_totals()
    _, p_full = _gradient(theta[None], d, full_wins[None], full_totals[None])
    inverse = np.linalg.inv(_hessians(pc, d, full_totals[None], p_full)[0]).astype(np.float32)
    d32, w32, n32 = d.astype(np.float32), wins.astype(np.float32, copy=False), totals.astype(np.float32, copy=False)
    out = np.broadcast_to(theta, (len(wins), pc.n_models)).astype(np.float32)
    needs_newton = np.zeros(len(wins), dtype=bool)
    previous = np.full(len(wins), np.inf, dtype=np.float32)
    active = np.arange(len(wins))
    for _ in range(_QUASI_STEPS):
        if len(active) == 0:
            break
        th = out[active]
        p = logistic(th @ d32.T)
        step = ((w32[active] - n32[active] * p) @ d32 - np.float32(PRIOR_PRECISION) * th) @ inverse
        largest = np.abs(step).max(axis=1)
        shrink = largest / previous[active]  # 0 on the first step: no estimate yet
        growing = (shrink > 1.0) & (largest > 10 * _REFIT_TOL)  # below that, float32 rounding
        needs_newton[active[growing]] = True  # diverging: finished by Newton from the full fit
        out[active[growing]] = theta
        out[active[~growing]] = th[~growing] + step[~growing]
        remaining = np.where(shrink > 0, largest * shrink / np.maximum(1.0 - shrink, 1e-3), np.inf)
        previous[active] = largest
        settled = (remaining < _REFIT_TOL) | (largest < _REFIT_TOL)
        active = active[~growing & ~settled]
    needs_newton[active] = True
    result = out.astype(np.float64)
    rows = np.flatnonzero(needs_newton)
    if len(rows):
        result[rows] = _newton(result[rows], pc, wins[rows].astype(np.float64), totals[rows].astype(np.float64),
                               _REFIT_TOL)
    return result


def to_elo(theta: np.ndarray, anchor_index: int | None = None, anchor_rating: float = INIT_RATING) -> np.ndarray:
    """Natural log-odds (..., M) to the Elo scale: mean 1000, or one model pinned to a rating."""
    elo = theta / ALPHA
    if anchor_index is None:
        return elo - elo.mean(axis=-1, keepdims=True) + INIT_RATING
    return elo - elo[..., [anchor_index]] + anchor_rating


def win_probability(rating_i: np.ndarray | float, rating_j: np.ndarray | float) -> np.ndarray | float:
    """P(i beats j) on the Elo scale (a tie counted as half)."""
    return 1.0 / (1.0 + BASE ** ((np.asarray(rating_j) - np.asarray(rating_i)) / SCALE))


def ranks_with_ci(ci_low: np.ndarray, ci_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LMArena's rank with uncertainty, and the worst rank the intervals allow.

    rank = 1 + the number of models whose lower bound is above this model's upper bound;
    worst = the number of models whose upper bound is not below this model's lower bound.
    """
    rank = 1 + (ci_low[None, :] > ci_high[:, None]).sum(axis=1)
    worst = len(ci_low) - (ci_high[None, :] < ci_low[:, None]).sum(axis=1)
    return rank, worst
