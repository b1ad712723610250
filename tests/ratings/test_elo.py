"""Online Elo against a small case worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from arena.ratings.elo import online_elo


def test_online_elo_matches_a_hand_computed_sequence() -> None:
    # 0 beats 1 (E = 0.5, +2 each way), then a tie, then 1 (as model_a) beats 0
    a = np.array([0, 0, 1])
    b = np.array([1, 1, 0])
    score = np.array([1.0, 0.5, 1.0])
    # after battle 1: 1002 / 998
    # battle 2: E0 = 1 / (1 + 10 ** (-4 / 400)) = 0.50575621, delta = 4 * (0.5 - E0) = -0.02302483
    # battle 3: E1 = 1 / (1 + 10 ** ((1001.97697517 - 998.02302483) / 400)) = 0.48862079,
    #           delta = 4 * (1 - E1) = 2.04551979
    ratings = online_elo(a, b, score, 2)
    assert ratings[0] == pytest.approx(999.95421538, abs=1e-6)
    assert ratings[1] == pytest.approx(1000.04578462, abs=1e-6)


def test_online_elo_depends_on_order_and_conserves_the_total() -> None:
    a = np.array([0, 1, 0, 2])
    b = np.array([1, 2, 2, 1])
    score = np.array([1.0, 0.0, 0.5, 1.0])
    forward = online_elo(a, b, score, 3)
    backward = online_elo(a[::-1], b[::-1], score[::-1], 3)
    assert forward.sum() == pytest.approx(3000.0)
    assert not np.allclose(forward, backward)
