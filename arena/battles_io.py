"""Battles in and out, in the Chatbot Arena battle format, without loss.

A battle is `model_a`, `model_b`, `winner` (one of model_a, model_b, tie, tie (bothbad)) and,
optionally, `question_id`, `category`, `judge`, `judge_key`, both answers' ids
(`answer_a_id`, `answer_b_id`: ids in the exporting store), the judge's two `verdicts`
("AB": model_a shown first, then model_b shown first), `tstamp` (epoch seconds), the answers'
lengths in characters (`answer_a_len`, ...) and their style covariates (`answer_a_tokens`,
`_headers`, `_list_items`, `_bold`, and the same for b; arena.answer_style). An export carries
all of them, so an imported export rates exactly as the battles it came from. Files are JSON
Lines, a JSON array (as LMArena publishes them) or CSV with a header row.

Imported battles are kept apart from judged ones under a source label ("import:<file stem>" by
default). A row's dedup key is a hash of its content plus how many identical rows came before it
in the file, so importing a file again, in any order, adds nothing, while two identical rows of
one file stay two battles. Malformed rows are reported with their line and skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.sql.elements import ColumnElement

from arena.answer_style import STYLE_NAMES
from arena.errors import DataError
from arena.store import BATTLE_VERDICTS, BATTLE_WINNERS, Store, battles

WINNERS = BATTLE_WINNERS
VERDICTS = BATTLE_VERDICTS
STYLE_FIELDS = tuple(f"answer_{side}_{name}" for name in STYLE_NAMES for side in ("a", "b"))
# (field, kind, limit): kind "text" (up to `limit` characters) or "count" (a whole number >= 0)
OPTIONAL_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("question_id", "text", 200), ("category", "text", 100), ("judge", "text", 200), ("judge_key", "text", 32),
    ("answer_a_id", "count", 0), ("answer_b_id", "count", 0), ("verdicts", "verdicts", 2),
    ("answer_a_len", "count", 0), ("answer_b_len", "count", 0), *((name, "count", 0) for name in STYLE_FIELDS),
)
BATTLE_FIELDS = ("model_a", "model_b", "winner", *(name for name, _, _ in OPTIONAL_FIELDS), "tstamp")
EXPORT_FIELDS = (*BATTLE_FIELDS, "source")
IMPORT_FORMATS = ("jsonl", "json", "csv")
EXPORT_FORMATS = ("jsonl", "csv")
JUDGE_SOURCE = "judge"
_MODEL_LIMIT = 200
_INSERT_CHUNK = 20_000


@dataclass(frozen=True)
class _Malformed:
    """A row that could not even be read (bad JSON, wrong number of CSV fields)."""

    reason: str


@dataclass
class ImportReport:
    source: str
    rows: int = 0  # data rows read
    imported: int = 0  # new battles stored
    already_present: int = 0  # rows imported before (same source and content)
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
    seen: dict[str, int] = {}  # content digest -> identical rows so far in this file
    records: list[tuple[Any, ...]] = []
    for where, raw in _read_rows(path, fmt):
        report.rows += 1
        try:
            if isinstance(raw, _Malformed):
                raise ValueError(raw.reason)
            values = parse_battle(raw)
        except ValueError as exc:
            report.problems.append(f"{where}: {exc}")
            continue
        digest = hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()
        copy = seen.get(digest, 0)
        seen[digest] = copy + 1
        tstamp = values[-1] if values[-1] is not None else now
        records.append((*values[:-1], tstamp, source, f"{digest}:{copy}"))
    columns = [*BATTLE_FIELDS, "source", "dedup_key"]
    with store.transaction() as connection:
        known = set(connection.execute(select(battles.c.dedup_key).where(battles.c.source == source)).scalars())
        new = [r for r in records if r[-1] not in known]
        report.already_present = len(records) - len(new)
        _insert_many(connection, columns, new)
    report.imported = len(new)
    return report


def _insert_many(connection: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """One prepared INSERT for every row, through the driver's executemany (SQLAlchemy's own
    per-row parameter processing costs about 25 microseconds a row; this, a third of that)."""
    if not rows:
        return
    compiled = battles.insert().values({name: None for name in columns}).compile(
        dialect=connection.dialect, column_keys=columns)
    if compiled.positional:
        order = [columns.index(name) for name in compiled.positiontup]
        parameters: Iterable[Any] = (tuple([row[k] for k in order]) for row in rows)
    else:
        parameters = (dict(zip(columns, row)) for row in rows)
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MB: the unique index stays in memory
    batch: list[Any] = []
    for item in parameters:
        batch.append(item)
        if len(batch) >= _INSERT_CHUNK:
            connection.exec_driver_sql(str(compiled), batch)
            batch = []
    if batch:
        connection.exec_driver_sql(str(compiled), batch)


def parse_battle(raw: Any) -> tuple[Any, ...]:
    """One row (a mapping of field to value) into battle values in BATTLE_FIELDS order.

    ValueError says what is wrong.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object with model_a, model_b, winner; got {type(raw).__name__}")
    model_a = _text(raw, "model_a", _MODEL_LIMIT, required=True)
    model_b = _text(raw, "model_b", _MODEL_LIMIT, required=True)
    if model_a == model_b:
        raise ValueError(f"model_a and model_b are the same model ({model_a})")
    winner = raw.get("winner")
    if winner not in WINNERS:
        raise ValueError(f"winner {winner!r} is not one of {', '.join(WINNERS)}")
    values: list[Any] = [model_a, model_b, winner]
    for name, kind, limit in OPTIONAL_FIELDS:
        if kind == "text":
            values.append(_text(raw, name, limit, required=False))
        elif kind == "count":
            values.append(_count(raw, name))
        else:
            verdicts = raw.get(name)
            if verdicts in (None, ""):
                verdicts = None
            elif verdicts not in VERDICTS:
                raise ValueError(f"verdicts {verdicts!r} is not one of {', '.join(VERDICTS)}")
            values.append(verdicts)
    values.append(_number(raw, "tstamp"))
    return tuple(values)


def _text(raw: dict[str, Any], name: str, limit: int, required: bool) -> str | None:
    value = raw.get(name)
    if type(value) is str and 0 < len(value) <= limit and not value[0].isspace() and not value[-1].isspace():
        return value  # the common case, checked first
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("question_id", "judge"):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


def _count(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if type(value) is int and value >= 0:
        return value  # the common case, checked first
    number = _number(raw, name)
    if number is None:
        return None
    if number < 0 or number != int(number):
        raise ValueError(f"{name} {value!r} is not a whole number >= 0")
    return int(number)


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
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a battles file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _read_rows(path: Path, fmt: str) -> Iterator[tuple[str, Any]]:
    """(where, raw row) for each data row; `where` is "file:line" or "file: item N"."""
    text = _read_text(path)
    if fmt == "json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        for number, item in enumerate(items, start=1):
            yield f"{path}: item {number}", item
    elif fmt in ("jsonl", "json"):
        yield from _read_json_lines(path, text)
    elif fmt == "csv":
        yield from _read_csv(path, text)
    else:
        raise DataError(f"unknown battles format {fmt!r}; expected one of {', '.join(IMPORT_FORMATS)}")


def _read_json_lines(path: Path, text: str, chunk: int = 20_000) -> Iterator[tuple[str, Any]]:
    """Lines parsed a chunk at a time (one json.loads per chunk, about twice as fast); a chunk
    with a malformed line is parsed line by line to say which."""
    numbered = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    for start in range(0, len(numbered), chunk):
        part = numbered[start:start + chunk]
        try:
            items = json.loads("[" + ",".join(line for _, line in part) + "]")
            if len(items) != len(part):  # a line holding two values separated by a comma
                raise ValueError
        except ValueError:
            items = [_parse_line(line) for _, line in part]
        for (number, _), item in zip(part, items):
            yield f"{path}:{number}", item


def _parse_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return _Malformed(f"malformed JSON: {exc.msg} (column {exc.colno})")


def _read_csv(path: Path, text: str) -> Iterator[tuple[str, Any]]:
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
            yield f"{path}:{start}", _Malformed(f"malformed CSV: {exc}")
            start = reader.line_num + 1
            continue
        if any(cell.strip() for cell in cells):
            if len(cells) != len(header):
                yield f"{path}:{start}", _Malformed(f"{len(cells)} fields where the header has {len(header)}")
            else:
                yield f"{path}:{start}", dict(zip(header, cells))
        start = reader.line_num + 1


def battle_conditions(source: str | None, judge_key: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if source is not None:
        conditions.append(battles.c.source == source)
    if judge_key is not None:
        conditions.append(battles.c.judge_key == judge_key)
    return conditions


def export_rows(store: Store, conditions: list[ColumnElement[bool]]) -> Iterator[dict[str, Any]]:
    """The battles matching `conditions` in battle order, as EXPORT_FIELDS records."""
    query = (select(*(battles.c[name] for name in EXPORT_FIELDS)).where(*conditions)
             .order_by(battles.c.tstamp, battles.c.id))
    with store.connect() as connection:
        for part in connection.execute(query).partitions(10_000):
            for row in part:
                yield row._asdict()


def write_battles(records: Iterable[dict[str, Any]], out: TextIO, fmt: str) -> int:
    """Battle records as JSON Lines, a JSON array ("json") or CSV; returns how many."""
    if fmt not in (*EXPORT_FORMATS, "json"):
        raise DataError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS), lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
            count += 1
        return count
    if fmt == "json":
        out.write("[")
    for record in records:
        if fmt == "json":
            out.write(",\n" if count else "\n")
        out.write(json.dumps(record, ensure_ascii=False) + ("" if fmt == "json" else "\n"))
        count += 1
    if fmt == "json":
        out.write("\n]\n")
    return count


def export_battles(
    store: Store, out: TextIO, fmt: str = "jsonl", source: str | None = JUDGE_SOURCE, judge_key: str | None = None
) -> int:
    """Write the battles of `source` (all sources if None) in battle order; returns how many.

    Every stored battle of the source is written, superseded ones included: they are history.
    """
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    return write_battles(export_rows(store, battle_conditions(source, judge_key)), out, fmt)
