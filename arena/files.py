"""Files arena writes: atomic replacement, appended log lines, and checking a path is writable first.

A reader (or a kill) never sees half a file: `write_atomic` writes a temporary file beside the
target, syncs it and renames it into place. A command that will write somewhere checks the place
before doing any work (`check_writable`), so it fails in one line instead of after the work.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from arena import testing
from arena.errors import ArenaError


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        testing.pause_point(f"write:{path.name}")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def append_line(path: Path, line: str) -> None:
    """Append one line in a single write (concurrent appends never interleave), synced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line if line.endswith("\n") else line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def check_writable(path: Path, what: str) -> None:
    """Fail before doing any work if `path` (the `what`, e.g. "nightly log") cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ArenaError(f"{path}: cannot write the {what}: {exc.strerror}") from None
