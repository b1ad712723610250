"""Style control: Bradley-Terry with answer-style differences as covariates, as LMArena does it.

    logit P(a beats b) = theta_a - theta_b + sum_k beta_k * z_k

For each chosen covariate k (arena.answers: length in tokens, header count, list-item
count, bold count), d_k = (s_a - s_b) / (s_a + s_b + 1) is the normalised difference of the two
answers and z_k = d_k / sd_k its standardised form: FastChat's `construct_style_matrices`
(elo_analysis.py) and arena-hard-auto compute the same. They also subtract the mean of d_k as
their battles happen to be oriented; we do not: which model is "a" is arbitrary (our judge puts
the alphabetically first one there), so every battle counts in both orientations, the mean is
zero and sd_k is the root mean square. `theta` are then the ratings at zero style difference and
`beta_k` what one standard deviation of a style difference is worth, in log-odds.

The fit carries the same weak prior as `bt` (on theta and beta alike), so it exists when style
alone separates wins from losses. A covariate per battle means the fit runs on battle rows:
Newton with O(battles) gradients and an (M+K)^2 Hessian built by bincount. Intervals are Wald
intervals from the sandwich covariance clustered by question, the clusters of the question
bootstrap (battles without a question id, or every battle with the battle bootstrap, are their
own clusters), with the small-sample factor G / (G - 1); a bootstrap of row refits would take
minutes at a million battles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.answers import STYLE_NAMES
from arena.errors import ArenaError
from arena.ratings.bt import ALPHA, PRIOR_PRECISION, logistic
from arena.ratings.resample import dense_ids

COVARIATES = STYLE_NAMES
COVARIATE_LABELS = {"tokens": "answer length (tokens)", "headers": "markdown headers",
                    "list_items": "markdown list items", "bold": "bold spans"}
Z_95 = 1.959963984540054
_TOL = 1e-8  # largest step, in natural log-odds, that counts as converged
_SAFE_STEP = 0.05  # smaller Newton steps skip the line search
_MAX_ITER = 100


def parse_covariates(text: str) -> tuple[str, ...]:
    """`tokens,bold` -> ("tokens", "bold"); "none" -> (); unknown names are an error."""
    if text.strip().lower() in ("none", ""):
        return ()
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in COVARIATES]
    if unknown:
        raise ArenaError(f"--style: unknown covariate(s) {', '.join(unknown)} "
                         f"(choose from {', '.join(COVARIATES)}, or none)")
    return tuple(name for name in COVARIATES if name in names)


def normalised_difference(style_a: np.ndarray, style_b: np.ndarray) -> np.ndarray:
    """(s_a - s_b) / (s_a + s_b + 1), elementwise; counts are non-negative."""
    return (style_a - style_b) / (style_a + style_b + 1.0)


def style_win_correlation(diff: np.ndarray, score_a: np.ndarray) -> float | None:
    """Correlation of a style difference with winning, symmetric in which model is called A.

    Each battle counts in both orientations, so the means are 0 and 0.5 by construction.
    """
    centred = score_a - 0.5
    denominator = float(np.sqrt((diff**2).sum() * (centred**2).sum()))
    return float((diff * centred).sum() / denominator) if denominator > 0 else None


@dataclass(frozen=True)
class StyleFit:
    covariates: tuple[str, ...]  # the covariates fitted (those that vary)
    theta: np.ndarray  # (M,) natural log-odds at zero style difference
    beta: np.ndarray  # (K,) log-odds per standard deviation of each normalised difference
    covariance: np.ndarray  # (M+K, M+K) clustered sandwich covariance, theta centred
    scales: np.ndarray  # (K,) standard deviation (rms) of each normalised difference
    n_battles: int
    n_clusters: int


def fit_style(a: np.ndarray, b: np.ndarray, score_a: np.ndarray, diffs: np.ndarray, names: tuple[str, ...],
              n_models: int, cluster: np.ndarray, start: np.ndarray | None = None) -> StyleFit | None:
    """The style-controlled fit on these battles (diffs: (N, K) normalised differences).

    `cluster` holds each battle's cluster id for the sandwich (-1: a cluster of its own).
    Covariates without variation are left out; None when none varies.
    """
    scales = np.sqrt(np.mean(diffs**2, axis=0)) if len(diffs) else np.zeros(len(names))
    varies = scales > 0
    if not varies.any():
        return None
    z = diffs[:, varies] / scales[varies]
    rows = _rows(a.astype(np.int64), b.astype(np.int64), score_a.astype(np.float64), z, n_models)
    params = np.zeros(n_models + z.shape[1])
    if start is not None:
        params[:n_models] = start
    params = _newton(rows, n_models, params)
    p = logistic(_eta(rows, params, n_models))
    bread = _hessian(rows, n_models, p * (1.0 - p)) + PRIOR_PRECISION * np.eye(len(params))
    meat, n_clusters = _clustered_meat(rows, n_models, len(params), rows.score - p, cluster)
    inverse = np.linalg.inv(bread)
    covariance = inverse @ meat @ inverse * (n_clusters / max(n_clusters - 1, 1))
    centre = np.eye(len(params))
    centre[:n_models, :n_models] -= 1.0 / n_models
    covariance = centre @ covariance @ centre.T
    theta = params[:n_models] - params[:n_models].mean()
    fitted = tuple(name for name, keep in zip(names, varies, strict=False) if keep)
    return StyleFit(fitted, theta, params[n_models:], covariance, scales[varies], len(a), n_clusters)


def elo_standard_errors(fit: StyleFit, anchor_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the ratings on the Elo scale (zero for an anchored model), and of beta."""
    m = len(fit.theta)
    cov = fit.covariance[:m, :m]
    if anchor_index is None:
        variance = np.diag(cov)
    else:
        variance = np.diag(cov) + cov[anchor_index, anchor_index] - 2.0 * cov[:, anchor_index]
    beta_variance = np.diag(fit.covariance)[m:]
    return np.sqrt(np.maximum(variance, 0.0)) / ALPHA, np.sqrt(np.maximum(beta_variance, 0.0))


@dataclass(frozen=True)
class _Rows:
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    zt: np.ndarray  # (K, N): each covariate's values contiguous, as bincount reads them
    pair: np.ndarray  # a * M + b: one bincount gives every per-model sum


def _rows(a: np.ndarray, b: np.ndarray, score: np.ndarray, z: np.ndarray, m: int) -> _Rows:
    return _Rows(a, b, score, np.ascontiguousarray(z.T), a * m + b)


def _eta(rows: _Rows, params: np.ndarray, m: int) -> np.ndarray:
    return params[rows.a] - params[rows.b] + params[m:] @ rows.zt


def _objective(rows: _Rows, params: np.ndarray, m: int) -> float:
    eta = _eta(rows, params, m)
    likelihood = rows.score * -np.logaddexp(0.0, -eta) + (1.0 - rows.score) * -np.logaddexp(0.0, eta)
    return float(likelihood.sum()) - 0.5 * PRIOR_PRECISION * float(params @ params)


def _by_model(rows: _Rows, weights: np.ndarray, m: int) -> np.ndarray:
    """(M, M) sums of `weights` over the battles of each (a, b)."""
    return np.bincount(rows.pair, weights, m * m).reshape(m, m)


def _gradient(rows: _Rows, params: np.ndarray, m: int, p: np.ndarray) -> np.ndarray:
    """The log posterior's gradient, given each battle's win probability p."""
    r = rows.score - p
    per_pair = _by_model(rows, r, m)
    g = np.empty(len(params))
    g[:m] = per_pair.sum(axis=1) - per_pair.sum(axis=0)
    g[m:] = rows.zt @ r
    return g - PRIOR_PRECISION * params


def _hessian(rows: _Rows, m: int, h: np.ndarray) -> np.ndarray:
    """sum_n h_n x_n x_n^T with x_n = e_a - e_b (and z_n at beta), built by bincount."""
    k = rows.zt.shape[0]
    out = np.zeros((m + k, m + k))
    pair = _by_model(rows, h, m)
    out[:m, :m] = -(pair + pair.T)
    out[np.arange(m), np.arange(m)] = pair.sum(axis=1) + pair.sum(axis=0)
    hz = rows.zt * h
    for c in range(k):
        per_pair = _by_model(rows, hz[c], m)
        cross = per_pair.sum(axis=1) - per_pair.sum(axis=0)
        out[:m, m + c] = cross
        out[m + c, :m] = cross
    out[m:, m:] = rows.zt @ hz.T
    return out


def _clustered_meat(rows: _Rows, m: int, n_params: int, r: np.ndarray, cluster: np.ndarray) -> tuple[np.ndarray, int]:
    """sum over clusters of (summed score)(summed score)^T, and how many clusters there are
    (r: each battle's residual, score - P(a wins), at the fit)."""
    grouped = cluster >= 0
    index = dense_ids(cluster[grouped])
    g = int(index.max()) + 1 if len(index) else 0
    sums = np.zeros((g, n_params))
    if g:
        rg = r[grouped]
        sums[:, :m] = (np.bincount(index * m + rows.a[grouped], rg, g * m)
                       - np.bincount(index * m + rows.b[grouped], rg, g * m)).reshape(g, m)
        for c in range(rows.zt.shape[0]):
            sums[:, m + c] = np.bincount(index, rg * rows.zt[c, grouped], g)
    meat = sums.T @ sums
    alone = ~grouped
    if alone.any():  # single-battle clusters: the ordinary sandwich for those rows
        single = _rows(rows.a[alone], rows.b[alone], rows.score[alone], rows.zt[:, alone].T, m)
        meat += _hessian(single, m, r[alone] ** 2)
    return meat, g + int(alone.sum())


def _newton(rows: _Rows, m: int, params: np.ndarray) -> np.ndarray:
    """The posterior mode; the objective is strictly concave, so Newton with halving converges.

    Near the optimum (every step under _SAFE_STEP) Newton converges quadratically and the step is
    taken whole, without evaluating the objective over every battle.
    """
    current = None
    for _ in range(_MAX_ITER):
        p = logistic(_eta(rows, params, m))
        hessian = _hessian(rows, m, p * (1.0 - p)) + PRIOR_PRECISION * np.eye(len(params))
        step = np.linalg.solve(hessian, _gradient(rows, params, m, p))
        if np.abs(step).max() < _SAFE_STEP:
            params = params + step
        else:
            current = _objective(rows, params, m) if current is None else current
            length = 1.0
            for _ in range(60):
                candidate = params + length * step
                value = _objective(rows, candidate, m)
                if value >= current - 1e-12 * (1.0 + abs(current)):
                    break
                length *= 0.5
            params, current, step = candidate, value, length * step
        if np.abs(step).max() < _TOL:
            return params
        if np.abs(step).max() >= _SAFE_STEP:
            continue
        current = None  # the objective moved without being evaluated
    raise ArenaError("style control: the fit did not converge")
