"""Bulk loading for the benchmarks' synthetic archives: one connection, big transactions,
secondary indexes (and SQLite's full-text trigger) rebuilt once after the rows.

Chosen on purpose, for an archive the benchmark itself creates and can rebuild:

* SQLite: ``synchronous=OFF`` (a crash mid-build loses a bench archive, nothing else) and
  ``journal_mode=MEMORY`` (every page is written once, to the database file, instead of
  to the WAL and then again at the checkpoint), a 256 MiB page cache; the FTS5 insert
  triggers are dropped and the indexes built in one ``rebuild`` + ``optimize`` after the rows
  (one sorted pass instead of a segment merge every few hundred rows), and so are the
  secondary b-tree indexes. Everything is put back as it was (``journal_mode`` WAL, the
  trigger and the indexes with their own SQL from ``sqlite_master``), also on failure.
* PostgreSQL: ``synchronous_commit=off`` for the loading session, the secondary indexes
  (the GIN search index above all: inserting into it row by row is most of the cost)
  dropped and re-created after the rows with ``maintenance_work_mem`` 256MB, then
  ``VACUUM ANALYZE``. Rows go in as multi-row INSERTs (SQLAlchemy's insertmanyvalues).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TABLES = ("articles", "article_urls", "article_links", "article_versions", "minhash_bands")
SQLITE_CACHE_KIB = 262_144
FTS_TABLES = ("articles_fts", "articles_title_fts")  # migrations 0002 and 0004


@contextmanager
def bulk_connection(engine: Any, log: Any) -> Iterator[Any]:
    """A connection set up for loading many rows into ``TABLES``; commit as you go."""
    from storage.engine import is_in_memory

    if not is_in_memory(engine.url.render_as_string(hide_password=False)):
        # no other pooled connection may hold the file (journal_mode change); an
        # in-memory database lives in its pool's connection and must keep it
        engine.dispose()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            with _sqlite_bulk(conn, log):
                yield conn
        elif engine.dialect.name == "postgresql":
            with _pg_bulk(conn, log):
                yield conn
        else:
            yield conn


@contextmanager
def _sqlite_bulk(conn: Any, log: Any) -> Iterator[None]:
    sql = conn.exec_driver_sql
    conn.commit()
    # PRAGMAs go straight to the driver, outside any transaction (journal_mode cannot
    # change inside one; SQLAlchemy opens one with BEGIN IMMEDIATE on first use)
    raw = conn.connection.driver_connection

    def pragma(statement: str) -> Any:
        row = raw.execute(f"PRAGMA {statement}").fetchone()
        return row[0] if row else None

    journal = pragma("journal_mode")
    synchronous = pragma("synchronous")
    cache = pragma("cache_size")
    placeholders = ",".join("?" * len(TABLES))
    saved = sql(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        f"AND ((type = 'index' AND tbl_name IN ({placeholders})) "
        "OR (type = 'trigger' AND name IN ('articles_fts_ai', 'articles_title_fts_ai')))",
        TABLES).all()
    conn.commit()
    pragma("synchronous=OFF")
    pragma(f"cache_size=-{SQLITE_CACHE_KIB}")
    mode = pragma("journal_mode=MEMORY")
    log(f"bulk load: journal_mode {journal} -> {mode}, synchronous {synchronous} -> 0, "
        f"{len(saved)} indexes/triggers deferred")
    for kind, name, _ in saved:
        sql(f'DROP {kind.upper()} "{name}"')
    conn.commit()
    fts_ready = False
    try:
        yield
        conn.commit()
        for fts in FTS_TABLES:
            sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
            sql(f"INSERT INTO {fts}({fts}) VALUES ('optimize')")
        conn.commit()
        fts_ready = True
    finally:
        conn.rollback()
        for _, _, statement in saved:
            sql(statement)
        if not fts_ready:  # rows loaded without the triggers: index them now
            for fts in FTS_TABLES:
                sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
        conn.commit()
        pragma(f"journal_mode={journal}")
        pragma(f"synchronous={synchronous}")
        pragma(f"cache_size={cache}")


@contextmanager
def _pg_bulk(conn: Any, log: Any) -> Iterator[None]:
    sql = conn.exec_driver_sql
    conn.commit()
    saved = sql(
        "SELECT i.indexname, i.indexdef FROM pg_indexes AS i "
        "JOIN pg_class AS c ON c.relname = i.indexname "
        "JOIN pg_index AS x ON x.indexrelid = c.oid "
        "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%(t)s) "
        "AND NOT x.indisunique AND NOT x.indisprimary", {"t": list(TABLES)}).all()
    # statistics targets set on index columns (migration 0006) go with the index: kept
    targets = sql(
        "SELECT c.relname, a.attnum, a.attstattarget FROM pg_attribute AS a "
        "JOIN pg_class AS c ON c.oid = a.attrelid WHERE c.relname = ANY(%(n)s) "
        "AND a.attstattarget > 0", {"n": [name for name, _ in saved]}).all()
    sql("SET synchronous_commit = off")
    for name, _ in saved:
        sql(f'DROP INDEX "{name}"')
    conn.commit()
    log(f"bulk load: synchronous_commit off, {len(saved)} indexes deferred")
    try:
        yield
        conn.commit()
    finally:
        conn.rollback()
        sql("SET maintenance_work_mem = '256MB'")
        for _, definition in saved:
            sql(definition)
        for name, column, target in targets:
            sql(f'ALTER INDEX "{name}" ALTER COLUMN {int(column)} SET STATISTICS {int(target)}')
        advance_sequences(conn)
        conn.commit()
        sql("RESET maintenance_work_mem")
        sql("RESET synchronous_commit")


def advance_sequences(conn: Any) -> None:
    """PostgreSQL: every table's id sequence moved past the ids the bulk load wrote itself
    (else the next ordinary insert, a crawl's writing beside ``bench serve``, collides with
    them: "duplicate key value violates unique constraint pk_sites"). The caller commits."""
    if conn.dialect.name != "postgresql":
        return
    from storage.models import Base

    for table in Base.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key:
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)")
