"""The terminal and the engine log: what a command shows, and where the engines' chatter goes.

Engines talk a lot (vLLM and its worker processes, llama.cpp, OpenVINO, transformers and its
progress bars): a demo printed ~450 lines, most of them vLLM's. While `engine_log` is active,
the process's file descriptors 1 and 2 point at a log file, so everything written to them goes
there: C libraries, child processes (vLLM's engine core), Python's `sys.stderr` (logging,
warnings, library progress bars). Arena's own output keeps the terminal: `sys.stdout` is swapped
for a copy of the terminal's standard output (the results and summaries), and `err()` is a copy
of its standard error, for arena's progress bars, stage lines and warnings (the `arena` logger).
Errors raised out of a command are printed after the terminal is restored, as one line.

`arena -v COMMAND` (verbose) leaves the terminal alone: the engines' logs show there.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

LOG_FOLDER = "logs"  # beside the project file, as nightly's log
_terminal_err: TextIO | None = None


def err() -> TextIO:
    """The terminal's standard error: for progress bars, stage lines and warnings."""
    return _terminal_err or sys.stderr


def say(line: str) -> None:
    """One line for the person at the terminal."""
    print(line, file=err(), flush=True)


def log_path_for(root: Path, command: str) -> Path:
    """`logs/<command>-<local time>.log` in the project's folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return root / LOG_FOLDER / f"{command.replace(' ', '-')}-{stamp}.log"


@contextmanager
def engine_log(path: Path | None) -> Iterator[Path | None]:
    """Send file descriptors 1 and 2 (and `sys.stderr`) to `path` while the block runs; None: do nothing."""
    global _terminal_err
    if path is None or _terminal_err is not None:  # verbose, or already redirected
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    terminal_out, own_out = _terminal_copy(sys.stdout, saved_out)
    terminal_err, own_err = _terminal_copy(sys.stderr, saved_err)
    previous_stdout = sys.stdout
    arena_logger = logging.getLogger("arena")
    handler = logging.StreamHandler(terminal_err)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    previous_propagate = arena_logger.propagate
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = terminal_out
    _terminal_err = terminal_err
    arena_logger.addHandler(handler)
    arena_logger.propagate = False  # Python's last-resort handler would write it to the log only
    try:
        yield path
    finally:
        arena_logger.removeHandler(handler)
        arena_logger.propagate = previous_propagate
        for stream in (terminal_out, terminal_err, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        sys.stdout = previous_stdout
        _terminal_err = None
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        if own_out:
            terminal_out.close()
        if own_err:
            terminal_err.close()


def _terminal_copy(stream: TextIO, saved_fd: int) -> tuple[TextIO, bool]:
    """A stream on a copy of the descriptor `stream` writes to, and whether it is ours to close;
    a stream on no descriptor of 1 or 2 (a test runner's capture) is kept as it is."""
    try:
        on_descriptor = stream.fileno() in (1, 2)
    except (AttributeError, OSError, ValueError):
        on_descriptor = False
    if not on_descriptor:
        return stream, False
    return os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="replace"), True
