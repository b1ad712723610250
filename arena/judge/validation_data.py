"""Labelled pairwise data for `arena judge validate`: the documented JSONL and HHH alignment.

A labelled pair is an instruction, two responses and which one a human preferred (`A`, `B` or
`tie`), with an optional reference answer, rubric line and category. Two formats are read:

- `jsonl`, one object per line (blank lines and lines starting with `//` skipped):
  `{"instruction": ..., "response_a": ..., "response_b": ..., "label": "A" | "B" | "tie",
    "reference": ..., "rubric": ..., "category": ..., "id": ...}`; the last four are optional.
  `rubric` is used as given under "###Score Rubric:" (for Prometheus 2, one bracketed criterion
  line); without it the project's rubric is used. Without `id`, a pair is named by a
  fingerprint of its instruction and responses. Unknown fields are errors (a typo in `label`
  must not pass silently).
- `hhh`: prometheus-eval's `hhh_alignment_eval.json` (the HHH alignment pairs of Askell et al.,
  as the Prometheus 2 paper evaluated them): a JSON array of `{source, chosen_instruction,
  rejected_instruction}`, each instruction a complete absolute-grading prompt. The instruction,
  the response and the rubric are read out of its `###` sections, and the rubric's first line
  (its bracketed criterion) is kept, as prometheus-eval's relative evaluation does. `source`
  (harmless, helpful, honest, other) is the category. The chosen response is shown as A in
  even-numbered records and as B in odd ones (prometheus-eval draws this at random, unseeded);
  since every pair is judged in both orders, only the label's letter depends on it.

Any problem stops reading with one line naming the file and the line or record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from arena.errors import DataError, first_problem
from arena.fingerprint import fingerprint

Label = Literal["A", "B", "tie"]
LABELS: tuple[Label, ...] = ("A", "B", "tie")
FORMATS = ("jsonl", "hhh")


def as_label(value: str) -> Label:
    """A stored label back as a `Label` (the store only ever holds the three)."""
    for label in LABELS:
        if value == label:
            return label
    raise DataError(f"unknown validation label {value!r} (expected A, B or tie)")


@dataclass(frozen=True)
class LabelledPair:
    id: str
    instruction: str
    response_a: str
    response_b: str
    label: Label  # the human preference: "A" (response_a), "B" (response_b) or "tie"
    category: str = ""
    reference: str | None = None
    rubric: str | None = None  # the pair's own rubric text; None: the project's rubric

    @property
    def fingerprint(self) -> str:
        """What the judge reads from this pair (the label is not part of it)."""
        return fingerprint([self.instruction, self.response_a, self.response_b, self.reference, self.rubric])


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    format: str
    pairs: list[LabelledPair]


class PairRecord(BaseModel):
    """One line of the generic JSONL format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction: str = Field(min_length=1)
    response_a: str
    response_b: str
    label: Label
    reference: str | None = None
    rubric: str | None = None
    category: str = Field("", max_length=100)
    id: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("label", mode="before")
    @classmethod
    def _label_any_case(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("a", "b", "tie"):
            return value.strip().upper() if value.strip().lower() != "tie" else "tie"
        return value


def _blank_to_none(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def read_jsonl(path: Path) -> list[LabelledPair]:
    pairs: list[LabelledPair] = []
    seen: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(raw, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        try:
            record = PairRecord.model_validate(raw)
        except ValidationError as exc:
            raise DataError(f"{where}: {first_problem(exc, 'pair')}") from None
        pair_id = record.id or fingerprint([record.instruction, record.response_a, record.response_b], 12)
        if pair_id in seen:
            what = "pair id" if record.id else "pair (same instruction and responses)"
            raise DataError(f"{where}: duplicate {what} {pair_id!r} (first at {seen[pair_id]})")
        seen[pair_id] = where
        pairs.append(LabelledPair(
            id=pair_id, instruction=record.instruction, response_a=record.response_a,
            response_b=record.response_b, label=record.label, category=record.category.strip(),
            reference=_blank_to_none(record.reference), rubric=_blank_to_none(record.rubric),
        ))
    return pairs


_HHH_SECTIONS = ("###The instruction to evaluate:\n", "\n\n###Response to evaluate:\n",
                 "\n\n###Score Rubrics:\n", "\n\n###Feedback:")


def _absolute_prompt_sections(prompt: str, where: str) -> tuple[str, str, str]:
    """(instruction, response, rubric's first line) of a prometheus-eval absolute-grading prompt."""
    positions = []
    start = 0
    for marker in _HHH_SECTIONS:
        found = prompt.find(marker, start)
        if found < 0:
            raise DataError(f"{where}: no {marker.strip()!r} section")
        positions.append((found, found + len(marker)))
        start = found + len(marker)
    instruction = prompt[positions[0][1]:positions[1][0]].strip()
    response = prompt[positions[1][1]:positions[2][0]].strip()
    rubric = prompt[positions[2][1]:positions[3][0]].strip().split("\n")[0].strip()
    return instruction, response, rubric


def read_hhh(path: Path) -> list[LabelledPair]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON array of HHH records")
    pairs: list[LabelledPair] = []
    per_source: dict[str, int] = {}
    for index, record in enumerate(records):
        where = f"{path} (record {index})"
        if not isinstance(record, dict) or not {"chosen_instruction", "rejected_instruction"} <= set(record):
            raise DataError(f"{where}: expected an object with chosen_instruction and rejected_instruction")
        source = str(record.get("source") or "")
        instruction, chosen, rubric = _absolute_prompt_sections(str(record["chosen_instruction"]), where)
        other, rejected, other_rubric = _absolute_prompt_sections(str(record["rejected_instruction"]), where)
        if (other, other_rubric) != (instruction, rubric):
            raise DataError(f"{where}: chosen and rejected prompts differ beyond their responses")
        per_source[source] = per_source.get(source, 0) + 1
        chosen_first = index % 2 == 0
        pairs.append(LabelledPair(
            id=f"{source or 'hhh'}-{per_source[source]:03d}", instruction=instruction,
            response_a=chosen if chosen_first else rejected, response_b=rejected if chosen_first else chosen,
            label="A" if chosen_first else "B", category=source, rubric=rubric or None,
        ))
    return pairs


def detect_format(path: Path) -> str:
    """`jsonl` for .jsonl files, `hhh` for .json files."""
    if path.suffix.lower() == ".jsonl":
        return "jsonl"
    if path.suffix.lower() == ".json":
        return "hhh"
    raise DataError(f"{path}: cannot tell the format from the extension; pass --format jsonl or hhh")


def read_dataset(path: Path, fmt: str | None = None, name: str | None = None,
                 limit: int | None = None) -> Dataset:
    """The labelled pairs of `path` (the first `limit` of them)."""
    if not path.is_file():
        raise DataError(f"{path}: labelled data not found")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown validation data format {fmt!r} (one of: {', '.join(FORMATS)})")
    pairs = read_jsonl(path) if fmt == "jsonl" else read_hhh(path)
    if not pairs:
        raise DataError(f"{path}: no labelled pairs")
    return Dataset(name=name or path.stem, path=path, format=fmt, pairs=pairs[:limit] if limit else pairs)
