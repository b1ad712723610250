"""Bootstrap designs: a question is drawn with all its battles; battles without one are drawn alone."""

from __future__ import annotations

import numpy as np
import pytest

from arena.ratings.bt import pair_cells
from arena.ratings.resample import resampled_rounds, resampler


def test_question_rounds_draw_whole_questions() -> None:
    # pairs 0, 1, 2 (cells 3 * pair + outcome). Question 0: pair 0 won by the lower model, pair 1 tied,
    # pair 2 won by the higher model; question 1: pair 0 twice, both won by the lower model; no question: pair 1 tie
    cell = np.array([0, 4, 8, 0, 0, 4])
    cluster = np.array([0, 0, 0, 1, 1, -1])
    design = resampler(cell, cluster, 3, "question")
    assert design.n_draws == 3 and design.n_clusters == 2  # two questions and one loose battle
    wins, totals = map(np.concatenate, zip(*resampled_rounds(design, 500, np.random.default_rng(0)), strict=False))
    assert wins.shape == totals.shape == (500, 3)
    q0, q1, loose = totals[:, 2], (totals[:, 0] - totals[:, 2]) / 2, totals[:, 1] - totals[:, 2]
    assert (q0 + q1 + loose == 3).all()  # three clusters per round, each with all of its battles
    np.testing.assert_array_equal(wins[:, 0], totals[:, 0])  # pair 0: always the lower model
    np.testing.assert_array_equal(wins[:, 1], 0.5 * totals[:, 1])  # pair 1: ties
    assert (wins[:, 2] == 0).all()
    assert q0.mean() == pytest.approx(1.0, abs=0.15)


def test_battle_rounds_draw_battles_one_by_one() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, 400)
    b = (a + rng.integers(1, 4, 400)) % 4
    pc, cell = pair_cells(a, b, rng.choice([0.0, 0.5, 1.0], 400), 4)
    design = resampler(cell, np.repeat(np.arange(40), 10), len(pc.i), "battle")
    assert design.n_draws == 400 and design.n_clusters == 0
    wins, totals = next(resampled_rounds(design, 2000, np.random.default_rng(2)))
    assert (totals.sum(axis=1) == 400).all()
    full_wins, full_totals = pc.wins_and_totals()
    np.testing.assert_allclose(totals.mean(axis=0), full_totals, rtol=0.05)
    np.testing.assert_allclose(wins.mean(axis=0), full_wins, rtol=0.1)


def test_rounds_are_seeded() -> None:
    design = resampler(np.array([0, 1, 2, 0]), np.array([0, 0, 1, 2]), 1, "question")
    first = next(resampled_rounds(design, 20, np.random.default_rng(7)))[1]
    assert np.array_equal(first, next(resampled_rounds(design, 20, np.random.default_rng(7)))[1])
    assert not np.array_equal(first, next(resampled_rounds(design, 20, np.random.default_rng(8)))[1])
