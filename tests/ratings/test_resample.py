"""Bootstrap designs: a question is drawn with all its battles; battles without one are drawn alone."""

from __future__ import annotations

import numpy as np

from arena.ratings.bt import pair_cells
from arena.ratings.resample import resampled_counts, resampler


def test_question_rounds_draw_whole_questions() -> None:
    # question 0: three battles in distinct cells; question 1: two battles in one cell; no question: one battle
    cell = np.array([0, 4, 8, 2, 2, 5])
    cluster = np.array([0, 0, 0, 1, 1, -1])
    design = resampler(cell, cluster, 9, "question")
    assert design.n_draws == 3  # two questions and one loose battle
    counts = np.concatenate(list(resampled_counts(design, 500, np.random.default_rng(0))))
    assert counts.shape == (500, 9)
    # cells 0, 4, 8 always move together (question 0), cell 2 in steps of two (question 1)
    assert (counts[:, 0] == counts[:, 4]).all() and (counts[:, 4] == counts[:, 8]).all()
    assert (counts[:, 2] % 2 == 0).all()
    # every round draws three clusters: 3 * (question 0) + 2 * (question 1) + 1 * (loose)
    assert set(np.unique(counts[:, 0] * 3 + counts[:, 2] + counts[:, 5])) <= {3, 4, 5, 6, 7, 8, 9}
    assert (counts[:, 0] + counts[:, 2] / 2 + counts[:, 5] == 3).all()
    assert counts[:, 0].mean() == __import__("pytest").approx(1.0, abs=0.15)


def test_battle_rounds_draw_battles_one_by_one() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, 400)
    b = (a + rng.integers(1, 4, 400)) % 4
    pc, cell = pair_cells(a, b, rng.choice([0.0, 0.5, 1.0], 400), 4)
    design = resampler(cell, np.repeat(np.arange(40), 10), 3 * len(pc.i), "battle")
    assert design.n_draws == 400 and design.clusters.shape[0] == 0
    counts = next(resampled_counts(design, 2000, np.random.default_rng(2)))
    assert (counts.sum(axis=1) == 400).all()
    np.testing.assert_allclose(counts.mean(axis=0), pc.counts.ravel(), rtol=0.1)


def test_rounds_are_seeded() -> None:
    design = resampler(np.array([0, 1, 2, 0]), np.array([0, 0, 1, 2]), 3, "question")
    first = next(resampled_counts(design, 20, np.random.default_rng(7)))
    assert np.array_equal(first, next(resampled_counts(design, 20, np.random.default_rng(7))))
    assert not np.array_equal(first, next(resampled_counts(design, 20, np.random.default_rng(8))))
