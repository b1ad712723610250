"""Battles in and out, in the Chatbot Arena battle format.

A battle is `model_a`, `model_b`, `winner` (one of model_a, model_b, tie, tie (bothbad)) and,
optionally, `question_id`, `category`, `judge`, `tstamp` (epoch seconds) and our own
`answer_a_len`/`answer_b_len` (characters, used by length control). Files are JSON Lines, a JSON
array (as LMArena publishes them) or CSV with a header row.

Imported battles are kept apart from judged ones under a source label ("import:<file stem>" by
default). Each row's dedup key is a hash of its content and its line (or item) number, so
importing the same file again adds nothing, while two identical rows of one file stay two battles.
Malformed rows are reported with their line and skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from arena.errors import DataError
from arena.fingerprint import canonical_json
from arena.store import Store, battles

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
EXPORT_FIELDS = (
    "model_a", "model_b", "winner", "question_id", "category", "judge", "tstamp",
    "answer_a_len", "answer_b_len", "source",
)
IMPORT_FORMATS = ("jsonl", "json", "csv")
EXPORT_FORMATS = ("jsonl", "csv")
JUDGE_SOURCE = "judge"
_TEXT_LIMITS = {"model_a": 200, "model_b": 200, "question_id": 200, "category": 100, "judge": 200}
_INSERT_CHUNK = 5000


@dataclass(frozen=True)
class _Malformed:
    """A row that could not even be read (bad JSON, wrong number of CSV fields)."""

    reason: str


@dataclass
class ImportReport:
    source: str
    rows: int = 0  # data rows read
    imported: int = 0  # new battles stored
    already_present: int = 0  # rows imported before (same source, content and line)
    problems: list[str] = field(default_factory=list)  # "file:line: why", one per skipped row

    @property
    def skipped(self) -> int:
        return len(self.problems)


def default_source(path: Path) -> str:
    return f"import:{path.stem}"


def import_battles(store: Store, path: Path, source: str | None = None, fmt: str | None = None) -> ImportReport:
    """Read `path`, keep the well-formed rows, store those not imported before (one transaction)."""
    source = source or default_source(path)
    if source == JUDGE_SOURCE or not source.strip() or len(source) > 100:
        raise DataError(f"source label {source!r} is not allowed (reserved, empty or over 100 characters)")
    fmt = fmt or _guess_format(path)
    report = ImportReport(source=source)
    now = time.time()
    records: list[dict[str, Any]] = []
    for where, number, raw in _read_rows(path, fmt):
        report.rows += 1
        try:
            if isinstance(raw, _Malformed):
                raise ValueError(raw.reason)
            battle = parse_battle(raw)
        except ValueError as exc:
            report.problems.append(f"{where}: {exc}")
            continue
        key = hashlib.sha256(f"{number}|{canonical_json(battle)}".encode()).hexdigest()[:32]
        records.append({**battle, "tstamp": battle["tstamp"] if battle["tstamp"] is not None else now,
                        "source": source, "dedup_key": key})
    with store.transaction() as connection:
        known = set(connection.execute(select(battles.c.dedup_key).where(battles.c.source == source)).scalars())
        new = [r for r in records if r["dedup_key"] not in known]
        report.already_present = len(records) - len(new)
        for start in range(0, len(new), _INSERT_CHUNK):
            connection.execute(battles.insert(), new[start:start + _INSERT_CHUNK])
    report.imported = len(new)
    return report


def parse_battle(raw: Any) -> dict[str, Any]:
    """One row (a mapping of field to value) into battle columns; ValueError says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object with model_a, model_b, winner; got {type(raw).__name__}")
    battle: dict[str, Any] = {}
    for name in ("model_a", "model_b"):
        battle[name] = _text(raw, name, required=True)
    if battle["model_a"] == battle["model_b"]:
        raise ValueError(f"model_a and model_b are the same model ({battle['model_a']})")
    winner = raw.get("winner")
    if winner not in WINNERS:
        raise ValueError(f"winner {winner!r} is not one of {', '.join(WINNERS)}")
    battle["winner"] = winner
    for name in ("question_id", "category", "judge"):
        battle[name] = _text(raw, name, required=False)
    battle["tstamp"] = _number(raw, "tstamp")
    for name in ("answer_a_len", "answer_b_len"):
        value = _number(raw, name)
        if value is not None and (value < 0 or value != int(value)):
            raise ValueError(f"{name} {raw.get(name)!r} is not a whole number of characters")
        battle[name] = None if value is None else int(value)
    return battle


def _text(raw: dict[str, Any], name: str, required: bool) -> str | None:
    value = raw.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("question_id", "judge"):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > _TEXT_LIMITS[name]:
        raise ValueError(f"{name} is longer than {_TEXT_LIMITS[name]} characters")
    return value


def _number(raw: dict[str, Any], name: str) -> float | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return number


def _guess_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("json", "csv"):
        return suffix
    raise DataError(f"{path}: cannot tell the format from the extension; pass --format {'|'.join(IMPORT_FORMATS)}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: battles file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _read_rows(path: Path, fmt: str) -> Iterator[tuple[str, int, Any]]:
    """(where, row number, raw row) for each data row; `where` is "file:line" or "file: item N"."""
    text = _read_text(path)
    if fmt == "json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        for number, item in enumerate(items, start=1):
            yield f"{path}: item {number}", number, item
    elif fmt in ("jsonl", "json"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"{path}:{number}", number, _Malformed(f"malformed JSON: {exc.msg} (column {exc.colno})")
    elif fmt == "csv":
        yield from _read_csv(path, text)
    else:
        raise DataError(f"unknown battles format {fmt!r}; expected one of {', '.join(IMPORT_FORMATS)}")


def _read_csv(path: Path, text: str) -> Iterator[tuple[str, int, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise DataError(f"{path}:1: malformed CSV header: {exc}") from None
    missing = [name for name in ("model_a", "model_b", "winner") if name not in header]
    if missing:
        raise DataError(f"{path}:1: the CSV header lacks {', '.join(missing)}")
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"{path}:{start}", start, _Malformed(f"malformed CSV: {exc}")
            start = reader.line_num + 1
            continue
        if any(cell.strip() for cell in cells):
            if len(cells) != len(header):
                yield f"{path}:{start}", start, _Malformed(f"{len(cells)} fields where the header has {len(header)}")
            else:
                yield f"{path}:{start}", start, dict(zip(header, cells))
        start = reader.line_num + 1


def export_battles(
    store: Store, out: TextIO, fmt: str = "jsonl", source: str | None = JUDGE_SOURCE, judge_key: str | None = None
) -> int:
    """Write the battles of `source` (all sources if None) in battle order; returns how many."""
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    query = select(*(battles.c[name] for name in EXPORT_FIELDS)).order_by(battles.c.tstamp, battles.c.id)
    if source is not None:
        query = query.where(battles.c.source == source)
    if judge_key is not None:
        query = query.where(battles.c.judge_key == judge_key)
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS), lineterminator="\n") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    count = 0
    with store.connect() as connection:
        for row in connection.execute(query):
            record = row._asdict()
            if writer:
                writer.writerow({k: "" if v is None else v for k, v in record.items()})
            else:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
