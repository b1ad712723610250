"""Synthetic battles drawn from known Bradley-Terry strengths (Elo scale), for the rating tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from arena.ratings.bt import PairCounts, fit_bt, to_elo, win_probability
from arena.ratings.data import BattleSet, battle_set


def draw_battles(
    true_elo: np.ndarray,
    n_battles: int,
    rng: np.random.Generator,
    tie_share: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model indices a, b and the score of a (1, 0.5, 0) with E[score] = the BT win probability.

    A battle ties with probability tie_share * 2 * min(p, 1 - p), and otherwise a wins with
    probability (p - t/2) / (1 - t), so ties count as half a win without biasing the strengths.
    """
    m = len(true_elo)
    a = rng.integers(0, m, n_battles)
    b = (a + rng.integers(1, m, n_battles)) % m
    p = win_probability(true_elo[a], true_elo[b])
    t = tie_share * 2.0 * np.minimum(p, 1.0 - p)
    tie = rng.random(n_battles) < t
    a_wins = rng.random(n_battles) < (p - t / 2.0) / (1.0 - t)
    score = np.where(tie, 0.5, a_wins.astype(float))
    return a, b, score


def battle_set_of(names: list[str], a: np.ndarray, b: np.ndarray, score: np.ndarray, **columns: Any) -> BattleSet:
    """A BattleSet (the shape `load_battles` returns) for these battles; columns as `battle_set` takes them."""
    winner = np.where(score == 1.0, "model_a", np.where(score == 0.0, "model_b", "tie"))
    return battle_set([names[k] for k in a], [names[k] for k in b], list(winner), **columns)


def answer_noise_battles(true_elo: np.ndarray, n_questions: int, noise_elo: float, rng: np.random.Generator,
                         tie_share: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair on every question; each model's answer to a question is true strength plus noise.

    Returns (question, a, b, score). The battles of one question share its answers' noise: what
    makes them correlated, and the battle-level bootstrap too narrow.
    """
    m = len(true_elo)
    i, j = np.triu_indices(m, 1)
    question = np.repeat(np.arange(n_questions), len(i))
    a, b = np.tile(i, n_questions), np.tile(j, n_questions)
    quality = true_elo[None, :] + rng.normal(0.0, noise_elo, (n_questions, m))
    p = win_probability(quality[question, a], quality[question, b])
    t = tie_share * 2.0 * np.minimum(p, 1.0 - p)
    tie = rng.random(len(a)) < t
    a_wins = rng.random(len(a)) < (p - t / 2.0) / (1.0 - t)
    return question, a, b, np.where(tie, 0.5, a_wins.astype(float))


def population_ratings(true_elo: np.ndarray, noise_elo: float) -> np.ndarray:
    """What infinitely many questions would rate (mean 1000): the target the intervals must cover.

    With answer noise the expected win rate of a pair is E[P(win | both answers' noise)], flatter
    than the Elo curve of the true strengths; Bradley-Terry on those expected rates, every pair
    equally often, is the rating the experiment estimates.
    """
    m = len(true_elo)
    i, j = np.triu_indices(m, 1)
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)  # E over d ~ N(0, 2 noise^2)
    weights = weights / weights.sum()
    gap = (true_elo[i] - true_elo[j])[:, None] + np.sqrt(2.0) * noise_elo * nodes[None, :]
    p = (win_probability(gap, 0.0) * weights[None, :]).sum(axis=1)
    total = 1e8  # so many battles that the prior does not matter
    pc = PairCounts(m, i.astype(np.int64), j.astype(np.int64), np.stack([total * p, 0 * p, total * (1 - p)], axis=1))
    return to_elo(fit_bt(pc))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
