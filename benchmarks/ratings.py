"""Benchmark: Bradley-Terry fit and 1,000 bootstrap rounds on 1,000,000 battles among 50 models.

Prints the time of our fit (aggregation to pair counts, Newton fit, multinomial bootstrap) and its
peak memory, beside the common way: one scikit-learn logistic-regression refit per bootstrap
round over per-battle rows (FastChat's construction: each battle twice, a tie as one win and one
loss), timed on a few rounds and scaled to the same number of rounds.

Targets on the 2-core machine: fit + 1,000 rounds under 3 s, peak memory under 1 GB, and at
least 200x faster than the common way.

    .venv/bin/python benchmarks/ratings.py [--battles 1000000] [--models 50] [--rounds 1000]
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc

import numpy as np

from arena.ratings.bt import bootstrap_bt, fit_bt, pair_counts, to_elo, win_probability
from arena.ratings.data import BattleSet
from arena.ratings.report import build_payload


def synthetic_battles(n_battles: int, n_models: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, 150.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    p = win_probability(true[a], true[b])
    t = 0.2 * 2.0 * np.minimum(p, 1.0 - p)  # ties, drawn so that E[score] stays p
    tie = rng.random(n_battles) < t
    wins = rng.random(n_battles) < (p - t / 2.0) / (1.0 - t)
    score = np.where(tie, 0.5, wins.astype(float))
    len_a = rng.integers(100, 3000, n_battles).astype(float)
    len_b = rng.integers(100, 3000, n_battles).astype(float)
    return a, b, score, len_a, len_b, true


def ours(a: np.ndarray, b: np.ndarray, score: np.ndarray, m: int, rounds: int) -> dict[str, float]:
    tracemalloc.start()
    start = time.perf_counter()
    pc = pair_counts(a, b, score, m)
    aggregated = time.perf_counter()
    fit = fit_bt(pc)
    fitted = time.perf_counter()
    boot = bootstrap_bt(pc, fit, rounds, seed=0)
    done = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    low, high = np.percentile(to_elo(boot.theta), [2.5, 97.5], axis=0)
    return {
        "aggregate_s": aggregated - start, "fit_s": fitted - aggregated, "bootstrap_s": done - fitted,
        "total_s": done - start, "peak_mb": peak / 2**20, "mean_ci_width": float((high - low).mean()),
        "elo": to_elo(fit.theta),
    }


def common_way_refit(a: np.ndarray, b: np.ndarray, score: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """One bootstrap round the usual way: resample battle rows, build X, refit scikit-learn."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    n = len(a)
    pick = rng.integers(0, n, n)
    ra, rb, rs = a[pick], b[pick], score[pick]
    rows = np.arange(2 * n)
    x = sparse.csr_matrix(
        (np.concatenate([np.full(2 * n, math.log(10.0)), np.full(2 * n, -math.log(10.0))]),
         (np.concatenate([rows, rows]), np.concatenate([ra, ra, rb, rb]))),
        shape=(2 * n, m),
    )
    y = np.concatenate([rs >= 0.5, rs == 1.0]).astype(int)
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6, max_iter=1000)
    model.fit(x, y)
    return 400.0 * model.coef_[0]


def common_way(a: np.ndarray, b: np.ndarray, score: np.ndarray, m: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    tracemalloc.start()
    start = time.perf_counter()
    elo = None
    for _ in range(rounds):
        elo = common_way_refit(a, b, score, m, rng)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"per_round_s": elapsed / rounds, "peak_mb": peak / 2**20, "elo": elo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--common-rounds", type=int, default=3, help="refits timed for the common way")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-report", action="store_true",
                        help="also time the whole `arena rate` payload (online Elo, length control, matrices)")
    args = parser.parse_args()

    a, b, score, len_a, len_b, true = synthetic_battles(args.battles, args.models, args.seed)
    print(f"{args.battles:,} battles among {args.models} models, {args.rounds:,} bootstrap rounds")

    result = ours(a, b, score, args.models, args.rounds)
    rss_after_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    error = np.abs(result["elo"] - (true - true.mean() + 1000)).max()
    print("ours (Bradley-Terry on pair counts, Newton, multinomial bootstrap):")
    print(f"  aggregate to pair counts  {result['aggregate_s']:7.3f} s")
    print(f"  fit                       {result['fit_s']:7.3f} s")
    print(f"  {args.rounds:,} bootstrap rounds    {result['bootstrap_s']:7.3f} s")
    print(f"  total                     {result['total_s']:7.3f} s   (target < 3 s)")
    print(f"  peak memory (traced)      {result['peak_mb']:7.1f} MB; process peak RSS so far "
          f"{rss_after_ours:.0f} MB (target < 1024 MB)")
    print(f"  largest error vs true strengths {error:.1f} Elo; mean 95% CI width {result['mean_ci_width']:.1f} Elo")

    if args.full_report:
        bs = BattleSet(models=[f"m{k}" for k in range(args.models)], a=a, b=b, score_a=score, len_a=len_a,
                       len_b=len_b, category=np.full(len(a), None, dtype=object),
                       audience=np.full(len(a), None, dtype=object))
        start = time.perf_counter()
        build_payload(bs, source="bench", bootstrap_rounds=args.rounds, with_categories=False)
        print(f"  whole payload (fit, bootstrap, online Elo, length control, matrices) "
              f"{time.perf_counter() - start:.2f} s")

    common = common_way(a, b, score, args.models, args.common_rounds)
    rss_after_common = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    agreement = np.abs((common["elo"] - common["elo"].mean() + 1000) - result["elo"]).max()
    scaled = common["per_round_s"] * (args.rounds + 1)  # the full fit plus the rounds
    print("common way (scikit-learn LogisticRegression refit per round over per-battle rows):")
    print(f"  one refit                 {common['per_round_s']:7.2f} s (mean of {args.common_rounds})")
    print(f"  fit + {args.rounds:,} rounds, scaled  {scaled:7.0f} s ({scaled / 60:.1f} min)")
    print(f"  peak memory (traced)      {common['peak_mb']:7.1f} MB; process peak RSS {rss_after_common:.0f} MB")
    print(f"  one resampled refit differs from our full fit by at most {agreement:.1f} Elo (resampling noise)")
    speedup = scaled / result["total_s"]
    print(f"speed-up: {speedup:,.0f}x (target >= 200x)")


if __name__ == "__main__":
    main()
