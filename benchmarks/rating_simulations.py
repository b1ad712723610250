"""Simulations behind the rating method's claims, with many more repetitions than the unit tests.

1. Interval coverage with answer-level noise (tests/ratings/test_coverage.py): 6 models 60 Elo
   apart, 100 questions, every pair on every question, each answer's quality its model's strength
   plus N(0, 150 Elo). The truth is what infinitely many questions would rate. Printed: the true
   spread of each rating across experiments, the intervals' mean width and their coverage, for
   the question-level and the battle-level bootstrap.
2. The prior with 100 battles per pair (tests/ratings/test_prior.py): the largest change of any
   rating against plain maximum likelihood, for 2 to 50 models spread over 100 to 700 Elo.
3. The prior with little data: 10 models 400 Elo apart and 50 battles per category; the slope of
   the estimates against the truth (1 = no shrinkage) and the intervals' coverage.
4. Style control's clustered intervals: a planted length effect with answer-level noise; the
   coverage of the length coefficient's 95% interval, clustered by question and by battle.

    .venv/bin/python benchmarks/rating_simulations.py [--experiments 1000] [--rounds 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import arena.ratings.bt as bt  # noqa: E402
from arena.ratings.bt import ALPHA, PairCounts, fit_bt, pair_cells, to_elo, win_probability  # noqa: E402
from arena.ratings.build import bootstrap_thetas  # noqa: E402
from arena.ratings.style import Z_95, elo_standard_errors, fit_style, normalised_difference  # noqa: E402
from tests.ratings.synthetic import answer_noise_battles, population_ratings  # noqa: E402


def coverage(experiments: int, rounds: int) -> None:
    true, noise = np.linspace(-150.0, 150.0, 6), 150.0
    truth = population_ratings(true, noise)
    rng = np.random.default_rng(1)
    estimates, covered, widths = [], {"question": 0, "battle": 0}, {"question": [], "battle": []}
    for experiment in range(experiments):
        question, a, b, score = answer_noise_battles(true, 100, noise, rng)
        pc, cell = pair_cells(a, b, score, len(true))
        theta = fit_bt(pc)
        estimates.append(to_elo(theta))
        for kind in covered:
            boot = to_elo(bootstrap_thetas(pc, cell, question, theta, kind, rounds,  # type: ignore[arg-type]
                                           np.random.default_rng(experiment)))
            low, high = np.percentile(boot, [2.5, 97.5], axis=0)
            covered[kind] += int(((truth >= low) & (truth <= high)).sum())
            widths[kind].append(float((high - low).mean()))
    spread = np.std(estimates, axis=0)
    print(f"1. coverage, {experiments} experiments x {rounds} rounds, 6 models, 100 questions, answer noise "
          f"{noise:.0f} Elo")
    print(f"   true spread of a rating across experiments: {spread.min():.1f}-{spread.max():.1f} Elo (SD)")
    for kind in covered:
        share = covered[kind] / (experiments * len(true))
        print(f"   {kind:>8} bootstrap: 95% intervals hold the truth {100 * share:.1f}% of the time; "
              f"mean width {np.mean(widths[kind]):.1f} Elo (an SD of {np.mean(widths[kind]) / 3.92:.1f})")


def prior_shift() -> None:
    print("2. the prior with 100 battles per pair (expected counts): largest change of a rating, Elo")
    spreads = (100.0, 300.0, 500.0, 700.0)
    print("   models  " + "  ".join(f"spread {s:>3.0f}" for s in spreads))
    for models in (2, 3, 5, 10, 20, 50):
        shifts = []
        for spread in spreads:
            true = np.linspace(-spread / 2, spread / 2, models)
            i, j = np.triu_indices(models, 1)
            p = win_probability(true[i], true[j])
            pc = PairCounts(models, i.astype(np.int64), j.astype(np.int64),
                            np.stack([100 * p, 0 * p, 100 * (1 - p)], axis=1))
            with_prior = to_elo(fit_bt(pc))
            saved, bt.PRIOR_PRECISION = bt.PRIOR_PRECISION, 1e-10
            plain = to_elo(fit_bt(pc))
            bt.PRIOR_PRECISION = saved
            shifts.append(float(np.abs(with_prior - plain).max()))
        print(f"   {models:>6}  " + "  ".join(f"{s:>10.2f}" for s in shifts))


def small_data(experiments: int, rounds: int) -> None:
    rng = np.random.default_rng(7)
    true = np.linspace(-200.0, 200.0, 10)
    truth = true - true.mean() + 1000.0
    covered, estimates, widths = 0, [], []
    for category in range(experiments):
        a = rng.integers(0, 10, 50)
        b = (a + rng.integers(1, 10, 50)) % 10
        score = (rng.random(50) < win_probability(true[a], true[b])).astype(float)
        pc, cell = pair_cells(a, b, score, 10)
        theta = fit_bt(pc)
        boot = to_elo(bootstrap_thetas(pc, cell, np.arange(50), theta, "question", rounds,
                                       np.random.default_rng(category)))
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        covered += int(((truth >= low) & (truth <= high)).sum())
        widths.append(float((high - low).mean()))
        estimates.append(to_elo(theta))
    x = np.tile(truth - 1000.0, experiments)
    y = np.concatenate(estimates) - 1000.0
    print(f"3. little data: 10 models 400 Elo apart, 50 battles, {experiments} categories x {rounds} rounds")
    print(f"   slope of estimate on truth {float((x * y).sum() / (x * x).sum()):.2f} (1 = no shrinkage); "
          f"95% intervals hold the truth {100 * covered / (10 * experiments):.1f}%; mean width {np.mean(widths):.0f} Elo")


def style_intervals(experiments: int) -> None:
    true = np.array([-120.0, -40.0, 0.0, 60.0, 100.0]) * ALPHA
    m, n_questions, beta = len(true), 150, 0.3
    i, j = np.triu_indices(m, 1)
    rng = np.random.default_rng(11)

    def experiment(questions: int) -> tuple[float, dict[str, float]]:
        question = np.repeat(np.arange(questions), len(i))
        a, b = np.tile(i, questions), np.tile(j, questions)
        tokens = rng.integers(50, 800, (questions, m)).astype(float)
        diff = normalised_difference(tokens[question, a], tokens[question, b])[:, None]
        z = diff[:, 0] / np.sqrt(np.mean(diff[:, 0] ** 2))
        effect = rng.normal(0.0, 0.6, (questions, m))  # answer quality beyond the model's strength
        eta = true[a] - true[b] + effect[question, a] - effect[question, b] + beta * z
        score = (rng.random(len(a)) < 1 / (1 + np.exp(-eta))).astype(float)
        errors = {}
        for kind, cluster in (("question", question), ("battle", np.full(len(a), -1))):
            fit = fit_style(a, b, score, diff, ("tokens",), m, cluster)
            assert fit is not None
            errors[kind] = float(elo_standard_errors(fit, None)[1][0])
        return float(fit.beta[0]), errors

    # With answer noise the coefficient the data define is a little flatter than the planted one
    # (a logistic model averaged over noise): the target is what 200 times more questions estimate.
    target, _ = experiment(200 * n_questions)
    covered = {"question": 0, "battle": 0}
    for _ in range(experiments):
        estimate, errors = experiment(n_questions)
        for kind in covered:
            covered[kind] += int(abs(estimate - target) <= Z_95 * errors[kind])
    print(f"4. style control, {experiments} experiments: 5 models, {n_questions} questions, answer noise, "
          f"a planted length coefficient {beta} ({target:.3f} at the population level)")
    for kind, hits in covered.items():
        print(f"   sandwich clustered by {kind:>8}: the 95% interval holds it {100 * hits / experiments:.1f}% "
              "of the time")
    print("   (the ratings' own intervals come from the bootstrap: item 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()
    for step in (lambda: coverage(args.experiments, args.rounds), prior_shift,
                 lambda: small_data(args.experiments, args.rounds), lambda: style_intervals(args.experiments)):
        started = time.perf_counter()
        step()
        print(f"   ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
