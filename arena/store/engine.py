"""Opening a store: the engine, SQLite's pragmas, the schema check, read-only opens, write errors.

The default is a SQLite file in WAL mode beside the project file; any SQLAlchemy URL (for
example PostgreSQL) works unchanged. Each finished unit of work (an answer, a judgment) is
committed on its own, so a run that dies loses nothing it had finished.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError

from arena import testing
from arena.errors import StoreError
from arena.store.schema import SCHEMA_VERSION, meta, metadata, upgrade_schema

BUSY_TIMEOUT_MS = 30_000  # how long a SQLite write waits for another writer before failing


def write_failed(url: str, exc: DatabaseError) -> StoreError:
    """A failed write (locked, read-only or broken store) as a one-line error."""
    return StoreError(f"cannot write to store {display_url(url)}: {why(exc)}; work committed before this is kept")


def read_failed(url: str, exc: DatabaseError) -> StoreError:
    return StoreError(f"cannot read store {display_url(url)}: {why(exc)}")


def why(exc: DatabaseError) -> str:
    """The database's own reason, on one line, with what it means where SQLite is terse."""
    reason = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
    if "database is locked" in reason:
        return f"{reason} (another process held it longer than the {BUSY_TIMEOUT_MS // 1000} s busy timeout)"
    if "readonly database" in reason:
        return f"{reason} (the file, its folder or its disk is read-only for this user)"
    return reason


def display_url(url: str) -> str:
    """A SQLite store by its file path, any other by its URL without the password."""
    path = _sqlite_path(url)
    if path is not None:
        return str(path)
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_write_failure(exc: DatabaseError) -> bool:
    statement = (exc.statement or "").lstrip().upper()
    return not statement.startswith(("SELECT", "WITH", "PRAGMA"))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={testing.busy_timeout_ms(BUSY_TIMEOUT_MS)}")
    if (pages := testing.max_page_count()) is not None:
        cursor.execute(f"PRAGMA max_page_count={pages}")
    cursor.close()


class Store:
    """An open store. Use `connect()` for reads and `transaction()` for atomic writes.

    A database failure inside either (read-only file, lock held past the busy timeout, full
    disk) leaves as a one-line `StoreError` naming the store; an `IntegrityError` stays itself,
    since callers use it to learn that another run stored the same row first.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except IntegrityError:
            raise
        except DatabaseError as exc:
            raise (write_failed if is_write_failure(exc) else read_failed)(self.url, exc) from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except IntegrityError:
            raise
        except DatabaseError as exc:
            raise write_failed(self.url, exc) from None

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_read_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """A reader's settings: nothing that writes (journal_mode=WAL would), and writes refused."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={testing.busy_timeout_ms(BUSY_TIMEOUT_MS)}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def read_only_sqlite_url(path: Path, folder_writable: bool | None = None) -> str:
    """A SQLite `file:` URI that reads the store without writing anything, side files included.

    `mode=ro` never writes the database; in a folder this user cannot write (a published store
    served from a read-only place) `immutable=1` also needs no -wal/-shm side files, which WAL
    mode would otherwise create. Immutable means SQLite assumes nobody changes the file while it
    is open: true of a folder nobody here may write, and a reader reopens the store to see a
    newer copy.
    """
    writable = os.access(path.parent, os.W_OK) if folder_writable is None else folder_writable
    query = "mode=ro" if writable else "mode=ro&immutable=1"
    return f"sqlite:///file:{quote(str(path.resolve()))}?{query}&uri=true"


def _make_engine(url: str, *, read_only: bool = False) -> Engine:
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise StoreError(f"storage URL {url!r} is not usable: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_read_pragmas if read_only else _sqlite_pragmas)
    pause_hook = testing.insert_pause_hook()  # test-only; None unless ARENA_TEST_PAUSE_AT asks
    if pause_hook is not None:
        event.listen(engine, "after_cursor_execute", pause_hook)
    return engine


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix and ":memory:" not in url:
        return Path(url[len(prefix):])
    return None


def open_store(url: str, *, create: bool = True, read_only: bool = False) -> Store:
    """Open (and by default create) the store at `url`, checking its schema version."""
    db_path = _sqlite_path(url)
    if db_path is not None:
        if not db_path.exists() and (read_only or not create):
            raise StoreError(f"no store at {db_path} (run `arena generate` first)")
        if not read_only:
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store's folder {db_path.parent}: {exc.strerror}") from None
    if read_only and db_path is not None:
        engine = _make_engine(read_only_sqlite_url(db_path), read_only=True)
    else:
        engine = _make_engine(url)
    store = Store(engine, url)
    try:
        with engine.begin() as connection:
            existing = set(inspect(connection).get_table_names())
            if "meta" in existing:
                _check_version(connection, url, upgrade=not read_only)
            elif existing - {"meta"} and "answers" in existing:
                raise StoreError(f"{url}: store has no schema version; it was not made by arena")
            elif read_only or not create:
                raise StoreError(f"{url}: empty store (run `arena generate` first)")
            else:
                metadata.create_all(connection)
                connection.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    except DatabaseError as exc:  # unreachable server, unreadable or non-database file
        engine.dispose()
        raise StoreError(f"cannot open store {display_url(url)}: {why(exc)}") from None
    except StoreError:
        engine.dispose()
        raise
    return store


def _check_version(connection: Connection, url: str, *, upgrade: bool) -> None:
    """An older store is upgraded when this is a writing open; a newer one is refused."""
    found = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    version = int(found) if found is not None and str(found).isdigit() else None
    if version == SCHEMA_VERSION:
        return
    if version is not None and version < SCHEMA_VERSION and upgrade:
        upgrade_schema(connection, version)
        return
    if version is not None and version < SCHEMA_VERSION:
        raise StoreError(
            f"{url}: store schema version {version} is older than this arena's {SCHEMA_VERSION}; "
            "run any writing command (for example `arena generate`) once to upgrade it"
        )
    raise StoreError(
        f"{url}: store schema version {found}, this arena reads version {SCHEMA_VERSION}; "
        "use a matching arena release or a new store"
    )




def _query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def open_read_only(url: str) -> Store:
    """The store opened for reading; SQLite connections also refuse writes (PRAGMA query_only)."""
    store = open_store(url, read_only=True)
    if store.engine.dialect.name == "sqlite":
        event.listen(store.engine, "connect", _query_only)
        store.engine.dispose()  # connections made before the listener are dropped
    return store
