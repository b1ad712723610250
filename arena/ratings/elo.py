"""Online Elo: the classic sequential update, in battle order, as a second view.

It depends on the order of battles and on K, so it is not the leaderboard's number (that is the
Bradley-Terry fit), but it is the number many readers know. Same scale as FastChat's
`compute_elo`: K=4, scale 400, base 10, every model starting at 1000.
"""

from __future__ import annotations

import numpy as np

from arena.ratings.bt import BASE, INIT_RATING, SCALE

K_FACTOR = 4.0


def online_elo(
    a: np.ndarray, b: np.ndarray, score_a: np.ndarray, n_models: int, k: float = K_FACTOR
) -> np.ndarray:
    """Ratings after updating on each battle in the given order (a, b: model indices)."""
    rating = [INIT_RATING] * n_models
    for i, j, s in zip(a.tolist(), b.tolist(), score_a.tolist(), strict=False):
        expected = 1.0 / (1.0 + BASE ** ((rating[j] - rating[i]) / SCALE))
        delta = k * (s - expected)
        rating[i] += delta
        rating[j] -= delta
    return np.array(rating)
