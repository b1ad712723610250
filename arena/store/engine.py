"""Opening a store: the engine, SQLite's pragmas, the schema check, read-only opens, write errors.

The default is a SQLite file in WAL mode beside the project file; any SQLAlchemy URL (for
example PostgreSQL) works unchanged. Each finished unit of work (an answer, a judgment) is
committed on its own, so a run that dies loses nothing it had finished.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Table, create_engine, event, func, inspect, make_url, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError

from arena import testing
from arena.errors import StoreError
from arena.store.schema import SCHEMA_VERSION, meta, metadata, upgrade_schema

BUSY_TIMEOUT_MS = 30_000  # how long a SQLite write waits for another writer before failing


def redacted_url(url: str) -> str:
    """The URL as it may be shown: its password, if any, replaced by ***. Every message, log line
    and page that names a store prints this, never the URL itself."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not parseable: mask whatever sits between : and @
        return re.sub(r"(//[^/:@]*):[^@/]*@", r"\1:***@", url)


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
    return str(path) if path is not None else redacted_url(url)


def inserted_id(result: Any) -> int:
    """The primary key of the row an INSERT added."""
    key = result.inserted_primary_key
    if key is None:
        raise StoreError("the store did not report the id of a row it added")
    return int(key[0])


def upsert_insert(connection: Connection, table: Table) -> Any:
    """An INSERT on `table` that takes `.on_conflict_do_nothing()` / `.on_conflict_do_update()`
    (SQLite and PostgreSQL spell them alike), for rows another worker may add at the same time."""
    from sqlalchemy.dialects import postgresql, sqlite  # here: most commands never need them

    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_write_failure(exc: DatabaseError) -> bool:
    statement = (exc.statement or "").lstrip().upper()
    return not statement.startswith(("SELECT", "WITH", "PRAGMA"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # first: switching a new file to WAL may wait for a lock
    cursor.execute(f"PRAGMA busy_timeout={testing.busy_timeout_ms(BUSY_TIMEOUT_MS)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
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
        self.url = url  # with its password: for opening, never for showing (see `shown_url`)

    @property
    def shown_url(self) -> str:
        return redacted_url(self.url)

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


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
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
        shown = redacted_url(url)
        raise StoreError(f"storage URL {shown!r} is not usable: {str(exc).replace(url, shown)}") from None
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
            ready = _schema_is_current(connection, url, read_only=read_only, create=create)
        if not ready:
            with _schema_transaction(engine) as connection:  # one process at a time creates or upgrades
                if not _schema_is_current(connection, url, read_only=read_only, create=create):
                    _create_or_upgrade(connection, url)
    except DatabaseError as exc:  # unreachable server, unreadable or non-database file
        engine.dispose()
        raise StoreError(f"cannot open store {display_url(url)}: {why(exc)}") from None
    except StoreError:
        engine.dispose()
        raise
    return store


def _schema_is_current(connection: Connection, url: str, *, read_only: bool, create: bool) -> bool:
    """True when the store has this arena's schema; False when it must be created or upgraded
    (only for a writing open); a StoreError when it cannot be used."""
    existing = set(inspect(connection).get_table_names())
    if "meta" in existing:
        return _check_version(connection, url, upgrade=not read_only)
    if existing - {"meta"} and "answers" in existing:
        raise StoreError(f"{redacted_url(url)}: store has no schema version; it was not made by arena")
    if read_only or not create:
        raise StoreError(f"{redacted_url(url)}: empty store (run `arena generate` first)")
    return False


def _create_or_upgrade(connection: Connection, url: str) -> None:
    if "meta" not in set(inspect(connection).get_table_names()):
        metadata.create_all(connection)
        connection.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        return
    found = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    upgrade_schema(connection, int(str(found)))


_SCHEMA_LOCK_KEY = 7_311_002_013  # PostgreSQL advisory lock key of schema creation and upgrades


@contextmanager
def _schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the store's write lock from its first statement, so that two first
    runs on a new store (or two upgrades) cannot both create the tables: BEGIN IMMEDIATE on
    SQLite, a transaction-scoped advisory lock on PostgreSQL."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        yield connection
        connection.commit()


def _check_version(connection: Connection, url: str, *, upgrade: bool) -> bool:
    """True for this arena's version; False for an older one a writing open will upgrade; a
    StoreError for a newer one, or an older one opened read-only."""
    found = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    version = int(found) if found is not None and str(found).isdigit() else None
    if version == SCHEMA_VERSION:
        return True
    if version is not None and version < SCHEMA_VERSION and upgrade:
        return False
    if version is not None and version < SCHEMA_VERSION:
        raise StoreError(
            f"{redacted_url(url)}: store schema version {version} is older than this arena's {SCHEMA_VERSION}; "
            "run any writing command (for example `arena generate`) once to upgrade it"
        )
    raise StoreError(
        f"{redacted_url(url)}: store schema version {found}, this arena reads version {SCHEMA_VERSION}; "
        "use a matching arena release or a new store"
    )


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _read_only_session(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()  # a SET in a transaction rolled back would be undone


def open_read_only(url: str) -> Store:
    """The store opened for reading; its connections refuse writes (SQLite's PRAGMA query_only,
    PostgreSQL's read-only session)."""
    store = open_store(url, read_only=True)
    listener = {"sqlite": _query_only, "postgresql": _read_only_session}.get(store.engine.dialect.name)
    if listener is not None:
        event.listen(store.engine, "connect", listener)
        store.engine.dispose()  # connections made before the listener are dropped
    return store
