"""Importers that turn external question sets into our JSONL schema: `arena questions import`.

Each format has one small reader (`jsonl`, `csv`, `medquad`, `kqa`) that yields rows already
named in our schema's terms (plus the row's original id and location). The shared code here then
fills defaults, gives each question a stable id (a hash of the source name and the original id,
so importing twice yields the same ids), drops rows it cannot use with a one-line reason naming
the file and line, drops exact duplicate texts, and optionally samples. Imported files pass
`arena questions validate`: categories and kinds outside our vocabularies fall back to the
defaults with a note.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from arena.errors import DataError, first_problem
from arena.files import write_atomic
from arena.questions.importers import csv, jsonl, kqa, medquad
from arena.questions.importers.rows import (
    MAPPABLE_FIELDS,
    ImportOptions,
    Row,
    Skip,
    clean_text,
    slug,
)
from arena.questions.schema import (
    CATEGORIES,
    DEFAULT_KIND,
    KNOWN_KINDS,
    MAX_QUESTION_CHARS,
    REFERENCE_ALIAS,
    Question,
)
from arena.questions.similarity import normalise_text

FORMATS = ("jsonl", "csv", "medquad", "kqa")
DEFAULT_CATEGORY = "general-practice"
READERS: dict[str, Callable[[Path, ImportOptions], Iterator[Row | Skip]]] = {
    "jsonl": jsonl.read, "csv": csv.read, "medquad": medquad.read, "kqa": kqa.read}
ID_PREFIXES = {"medquad": "medquad", "kqa": "kqa"}
DEFAULT_LICENSES = {"medquad": "CC-BY-4.0", "kqa": "MIT"}


@dataclass
class ImportResult:
    questions: list[Question] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "FILE:LINE: reason", one line each
    notes: list[str] = field(default_factory=list)  # defaults applied, sampling
    rows: int = 0  # rows read, usable or not
    skipped: int = 0  # rows that could not be used (each has a line in `problems`)
    duplicates: int = 0  # rows dropped because their text or id was already imported


def stable_id(prefix: str, source: str, original_id: str) -> str:
    digest = hashlib.sha1(f"{source}\x00{original_id}".encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


def parse_field_map(value: str | None) -> dict[str, str]:
    """`text=question,category=specialty` into {"text": "question", "category": "specialty"}."""
    mapping: dict[str, str] = {}
    for part in (value or "").split(","):
        if not part.strip():
            continue
        ours, sep, theirs = part.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise DataError(f"--map: expected ourfield=theirfield, got {part.strip()!r}")
        ours = "reference" if ours == REFERENCE_ALIAS else ours
        if ours not in MAPPABLE_FIELDS:
            raise DataError(f"--map: unknown field {ours!r} (one of: {', '.join(MAPPABLE_FIELDS)})")
        mapping[ours] = theirs
    return mapping


_CATEGORY_ALIASES = {
    "pediatrics": "paediatrics", "paediatric": "paediatrics", "pediatric": "paediatrics",
    "obstetrics": "obstetrics-gynaecology", "gynecology": "obstetrics-gynaecology",
    "gynaecology": "obstetrics-gynaecology", "obstetrics-gynecology": "obstetrics-gynaecology",
    "obgyn": "obstetrics-gynaecology", "hematology": "haematology", "psychiatry": "mental-health",
    "infectious-diseases": "infectious-disease", "infections": "infectious-disease",
    "emergency": "emergency-medicine", "pulmonology": "respiratory", "oncology-haematology": "oncology",
    "orthopaedics": "musculoskeletal", "orthopedics": "musculoskeletal", "rheumatology": "musculoskeletal",
    "otolaryngology": "ent", "gastroenterology-hepatology": "gastroenterology",
    "primary-care": "general-practice", "family-medicine": "general-practice", "general": "general-practice",
}


def known_category(value: Any) -> str | None:
    """`value` as one of CATEGORIES (spelling variants accepted), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    key = slug(value)
    key = _CATEGORY_ALIASES.get(key, key)
    return key if key in CATEGORIES else None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
    return bool(value)


# --- from rows to questions --------------------------------------------------------------------

def _question_from_row(row: Row, fmt: str, source_name: str, options: ImportOptions,
                       fallbacks: Counter[str]) -> Question | Skip:
    fields = dict(row.fields)
    text = clean_text(str(fields.pop("text", "")))
    if not text:
        return Skip(row.where, "empty question text")
    if len(text) > MAX_QUESTION_CHARS:
        return Skip(row.where, f"question text too long ({len(text)} chars, max {MAX_QUESTION_CHARS})")
    category = known_category(fields.pop("category", None))
    if category is None:
        given = row.fields.get("category")
        category = options.category or DEFAULT_CATEGORY
        if given not in (None, ""):
            fallbacks[f"category {given!r} is not in the vocabulary; used {category!r}"] += 1
    kind = str(fields.pop("kind", DEFAULT_KIND)).strip().lower()
    if kind not in KNOWN_KINDS:
        fallbacks[f"kind {kind!r} is not in the vocabulary; used {DEFAULT_KIND!r}"] += 1
        kind = DEFAULT_KIND
    row_audience = str(fields.pop("audience", "patient")).strip().lower()
    audience = options.audience or row_audience
    if audience not in ("patient", "clinician"):
        fallbacks[f"audience {audience!r} is neither patient nor clinician; used 'patient'"] += 1
        audience = "patient"
    source = str(fields.pop("source", None) or source_name)
    values = {
        **{k: str(v) for k, v in fields.items() if k in ("reference", "source_id", "license")},
        "id": stable_id(ID_PREFIXES.get(fmt, slug(source_name)), source_name, row.original_id),
        "text": text, "category": category, "kind": kind, "audience": audience, "source": source,
        "safety_critical": _truthy(fields.get("safety_critical", False)),
    }
    licence = options.license or values.get("license") or DEFAULT_LICENSES.get(fmt)
    if licence:
        values["license"] = licence
    try:
        return Question.model_validate(values)
    except ValidationError as exc:
        return Skip(row.where, first_problem(exc))


def import_questions(source: Path, fmt: str, options: ImportOptions) -> ImportResult:
    """Read `source` in format `fmt` into questions; unusable rows are listed, not fatal."""
    if fmt not in READERS:
        raise DataError(f"unknown import format {fmt!r} (one of: {', '.join(FORMATS)})")
    if not source.exists():
        raise DataError(f"{source}: source not found")
    if fmt != "medquad" and source.is_dir():
        raise DataError(f"{source}: is a directory; the {fmt} format reads one file")
    source_name = {"medquad": "MedQuAD", "kqa": "K-QA"}.get(fmt) or options.source_name or source.stem
    result = ImportResult()
    fallbacks: Counter[str] = Counter()
    seen_texts: set[str] = set()
    seen_ids: set[str] = set()
    for read in READERS[fmt](source, options):
        result.rows += isinstance(read, Row) or read.is_row
        item = _question_from_row(read, fmt, source_name, options, fallbacks) if isinstance(read, Row) else read
        if isinstance(item, Skip):
            result.problems.append(f"{item.where}: {item.reason}")
            result.skipped += item.is_row
            continue
        key = normalise_text(item.text)
        if key in seen_texts or item.id in seen_ids:
            result.duplicates += 1
            continue
        seen_texts.add(key)
        seen_ids.add(item.id)
        result.questions.append(item)
    result.notes += [f"{count} row(s): {message}" for message, count in fallbacks.items()]
    if options.sample is not None:
        _sample(result, options.sample, options.seed)
    return result


def _sample(result: ImportResult, size: int, seed: int) -> None:
    """Keep `size` questions chosen by `seed`, independent of the order the source was read in."""
    if size >= len(result.questions):
        result.notes.append(f"--sample {size}: only {len(result.questions)} question(s) available; kept all")
        return
    by_id = sorted(result.questions, key=lambda q: q.id)
    chosen = {q.id for q in random.Random(seed).sample(by_id, size)}
    result.questions = [q for q in result.questions if q.id in chosen]
    result.notes.append(f"sampled {size} of {len(by_id)} question(s) with seed {seed}")


def write_questions(questions: list[Question], out: Path) -> None:
    """Write JSONL atomically: a reader never sees a half-written file."""
    write_atomic(out, "".join(json.dumps(q.model_dump(exclude_none=True), ensure_ascii=False) + "\n"
                              for q in questions))
