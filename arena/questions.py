"""Questions: the schema of one curated health question and the JSONL loader.

A question file is JSON Lines: one object per line. Blank lines and lines starting with `//`
are skipped. Loading stops at the first malformed line with an error naming file and line;
`arena questions validate` reports every problem instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from arena.errors import DataError, first_problem

MAX_QUESTION_CHARS = 4000
REFERENCE_ALIAS = "reference_answer"

# The controlled vocabularies of the shipped sets; `arena questions validate` flags other values.
CATEGORIES = (
    "cardiology", "endocrinology", "infectious-disease", "paediatrics", "obstetrics-gynaecology",
    "mental-health", "oncology", "pharmacology", "neurology", "dermatology", "emergency-medicine",
    "nutrition", "geriatrics", "respiratory", "gastroenterology", "nephrology", "musculoskeletal",
    "ophthalmology", "ent", "urology", "haematology", "sexual-health", "general-practice",
)
KINDS = (
    "symptoms", "diagnosis", "treatment", "medication", "prevention", "lifestyle",
    "when-to-seek-care", "prognosis", "screening", "procedure", "mechanism",
)


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    text: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    category: str = Field(min_length=1, max_length=100)
    audience: Literal["patient", "clinician"] = "patient"
    kind: str = Field("general", min_length=1, max_length=100)
    safety_critical: bool = False
    # An answer the judge may compare against (Prometheus 2's relative prompt with a reference).
    # `reference_answer`, this field's name before, is read as an alias.
    reference: str | None = None  # empty means none
    source: str | None = None
    license: str | None = None
    source_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reference_alias(cls, raw: object) -> object:
        if isinstance(raw, dict) and REFERENCE_ALIAS in raw:
            if "reference" in raw:
                raise ValueError(f"give reference or {REFERENCE_ALIAS}, not both")
            raw = {**raw, "reference": raw[REFERENCE_ALIAS]}
            del raw[REFERENCE_ALIAS]
        if isinstance(raw, dict) and isinstance(raw.get("reference"), str) and not raw["reference"].strip():
            raw = {**raw, "reference": None}
        return raw


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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: question file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("//"):
            yield number, stripped


def load_questions(paths: Iterable[Path]) -> list[Question]:
    """All questions of the given files, in file order; ids must be unique across files."""
    seen: dict[str, str] = {}
    loaded: list[Question] = []
    for path in paths:
        for number, line in iter_question_lines(Path(path)):
            where = f"{path}:{number}"
            question = parse_question_line(line, where)
            if question.id in seen:
                raise DataError(f"{where}: duplicate question id {question.id!r} (first at {seen[question.id]})")
            seen[question.id] = where
            loaded.append(question)
    return loaded
