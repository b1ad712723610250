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
from typing import Literal

import numpy as np
from scipy import sparse

BootstrapKind = Literal["question", "battle"]
BOOTSTRAP_KINDS: tuple[BootstrapKind, ...] = ("question", "battle")
_WORK_ELEMENTS = 4_000_000  # rounds are drawn in chunks of at most this many array elements
_DENSE_ELEMENTS = 20_000_000  # cluster tables up to this size are multiplied as dense arrays


@dataclass(frozen=True)
class Resampler:
    """What one bootstrap round draws: `n_draws` clusters, uniformly with replacement."""

    kind: BootstrapKind
    n_cells: int  # 3 * pairs
    clusters: sparse.csr_matrix | np.ndarray  # (G, n_cells): counts of each multi-battle cluster
    single_cells: np.ndarray  # cells of the clusters that are single battles (aggregated)
    single_counts: np.ndarray  # how many such single-battle clusters each of those cells has

    @property
    def n_draws(self) -> int:
        return int(self.clusters.shape[0] + self.single_counts.sum())


def resampler(cell: np.ndarray, cluster: np.ndarray, n_cells: int, kind: BootstrapKind) -> Resampler:
    """The resampling design for battles with these cells and cluster ids (-1: no question)."""
    if kind not in BOOTSTRAP_KINDS:
        raise ValueError(f"unknown bootstrap {kind!r}")
    grouped = cluster >= 0 if kind == "question" else np.zeros(len(cell), dtype=bool)
    ids, index = np.unique(cluster[grouped], return_inverse=True)
    table = sparse.csr_matrix((np.ones(int(grouped.sum())), (index, cell[grouped])),
                              shape=(len(ids), n_cells))
    table.sum_duplicates()
    single = np.bincount(cell[~grouped], minlength=n_cells)
    # A question with one battle is drawn like a single battle: the same distribution, smaller tables.
    sizes = np.asarray(table.sum(axis=1)).ravel()
    lone = sizes == 1
    if lone.any():
        single = single + np.asarray(table[lone].sum(axis=0)).ravel().astype(np.int64)
        table = table[~lone]
    dense: sparse.csr_matrix | np.ndarray = table
    if table.shape[0] * n_cells <= _DENSE_ELEMENTS and table.nnz > 0.05 * table.shape[0] * n_cells:
        dense = table.toarray()
    cells = np.flatnonzero(single)
    return Resampler(kind, n_cells, dense, cells, single[cells])


def resampled_counts(design: Resampler, rounds: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks of resampled cell counts, (chunk, n_cells) each, `rounds` rows in all."""
    g = design.clusters.shape[0]
    n = design.n_draws
    probabilities = np.concatenate([np.full(g, 1.0 / n), design.single_counts / n])
    chunk = max(1, _WORK_ELEMENTS // max(g + len(design.single_cells), design.n_cells))
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        draws = rng.multinomial(n, probabilities, size=size).astype(np.float64)
        counts = np.zeros((size, design.n_cells))
        if g:
            weights = draws[:, :g]
            counts += weights @ design.clusters if isinstance(design.clusters, np.ndarray) \
                else (design.clusters.T @ weights.T).T
        counts[:, design.single_cells] += draws[:, g:]
        yield counts
