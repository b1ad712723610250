"""Length control: the contextual fit finds a planted verbosity effect, and none where there is none."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from arena.ratings.bt import ALPHA
from arena.ratings.length import (
    elo_intervals,
    fit_length_controlled,
    length_win_correlation,
    normalised_length_difference,
)


def planted(beta: float, seed: int, n: int = 20_000):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    true = np.array([-120.0, -40.0, 0.0, 60.0, 100.0]) * ALPHA
    m = len(true)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    len_a = rng.integers(50, 3000, n).astype(float)
    len_b = rng.integers(50, 3000, n).astype(float)
    diff = normalised_length_difference(len_a, len_b)
    z = diff / np.sqrt(np.mean(diff**2))
    score = (rng.random(n) < expit(true[a] - true[b] + beta * z)).astype(float)
    return a, b, score, diff, true - true.mean()


def test_recovers_a_planted_length_effect_and_the_ratings_at_equal_length() -> None:
    a, b, score, diff, true = planted(beta=0.4, seed=3)
    fit = fit_length_controlled(a, b, score, diff, 5)
    assert fit is not None
    se_elo, beta_se = elo_intervals(fit, None)
    assert abs(fit.beta - 0.4) < 3 * beta_se and beta_se < 0.03
    assert np.abs(fit.theta - true).max() / ALPHA < 4 * se_elo.max()


def test_no_effect_when_length_does_not_matter() -> None:
    a, b, score, diff, _ = planted(beta=0.0, seed=4)
    fit = fit_length_controlled(a, b, score, diff, 5)
    assert fit is not None
    _, beta_se = elo_intervals(fit, None)
    assert abs(fit.beta) < 3 * beta_se


def test_anchored_model_has_no_interval_width() -> None:
    a, b, score, diff, _ = planted(beta=0.2, seed=5, n=3000)
    fit = fit_length_controlled(a, b, score, diff, 5)
    se_elo, _ = elo_intervals(fit, anchor_index=2)
    assert se_elo[2] < 1e-6 and (np.delete(se_elo, 2) > 1.0).all()


def test_equal_lengths_give_no_fit_and_regularisation_keeps_it_finite() -> None:
    a = np.array([0, 0, 1])
    b = np.array([1, 2, 2])
    score = np.array([1.0, 1.0, 1.0])  # 0 never lost, 2 never won
    assert fit_length_controlled(a, b, score, np.zeros(3), 3) is None
    fit = fit_length_controlled(a, b, score, np.array([0.2, -0.1, 0.3]), 3, regularise=True)
    assert fit is not None and np.isfinite(fit.theta).all() and np.isfinite(fit.covariance).all()


def test_length_win_correlation_sign_and_symmetry() -> None:
    diff = np.array([0.5, -0.5, 0.2, -0.2])
    longer_wins = length_win_correlation(diff, np.array([1.0, 0.0, 1.0, 0.0]))
    assert longer_wins is not None and longer_wins > 0.9
    # the same battles with A and B swapped
    assert length_win_correlation(-diff, np.array([0.0, 1.0, 0.0, 1.0])) == longer_wins
    assert length_win_correlation(diff, np.array([0.0, 1.0, 0.5, 0.5])) < 0
    assert length_win_correlation(diff, np.full(4, 0.5)) is None


def test_length_that_separates_outcomes_is_regularised_not_a_crash() -> None:
    # model_a never lost and was always the longer answer: beta would run off to infinity
    a = np.array([0, 1, 0] * 12)
    b = np.array([2, 2, 1] * 12)
    score = np.array([1.0, 1.0, 0.5] * 12)
    fit = fit_length_controlled(a, b, score, np.full(36, 0.15), 3)
    assert fit is not None and fit.regularised
    assert np.isfinite(fit.theta).all() and np.isfinite(fit.beta) and np.isfinite(fit.covariance).all()
    unbiased = fit_length_controlled(*planted(beta=0.3, seed=6, n=4000)[:4], 5)
    assert unbiased is not None and not unbiased.regularised
