"""Style control: LMArena's covariates, a planted style effect found, clustered intervals, separation."""

from __future__ import annotations

import numpy as np
import pytest

from arena.errors import ArenaError
from arena.ratings.bt import ALPHA
from arena.ratings.style import (
    COVARIATES,
    elo_standard_errors,
    fit_style,
    normalised_difference,
    parse_covariates,
    style_win_correlation,
)
from tests.ratings.synthetic import sigmoid


def planted(beta_tokens: float, seed: int, n_questions: int = 400, noise: float = 0.0):  # type: ignore[no-untyped-def]
    """5 models, every pair on every question; answers' token counts and bold spans vary at random.

    `noise` (natural log-odds) is a per-question, per-model answer effect shared by that answer's
    battles: what makes battles on one question correlated.
    """
    rng = np.random.default_rng(seed)
    true = np.array([-120.0, -40.0, 0.0, 60.0, 100.0]) * ALPHA
    m = len(true)
    i, j = np.triu_indices(m, 1)
    question = np.repeat(np.arange(n_questions), len(i))
    a, b = np.tile(i, n_questions), np.tile(j, n_questions)
    tokens = rng.integers(50, 800, (n_questions, m)).astype(float)
    bold = rng.integers(0, 6, (n_questions, m)).astype(float)
    style_a = np.stack([tokens[question, a], bold[question, a]], axis=1)
    style_b = np.stack([tokens[question, b], bold[question, b]], axis=1)
    diffs = normalised_difference(style_a, style_b)
    z = diffs[:, 0] / np.sqrt(np.mean(diffs[:, 0] ** 2))
    effect = rng.normal(0.0, noise, (n_questions, m))
    eta = true[a] - true[b] + effect[question, a] - effect[question, b] + beta_tokens * z
    score = (rng.random(len(a)) < sigmoid(eta)).astype(float)
    return a, b, score, diffs, question, true - true.mean()


def test_covariates_are_lmarenas_four_and_the_difference_is_normalised_with_one_added() -> None:
    assert COVARIATES == ("tokens", "headers", "list_items", "bold")
    assert normalised_difference(np.array([3.0]), np.array([1.0]))[0] == pytest.approx(2 / 5)
    assert normalised_difference(np.array([0.0]), np.array([0.0]))[0] == 0.0
    assert parse_covariates("bold, tokens") == ("tokens", "bold") and parse_covariates("none") == ()
    with pytest.raises(ArenaError, match="colour"):
        parse_covariates("tokens,colour")


def test_finds_a_planted_length_effect_none_for_bold_and_the_ratings_at_equal_style() -> None:
    a, b, score, diffs, question, true = planted(beta_tokens=0.4, seed=3)
    fit = fit_style(a, b, score, diffs, ("tokens", "bold"), 5, question)
    assert fit is not None and fit.covariates == ("tokens", "bold")
    se_elo, beta_se = elo_standard_errors(fit, None)
    assert abs(fit.beta[0] - 0.4) < 3 * beta_se[0] and beta_se[0] < 0.05
    assert abs(fit.beta[1]) < 3 * beta_se[1]
    assert (np.abs(fit.theta - true) / ALPHA < 4 * se_elo).all()


def test_clustered_intervals_widen_when_a_questions_battles_share_their_answers() -> None:
    a, b, score, diffs, question, _ = planted(beta_tokens=0.2, seed=4, noise=0.8)
    clustered = fit_style(a, b, score, diffs, ("tokens", "bold"), 5, question)
    by_battle = fit_style(a, b, score, diffs, ("tokens", "bold"), 5, np.full(len(a), -1))
    assert clustered is not None and by_battle is not None
    assert clustered.n_clusters == 400 and by_battle.n_clusters == len(a)
    np.testing.assert_allclose(clustered.theta, by_battle.theta)  # the same fit, other intervals
    se_clustered, _ = elo_standard_errors(clustered, None)
    se_battle, _ = elo_standard_errors(by_battle, None)
    assert (se_clustered > 1.1 * se_battle).all()


def test_anchored_model_has_no_interval_width() -> None:
    a, b, score, diffs, question, _ = planted(beta_tokens=0.2, seed=5, n_questions=100)
    fit = fit_style(a, b, score, diffs, ("tokens", "bold"), 5, question)
    se_elo, _ = elo_standard_errors(fit, anchor_index=2)
    assert se_elo[2] < 1e-6 and (np.delete(se_elo, 2) > 1.0).all()


def test_no_variation_gives_no_fit_and_a_style_that_separates_outcomes_stays_finite() -> None:
    a = np.array([0, 1, 0] * 12)
    b = np.array([2, 2, 1] * 12)
    score = np.array([1.0, 1.0, 0.5] * 12)  # model 0 never lost and always wrote more
    assert fit_style(a, b, score, np.zeros((36, 1)), ("tokens",), 3, np.full(36, -1)) is None
    fit = fit_style(a, b, score, np.full((36, 1), 0.15), ("tokens",), 3, np.full(36, -1))
    assert fit is not None
    assert np.isfinite(fit.theta).all() and np.isfinite(fit.beta).all() and np.isfinite(fit.covariance).all()
    partly = fit_style(a, b, score, np.stack([np.full(36, 0.15), np.zeros(36)], axis=1), ("tokens", "bold"), 3,
                       np.full(36, -1))
    assert partly is not None and partly.covariates == ("tokens",)


def test_style_win_correlation_sign_and_symmetry() -> None:
    diff = np.array([0.5, -0.5, 0.2, -0.2])
    longer_wins = style_win_correlation(diff, np.array([1.0, 0.0, 1.0, 0.0]))
    assert longer_wins is not None and longer_wins > 0.9
    assert style_win_correlation(-diff, np.array([0.0, 1.0, 0.0, 1.0])) == longer_wins
    assert style_win_correlation(diff, np.array([0.0, 1.0, 0.5, 0.5])) < 0
    assert style_win_correlation(diff, np.full(4, 0.5)) is None
