"""The store: created with a schema version, WAL on SQLite, clear errors for foreign stores."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import IntegrityError

from arena.errors import StoreError
from arena.store.engine import open_store, utcnow
from arena.store.ledger import RunRow, RunStart, last_session, load_runs, start_run
from arena.store.schema import SCHEMA_VERSION, answers, meta


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_creates_every_table_and_records_the_schema_version(tmp_path: Path) -> None:
    store = open_store(url(tmp_path / "sub" / "arena.db"))
    with store.connect() as c:
        assert c.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar() == str(SCHEMA_VERSION)
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()
    tables = {r[0] for r in sqlite3.connect(tmp_path / "sub" / "arena.db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "questions", "answers", "judgments", "battles", "snapshots", "run_locks"} <= tables


def test_reopening_keeps_the_data(store_url: str) -> None:
    store = open_store(store_url)
    with store.transaction() as c:
        c.execute(answers.insert().values(model="m", question_id="q", fingerprint="f", text="t",
                                          created_at=utcnow()))
    store.close()
    store = open_store(store_url, create=False)
    with store.connect() as c:
        assert c.execute(select(answers.c.text)).scalar() == "t"
    store.close()


def test_unique_answer_key(store_url: str) -> None:
    store = open_store(store_url)
    row = dict(model="m", question_id="q", fingerprint="f", text="t", created_at=utcnow())
    with store.transaction() as c:
        c.execute(answers.insert().values(**row))
    with pytest.raises(IntegrityError):
        with store.transaction() as c:
            c.execute(answers.insert().values(**row))
    store.close()


def test_other_schema_version_is_a_clear_error(store_url: str) -> None:
    store = open_store(store_url)
    with store.transaction() as c:
        c.execute(update(meta).where(meta.c.key == "schema_version").values(value="99"))
    store.close()
    with pytest.raises(StoreError, match=rf"store schema version 99, this arena reads version {SCHEMA_VERSION}"):
        open_store(store_url)


def test_a_database_not_made_by_arena(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "other.db")
    connection.execute("CREATE TABLE answers (x INTEGER)")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="no schema version; it was not made by arena"):
        open_store(url(tmp_path / "other.db"))


def test_read_only_open_of_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*missing\.db \(run `arena generate` first\)"):
        open_store(url(tmp_path / "missing.db"), read_only=True)
    assert not (tmp_path / "missing.db").exists()


def test_unusable_urls(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not usable"):
        open_store("nosuchdialect://x")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreError, match="cannot"):
        open_store(url(tmp_path / "a-file" / "x.db"))
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        open_store(url(tmp_path / "garbage.db"))


def _make_older(path: Path) -> None:
    """A store as an earlier release left it: an older version, a table and a column missing."""
    store = open_store(url(path))
    store.close()
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE run_locks")
    connection.execute("DROP INDEX ix_answers_model_fp")
    connection.execute("ALTER TABLE answers DROP COLUMN engine")
    connection.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()


def test_an_older_store_is_upgraded_in_place_by_a_writing_open(tmp_path: Path) -> None:
    _make_older(tmp_path / "old.db")
    store = open_store(url(tmp_path / "old.db"))
    with store.transaction() as c:
        c.execute(answers.insert().values(model="m", question_id="q", fingerprint="f", text="t",
                                          engine="e", created_at=utcnow()))
        assert c.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar() == str(SCHEMA_VERSION)
    store.close()
    connection = sqlite3.connect(tmp_path / "old.db")
    names = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert {"run_locks", "ix_answers_model_fp"} <= names


def test_an_older_store_opened_read_only_says_how_to_upgrade(tmp_path: Path) -> None:
    _make_older(tmp_path / "old.db")
    with pytest.raises(StoreError, match=r"schema version 0 is older than this arena's .*run any writing command"):
        open_store(url(tmp_path / "old.db"), read_only=True)


def test_a_version_1_store_gains_the_judgment_columns_and_validation_tables(tmp_path: Path) -> None:
    store = open_store(url(tmp_path / "v1.db"))
    store.close()
    connection = sqlite3.connect(tmp_path / "v1.db")
    connection.execute("DROP TABLE validation_judgments")
    connection.execute("DROP TABLE validation_items")
    for column in ("seed", "finish_reason", "reference_fingerprint"):
        connection.execute(f"ALTER TABLE judgments DROP COLUMN {column}")
    connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    open_store(url(tmp_path / "v1.db")).close()
    connection = sqlite3.connect(tmp_path / "v1.db")
    columns = {row[1] for row in connection.execute("PRAGMA table_info(judgments)")}
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert {"seed", "finish_reason", "reference_fingerprint"} <= columns
    assert {"validation_items", "validation_judgments"} <= tables


def _record_a_run(store_url: str) -> list[RunRow]:
    store = open_store(store_url)
    try:
        recorder = start_run(store, RunStart(kind="judge", name="j", backend="vllm", gpus=8, judge_key="k",
                                             session="night", price_prompt=1.5, price_completion=None),
                             time.monotonic() - 2.0, utcnow())
        assert load_runs(store)[0].finished is False  # recorded at once, before any item
        recorder.add(10, 3)
        recorder.add(None, 2)  # a backend that reports no prompt tokens
        recorder.finish()
        assert last_session(store) == "night"
        return load_runs(store, "night")
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_ledger_records_a_run_and_its_totals(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store_url = url(tmp_path / "a.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    (run,) = _record_a_run(store_url)
    assert (run.kind, run.name, run.backend, run.gpus, run.judge_key, run.session) == ("judge", "j", "vllm", 8, "k", "night")
    assert (run.items, run.prompt_tokens, run.completion_tokens) == (2, 10, 5)
    assert run.finished and run.wall_s >= 2.0
    assert (run.price_prompt, run.price_completion) == (1.5, None)
FIRST_RUN = textwrap.dedent("""
    import sys, time
    from arena.store.engine import open_store
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    open_store(sys.argv[1]).close()
""")


def test_first_runs_on_a_new_store_do_not_race_on_creating_the_schema(store_url: str) -> None:
    # issue 15 item 5: two first runs raced on CREATE TABLE ("table meta already exists")
    for _attempt in range(2):
        url_now = store_url if _attempt == 0 else _another_new_store(store_url, _attempt)
        start_at = time.time() + 3.0  # time for the interpreters to start
        racers = [subprocess.Popen([sys.executable, "-c", FIRST_RUN, url_now, str(start_at)],
                                   stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in racers]
        assert [code for code, _ in results] == [0, 0, 0, 0], [err[-500:] for _, err in results]
        store = open_store(url_now, create=False)
        with store.connect() as c:
            assert c.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalars().all() == [
                str(SCHEMA_VERSION)]
        store.close()


def _another_new_store(store_url: str, attempt: int) -> str:
    if store_url.startswith("sqlite:///"):
        return store_url.replace("arena.db", f"arena-{attempt}.db")
    base, _, name = store_url.rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}_{attempt}"))
    admin.dispose()
    return f"{base}/{name}_{attempt}"
