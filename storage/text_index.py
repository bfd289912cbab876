"""Changing the text of many articles at once, with the full-text index kept in step in bulk.

On SQLite the update triggers of the FTS5 indexes take an article's old text out and put the
new one in, row by row; each such pair makes FTS5 flush its pending terms (a rowid written
again right after its delete), so a transaction that changes the text of fifty articles
wrote fifty small index segments and merged them. ``bulk_text_update`` pauses those
triggers for its transaction (``articles_fts_deferred``, migration 0005), takes every old
text out as one ascending run of rowids, lets the caller run its UPDATEs, and puts every
new text in as another: a flush or two per index instead of one per article. On
PostgreSQL (a tsvector computed per row) it does nothing but run the caller's block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection


@dataclass(frozen=True)
class TextChange:
    """An article's title and body as stored (exactly: the index is told to forget these
    words) and as they will be once the caller's UPDATE has run."""

    id: int
    old_title: str | None
    old_body: str | None
    new_title: str | None
    new_body: str | None


@contextmanager
def bulk_text_update(conn: Connection, changes: list[TextChange]) -> Iterator[None]:
    """Run the block (the caller's UPDATEs of exactly these articles' titles and bodies, to
    exactly these values) with the full-text index maintained in bulk around it.

    Inside the caller's transaction; if the block raises, that transaction must be rolled
    back (the index is then left as it was, with the rest)."""
    if conn.dialect.name != "sqlite" or not changes:
        yield
        return
    ordered = sorted(changes, key=lambda c: c.id)
    titled = [c for c in ordered if c.old_title != c.new_title]
    conn.exec_driver_sql("INSERT INTO articles_fts_deferred DEFAULT VALUES")
    conn.exec_driver_sql(
        "INSERT INTO articles_fts(articles_fts, rowid, title, body) VALUES ('delete', ?, ?, ?)",
        [(c.id, c.old_title, c.old_body) for c in ordered])
    if titled:
        conn.exec_driver_sql(
            "INSERT INTO articles_title_fts(articles_title_fts, rowid, title) "
            "VALUES ('delete', ?, ?)", [(c.id, c.old_title) for c in titled])
    yield
    conn.exec_driver_sql("INSERT INTO articles_fts(rowid, title, body) VALUES (?, ?, ?)",
                         [(c.id, c.new_title, c.new_body) for c in ordered])
    if titled:
        conn.exec_driver_sql("INSERT INTO articles_title_fts(rowid, title) VALUES (?, ?)",
                             [(c.id, c.new_title) for c in titled])
    conn.exec_driver_sql("DELETE FROM articles_fts_deferred")
