"""Length control: Bradley-Terry with the answer-length difference as a covariate.

    logit P(a beats b) = theta_a - theta_b + beta * z,   z = d / rms(d),   d = (len_a - len_b) / (len_a + len_b)

the idea of LMArena's style control and AlpacaEval's length-controlled win rate: `beta` is what
one standard deviation of normalised length difference buys, and theta are the ratings at equal
length. A covariate per battle means the fit runs on battle rows (Newton with an O(battles)
gradient and an (M+1)^2 Hessian built by bincount). Its 95% intervals are Wald intervals from the
robust (sandwich) covariance rather than a bootstrap: at a million battles a thousand refits on
rows would take minutes, and the sandwich also stays right with ties scored as half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from arena.errors import ArenaError
from arena.ratings.bt import ALPHA, PSEUDO_TIES_PER_PAIR

Z_95 = 1.959963984540054
_TOL = 1e-9
_MAX_ITER = 200
_DIVERGED = 30.0  # log-odds (about 5000 Elo): the likelihood is still rising towards infinity


def normalised_length_difference(len_a: np.ndarray, len_b: np.ndarray) -> np.ndarray:
    """(len_a - len_b) / (len_a + len_b), in [-1, 1]; 0 when both are empty."""
    total = len_a + len_b
    return np.divide(len_a - len_b, total, out=np.zeros_like(total, dtype=np.float64), where=total > 0)


def length_win_correlation(diff: np.ndarray, score_a: np.ndarray) -> float | None:
    """Correlation of length difference with winning, symmetric in which model is called A.

    Each battle counts in both orientations, so means are 0 and 0.5 by construction.
    """
    centred = score_a - 0.5
    denominator = float(np.sqrt((diff**2).sum() * (centred**2).sum()))
    return float((diff * centred).sum() / denominator) if denominator > 0 else None


@dataclass(frozen=True)
class LengthControlledFit:
    theta: np.ndarray  # (M,) natural log-odds at equal length, mean zero
    beta: float  # log-odds per standard deviation of normalised length difference
    covariance: np.ndarray  # (M+1, M+1) robust covariance of (theta, beta), theta centred
    length_scale: float  # rms of the normalised length difference (z = d / length_scale)
    n_battles: int
    regularised: bool  # fitted with virtual ties because the plain maximum likelihood diverges


def fit_length_controlled(
    a: np.ndarray,
    b: np.ndarray,
    score_a: np.ndarray,
    diff: np.ndarray,
    n_models: int,
    regularise: bool = False,
) -> LengthControlledFit | None:
    """The contextual fit, or None when the lengths do not vary (nothing to control for)."""
    scale = float(np.sqrt(np.mean(diff**2))) if len(diff) else 0.0
    if scale == 0.0:
        return None
    data = _Rows(a.astype(np.int64), b.astype(np.int64), score_a.astype(np.float64), diff / scale, np.ones(len(a)))
    params = None if regularise else _newton(data, n_models)
    regularised = params is None
    rows = _with_pseudo_ties(data, n_models) if regularised else data
    if params is None:
        params = _newton(rows, n_models)
        if params is None:
            raise ArenaError("length control: the contextual fit did not converge even with the regularisation")
    bread = _hessian(rows, params, n_models, _weights_hessian(rows, params))
    meat = _hessian(data, params, n_models, (data.score - expit(_eta(data, params))) ** 2)
    gauge = np.zeros_like(bread)
    gauge[:n_models, :n_models] = 1.0 / n_models
    inverse = np.linalg.inv(bread + gauge)
    covariance = inverse @ meat @ inverse
    centre = np.eye(n_models + 1)
    centre[:n_models, :n_models] -= 1.0 / n_models
    covariance = centre @ covariance @ centre.T
    theta = params[:n_models] - params[:n_models].mean()
    return LengthControlledFit(theta, float(params[-1]), covariance, scale, len(a), regularised)


def _with_pseudo_ties(data: _Rows, m: int) -> _Rows:
    """One virtual tie per pair of models, split between z = +1 and z = -1.

    Added when the maximum likelihood diverges: some model never lost, or the length difference
    alone separates wins from losses (for example model_a never lost and was always longer).
    Ties on both sides of z bound the ratings and the length coefficient alike.
    """
    i, j = np.triu_indices(m, k=1)
    half = np.full(2 * len(i), PSEUDO_TIES_PER_PAIR / 2.0)
    pseudo = _Rows(np.tile(i, 2), np.tile(j, 2), np.full(2 * len(i), 0.5),
                   np.repeat([1.0, -1.0], len(i)), half)
    return data.concat(pseudo)


def elo_intervals(fit: LengthControlledFit, anchor_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the ratings on the Elo scale (zero for an anchored model), and of beta."""
    m = len(fit.theta)
    cov = fit.covariance[:m, :m]
    if anchor_index is None:
        variance = np.diag(cov)
    else:
        variance = np.diag(cov) + cov[anchor_index, anchor_index] - 2.0 * cov[:, anchor_index]
    return np.sqrt(np.maximum(variance, 0.0)) / ALPHA, np.sqrt(max(fit.covariance[m, m], 0.0))


@dataclass(frozen=True)
class _Rows:
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    z: np.ndarray
    weight: np.ndarray

    def concat(self, other: _Rows) -> _Rows:
        return _Rows(*(np.concatenate([x, y]) for x, y in zip(self._fields(), other._fields())))

    def _fields(self) -> tuple[np.ndarray, ...]:
        return self.a, self.b, self.score, self.z, self.weight


def _eta(rows: _Rows, params: np.ndarray) -> np.ndarray:
    return params[rows.a] - params[rows.b] + params[-1] * rows.z


def _log_likelihood(rows: _Rows, params: np.ndarray) -> float:
    eta = _eta(rows, params)
    return float((rows.weight * (rows.score * log_expit(eta) + (1.0 - rows.score) * log_expit(-eta))).sum())


def _weights_hessian(rows: _Rows, params: np.ndarray) -> np.ndarray:
    p = expit(_eta(rows, params))
    return rows.weight * p * (1.0 - p)


def _gradient(rows: _Rows, params: np.ndarray, m: int) -> np.ndarray:
    r = rows.weight * (rows.score - expit(_eta(rows, params)))
    g = np.empty(m + 1)
    g[:m] = np.bincount(rows.a, r, m) - np.bincount(rows.b, r, m)
    g[m] = float((r * rows.z).sum())
    return g


def _hessian(rows: _Rows, params: np.ndarray, m: int, h: np.ndarray) -> np.ndarray:
    """sum_n h_n x_n x_n^T with x_n = e_a - e_b (+ z at beta), built by bincount."""
    out = np.zeros((m + 1, m + 1))
    pair = np.bincount(rows.a * m + rows.b, h, m * m).reshape(m, m)
    out[:m, :m] = -(pair + pair.T)
    out[np.arange(m), np.arange(m)] = np.bincount(rows.a, h, m) + np.bincount(rows.b, h, m)
    hz = h * rows.z
    cross = np.bincount(rows.a, hz, m) - np.bincount(rows.b, hz, m)
    out[:m, m] = cross
    out[m, :m] = cross
    out[m, m] = float((hz * rows.z).sum())
    return out


def _newton(rows: _Rows, m: int) -> np.ndarray | None:
    """The maximum likelihood parameters, or None when they run off to infinity (separation)."""
    params = np.zeros(m + 1)
    gauge = np.zeros((m + 1, m + 1))
    gauge[:m, :m] = 1.0 / m
    current = _log_likelihood(rows, params)
    for _ in range(_MAX_ITER):
        hessian = _hessian(rows, params, m, _weights_hessian(rows, params))
        try:
            step = np.linalg.solve(hessian + gauge, _gradient(rows, params, m))
        except np.linalg.LinAlgError:
            return None
        length = 1.0
        for _ in range(60):
            candidate = params + length * step
            value = _log_likelihood(rows, candidate)
            if value >= current - 1e-12 * (1.0 + abs(current)):
                break
            length *= 0.5
        params, current = candidate, value
        if np.abs(params).max() > _DIVERGED:
            return None
        if np.abs(length * step).max() < _TOL:
            return params
    return None
