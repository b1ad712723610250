"""Bradley-Terry on pair counts: recovery, interval coverage, agreement with scikit-learn, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from arena.ratings.bt import (
    ALPHA,
    bootstrap_bt,
    fit_bt,
    mle_exists,
    pair_counts,
    ranks_with_ci,
    to_elo,
    win_probability,
)
from tests.ratings.synthetic import draw_battles


def centred(elo: np.ndarray) -> np.ndarray:
    return elo - elo.mean() + 1000.0


def test_pair_counts_are_the_sufficient_statistics() -> None:
    a = np.array([0, 1, 0, 2, 2, 1])
    b = np.array([1, 0, 1, 0, 1, 2])
    score = np.array([1.0, 1.0, 0.5, 0.0, 0.5, 0.0])
    pc = pair_counts(a, b, score, 3)
    assert pc.i.tolist() == [0, 0, 1] and pc.j.tolist() == [1, 2, 2]
    # (0,1): 0 won, 1 won, tie; (0,2): 2 lost as model_a -> 0 won; (1,2): tie, then 1 lost as model_a
    assert pc.counts.tolist() == [[1, 1, 1], [1, 0, 0], [0, 1, 1]]
    assert pc.n_battles == 6


def test_fit_recovers_known_strengths() -> None:
    rng = np.random.default_rng(11)
    true = rng.normal(0.0, 120.0, 12)
    a, b, score = draw_battles(true, 60_000, rng)
    fit = fit_bt(pair_counts(a, b, score, 12))
    estimate = to_elo(fit.theta)
    assert not fit.regularised
    assert spearmanr(estimate, true).statistic > 0.97
    assert np.abs(estimate - centred(true)).max() < 15.0  # about two standard errors at this size


def test_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    """200 independent draws of 8 models: the share of true values inside their 95% CI."""
    rng = np.random.default_rng(2024)
    true = np.array([-250.0, -160.0, -90.0, -20.0, 30.0, 100.0, 170.0, 240.0])
    covered, total = 0, 0
    for draw in range(200):
        a, b, score = draw_battles(true, 800, rng)
        pc = pair_counts(a, b, score, len(true))
        fit = fit_bt(pc)
        boot = to_elo(bootstrap_bt(pc, fit, rounds=400, seed=draw).theta)
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        truth = centred(true)
        covered += int(((truth >= low) & (truth <= high)).sum())
        total += len(true)
    coverage = covered / total
    assert 0.90 <= coverage <= 0.985, coverage


def test_same_ratings_as_scikit_learn_logistic_regression_within_half_an_elo() -> None:
    """FastChat's compute_mle_elo: one row per battle, doubled, ties as one A win and one B win."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    true = rng.normal(0.0, 150.0, 10)
    a, b, score = draw_battles(true, 6000, rng, tie_share=0.2)
    m = len(true)
    n = len(a)
    x = np.zeros((2 * n, m))
    x[np.arange(2 * n), np.concatenate([a, a])] = math.log(10.0)
    x[np.arange(2 * n), np.concatenate([b, b])] = -math.log(10.0)
    y = np.concatenate([score >= 0.5, score == 1.0]).astype(int)  # tie -> one win, one loss
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=10_000)
    model.fit(x, y)
    reference = centred(400.0 * model.coef_[0])
    ours = to_elo(fit_bt(pair_counts(a, b, score, m)).theta)
    assert np.abs(ours - reference).max() < 0.5


def test_bootstrap_is_seeded_and_reproducible() -> None:
    rng = np.random.default_rng(1)
    a, b, score = draw_battles(np.array([0.0, 50.0, 100.0, 150.0]), 500, rng)
    pc = pair_counts(a, b, score, 4)
    fit = fit_bt(pc)
    first = bootstrap_bt(pc, fit, 50, seed=7).theta
    assert np.array_equal(first, bootstrap_bt(pc, fit, 50, seed=7).theta)
    assert not np.array_equal(first, bootstrap_bt(pc, fit, 50, seed=8).theta)


def test_a_model_that_never_lost_gets_a_finite_regularised_rating() -> None:
    # model 0 beats everyone every time; the others trade wins
    a = np.array([0, 0, 0, 0, 1, 2, 3, 1, 2, 3])
    b = np.array([1, 2, 3, 1, 2, 3, 1, 3, 1, 2])
    score = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0.5])
    pc = pair_counts(a, b, score, 4)
    assert not mle_exists(pc)
    fit = fit_bt(pc)
    boot = bootstrap_bt(pc, fit, 100, seed=0)
    elo = to_elo(fit.theta)
    assert fit.regularised and boot.regularised_rounds == 100
    assert np.isfinite(elo).all() and np.isfinite(boot.theta).all()
    assert elo.argmax() == 0 and elo[0] - np.sort(elo)[-2] < 800


def test_never_won_and_disconnected_graphs_stay_finite() -> None:
    never_won = pair_counts(np.array([0, 1, 0]), np.array([1, 2, 2]), np.array([1.0, 0.5, 1.0]), 3)
    disconnected = pair_counts(np.array([0, 0, 2, 2]), np.array([1, 1, 3, 3]), np.array([1.0, 0.0, 1.0, 0.5]), 4)
    for pc in (never_won, disconnected):
        fit = fit_bt(pc)
        assert fit.regularised and np.isfinite(fit.theta).all()
        assert np.isfinite(bootstrap_bt(pc, fit, 20).theta).all()


def test_well_connected_data_is_not_regularised_even_if_a_resample_is() -> None:
    # 0 lost only once to 1: some resamples drop that loss and need the correction
    a = np.array([0] * 10 + [1] * 10 + [0])
    b = np.array([1] * 10 + [2] * 10 + [2])
    score = np.array([1.0] * 9 + [0.0] + [1.0] * 5 + [0.0] * 5 + [0.0])
    pc = pair_counts(a, b, score, 3)
    fit = fit_bt(pc)
    boot = bootstrap_bt(pc, fit, 200, seed=3)
    assert not fit.regularised
    assert 0 < boot.regularised_rounds < 200
    assert np.isfinite(boot.theta).all()


def test_anchoring_pins_one_model_and_keeps_differences() -> None:
    theta = np.array([-0.5, 0.0, 1.0])
    default = to_elo(theta)
    pinned = to_elo(theta, anchor_index=1, anchor_rating=1200.0)
    assert default.mean() == pytest.approx(1000.0)
    assert pinned[1] == pytest.approx(1200.0)
    assert np.allclose(np.diff(default), np.diff(pinned))
    assert pinned[2] - pinned[1] == pytest.approx(1.0 / ALPHA)


def test_rank_is_one_plus_models_whose_lower_bound_is_above_its_upper_bound() -> None:
    low = np.array([1100.0, 1050.0, 1000.0, 900.0])
    high = np.array([1200.0, 1120.0, 1040.0, 1060.0])
    rank, worst = ranks_with_ci(low, high)
    # best ranks: 1 overlaps 0; 2 is below 0 and 1; 3 is below 0 only. Worst: 1 is above 2 only
    assert rank.tolist() == [1, 1, 3, 2]
    assert worst.tolist() == [2, 3, 4, 4]


def test_win_probability_is_the_elo_curve() -> None:
    assert win_probability(1000.0, 1000.0) == pytest.approx(0.5)
    assert win_probability(1400.0, 1000.0) == pytest.approx(10 / 11)
