"""A published store in a folder nobody here may write is still readable: the dashboard's open needs
no -wal/-shm side files (SQLite's `mode=ro`, and `immutable=1` where the folder is read-only)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from arena.questions.schema import Question
from arena.store.answers import sync_questions
from arena.store.engine import open_read_only, open_store, read_only_sqlite_url
from tests.store.test_store_errors import REPO, unprivileged


def test_the_read_only_uri(tmp_path: Path) -> None:
    db = tmp_path / "a b?.db"  # a name that must be quoted inside a URI
    assert read_only_sqlite_url(db, folder_writable=True) == f"sqlite:///file:{tmp_path}/a%20b%3F.db?mode=ro&uri=true"
    assert read_only_sqlite_url(db, folder_writable=False).endswith("?mode=ro&immutable=1&uri=true")


def published_store(folder: Path) -> Path:
    """A store in WAL mode, closed (no side files), then the file and its folder made read-only."""
    folder.mkdir()
    store = open_store(f"sqlite:///{folder / 'arena.db'}")
    sync_questions(store, [Question(id="q1", text="What is gout?", category="musculoskeletal")])
    store.close()
    db = folder / "arena.db"
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()  # the last connection out removes the -wal and -shm files
    assert sorted(p.name for p in folder.iterdir()) == ["arena.db"]
    return db


READ = """
import sys
from sqlalchemy import func, select
from arena.store.engine import open_read_only
from arena.store.schema import questions
store = open_read_only(sys.argv[1])
with store.connect() as connection:
    print(connection.execute(select(func.count()).select_from(questions)).scalar_one())
store.close()
"""


def test_a_store_in_a_read_only_folder_opens_for_reading(tmp_path: Path) -> None:
    db = published_store(tmp_path / "published")
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        done = subprocess.run([*unprivileged(), sys.executable, "-c", READ, f"sqlite:///{db}"], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
        side_files = sorted(p.name for p in db.parent.iterdir())
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr
    assert side_files == ["arena.db"]  # nothing was written beside it


def test_a_read_only_open_in_a_writable_folder_sees_new_writes(tmp_path: Path) -> None:
    db = published_store(tmp_path / "live")
    reader = open_read_only(f"sqlite:///{db}")
    writer = open_store(f"sqlite:///{db}")
    try:
        sync_questions(writer, [Question(id="q2", text="What is lupus?", category="musculoskeletal")])
        from sqlalchemy import func, select

        from arena.store.schema import questions
        with reader.connect() as connection:
            assert connection.execute(select(func.count()).select_from(questions)).scalar_one() == 2
    finally:
        writer.close()
        reader.close()
