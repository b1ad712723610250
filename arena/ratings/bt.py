"""Bradley-Terry maximum likelihood on pairwise counts, and its multinomial bootstrap.

The model: P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400)), a tie counted as half a win for
each side (as LMArena/FastChat do). Internally ratings are natural log-odds `theta`
(R = 1000 + theta / ALPHA, ALPHA = ln(10) / 400), kept at mean zero.

Everything works on the sufficient statistics: for each unordered pair of models, how often the
first won, tied and lost. The fit is Newton's method with a backtracking line search, batched over
bootstrap rounds; the bootstrap draws multinomial resamples of those counts (the same
distribution as resampling battles with replacement) and refits each, warm-started from the full
fit. Cost grows with the number of model pairs and rounds, not with the number of battles.

Plain maximum likelihood has no finite solution when some group of models never lost (or never
won) against the rest, for example a model that won every battle, or a comparison graph in
pieces. Then, and only then, we add the Haldane-Anscombe correction: one virtual tie (half a win
each way) to every pair of models. The caller reports that in a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit, log_expit

SCALE = 400.0
BASE = 10.0
INIT_RATING = 1000.0
ALPHA = math.log(BASE) / SCALE  # natural log-odds per Elo point
PSEUDO_TIES_PER_PAIR = 1.0  # the regularisation used only when plain MLE diverges

_NEWTON_TOL = 1e-9  # largest step, in natural log-odds, that counts as converged
_MAX_ITER = 200
_MAX_STEP = 4.0  # cap on one Newton step (about 700 Elo), against overshooting far from the optimum
_SAFE_STEP = 0.05  # smaller Newton steps (warm starts near the optimum) skip the line search
_WORK_ELEMENTS = 4_000_000  # rounds are fitted in chunks of at most this many array elements


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


def pair_counts(a: np.ndarray, b: np.ndarray, score_a: np.ndarray, n_models: int) -> PairCounts:
    """Aggregate battles (model indices a, b; score of a: 1, 0.5, 0) into per-pair counts."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    score_a = np.asarray(score_a, dtype=np.float64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    score_lo = np.where(a == lo, score_a, 1.0 - score_a)
    outcome = np.where(score_lo == 1.0, 0, np.where(score_lo == 0.0, 2, 1))  # lo wins, tie, hi wins
    code = lo * n_models + hi
    pairs, inverse = np.unique(code, return_inverse=True)
    counts = np.bincount(inverse * 3 + outcome, minlength=3 * len(pairs)).reshape(-1, 3)
    return PairCounts(
        n_models=n_models,
        i=(pairs // n_models).astype(np.int64),
        j=(pairs % n_models).astype(np.int64),
        counts=counts.astype(np.float64),
    )


def with_pseudo_ties(pc: PairCounts, counts: np.ndarray | None = None) -> tuple[PairCounts, np.ndarray]:
    """Every pair of models, each with one virtual tie added (the regularisation).

    Returns the completed pairs and the counts (`pc.counts`, or resampled (..., P, 3) counts)
    mapped onto them, plus the virtual ties.
    """
    m = pc.n_models
    i_all, j_all = np.triu_indices(m, k=1)
    position = pc.i * m - pc.i * (pc.i + 1) // 2 + (pc.j - pc.i - 1)  # index of (i, j) in i_all, j_all
    source = pc.counts if counts is None else counts
    full = np.zeros(source.shape[:-2] + (len(i_all), 3))
    full[..., position, :] = source
    full[..., 1] += PSEUDO_TIES_PER_PAIR
    base = full if counts is None else with_pseudo_ties(pc)[1]
    return PairCounts(m, i_all.astype(np.int64), j_all.astype(np.int64), base), full


def mle_exists(pc: PairCounts, counts: np.ndarray | None = None) -> bool:
    """True when plain MLE is finite: every model reaches every other through wins (ties count both ways)."""
    return bool(_strongly_connected(pc, (pc.counts if counts is None else counts)[None])[0])


def _strongly_connected(pc: PairCounts, counts: np.ndarray) -> np.ndarray:
    """For each (P, 3) count table in `counts` (B, P, 3): is its win graph strongly connected?"""
    b, m = counts.shape[0], pc.n_models
    adjacency = np.zeros((b, m, m), dtype=bool)
    links = _links(counts)
    adjacency[:, pc.i, pc.j] = links[..., 0]
    adjacency[:, pc.j, pc.i] = links[..., 1]
    return _reaches_all(adjacency) & _reaches_all(adjacency.transpose(0, 2, 1))


def _reaches_all(adjacency: np.ndarray) -> np.ndarray:
    """Whether model 0 reaches every model, per graph in the batch (breadth-first, all at once)."""
    reached = np.zeros(adjacency.shape[:2], dtype=bool)
    reached[:, 0] = True
    edges = adjacency.astype(np.float32)
    for _ in range(adjacency.shape[1]):
        step = np.einsum("bm,bmn->bn", reached.astype(np.float32), edges)
        grown = reached | (step > 0)
        if (grown == reached).all():
            break
        reached = grown
    return reached.all(axis=1)


def _links(counts: np.ndarray) -> np.ndarray:
    """(..., P, 2): whether i beat-or-tied j, and j beat-or-tied i."""
    return np.stack([counts[..., 0] + counts[..., 1] > 0, counts[..., 2] + counts[..., 1] > 0], axis=-1)


def _diverging_rounds(pc: PairCounts, draws: np.ndarray) -> np.ndarray:
    """Which resamples (of counts whose MLE is finite) have no finite MLE.

    Only a resample that lost a link of the win graph can have; those few get the graph check.
    """
    lost_link = (_links(pc.counts) & ~_links(draws)).any(axis=(1, 2))
    diverging = np.zeros(len(draws), dtype=bool)
    if lost_link.any():
        diverging[lost_link] = ~_strongly_connected(pc, draws[lost_link])
    return diverging


def _incidence(pc: PairCounts) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """D (P x M): +1 at i, -1 at j; and |D|."""
    p = len(pc.i)
    rows = np.concatenate([np.arange(p), np.arange(p)])
    cols = np.concatenate([pc.i, pc.j])
    signs = np.concatenate([np.ones(p), -np.ones(p)])
    d = sparse.csr_matrix((signs, (rows, cols)), shape=(p, pc.n_models))
    return d, abs(d)


def _log_likelihood(theta: np.ndarray, pc: PairCounts, wins: np.ndarray, totals: np.ndarray) -> np.ndarray:
    diff = theta[:, pc.i] - theta[:, pc.j]
    return (wins * log_expit(diff) + (totals - wins) * log_expit(-diff)).sum(axis=1)


def _line_search(
    theta: np.ndarray, step: np.ndarray, check: np.ndarray, pc: PairCounts, wins: np.ndarray, totals: np.ndarray
) -> np.ndarray:
    """Step lengths that do not lower the likelihood (halving), for the rows flagged in `check`."""
    length = np.ones(len(theta))
    rows = np.flatnonzero(check)
    if len(rows) == 0:
        return length
    th, st, w, n = theta[rows], step[rows], wins[rows], totals[rows]
    current = _log_likelihood(th, pc, w, n)
    sub = np.ones(len(rows))
    for _ in range(60):
        worse = _log_likelihood(th + sub[:, None] * st, pc, w, n) < current - 1e-12 * (1.0 + np.abs(current))
        if not worse.any():
            break
        sub[worse] *= 0.5
    length[rows] = sub
    return length


def _newton(theta: np.ndarray, pc: PairCounts, wins: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Maximise the BT log-likelihood for each row (round) of wins/totals (B, P); theta (B, M)."""
    theta = theta - theta.mean(axis=1, keepdims=True)
    d, d_abs = _incidence(pc)
    m = pc.n_models
    gauge = np.full((m, m), 1.0 / m)  # fixes the free constant: steps stay at mean zero
    active = np.arange(theta.shape[0])
    for _ in range(_MAX_ITER):
        if len(active) == 0:
            break
        th, w, n = theta[active], wins[active], totals[active]
        p = expit(th[:, pc.i] - th[:, pc.j])
        gradient = (d.T @ (w - n * p).T).T
        weight = n * p * (1.0 - p)
        hessian = np.zeros((len(active), m, m))
        hessian[:, pc.i, pc.j] = -weight
        hessian[:, pc.j, pc.i] = -weight
        hessian[:, np.arange(m), np.arange(m)] = (d_abs.T @ weight.T).T
        step = np.linalg.solve(hessian + gauge, gradient[..., None])[..., 0]
        largest = np.abs(step).max(axis=1)
        step *= np.minimum(1.0, _MAX_STEP / np.maximum(largest, 1e-300))[:, None]
        length = _line_search(th, step, largest > _SAFE_STEP, pc, w, n)
        theta[active] = th + length[:, None] * step
        done = (length * largest) < _NEWTON_TOL
        active = active[~done]
    return theta - theta.mean(axis=1, keepdims=True)


@dataclass(frozen=True)
class BTFit:
    theta: np.ndarray  # (M,) natural log-odds, mean zero
    regularised: bool  # the pseudo-ties were added because plain MLE has no finite solution


def fit_bt(pc: PairCounts) -> BTFit:
    """The maximum likelihood ratings for these counts (regularised only if MLE diverges)."""
    regularised = not mle_exists(pc)
    fit_pc, counts = with_pseudo_ties(pc) if regularised else (pc, pc.counts)
    wins, totals = fit_pc.wins_and_totals(counts)
    theta = _newton(np.zeros((1, pc.n_models)), fit_pc, wins[None], totals[None])[0]
    return BTFit(theta=theta, regularised=regularised)


@dataclass(frozen=True)
class Bootstrap:
    theta: np.ndarray  # (rounds, M)
    regularised_rounds: int  # rounds whose resample needed the pseudo-ties


def bootstrap_bt(pc: PairCounts, fit: BTFit, rounds: int, seed: int = 0) -> Bootstrap:
    """Refit on `rounds` multinomial resamples of the counts (n = number of battles)."""
    if rounds <= 0:
        return Bootstrap(np.empty((0, pc.n_models)), 0)
    rng = np.random.default_rng(seed)
    flat = pc.counts.ravel()
    n = int(round(flat.sum()))
    chunk = max(1, _WORK_ELEMENTS // max(pc.n_models**2, flat.size))
    thetas: list[np.ndarray] = []
    regularised_rounds = 0
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        draws = rng.multinomial(n, flat / n, size=size).astype(np.float64).reshape(size, -1, 3)
        needs_prior = np.ones(size, dtype=bool) if fit.regularised else _diverging_rounds(pc, draws)
        regularised_rounds += int(needs_prior.sum())
        theta = np.empty((size, pc.n_models))
        if (~needs_prior).any():
            wins, totals = pc.wins_and_totals(draws[~needs_prior])
            start_theta = np.broadcast_to(fit.theta, (len(wins), pc.n_models)).copy()
            theta[~needs_prior] = _newton(start_theta, pc, wins, totals)
        if needs_prior.any():
            full_pc, full_counts = with_pseudo_ties(pc, draws[needs_prior])
            wins, totals = full_pc.wins_and_totals(full_counts)
            start_theta = np.broadcast_to(fit.theta, (len(wins), pc.n_models)).copy()
            theta[needs_prior] = _newton(start_theta, full_pc, wins, totals)
        thetas.append(theta)
    return Bootstrap(np.concatenate(thetas), regularised_rounds)


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
