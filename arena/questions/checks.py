"""`arena questions validate`: every problem of question files, not only the first.

Errors (schema, duplicate ids, exact duplicate texts, values outside the vocabularies) make a set
unusable; warnings (near-duplicate texts, possible paraphrases) ask a human to look. The
similarity measures are `arena.questions.similarity`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from arena.errors import DataError
from arena.questions.loading import empty_file_message, iter_question_lines, parse_question_line
from arena.questions.schema import CATEGORIES, KNOWN_KINDS, Question
from arena.questions.similarity import (
    EMBEDDING_MAX_QUESTIONS,
    EMBEDDING_THRESHOLD,
    NEAR_DUPLICATE_THRESHOLD,
    Embedder,
    find_near_duplicates,
    find_similar_embeddings,
    normalise_text,
)

Severity = Literal["error", "warning"]


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
    notes: list[str] = field(default_factory=list)  # checks that were capped, one line each

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


# --- validation --------------------------------------------------------------------------------

def _read_file(path: Path, report: ValidationReport, first_id_at: dict[str, str]) -> None:
    shown = str(path)
    try:
        lines = list(iter_question_lines(path))
    except DataError as exc:
        report.problems.append(Problem(shown, None, "error", str(exc).removeprefix(f"{shown}: ")))
        return
    if not lines:
        report.problems.append(Problem(shown, None, "error", empty_file_message(path).removeprefix(f"{shown}: ")))
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
    report: ValidationReport, near_threshold: float, embed: Embedder | None, embedding_threshold: float,
    embedding_limit: int = EMBEDDING_MAX_QUESTIONS,
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
    near = find_near_duplicates(texts, near_threshold)
    report.notes += [f"near-duplicate check capped: {what}" for what in near.capped]
    for i, j, similarity in near.pairs:
        reported.add((i, j))
        first, later = unique[i], unique[j]
        message = (f"near-duplicate of {first.question.id!r} at {first.where} "
                   f"(text similarity {similarity:.2f})")
        report.problems.append(Problem(later.path, later.line, "warning", message))

    if embed is None:
        return
    if len(unique) > embedding_limit:
        report.notes.append(embedding_skipped_note(len(unique), embedding_limit))
        return
    texts = [q.question.text for q in unique]
    similar = find_similar_embeddings(texts, embed, embedding_threshold)
    report.notes += [f"embedding check capped: {what}" for what in similar.capped]
    for i, j, cosine in similar.pairs:
        if (i, j) in reported:
            continue
        first, later = unique[i], unique[j]
        message = (f"possible paraphrase of {first.question.id!r} at {first.where} "
                   f"(embedding similarity {cosine:.2f})")
        report.problems.append(Problem(later.path, later.line, "warning", message))


def embedding_skipped_note(questions: int, limit: int) -> str:
    return (f"embedding check capped: skipped for {questions:,} questions, more than --embedding-limit "
            f"{limit:,} (paraphrases were not looked for)")


def count_questions(paths: Iterable[Path]) -> int:
    """How many question lines the files hold (unreadable files count none; validation says why)."""
    total = 0
    for path in paths:
        try:
            total += sum(1 for _ in iter_question_lines(Path(path)))
        except DataError:
            continue
    return total


def validate_files(
    paths: Iterable[Path],
    near_threshold: float = NEAR_DUPLICATE_THRESHOLD,
    embed: Embedder | None = None,
    embedding_threshold: float = EMBEDDING_THRESHOLD,
    embedding_limit: int = EMBEDDING_MAX_QUESTIONS,
) -> ValidationReport:
    """Every problem of the given question files, in file order (ids must be unique across files)."""
    report = ValidationReport()
    first_id_at: dict[str, str] = {}
    file_order: dict[str, int] = {}
    for path in paths:
        report.files += 1
        file_order.setdefault(str(path), len(file_order))
        _read_file(Path(path), report, first_id_at)
    _check_duplicates(report, near_threshold, embed, embedding_threshold, embedding_limit)
    report.problems.sort(key=lambda p: (file_order.get(p.path, 0), p.line or 0))  # stable: keeps check order
    return report
