"""Reading question files: JSON Lines, one question object per line.

Blank lines and lines starting with `//` are skipped. Loading stops at the first malformed line
with an error naming file and line; `arena questions validate` reports every problem instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from arena.errors import DataError, first_problem
from arena.questions.schema import Question


def parse_question_line(line: str, where: str) -> Question:
    """One JSONL line into a Question, or DataError naming `where` (file:line)."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    try:
        question = Question.model_validate(raw)
    except ValidationError as exc:
        raise DataError(f"{where}: {first_problem(exc, 'question')}") from None
    if not question.text.strip():
        raise DataError(f"{where}: text: empty question text")
    return question


def iter_question_lines(path: Path) -> Iterable[tuple[int, str]]:
    """(line number, line) for the lines of a question file that hold data."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as spreadsheets write, is fine
    except FileNotFoundError:
        raise DataError(f"{path}: question file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("//"):
            yield number, stripped


def empty_file_message(path: Path) -> str:
    """A question file without a single question is a mistake (a wrong path, a failed export)."""
    return f"{path}: no questions in the file (it is empty or holds only blank and // comment lines)"


def load_questions(paths: Iterable[Path]) -> list[Question]:
    """All questions of the given files, in file order; ids must be unique across files."""
    seen: dict[str, str] = {}
    loaded: list[Question] = []
    for path in paths:
        lines = list(iter_question_lines(Path(path)))
        if not lines:
            raise DataError(empty_file_message(Path(path)))
        for number, line in lines:
            where = f"{path}:{number}"
            question = parse_question_line(line, where)
            if question.id in seen:
                raise DataError(f"{where}: duplicate question id {question.id!r} (first at {seen[question.id]})")
            seen[question.id] = where
            loaded.append(question)
    return loaded
