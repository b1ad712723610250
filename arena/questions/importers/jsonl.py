"""JSON Lines with our field names or any others mapped to them (`--map text=question,...`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from arena.questions.importers.rows import (
    ImportOptions,
    Row,
    Skip,
    default_map,
    json_objects,
    mapped_row,
)


def read(path: Path, options: ImportOptions) -> Iterator[Row | Skip]:
    for item in json_objects(path):
        if isinstance(item, Skip):
            yield item
            continue
        where, record = item
        field_map = default_map(set(record), options.field_map)
        if "text" not in field_map:
            yield Skip(where, "no text field (map one with --map text=COLUMN)")
            continue
        yield mapped_row(where, record, field_map)
