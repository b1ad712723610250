"""Synthetic battles drawn from known Bradley-Terry strengths (Elo scale), for the rating tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from arena.ratings.bt import win_probability


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


def battle_frame(
    names: list[str], a: np.ndarray, b: np.ndarray, score: np.ndarray, **columns: object
) -> pd.DataFrame:
    """A battle frame (the shape `load_battles` returns) for these battles."""
    winner = np.where(score == 1.0, "model_a", np.where(score == 0.0, "model_b", "tie"))
    frame = pd.DataFrame({
        "id": np.arange(1, len(a) + 1),
        "model_a": [names[k] for k in a],
        "model_b": [names[k] for k in b],
        "winner": winner,
        "tstamp": np.arange(len(a), dtype=float),
    })
    for name, values in columns.items():
        frame[name] = values
    return frame
