"""Bradley-Terry with the weak prior on pair counts: recovery, scikit-learn agreement, refits, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from arena.ratings.bt import (
    ALPHA,
    PRIOR_PRECISION,
    PRIOR_SD_ELO,
    _newton,
    comparison_groups,
    fit_bt,
    pair_cells,
    pair_counts,
    ranks_with_ci,
    refit_rounds,
    to_elo,
    win_probability,
)
from tests.ratings.synthetic import draw_battles


def centred(elo: np.ndarray) -> np.ndarray:
    return elo - elo.mean() + 1000.0


def test_pair_counts_are_the_sufficient_statistics_and_cells_index_them() -> None:
    a = np.array([0, 1, 0, 2, 2, 1])
    b = np.array([1, 0, 1, 0, 1, 2])
    score = np.array([1.0, 1.0, 0.5, 0.0, 0.5, 0.0])
    pc, cell = pair_cells(a, b, score, 3)
    assert pc.i.tolist() == [0, 0, 1] and pc.j.tolist() == [1, 2, 2]
    # (0,1): 0 won, 1 won, tie; (0,2): 2 lost as model_a -> 0 won; (1,2): tie, then 1 lost as model_a
    assert pc.counts.tolist() == [[1, 1, 1], [1, 0, 0], [0, 1, 1]]
    assert pc.n_battles == 6
    assert np.bincount(cell, minlength=9).reshape(3, 3).tolist() == pc.counts.tolist()


def test_the_prior_is_a_weak_gaussian_on_every_rating() -> None:
    assert PRIOR_SD_ELO == 1000.0
    assert PRIOR_PRECISION == pytest.approx(1.0 / (1000.0 * ALPHA) ** 2)


def test_fit_recovers_known_strengths() -> None:
    rng = np.random.default_rng(11)
    true = rng.normal(0.0, 120.0, 12)
    a, b, score = draw_battles(true, 60_000, rng)
    estimate = to_elo(fit_bt(pair_counts(a, b, score, 12)))
    assert spearmanr(estimate, true).statistic > 0.97
    assert np.abs(estimate - centred(true)).max() < 15.0  # about two standard errors at this size


def test_within_a_fraction_of_an_elo_of_scikit_learn_logistic_regression() -> None:
    """FastChat's compute_mle_elo: one row per battle, doubled, ties as one A win and one B win.

    Plain maximum likelihood there, the weak prior here: with 6000 battles among 10 models they
    agree to well under one Elo.
    """
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    true = rng.normal(0.0, 150.0, 10)
    a, b, score = draw_battles(true, 6000, rng, tie_share=0.2)
    m, n = len(true), len(a)
    x = np.zeros((2 * n, m))
    x[np.arange(2 * n), np.concatenate([a, a])] = math.log(10.0)
    x[np.arange(2 * n), np.concatenate([b, b])] = -math.log(10.0)
    y = np.concatenate([score >= 0.5, score == 1.0]).astype(int)  # tie -> one win, one loss
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=10_000)
    model.fit(x, y)
    reference = centred(400.0 * model.coef_[0])
    assert np.abs(to_elo(fit_bt(pair_counts(a, b, score, m))) - reference).max() < 0.5


def test_bootstrap_refits_match_full_newton_to_a_few_hundredths_of_an_elo() -> None:
    rng = np.random.default_rng(3)
    true = np.array([-150.0, -60.0, 0.0, 40.0, 170.0])
    a, b, score = draw_battles(true, 3000, rng)
    pc = pair_counts(a, b, score, 5)
    theta = fit_bt(pc)
    counts = rng.multinomial(pc.n_battles, pc.counts.ravel() / pc.n_battles, size=40).reshape(40, -1, 3)
    wins, totals = pc.wins_and_totals(counts.astype(float))
    quick = refit_rounds(pc, theta, wins, totals)
    exact = _newton(np.broadcast_to(theta, (40, 5)).copy(), pc, wins, totals, 1e-12)
    assert np.abs(quick - exact).max() / ALPHA < 0.05


def test_a_resample_far_from_the_fit_still_reaches_its_own_optimum() -> None:
    a = np.array([0, 1, 2] * 20)
    b = np.array([1, 2, 0] * 20)
    score = np.array([1.0, 1.0, 0.0] * 20)
    pc = pair_counts(a, b, score, 3)
    theta = fit_bt(pc)
    flipped = pc.counts[None, :, ::-1].copy()  # every result reversed
    wins, totals = pc.wins_and_totals(flipped)
    refit = refit_rounds(pc, theta, wins, totals)[0]
    exact = _newton(np.zeros((1, 3)), pc, wins, totals, 1e-12)[0]
    assert np.abs(refit - exact).max() / ALPHA < 0.05


def test_a_model_that_never_lost_and_a_graph_in_pieces_stay_finite() -> None:
    never_lost = pair_counts(np.array([0, 0, 0, 1, 2, 3]), np.array([1, 2, 3, 2, 3, 1]),
                             np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.5]), 4)
    pieces = pair_counts(np.array([0, 0, 2, 2]), np.array([1, 1, 3, 3]), np.array([1.0, 0.0, 1.0, 0.5]), 4)
    for pc in (never_lost, pieces):
        theta = fit_bt(pc)
        assert np.isfinite(theta).all() and abs(theta.mean()) < 1e-9
    elo = to_elo(fit_bt(never_lost))
    assert elo.argmax() == 0 and elo[0] < 1000 + 3 * PRIOR_SD_ELO
    assert comparison_groups(pieces) == [[0, 1], [2, 3]]
    assert comparison_groups(never_lost) == [[0, 1, 2, 3]]


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
