"""What every importer shares: options, a source row in our schema's terms, a skipped row, text
cleaning, and reading generic JSON Lines records."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from arena.questions.schema import REFERENCE_ALIAS, Question
from arena.questions.similarity import normalise_text

MAPPABLE_FIELDS = tuple(Question.model_fields)  # id means the source's own id

Audience = Literal["patient", "clinician"]


@dataclass(frozen=True)
class ImportOptions:
    field_map: dict[str, str] = field(default_factory=dict)  # our field -> their column
    category: str | None = None  # for every row that has no known category of its own
    audience: Audience | None = None  # overrides the rows' audience
    license: str | None = None  # overrides the format's licence
    source_name: str | None = None  # jsonl/csv: names the source in ids (default: the file's stem)
    sample: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Row:
    """One source row in our schema's terms; `original_id` is what the stable id is made from."""

    where: str
    original_id: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Skip:
    where: str
    reason: str
    is_row: bool = True  # False: a problem of the whole source (a missing column), not a row


# --- text ----------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_MARK = re.compile(r"\s+([?.!,;:])")
_REPEATED_QUESTION_MARK = re.compile(r"\?(\s*\?)+")


def clean_text(text: str) -> str:
    """Whitespace collapsed, no space before punctuation, "? ?" folded (MedQuAD has all three)."""
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_MARK.sub(r"\1", text)
    return _REPEATED_QUESTION_MARK.sub("?", text)


def clean_answer(text: str) -> str:
    """An answer with each line stripped and runs of blank lines folded into one."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def natural_key(path: Path) -> list[Any]:
    """Sort key that puts 2_GARD_QA before 10_MPlus_ADAM_QA."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "import"



# --- generic records (JSON Lines and CSV) ---------------------------------------------------------

def decoded_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text is None where the line is not valid UTF-8."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, None


def json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]] | Skip]:
    for number, line in decoded_lines(path):
        where = f"{path}:{number}"
        if line is None:
            yield Skip(where, "not UTF-8 text")
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skip(where, f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(value, dict):
            yield Skip(where, f"expected a JSON object, got {type(value).__name__}")
            continue
        yield where, value


def mapped_row(where: str, record: dict[str, Any], field_map: dict[str, str]) -> Row | Skip:
    """A generic JSONL/CSV record in our terms; the text column must be present."""
    text_column = field_map["text"]
    if record.get(text_column) in (None, ""):
        return Skip(where, f"no {text_column!r} value")
    fields = {ours: record[theirs] for ours, theirs in field_map.items()
              if ours not in ("id", "source_id") and record.get(theirs) not in (None, "")}
    original = record.get(field_map.get("id") or field_map.get("source_id") or "id")
    if original in (None, ""):
        original = normalise_text(str(record[text_column]))  # no id: the text identifies the row
    else:
        fields["source_id"] = str(original)
    return Row(where, str(original), fields)


def default_map(columns: set[str], field_map: dict[str, str]) -> dict[str, str]:
    """Their columns named like our fields map to them; `question`/`Question` stand in for text."""
    mapping = {name: name for name in MAPPABLE_FIELDS if name in columns}
    if "reference" not in mapping and REFERENCE_ALIAS in columns:
        mapping["reference"] = REFERENCE_ALIAS
    if "text" not in mapping:
        for name in ("question", "Question"):  # the last present wins, as before
            if name in columns:
                mapping["text"] = name
    mapping.update(field_map)
    return mapping


