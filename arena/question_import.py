"""Importers that turn external question sets into our JSONL schema: `arena questions import`.

Each format has one small reader that yields rows already named in our schema's terms (plus the
row's original id and location). The shared code then fills defaults, gives each question a
stable id (a hash of the source name and the original id, so importing twice yields the same
ids), drops rows it cannot use with a one-line reason naming the file and line, drops exact
duplicate texts, and optionally samples. Imported files pass `arena questions validate`:
categories and kinds outside our vocabularies fall back to the defaults with a note.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from arena.errors import DataError, first_problem
from arena.question_checks import KNOWN_KINDS, normalise_text
from arena.questions import CATEGORIES, MAX_QUESTION_CHARS, REFERENCE_ALIAS, Question

FORMATS = ("jsonl", "csv", "medquad", "kqa")
DEFAULT_CATEGORY = "general-practice"
DEFAULT_KIND = "general"
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


@dataclass
class ImportResult:
    questions: list[Question] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "FILE:LINE: reason", one line each
    notes: list[str] = field(default_factory=list)  # defaults applied, sampling
    rows: int = 0  # rows read, usable or not
    skipped: int = 0  # rows that could not be used (each has a line in `problems`)
    duplicates: int = 0  # rows dropped because their text or id was already imported


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


# --- shared helpers ----------------------------------------------------------------------------

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


def _natural_key(path: Path) -> list[Any]:
    """Sort key that puts 2_GARD_QA before 10_MPlus_ADAM_QA."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "import"


def stable_id(prefix: str, source: str, original_id: str) -> str:
    digest = hashlib.sha1(f"{source}\x00{original_id}".encode("utf-8")).hexdigest()[:10]
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


# --- readers: one per format -------------------------------------------------------------------

def _decoded_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text is None where the line is not valid UTF-8."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, None


def _json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]] | Skip]:
    for number, line in _decoded_lines(path):
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


def _mapped_row(where: str, record: dict[str, Any], field_map: dict[str, str]) -> Row | Skip:
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


def _default_map(columns: set[str], field_map: dict[str, str]) -> dict[str, str]:
    """Their columns named like our fields map to them; `question`/`Question` stand in for text."""
    mapping = {name: name for name in MAPPABLE_FIELDS if name in columns}
    if "reference" not in mapping and REFERENCE_ALIAS in columns:
        mapping["reference"] = REFERENCE_ALIAS
    if "text" not in mapping:
        mapping.update({"text": name for name in ("question", "Question") if name in columns})
    mapping.update(field_map)
    return mapping


def read_jsonl(path: Path, options: ImportOptions) -> Iterator[Row | Skip]:
    for item in _json_objects(path):
        if isinstance(item, Skip):
            yield item
            continue
        where, record = item
        field_map = _default_map(set(record), options.field_map)
        if "text" not in field_map:
            yield Skip(where, "no text field (map one with --map text=COLUMN)")
            continue
        yield _mapped_row(where, record, field_map)


def read_csv(path: Path, options: ImportOptions) -> Iterator[Row | Skip]:
    # surrogateescape keeps undecodable bytes visible per row instead of failing the whole file
    text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield Skip(f"{path}:1", f"malformed CSV header: {exc}")
        return
    field_map = _default_map(set(header), options.field_map)
    missing = sorted({theirs for theirs in field_map.values() if theirs not in header})
    if "text" not in field_map or field_map["text"] not in header:
        wanted = field_map.get("text", "text")
        columns = ", ".join(header)
        raise DataError(f"{path}:1: no column {wanted!r} for the question text (columns: {columns})")
    for column in missing:
        yield Skip(f"{path}:1", f"no column {column!r} (columns: {', '.join(header)}); its field stays unset",
                   is_row=False)
    field_map = {ours: theirs for ours, theirs in field_map.items() if theirs in header}
    line = reader.line_num
    while True:
        first_line = line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Skip(f"{path}:{first_line}", f"malformed CSV: {exc}")
            line = reader.line_num
            continue
        line = reader.line_num
        where = f"{path}:{first_line}"
        if not any(v.strip() for v in values):
            continue
        if any("\udc80" <= ch <= "\udcff" for v in values for ch in v):
            yield Skip(where, "not UTF-8 text")
            continue
        if len(values) != len(header):
            yield Skip(where, f"expected {len(header)} columns, got {len(values)}")
            continue
        yield _mapped_row(where, dict(zip(header, values)), field_map)


# MedQuAD question types (qtype attribute) onto our kinds; unlisted types become "general".
MEDQUAD_KINDS = {
    "symptoms": "symptoms", "exams and tests": "diagnosis", "diagnosis": "diagnosis",
    "treatment": "treatment", "prevention": "prevention", "outlook": "prognosis",
    "complications": "prognosis", "stages": "prognosis", "causes": "mechanism",
    "genetic changes": "mechanism", "inheritance": "mechanism", "how does it work": "mechanism",
    "susceptibility": "prevention", "screening": "screening",
    "important warning": "medication", "indication": "medication", "usage": "medication",
    "precautions": "medication", "dietary": "medication", "forget a dose": "medication",
    "side effects": "medication", "storage and disposal": "medication", "contraindication": "medication",
    "emergency or overdose": "when-to-seek-care", "interactions with medications": "medication",
    "interactions with foods": "medication", "interactions with herbs and supplements": "medication",
    "how effective is it": "treatment", "dosage": "medication",
}
MEDQUAD_SAFETY_QTYPES = {"important warning", "emergency or overdose", "contraindication",
                         "interactions with medications", "forget a dose"}
# MedQuAD collections (the Document source attribute) whose subject fixes our category.
MEDQUAD_CATEGORIES = {
    "cancergov": "oncology", "ninds": "neurology", "seniorhealth": "geriatrics",
    "nihseniorhealth": "geriatrics", "mplusdrugs": "pharmacology",
    "mplusherbssupplements": "pharmacology", "cdc": "infectious-disease",
}


def read_medquad(root: Path, options: ImportOptions) -> Iterator[Row | Skip]:
    """MedQuAD: a tree of XML files, each a <Document> with <QAPairs><QAPair><Question qtype>."""
    files = [root] if root.is_file() else sorted(root.rglob("*.xml"), key=_natural_key)
    if not files:
        raise DataError(f"{root}: no MedQuAD XML files found")
    for path in files:
        try:
            document = ET.parse(path).getroot()
        except ET.ParseError as exc:
            line = exc.position[0] if exc.position else 0
            yield Skip(f"{path}:{line}", f"broken XML: {exc}")
            continue
        collection = document.get("source") or path.parent.name
        category = MEDQUAD_CATEGORIES.get(slug(collection).replace("-", ""))
        for pair in document.iter("QAPair"):
            question = pair.find("Question")
            where = f"{path} (QAPair pid={pair.get('pid', '?')})"
            if question is None or not (question.text or "").strip():
                yield Skip(where, "QAPair without question text")
                continue
            qtype = (question.get("qtype") or "").strip().lower()
            qid = question.get("qid") or f"{document.get('id', path.stem)}-{pair.get('pid', '?')}"
            answer = clean_answer(pair.findtext("Answer") or "")
            fields: dict[str, Any] = {
                "text": question.text, "kind": MEDQUAD_KINDS.get(qtype, DEFAULT_KIND),
                "source": f"MedQuAD/{collection}", "source_id": qid,
                "safety_critical": qtype in MEDQUAD_SAFETY_QTYPES,
            }
            if category:
                fields["category"] = category
            if answer:
                fields["reference"] = answer
            yield Row(where, f"{collection}/{qid}", fields)


def read_kqa(path: Path, options: ImportOptions) -> Iterator[Row | Skip]:
    """K-QA JSONL (questions.jsonl or questions_w_answers.jsonl): "Question", "Free_form_answer"."""
    for item in _json_objects(path):
        if isinstance(item, Skip):
            yield item
            continue
        where, record = item
        text = record.get("Question")
        if not isinstance(text, str) or not text.strip():
            yield Skip(where, "no \"Question\" text")
            continue
        line = where.rsplit(":", 1)[1]
        fields: dict[str, Any] = {"text": text, "source": "K-QA", "source_id": f"{path.name}:{line}"}
        answer = record.get("Free_form_answer")
        if isinstance(answer, str) and answer.strip():
            fields["reference"] = answer.strip()
        # K-QA rows have no id; its own evaluation keys rows by question text, and so do we.
        yield Row(where, normalise_text(text), fields)


READERS = {"jsonl": read_jsonl, "csv": read_csv, "medquad": read_medquad, "kqa": read_kqa}
ID_PREFIXES = {"medquad": "medquad", "kqa": "kqa"}
DEFAULT_LICENSES = {"medquad": "CC-BY-4.0", "kqa": "MIT"}


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
    for item in READERS[fmt](source, options):
        result.rows += isinstance(item, Row) or item.is_row
        if isinstance(item, Row):
            item = _question_from_row(item, fmt, source_name, options, fallbacks)
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
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for question in questions:
            handle.write(json.dumps(question.model_dump(exclude_none=True), ensure_ascii=False) + "\n")
    os.replace(partial, out)
