"""CSV with a header row; columns named like our fields, or mapped to them with `--map`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from arena.errors import DataError
from arena.questions.importers.rows import ImportOptions, Row, Skip, default_map, mapped_row


def read(path: Path, options: ImportOptions) -> Iterator[Row | Skip]:
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
    field_map = default_map(set(header), options.field_map)
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
        yield mapped_row(where, dict(zip(header, values, strict=False)), field_map)
