"""Bootstrap resamples of pair counts: by question (the default) or by battle.

Battles on one question are not independent: every pair on a question reuses the same answers,
so a weak answer loses several battles at once. The question bootstrap resamples questions with
replacement, each with all of its battles (a cluster bootstrap); the battle bootstrap resamples
battles one by one, as LMArena does for crowd votes, and understates the uncertainty of judged
battles (tests/ratings/test_coverage.py shows by how much).

Battles without a question id (crowd votes imported without one) are their own clusters. One
round draws as many clusters as there are, uniformly with replacement; clusters that are single
battles are drawn in aggregate, per pair and outcome, which is the same multinomial.
Everything stays on counts: a round's resampled counts are (cluster draws) @ (cluster counts).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

BootstrapKind = Literal["question", "battle"]
BOOTSTRAP_KINDS: tuple[BootstrapKind, ...] = ("question", "battle")
_WORK_ELEMENTS = 4_000_000  # rounds are drawn in chunks of at most this many array elements
_DENSE_ELEMENTS = 20_000_000  # cluster tables up to this size are kept as dense arrays
_WIN_SHARE = np.array([1.0, 0.5, 0.0])  # a cell's outcome (lower index won, tie, higher won) as wins


@dataclass(frozen=True)
class Resampler:
    """What one bootstrap round draws: `n_draws` clusters, uniformly with replacement.

    Clusters of several battles are tables of their wins and battles per pair; single-battle
    clusters are counted per cell (pair and outcome), because drawing them one by one is the same
    as a multinomial over cells.
    """

    kind: BootstrapKind
    n_pairs: int
    cluster_wins: Any  # (G, P) wins of the lower-index model (ties as half) in each cluster, dense or sparse
    cluster_totals: Any  # (G, P) battles per pair in each cluster
    single_cells: np.ndarray  # the cells that single-battle clusters fall in
    single_counts: np.ndarray  # how many single-battle clusters each of those cells has

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_wins.shape[0])

    @property
    def n_draws(self) -> int:
        return self.n_clusters + int(self.single_counts.sum())


def resampler(cell: np.ndarray, cluster: np.ndarray, n_pairs: int, kind: BootstrapKind) -> Resampler:
    """The resampling design for battles with these cells (3 * pair + outcome) and cluster ids (-1: none)."""
    if kind not in BOOTSTRAP_KINDS:
        raise ValueError(f"unknown bootstrap {kind!r}")
    grouped = cluster >= 0 if kind == "question" else np.zeros(len(cell), dtype=bool)
    index = dense_ids(cluster[grouped])
    sizes = np.bincount(index)
    # a question with one battle is drawn like a single battle: the same distribution, smaller tables
    lone = sizes[index] == 1
    single = np.bincount(cell[~grouped], minlength=3 * n_pairs) + np.bincount(
        cell[grouped][lone], minlength=3 * n_pairs)
    keep = sizes > 1
    renumber = np.cumsum(keep) - 1
    rows, cells = renumber[index[~lone]], cell[grouped][~lone]
    wins, totals = _cluster_tables(rows, cells, int(keep.sum()), n_pairs)
    single_cells = np.flatnonzero(single)
    return Resampler(kind, n_pairs, wins, totals, single_cells, single[single_cells])


def dense_ids(ids: np.ndarray) -> np.ndarray:
    """Non-negative ids renumbered 0, 1, ... in order (ids are question indices: small, so no sort)."""
    if len(ids) == 0:
        return ids
    present = np.bincount(ids) > 0
    return (np.cumsum(present) - 1)[ids]


def _cluster_tables(rows: np.ndarray, cells: np.ndarray, n_clusters: int, n_pairs: int) -> tuple[Any, Any]:
    pair, outcome = cells // 3, cells % 3
    if n_clusters * n_pairs <= _DENSE_ELEMENTS:
        flat = rows * n_pairs + pair
        wins = np.bincount(flat, _WIN_SHARE[outcome], n_clusters * n_pairs).reshape(n_clusters, n_pairs)
        totals = np.bincount(flat, minlength=n_clusters * n_pairs).reshape(n_clusters, n_pairs)
        # float32 holds these counts exactly and halves the cost of every round's product
        return wins.astype(np.float32), totals.astype(np.float32)
    from scipy import sparse  # only for very many questions

    shape = (n_clusters, n_pairs)
    wins = sparse.csr_matrix((_WIN_SHARE[outcome], (rows, pair)), shape=shape)
    totals = sparse.csr_matrix((np.ones(len(rows)), (rows, pair)), shape=shape)
    return wins, totals


def resampled_rounds(design: Resampler, rounds: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of resampled (wins, battles) per pair, each (chunk, P), `rounds` rows in all."""
    g, k = design.n_clusters, len(design.single_cells)
    n = design.n_draws
    probabilities = np.concatenate([np.full(g, 1.0 / n), design.single_counts / n])
    chunk = max(1, _WORK_ELEMENTS // max(g + k, 3 * design.n_pairs))
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        draws = rng.multinomial(n, probabilities, size=size).astype(np.float32)
        wins = np.zeros((size, design.n_pairs), dtype=np.float32)
        totals = np.zeros((size, design.n_pairs), dtype=np.float32)
        if g:
            weights = draws[:, :g]
            wins += _times(weights, design.cluster_wins)
            totals += _times(weights, design.cluster_totals)
        if k:
            flat = np.zeros((size, 3 * design.n_pairs), dtype=np.float32)
            flat[:, design.single_cells] = draws[:, g:]
            cells = flat.reshape(size, design.n_pairs, 3)
            wins += cells[..., 0] + 0.5 * cells[..., 1]
            totals += cells.sum(axis=-1)
        yield wins, totals


def _times(weights: np.ndarray, table: Any) -> np.ndarray:
    return weights @ table if isinstance(table, np.ndarray) else np.asarray((table.T @ weights.T).T)
