"""Engine and session setup: SQLite (the embedded default) or PostgreSQL.

Nothing here runs at import time: callers build an engine with :func:`make_engine` and own
their sessions (``Session(engine)`` or :func:`session_factory`).
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import DatabaseURLError, NoArchive, StorageError

DEFAULT_DATABASE_URL = "sqlite:///arsip.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# what to install for postgresql:// URLs (psycopg 3, pyproject's "postgres" extra)
POSTGRES_EXTRA = "arsip[postgres]"


def redact(url: str | URL) -> str:
    """The URL as it may appear in logs and errors: never with its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown as a placeholder
        return "<unparseable database URL>"


def normalise_url(url: str) -> URL:
    """Parse a database URL; ``postgresql://`` uses psycopg 3 (the driver we depend on)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"bad database URL: {redact(url)}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite(engine_or_url: Engine | str) -> bool:
    if isinstance(engine_or_url, Engine):
        return engine_or_url.dialect.name == "sqlite"
    return normalise_url(engine_or_url).get_backend_name() == "sqlite"


SQLITE_CACHE_KIB = 32768
# each PostgreSQL engine's ``pg_settings`` (what its connections were started with)
_PG_SETTINGS: weakref.WeakKeyDictionary[Engine, dict[str, str]] = weakref.WeakKeyDictionary()
# the PostgreSQL advisory lock that serialises migrations (any fixed 64-bit number: "arsip")
MIGRATION_LOCK_KEY = 0x6172736970


def connection_settings(engine: Engine) -> Mapping[str, str]:
    """The PostgreSQL settings every connection of ``engine`` starts with (``make_engine``'s
    ``pg_settings``; empty for another engine)."""
    return _PG_SETTINGS.get(engine, {})


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # a page cache of up to 32 MiB (SQLite's default is 2 MiB): the crawl's writer walks the
    # search index and the URL and LSH indexes for every article, and their pages stay
    # cached as the archive grows (allocated as used, per connection)
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.close()


def _sqlite_reader_pragmas(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    # a reader's connection is an ordinary read-write one (see make_engine) that refuses
    # every statement that would change the database
    dbapi_conn.execute("PRAGMA query_only=ON")


def make_engine(url: str | None = None, *, readonly: bool = False,
                pg_settings: dict[str, str] | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: ``ARSIP_DATABASE_URL``, else ``sqlite:///arsip.db``).

    SQLite gets WAL, foreign keys and a busy timeout. ``readonly`` (readers: see
    :func:`open_reader`) never writes: on SQLite an ordinary connection to a file that must
    exist already (``mode=rw``: it is never created) with ``PRAGMA query_only``, not a
    read-only one (``mode=ro``): SQLite's notes on read-only WAL databases list what such a
    connection cannot do (create or rebuild the ``-shm`` index, recover a WAL that a writer
    left), and readers were seen failing with "unable to open database file" while a crawl
    wrote; an ordinary connection waits for the writer (busy timeout) or does the recovery
    itself. Only on a read-only filesystem is it ``mode=ro`` with ``immutable``.
    On PostgreSQL, read-only transactions, and ``pg_settings`` set on every connection
    (``-c name=value``).
    """
    raw = url or os.environ.get("ARSIP_DATABASE_URL") or DEFAULT_DATABASE_URL
    parsed = normalise_url(raw)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            database = parsed.database or ""
            memory = database in ("", ":memory:")
            if memory:  # one connection per thread (SingletonThreadPool): no pool to size
                kwargs.pop("pool_size", None)
                kwargs.pop("max_overflow", None)
            if not memory:
                folder = Path(database).expanduser().resolve().parent
                if not folder.is_dir():
                    raise StorageError(f"database folder does not exist: {folder}")
                file = folder / Path(database).name
                # a writer needs the file and its folder (WAL and shared-memory files);
                # access() also sees a read-only filesystem, whoever we are (root included)
                if not readonly and not (os.access(folder, os.W_OK) and (
                        not file.exists() or os.access(file, os.W_OK))):
                    raise StorageError(
                        f"database is read-only: {redact(parsed)} (cannot write "
                        f"{file if file.exists() else folder})")
            connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                            "check_same_thread": False}
            if readonly and not memory:
                path = Path(database).expanduser().resolve()
                # the SQLite URI's options go in the URL's query with uri=true (SQLAlchemy
                # would otherwise take "file:...?mode=rw" for a relative file name).
                # mode=rw: read-write, never created (a missing file is an error)
                query = {**parsed.query, "mode": "rw", "uri": "true"}
                if _on_read_only_filesystem(path.parent):
                    # WAL needs a writable -shm file beside the database; on a read-only
                    # filesystem nobody can change the file, so SQLite may skip locking
                    query.update(mode="ro", immutable="1")
                parsed = parsed.set(database=f"file:{quote(str(path))}", query=query)
            engine = create_engine(parsed, connect_args=connect_args, **kwargs)
            event.listen(engine, "connect",
                         _sqlite_reader_pragmas if readonly else _sqlite_pragmas)
            # Let SQLAlchemy, not pysqlite, start transactions (SAVEPOINTs then work), and
            # take the write lock up front in writers (BEGIN IMMEDIATE): a deferred
            # transaction that upgrades from read to write cannot wait on busy_timeout.
            begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
            if not readonly and not memory:
                # WAL (readers never block the writer) is a property of the file: set it
                # once, outside any transaction, with a plain DB-API connection
                dbapi = engine.raw_connection()
                try:
                    dbapi.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
                finally:
                    dbapi.close()
            return engine
        kwargs.setdefault("pool_pre_ping", True)
        connect_args = {"connect_timeout": 10}
        settings = {**({"default_transaction_read_only": "on"} if readonly else {}),
                    **(pg_settings or {})}
        if settings:
            connect_args["options"] = " ".join(f"-c {k}={v}" for k, v in settings.items())
        try:
            engine = create_engine(parsed, connect_args=connect_args, **kwargs)
            _PG_SETTINGS[engine] = dict(pg_settings or {})
            return engine
        except ImportError as exc:
            if backend != "postgresql":
                raise
            raise DatabaseURLError(
                f"no PostgreSQL driver for {redact(parsed)} ({error_line(exc)}): "
                f"install it with pip install '{POSTGRES_EXTRA}'") from exc
    except NoSuchModuleError as exc:
        raise DatabaseURLError(f"no driver for database URL {redact(parsed)}") from exc
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot open database {redact(parsed)}: {error_line(exc)}") from exc


def _on_read_only_filesystem(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def error_line(exc: BaseException, url: str = "") -> str:
    """A database error as one line (the driver's own first line: SQLAlchemy's text spans
    several), with ``url``'s password redacted where the text names it."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.replace(url, redact(url)) if url else line


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrations_dir() -> str:
    return str(resources.files("migrations"))


def alembic_config(engine_or_url: Engine | str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", migrations_dir())
    if isinstance(engine_or_url, Engine):
        cfg.attributes["connection_engine"] = engine_or_url
        url = engine_or_url.url.render_as_string(hide_password=False)
    else:
        url = engine_or_url
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the Alembic migrations (the only schema source)."""
    from alembic import command

    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # one migration at a time: processes that start together on a fresh database
                # (workers of a fleet, the daemon and a crawl) wait here for the first, then
                # find the schema at head; the lock ends with the transaction. (SQLite's
                # writers take the write lock up front with BEGIN IMMEDIATE, to the same end.)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": MIGRATION_LOCK_KEY})
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(
            f"cannot migrate database {redact(engine.url)}: {error_line(exc)}"
        ) from exc


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    cfg = alembic_config("sqlite://")
    return ScriptDirectory.from_config(cfg).get_current_head()


def ensure_schema(engine: Engine) -> None:
    """Upgrade to head when the database is not there yet (first use) or behind."""
    try:
        if current_revision(engine) == head_revision():
            return
    except Exception as exc:
        raise StorageError(
            f"cannot open database {redact(engine.url)}: {error_line(exc)}"
        ) from exc
    upgrade(engine)


def open_reader(url: str | None = None, *,
                pg_settings: dict[str, str] | None = None, **pool: Any) -> Engine:
    """The engine every reader of the archive uses (the CLI's searches, exports and lists;
    the web view; the crawl's look-ups get the same connection from
    ``make_engine(readonly=True)``): it never writes, never migrates and never creates the
    database, and it waits for a busy writer (the busy timeout, a retried first read)
    instead of failing, whether a writer is busy, has just closed or has not opened yet.

    An archive that is not there (an SQLite file that does not exist, a database without
    the archive's tables) raises :class:`NoArchive`, a one-line error. ``pg_settings``: see
    :func:`make_engine`; ``pool``: the pool's arguments (``pool_size``, ``max_overflow``).
    """
    # the URL as the user gave it (a reader engine's own URL is rewritten: file:...)
    shown = redact(url or os.environ.get("ARSIP_DATABASE_URL") or DEFAULT_DATABASE_URL)
    engine = make_engine(url, readonly=True, pg_settings=pg_settings, **pool)
    try:
        names = _table_names(engine)
    except Exception as exc:
        engine.dispose()
        if is_sqlite(engine) and not _sqlite_file_exists(engine):
            raise NoArchive(f"no archive at {shown} (the database file does not exist; "
                            f"run `arsip db upgrade` or a crawl)") from exc
        raise StorageError(f"cannot open database {shown}: {error_line(exc)}") from exc
    if "articles" not in names:
        engine.dispose()
        raise NoArchive(f"no archive at {shown} (run `arsip db upgrade` or a crawl)")
    return engine


# SQLite errors of a connection's first read that can last an instant while another
# connection opens or closes the WAL (its -wal and -shm files: created, recovered, or
# checkpointed and removed by the last connection to close), outside the busy handler's reach
_TRANSIENT_OPEN_ERRORS = ("unable to open database file", "database is locked",
                          "locking protocol")
READER_OPEN_RETRY_SECONDS = 5.0


def _table_names(engine: Engine) -> list[str]:
    """The database's tables, read through a first connection: on SQLite an error that can
    be transient is retried (with growing pauses) for up to READER_OPEN_RETRY_SECONDS."""
    deadline = time.monotonic() + READER_OPEN_RETRY_SECONDS
    pause = 0.02
    while True:
        try:
            return inspect(engine).get_table_names()
        except OperationalError as exc:
            transient = is_sqlite(engine) and _sqlite_file_exists(engine) and any(
                text in str(exc.orig) for text in _TRANSIENT_OPEN_ERRORS)
            if not transient or time.monotonic() + pause > deadline:
                raise
            engine.dispose()
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _sqlite_file_exists(engine: Engine) -> bool:
    database = engine.url.database or ""
    if database.startswith("file:"):
        database = unquote(database[len("file:"):])
    return database in ("", ":memory:") or Path(database).exists()


def open_archive(url: str | None = None, *, readonly: bool = False) -> Engine:
    """The engine of a ready-to-use archive: migrated to head on first use.

    ``readonly`` is :func:`open_reader` (an SQLite file that does not exist yet is an
    error, not a new file).
    """
    if readonly:
        return open_reader(url)
    engine = make_engine(url)
    ensure_schema(engine)
    return engine


def is_in_memory(url: str | None) -> bool:
    """Whether ``url`` names an in-memory SQLite database (only this process sees it)."""
    if not url:
        return False
    try:
        parsed = normalise_url(url)
    except Exception:  # noqa: BLE001 - make_engine reports a bad URL
        return False
    return parsed.get_backend_name() == "sqlite" and (parsed.database or "") in ("", ":memory:")
