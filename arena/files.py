"""Files: where a named file is (`arena:` for the data arena ships), and writing files safely.

A file is named in arena.yaml and on the command line as a path, or as `arena:NAME` for the data
shipped inside the package (`arena/data/NAME`): the rubric (`arena:rubrics/medical.yaml`, the
default), the question set and its data card (`arena:questions/health-v1.jsonl`,
`arena:questions/README.md`) and chat templates (`arena:templates/meditron-chatml.jinja`).
The prefix is explicit: a relative path never falls back to the package's files.
`resolve_path` is the one place that reads these names.

A reader (or a kill) never sees half a file: `write_atomic` writes a temporary file beside the
target, syncs it and renames it into place. A command that will write somewhere checks the place
before doing any work (`check_writable`), so it fails in one line instead of after the work.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from arena import testing
from arena.errors import ArenaError, ConfigError, OutputError

DATA_PREFIX = "arena:"
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def shipped_files() -> list[str]:
    """Every `arena:NAME` there is, sorted."""
    return sorted(f"{DATA_PREFIX}{path.relative_to(PACKAGE_DATA).as_posix()}"
                  for path in PACKAGE_DATA.rglob("*") if path.is_file() and "__pycache__" not in path.parts)


def resolve_path(value: str | Path, root: Path | None = None) -> Path:
    """The file a name means: `arena:NAME` is package data (ConfigError when arena ships no such
    file); an absolute path is itself; a relative one is relative to `root` (the project file's
    folder) or, without a root, to the working directory."""
    text = str(value)
    if text.startswith(DATA_PREFIX):
        path = (PACKAGE_DATA / text.removeprefix(DATA_PREFIX)).resolve()
        if not path.is_file() or not path.is_relative_to(PACKAGE_DATA):
            raise ConfigError(f"{text}: arena ships no such file (it ships {', '.join(shipped_files())})")
        return path
    path = Path(text)
    return path if path.is_absolute() or root is None else root / path


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a kill) never sees half a file."""
    with atomic_output(path) as handle:
        handle.write(text)


@contextmanager
def atomic_output(path: Path) -> Iterator[TextIO]:
    """A text handle whose contents replace `path` at once when the block ends without error.

    The file gets the usual permissions (0666 less the umask, as `open` gives) rather than
    mkstemp's 0600, so a web server or a colleague can read an export. A block that raises
    leaves no temporary file and the old `path` as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o666 & ~current_umask())
        testing.pause_point(f"write:{path.name}")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(path: Path, what: str = "output") -> None:
    """Fail in one line, before any work, if `path` cannot be written as a file: a folder, a
    missing or non-folder parent, or a place this user may not write. Creates nothing."""
    parent = path.parent if str(path.parent) else Path(".")
    problem = None
    if path.is_dir():
        problem = "is a folder; give a file name"
    elif not parent.exists():
        problem = f"its folder {parent} does not exist"
    elif not parent.is_dir():
        problem = f"{parent} is not a folder"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "the file is not writable by this user"
    elif not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        problem = f"its folder {parent} is not writable by this user"
    if problem is not None:
        raise OutputError(f"{path}: cannot write the {what}: {problem}")


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
