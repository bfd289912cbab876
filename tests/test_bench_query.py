"""`arsip bench query`: runs on a small synthetic archive and prints every figure."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from arsip.bench.query import query_set, vocabulary
from tests.conftest import PG_ADMIN_URL, _pg_drop

KEYS = {
    "backend", "articles", "build_s", "queries", "search_p50_ms", "search_p95_ms",
    "search_cpu_p50_ms", "search_cpu_p95_ms", "search_baseline_p50_ms",
    "search_baseline_p95_ms", "search_p50_ms_by_kind", "show_p50_ms",
    "export_articles_per_s", "export_rss_growth_mb", "archive_size_mb", "hits_returned",
    "goals", "meets_goals",
}


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


def test_bench_query_small(cli: Any) -> None:
    result = cli("bench", "query", "--articles", "300", "--format", "json", timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert KEYS <= set(data)
    assert data["backend"] == "sqlite" and data["articles"] == 300
    assert data["export_articles"] == 300
    assert data["hits_returned"] > 0
    assert data["search_p50_ms"] > 0 and data["search_p95_ms"] >= data["search_p50_ms"]
    assert data["archive_size_mb"] > 0
    kinds = set(data["search_p50_ms_by_kind"])
    assert {"very common", "rare", "phrase", "prefix", "filter"} <= kinds


def test_bench_query_rejects_bad_arguments(cli: Any) -> None:
    assert cli("bench", "query", "--articles", "3").returncode == 2
    bad = cli("bench", "query", "--articles", "300", "--database", "sqlite:///x.db")
    assert bad.returncode == 2 and "PostgreSQL" in bad.stderr
    keep = cli("bench", "query", "--articles", "300", "--keep-database", "b")
    assert keep.returncode == 2 and "needs --database" in keep.stderr
    assert len(keep.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not PG_ADMIN_URL.startswith("postgres"),
                    reason="--keep-database is PostgreSQL's: ARSIP_TEST_DATABASE_URL unset")
def test_bench_query_keeps_its_postgresql_database_for_the_next_run(cli: Any) -> None:
    name = f"arsip_bench_test_{uuid.uuid4().hex[:8]}"
    args = ("bench", "query", "--articles", "200", "--database", PG_ADMIN_URL,
            "--keep-database", name, "--format", "json")
    try:
        first = cli(*args, timeout=600)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["build_s"] is not None
        # the bulk load re-created the indexes with the statistics targets of migration
        # 0006 (search plans by the terms' estimated shares)
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name) as conn:
            targets = conn.execute(
                "SELECT attstattarget FROM pg_attribute WHERE (attrelid, attname) IN "
                "(('articles'::regclass, 'search_vector'), "
                "('ix_articles_search_vector'::regclass, 'to_tsvector'))").fetchall()
            # the ids the load wrote itself are behind the sequences: an ordinary insert
            # (a crawl writing beside `bench serve`) gets a new one
            conn.execute("INSERT INTO sites (name, created_at) VALUES ('baru', now())")
            conn.rollback()
        assert sorted(t for (t,) in targets) == [1000, 1000]
        again = cli(*args, timeout=600)  # reused: not built again
        assert again.returncode == 0, again.stderr
        data = json.loads(again.stdout)
        assert data["build_s"] is None and data["export_articles"] == 200
        assert data["database"].endswith(f"/{name}")
        other = cli(*[a if a != "200" else "300" for a in args], timeout=600)
        assert other.returncode == 2 and "holds 200 articles, not 300" in other.stderr
    finally:
        _pg_drop(PG_ADMIN_URL, name)


def test_query_set_is_varied_and_parses() -> None:
    import numpy as np

    from storage.query_parser import parse

    vocab = vocabulary(5000, np.random.default_rng(1))
    assert len(set(vocab)) == len(vocab) == 5000
    queries = query_set(vocab)
    for _, query, _ in queries:
        parse(query)
    assert any('"' in q for _, q, _ in queries) and any("*" in q for _, q, _ in queries)
    assert any(f for _, _, f in queries)
