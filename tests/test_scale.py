"""Scale (issue 17): exhaustive ranking past SQLite's variable limit, the bulk build that
puts the archive's settings back, and the counts of `arsip stats` on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from storage.models import Article, Site
from storage.search import search
from tests.sql_capture import sqlite_plan, statements

MANY = 33_000  # more matches than SQLite's 32766 bound variables


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


def _fill(engine: Any, n: int) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(Site), [{"id": 1, "name": "kompas", "created_at": now}])
        conn.execute(insert(Article), [
            {"id": i, "site_id": 1, "canonical_url": f"https://kompas.example/{i}",
             "title": "Kabar kota" if i % 1000 else "Dengan judul", "authors": [],
             "tags": [], "body": f"berita dengan nomor {i}", "content_hash": f"{i:064d}",
             "first_seen": now, "last_seen": now, "last_checked": now}
            for i in range(1, n + 1)])


def test_exhaustive_ranking_past_the_variable_limit(engine: Any) -> None:
    _fill(engine, MANY)
    with Session(engine) as session:
        exhaustive = search(session, "dengan", candidates=10**9, limit=10)
        bounded = search(session, "dengan", limit=10)
    assert len(exhaustive) == 10
    # the title hits rank first either way (every 1000th article has "Dengan" in its title)
    # (equal scores: the newest first)
    assert [h.id for h in exhaustive] == [h.id for h in bounded] == list(
        range(33_000, 23_000, -1000))


def test_bulk_build_restores_settings_and_indexes(engine: Any) -> None:
    from arsip.bench.query import build

    def schema(conn: Any) -> set[tuple[str, str]]:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT type, name FROM sqlite_master "
                                     "WHERE name NOT LIKE 'sqlite_stat%'"))
        else:
            rows = conn.execute(text("SELECT 'index', indexname FROM pg_indexes "
                                     "WHERE schemaname = current_schema()"))
        return {tuple(r) for r in rows}

    with engine.connect() as conn:
        before = schema(conn)
    messages: list[str] = []
    built = build(engine, 50, 1, messages.append)
    assert built["build_articles_per_s"] > 0 and built["build_s"] >= built["build_rows_s"]
    assert any("deferred" in m for m in messages)
    with engine.connect() as conn:
        assert schema(conn) == before
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with Session(engine) as session:  # the index holds the rows, and the trigger is back
        word = built["vocabulary"][0]
        assert search(session, word)
        session.execute(text(
            "INSERT INTO articles (id, site_id, canonical_url, title, authors, tags, body, "
            "content_hash, first_seen, last_seen, last_checked) VALUES (1000, 1, 'u', "
            "'Zanzibarku', '[]', '[]', 'isi', 'h', :t, :t, :t)"),
            {"t": datetime(2024, 1, 1)})
        session.commit()
        assert [h.id for h in search(session, "zanzibarku")] == [1000]


def _analysed_then_upgraded(engine: Any, articles: int, revision: str) -> None:
    """An SQLite archive of ``articles`` at ``revision``, analysed (planner statistics in
    ``sqlite_stat1``), then upgraded to the latest migration; other backends skip."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite planner statistics")
    from storage.engine import downgrade, upgrade

    _fill(engine, articles)
    downgrade(engine, revision)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    upgrade(engine)


def test_migration_0004_keeps_planner_statistics_complete(engine: Any) -> None:
    """An analysed SQLite archive gets statistics for the new index too (without them
    SQLite planned the export through the wrong index)."""
    _analysed_then_upgraded(engine, 50, "0003")
    with engine.connect() as conn:
        indexes = set(conn.exec_driver_sql(
            "SELECT idx FROM sqlite_stat1 WHERE tbl = 'articles'").scalars())
        titles = conn.exec_driver_sql(
            "SELECT count(*) FROM articles_title_fts WHERE articles_title_fts MATCH 'dengan'"
        ).scalar()
    assert "ix_articles_site_stats" in indexes
    assert titles == 0 and len(search_titles(engine, "kabar")) == 10


def search_titles(engine: Any, word: str) -> list[Any]:
    with Session(engine) as session:
        return search(session, word, limit=10)


def test_migration_0008_leaves_the_per_site_counts_on_their_covering_index(
        engine: Any) -> None:
    """An analysed archive upgraded to 0008 (the chart's first_seen index): the new index
    has statistics of its own, and `arsip stats`'s per-site counts still read the index that
    covers them (at a million articles an index led by site_id, without statistics, was
    taken for them instead: every row read, 2.8 -> 46.6 s)."""
    from storage.queries import site_stats

    _analysed_then_upgraded(engine, 200, "0007")
    with statements(engine, lambda sql: "min(articles.published)" in sql) as seen, \
            Session(engine) as session:
        rows = site_stats(session)
    assert rows[0]["articles"] == 200 and len(seen) == 1
    plan = sqlite_plan(engine, *seen[0])
    with engine.connect() as conn:
        indexes = set(conn.exec_driver_sql(
            "SELECT idx FROM sqlite_stat1 WHERE tbl = 'articles'").scalars())
    assert "COVERING INDEX ix_articles_site_stats" in plan, plan
    assert "ix_articles_first_seen_site" in indexes
