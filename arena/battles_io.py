"""Battles in and out, in the Chatbot Arena battle format, without loss.

A battle is `model_a`, `model_b`, `winner` (one of model_a, model_b, tie, tie (bothbad)) and,
optionally, `question_id`, `category`, `judge`, `judge_key`, both answers' ids
(`answer_a_id`, `answer_b_id`: ids in the exporting store), the judge's two `verdicts`
("AB": model_a shown first, then model_b shown first), `tstamp` (epoch seconds), the answers'
lengths in characters (`answer_a_len`, ...) and their style covariates (`answer_a_tokens`,
`_headers`, `_list_items`, `_bold`, and the same for b; arena.answers; for judged battles
taken from the answers themselves). An export carries all of them, so an imported export rates
exactly as the battles it came from. Files are JSON
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
import operator
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from arena.answers import STYLE_NAMES
from arena.errors import DataError
from arena.safe_text import csv_row, csv_text
from arena.store.battles import battle_conditions, battle_import, export_rows
from arena.store.engine import Store
from arena.store.schema import BATTLE_VERDICTS, BATTLE_WINNERS, JUDGE_SOURCE

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
_MODEL_LIMIT = 200
_CHUNK = 20_000  # rows of a JSON array or CSV file read, checked and inserted at a time


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
    """Read `path`, keep the well-formed rows, store those not imported before (one transaction).

    The file is read, checked and stored a chunk of rows at a time, so memory stays flat. Large
    JSON Lines files are read, parsed and checked by two worker processes, each its own byte
    ranges of the file, while this one stores.
    """
    source = source or default_source(path)
    if source == JUDGE_SOURCE or not source.strip() or len(source) > 100:
        raise DataError(f"source label {source!r} is not allowed (reserved, empty or over 100 characters)")
    fmt = fmt or _guess_format(path)
    report = ImportReport(source=source)
    now = time.time()
    seen: dict[str, int] = {}  # content digest -> identical rows so far in this file
    columns = [*BATTLE_FIELDS, "source", "dedup_key"]
    checked = _checked_chunks(path, fmt)
    with battle_import(store, source, columns) as (known, insert):
        for rows, parsed, problems in checked:
            report.rows += rows
            report.problems += problems
            new = []
            for digest, values in parsed:
                copy = seen.get(digest, 0)
                seen[digest] = copy + 1
                key = f"{digest}:{copy}"
                if key in known:
                    report.already_present += 1
                    continue
                new.append((*values[:-1], now if values[-1] is None else values[-1], source, key))
            insert(new)
            report.imported += len(new)
    return report


Checked = tuple[int, list[tuple[str, tuple[Any, ...]]], list[str]]  # rows read, (digest, battle) kept, problems
_PARALLEL_BYTES = 32 << 20  # JSON Lines files from this size are checked by worker processes
_CHUNK_BYTES = 8 << 20  # JSON Lines are read and checked a range of about this many bytes at a time


def _checked_chunks(path: Path, fmt: str) -> Iterator[Checked]:
    """The file's rows a chunk at a time: how many were read, the battles kept with their content
    digest, and the problems of the others."""
    if fmt in ("jsonl", "json") and not (fmt == "json" and _starts_with_bracket(path)):
        ranges = _line_ranges(path)
        if path.stat().st_size >= _PARALLEL_BYTES and (os.cpu_count() or 1) > 1:
            yield from _in_workers(_check_range, ranges)
        else:
            yield from map(_check_range, ranges)
        return
    rows, where = _read_rows(path, fmt)
    for chunk in _chunks(rows, _CHUNK):
        problems: list[str] = []
        yield len(chunk), _digested(parse_battles(chunk, problems, where)), problems


_LineRange = tuple[str, int, int, int]  # file, first byte, end byte, number of the range's first line


def _line_ranges(path: Path, size: int | None = None) -> Iterator[_LineRange]:
    """The file cut into ranges of whole lines of about `size` bytes, each with its first line's number.

    Only the cut points are found here (a worker reads its own range): lines are counted as text
    mode reads them, ending at \n, \r\n or a lone \r, and ranges end at a \n.
    """
    size = size or _CHUNK_BYTES
    with _open(path, "rb") as handle:
        start, line, carry = 0, 1, b""
        while True:
            block = handle.read(size)
            if not block:
                if carry:
                    yield str(path), start, start + len(carry), line
                return
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # no line end yet: read on
                carry = data
                continue
            yield str(path), start, start + cut, line
            whole = data[:cut]
            line += whole.count(b"\n") + whole.count(b"\r") - whole.count(b"\r\n")
            start, carry = start + cut, data[cut:]


def _check_range(job: _LineRange) -> Checked:
    """Read, parse and check one range of JSON lines (in a worker process, or here)."""
    name, start, end, first_line = job
    with open(name, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    try:
        text = data.decode("utf-8-sig" if start == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text (byte {start + exc.start})") from None
    part = [(n, line) for n, line in enumerate(io.StringIO(text, newline=None), start=first_line)
            if not line.isspace()]
    try:
        items = [json.loads(line) for _, line in part]
    except ValueError:  # a malformed line: say which, keep the others
        items = [_parse_line(line) for _, line in part]
    problems: list[str] = []
    parsed = parse_battles([(n, item) for (n, _), item in zip(part, items, strict=False)], problems,
                           lambda number: f"{name}:{number}")
    return len(part), _digested(parsed), problems


def _digested(parsed: list[tuple[Any, ...]]) -> list[tuple[str, tuple[Any, ...]]]:
    """Each battle with the digest of its content, in hex (`repr` of floats and texts is exact and stable)."""
    return [(hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest(), values) for values in parsed]


def _in_workers(work: Callable[[Any], Checked], jobs: Iterator[Any], workers: int = 2) -> Iterator[Checked]:
    """`work` over `jobs` in worker processes, results in order, a few jobs in flight at a time."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Any] = deque()
        for job in jobs:
            pending.append(pool.submit(work, job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def parse_battles(chunk: list[tuple[int, Any]], problems: list[str], where: Callable[[int], str]) -> list[tuple[Any, ...]]:
    """The well-formed rows of a chunk of (row number, raw row) as BATTLE_FIELDS tuples; a problem
    per other row ("where: why"). Columns are checked at once when every value is of the expected
    type; otherwise, and to name what is wrong, row by row."""
    fast = _parse_columns([raw for _, raw in chunk])
    if fast is not None:
        return fast
    out = []
    for number, raw in chunk:
        try:
            if isinstance(raw, _Malformed):
                raise ValueError(raw.reason)
            out.append(parse_battle(raw))
        except ValueError as exc:
            problems.append(f"{where(number)}: {exc}")
    return out


_NONE = type(None)
_TEXT_FIELDS = ("model_a", "model_b", "winner", *(name for name, kind, _ in OPTIONAL_FIELDS if kind != "count"))
_ALL_FIELDS = operator.itemgetter(*BATTLE_FIELDS)
_EDGE_SPACE = re.compile(r"(?:^|\x1f)\s|\s(?:\x1f|$)")


def _parse_columns(raws: list[Any]) -> list[tuple[Any, ...]] | None:
    """What `parse_battle` returns for every row, when all are plainly well formed; else None."""
    if not all(type(raw) is dict for raw in raws):
        return None
    try:
        table = [_ALL_FIELDS(raw) for raw in raws]  # one C call a row when every field is there
    except KeyError:
        table = [tuple(raw.get(name) for name in BATTLE_FIELDS) for raw in raws]
    columns = dict(zip(BATTLE_FIELDS, map(list, zip(*table, strict=False)), strict=False)) if table else {n: [] for n in BATTLE_FIELDS}
    for name in ("model_a", "model_b"):
        if not _plain_texts(columns[name], _MODEL_LIMIT, required=True):
            return None
    if any(a == b for a, b in zip(columns["model_a"], columns["model_b"], strict=False)):
        return None
    if not set(columns["winner"]) <= set(BATTLE_WINNERS):
        return None
    for name, kind, limit in OPTIONAL_FIELDS:
        values = columns[name]
        if kind == "text":
            if not _plain_texts(values, limit, required=False):
                return None
            if "" in values:
                columns[name] = [value or None for value in values]
        elif kind == "count":
            types = set(map(type, values))
            present = [v for v in values if v is not None] if _NONE in types else values
            if not types <= {int, _NONE} or (present and min(present) < 0):
                return None
        elif not set(values) <= {*BATTLE_VERDICTS, None}:
            return None
    types = set(map(type, columns["tstamp"]))
    stamps = [v for v in columns["tstamp"] if v is not None] if _NONE in types else columns["tstamp"]
    if not types <= {int, float, _NONE} or not all(map(math.isfinite, stamps)):
        return None
    columns["tstamp"] = [None if v is None else float(v) for v in columns["tstamp"]]
    for name in _TEXT_FIELDS:  # one object per distinct text: a worker's result pickles in half the time
        shared: dict[str, str] = {}
        columns[name] = [shared.setdefault(v, v) if v is not None else None for v in columns[name]]
    return list(zip(*(columns[name] for name in BATTLE_FIELDS), strict=False))


def _plain_texts(values: list[Any], limit: int, required: bool) -> bool:
    """Every value text (or None/"" where allowed), within the limit, without surrounding spaces."""
    kinds = set(map(type, values))
    if not kinds <= ({str} if required else {str, _NONE}):
        return False
    texts = values if required else [v for v in values if v]
    if required and not all(texts):
        return False
    if not texts:
        return True
    joined = "\x1f".join(texts)
    return max(map(len, texts)) <= limit and _EDGE_SPACE.search(joined) is None


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
    if winner not in BATTLE_WINNERS:
        raise ValueError(f"winner {winner!r} is not one of {', '.join(BATTLE_WINNERS)}")
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
            elif verdicts not in BATTLE_VERDICTS:
                raise ValueError(f"verdicts {verdicts!r} is not one of {', '.join(BATTLE_VERDICTS)}")
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
    with _open(path, "r", encoding="utf-8-sig") as handle:
        try:
            return str(handle.read())
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _read_rows(path: Path, fmt: str) -> tuple[Iterator[tuple[int, Any]], Callable[[int], str]]:
    """A JSON array's or CSV file's rows as (row number, raw row), and how to name a row
    ("file: item N" or "file:line"). JSON Lines are read by `_line_ranges` and `_check_range`."""
    if fmt == "json":
        text = _read_text(path)
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        return enumerate(items, start=1), lambda number: f"{path}: item {number}"
    if fmt == "csv":
        return _read_csv(path, _read_text(path)), lambda number: f"{path}:{number}"
    raise DataError(f"unknown battles format {fmt!r}; expected one of {', '.join(IMPORT_FORMATS)}")


def _starts_with_bracket(path: Path) -> bool:
    with _open(path, "r", encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                return line.lstrip().startswith("[")
    return False


def _open(path: Path, mode: str, encoding: str | None = None) -> Any:
    """`path` opened, or a one-line DataError when it is missing or a folder."""
    try:
        return path.open(mode, encoding=encoding)
    except FileNotFoundError:
        raise DataError(f"{path}: battles file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a battles file") from None


def _parse_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return _Malformed(f"malformed JSON: {exc.msg} (column {exc.colno})")


def _read_csv(path: Path, text: str) -> Iterator[tuple[int, Any]]:
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
            yield start, _Malformed(f"malformed CSV: {exc}")
            start = reader.line_num + 1
            continue
        if any(cell.strip() for cell in cells):
            if len(cells) != len(header):
                yield start, _Malformed(f"{len(cells)} fields where the header has {len(header)}")
            else:
                yield start, dict(zip(header, map(csv_text, cells), strict=False))
        start = reader.line_num + 1


def write_battles(records: Iterable[dict[str, Any]], out: TextIO, fmt: str) -> int:
    """Battle records as JSON Lines, a JSON array ("json") or CSV; returns how many."""
    if fmt not in (*EXPORT_FORMATS, "json"):
        raise DataError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS), lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(csv_row(record))
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
    store: Store, out: TextIO, fmt: str = "jsonl", source: str | None = JUDGE_SOURCE, judge_key: str | None = None,
    judge_keys: Sequence[str] = (),
) -> int:
    """Write the battles of `source` (all sources if None) in battle order; returns how many.

    Every stored battle of the source is written, superseded ones included: they are history.
    """
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    return write_battles(export_rows(store, EXPORT_FIELDS, battle_conditions(source, judge_key)), out, fmt)
