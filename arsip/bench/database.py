"""The benchmarks' archive: a temporary SQLite file, a kept ``--sqlite-file``, a temporary
database on the PostgreSQL server of ``--database`` (dropped after), or a kept one
(``--keep-database``): shared by ``arsip bench query``, ``serve`` and ``daemon`` (whose
options are ``--database`` only); ``bench dedup`` uses its parts (two archives)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from arsip.errors import UsageError


def add_keep_database(p: Any) -> None:
    p.add_argument("--keep-database", metavar="NAME",
                   help="with --database (a PostgreSQL server): build the archive in the "
                        "database NAME there (created if missing) and keep it; reused when "
                        "it already holds N articles (default: a temporary database)")


@contextmanager
def bench_database(args: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """The benchmark's archive as (URL, where to say it is): a temporary database on the
    PostgreSQL server of ``--database`` (dropped after), the ``--sqlite-file`` kept for a next
    run, or an SQLite file in a temporary folder (removed after)."""
    from storage.engine import redact

    url = pg_server(args)
    if url is not None:
        if getattr(args, "keep_database", None):
            url = kept_pg_database(url, args.keep_database)
            yield url.render_as_string(hide_password=False), redact(url)
            return
        url, drop = temporary_pg_database(url)
        try:
            yield url.render_as_string(hide_password=False), redact(url)
        finally:
            drop()
    elif getattr(args, "keep_database", None):
        raise UsageError("--keep-database needs --database (a PostgreSQL server URL); "
                         "for SQLite use --sqlite-file")
    elif getattr(args, "sqlite_file", None):
        path = os.path.abspath(args.sqlite_file)
        yield f"sqlite:///{path}", path
    else:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            path = os.path.join(tmp, "bench.db")
            yield f"sqlite:///{path}", path


def pg_server(args: Any) -> Any:
    """The PostgreSQL server of ``--database`` (a URL), None without it; any other database
    is a usage error (a benchmark's SQLite archive is its default)."""
    from storage.engine import normalise_url

    server = getattr(args, "database", None)
    if not server:
        return None
    url = normalise_url(server)
    if url.get_backend_name() != "postgresql":
        raise UsageError("--database must be a PostgreSQL server URL (SQLite is the default)")
    return url


def kept_pg_database(url: Any, name: str) -> Any:
    """The database ``name`` on the server of ``url``, created if it does not exist."""
    from sqlalchemy import create_engine, text

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise UsageError(f"--keep-database {name!r}: letters, digits and _ only")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.set(database=name)


def temporary_pg_database(url: Any) -> tuple[Any, Any]:
    from sqlalchemy import create_engine, text

    name = f"arsip_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()

    def drop() -> None:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name), drop
