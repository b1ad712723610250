"""Test-only fault hooks: make a run stop at an exact moment so a test can kill it there.

`ARENA_TEST_PAUSE_AT=POINT[@N]` makes a run announce "nightly: paused at POINT" on stderr and
sleep there. POINT is a nightly stage name (before the stage starts), `write:FILE` (an export
written but not yet moved into place), or `insert:TABLE` (right after the Nth INSERT into TABLE,
inside its uncommitted transaction). Without the variable every hook does nothing.

`ARENA_TEST_BUSY_TIMEOUT_MS=N` shortens SQLite's busy timeout (30 s), so a test can hold a lock
past it without waiting half a minute. `ARENA_TEST_MAX_PAGE_COUNT=N` stops a SQLite store from
growing past N pages (`PRAGMA max_page_count`): a full disk without filling one.

The insert hook is attached by `arena.store.engine` to each engine it makes, and to nothing
else: other SQLAlchemy engines in the process are never touched. Its count is kept for the whole
process, so `@N` counts inserts across the stores a run opens.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from arena import console

PAUSE_ENV = "ARENA_TEST_PAUSE_AT"
BUSY_TIMEOUT_ENV = "ARENA_TEST_BUSY_TIMEOUT_MS"
MAX_PAGE_COUNT_ENV = "ARENA_TEST_MAX_PAGE_COUNT"
_inserts_seen = 0
_lock = threading.Lock()


def _pause_wanted() -> tuple[str, int]:
    point, _, count = os.environ.get(PAUSE_ENV, "").partition("@")
    return point, int(count or 1)


def _pause(name: str) -> None:
    print(f"nightly: paused at {name}", file=console.err(), flush=True)  # the terminal, not the engine log
    time.sleep(3600)


def pause_point(name: str) -> None:
    """Pause here if the variable names this point (its first occurrence)."""
    point, count = _pause_wanted()
    if point == name and count == 1:
        _pause(name)


def insert_pause_hook() -> Callable[..., None] | None:
    """For `insert:TABLE@N`: a SQLAlchemy `after_cursor_execute` listener that pauses after the
    Nth INSERT into TABLE; None when the variable asks for no insert (the usual case)."""
    point, count = _pause_wanted()
    if not point.startswith("insert:"):
        return None
    prefix = f"INSERT INTO {point.removeprefix('insert:').upper()} "

    def after_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                      executemany: bool) -> None:
        global _inserts_seen
        if statement.lstrip().upper().startswith(prefix):
            with _lock:
                _inserts_seen += 1
                reached = _inserts_seen == count
            if reached:
                _pause(point)

    return after_execute


def busy_timeout_ms(default: int) -> int:
    """SQLite's busy timeout: `default` unless a test shortens it."""
    value = os.environ.get(BUSY_TIMEOUT_ENV, "")
    return int(value) if value.isdigit() else default


def max_page_count() -> int | None:
    """The page limit a test sets on SQLite stores (a full disk), or None."""
    value = os.environ.get(MAX_PAGE_COUNT_ENV, "")
    return int(value) if value.isdigit() else None
