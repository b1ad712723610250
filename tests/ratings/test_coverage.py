"""Interval coverage when battles on a question share their answers (answer-level noise).

The long version with many more repetitions is `benchmarks/rating_simulations.py`; its figures
are in the README. Here: 6 models 60 Elo apart, 100 questions, every pair on every question, each
answer's quality the model's strength plus N(0, 150 Elo) noise (the issue's scenario: the true
spread of a rating across experiments is 15-17 Elo). 400 experiments with 200 bootstrap rounds
each, fixed seeds: 2400 (model, experiment) intervals, in about 2 s. The truth is the rating
infinitely many questions would give (`population_ratings`).

With 2400 intervals the standard error of a coverage near 95% is about 0.45 points (models of
one experiment are correlated, so somewhat more), so the assertion 93-97% has room for the
simulation noise and still fails a method that covers 91%. With these seeds: question bootstrap
94.4%, battle bootstrap 88.4% (the long run of 1000 experiments x 1000 rounds: 94.0% and 88.7%),
the battle bootstrap over ten standard errors too low.
"""

from __future__ import annotations

import numpy as np

from arena.ratings.bt import fit_bt, pair_cells, to_elo
from arena.ratings.build import bootstrap_thetas
from tests.ratings.synthetic import answer_noise_battles, population_ratings

TRUE = np.linspace(-150.0, 150.0, 6)
NOISE = 150.0


def coverage(kind: str, experiments: int = 400, rounds: int = 200, questions: int = 100) -> tuple[float, float]:
    """Share of 95% intervals holding the truth, and the mean interval width."""
    truth = population_ratings(TRUE, NOISE)
    rng = np.random.default_rng(1)
    covered = 0
    widths = []
    for experiment in range(experiments):
        question, a, b, score = answer_noise_battles(TRUE, questions, NOISE, rng)
        pc, cell = pair_cells(a, b, score, len(TRUE))
        theta = fit_bt(pc)
        boot = to_elo(bootstrap_thetas(pc, cell, question, theta, kind, rounds, np.random.default_rng(experiment)))
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        covered += int(((truth >= low) & (truth <= high)).sum())
        widths.append(float((high - low).mean()))
    return covered / (experiments * len(TRUE)), float(np.mean(widths))


def test_question_bootstrap_covers_and_battle_bootstrap_undercovers() -> None:
    by_question, width_question = coverage("question")
    by_battle, width_battle = coverage("battle")
    assert 0.93 <= by_question <= 0.97, by_question
    assert by_battle < 0.915, by_battle
    assert width_battle < 0.9 * width_question  # the battle bootstrap is too narrow by over a tenth
