"""`arsip bench dedup`: runs small, prints the keys scripts read, meets its quality bar."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from arsip.bench.dedup_pairs import build_pairs, edit, load_texts
from arsip.bench.dedup_scaling import REPEATS
from tests.conftest import CORPUS, PG_ADMIN_URL, _pg_drop, run_cli

ID_NEWS = CORPUS / "id-news"


def needs_corpus() -> None:
    if not (ID_NEWS / "ground-truth.json").is_file():
        pytest.skip(f"corpus not found at {ID_NEWS} (../shared is missing)")


def test_bench_runs_small_and_prints_the_keys() -> None:
    needs_corpus()
    res = run_cli("bench", "dedup", "--corpus", str(ID_NEWS), "--sizes", "40,120",
                  "--batch", "10", "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert 0.98 <= out["precision"] <= 1 and 0.98 <= out["recall"] <= 1
    assert out["pairs"] == out["positives"] + out["negatives"] > 0
    assert [row["archive"] for row in out["sizes"]] == [40, 120]
    assert all(row["ms_per_article"] > 0 for row in out["sizes"])
    expected = out["sizes"][-1]["ms_per_article"] / out["sizes"][0]["ms_per_article"]
    assert out["ratio_100k_1k"] == pytest.approx(expected, rel=0.01)
    # every measured article went through the store path
    assert sum(out["sizes"][0]["outcomes"].values()) == REPEATS * 10


def test_sizes_separated_by_spaces_and_ratio_largest_smallest() -> None:
    res = run_cli("bench", "dedup", "--skip-quality", "--sizes", "150", "30", "90",
                  "--batch", "5", "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [row["archive"] for row in out["sizes"]] == [30, 90, 150]
    expected = out["sizes"][-1]["ms_per_article"] / out["sizes"][0]["ms_per_article"]
    assert out["ratio_largest_smallest"] == pytest.approx(expected, rel=0.01)
    assert out["ratio_largest_smallest"] == out["ratio_100k_1k"]
    assert out["build_articles_per_s"] > 0
    assert sum(out["sizes"][-1]["outcomes"].values()) == REPEATS * 5
    # the archive's bytes an article: a body of a few KB with its indexes, signature and
    # bands (a page of SQLite at least)
    assert all(4096 <= row["bytes_per_article"] < 200_000 for row in out["sizes"])


def test_largest_size_in_a_kept_file_reused_next_time(tmp_path: Any) -> None:
    import sqlite3

    kept = tmp_path / "dedup-large.db"
    args = ("bench", "dedup", "--skip-quality", "--sizes", "30", "120", "--batch", "5",
            "--sqlite-file", str(kept), "--format", "json")

    def articles() -> int:
        with sqlite3.connect(kept) as conn:
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])

    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert [row["archive"] for row in out["sizes"]] == [30, 120]
    assert articles() == 120 + REPEATS * 5  # filled to the size, then the measured batches
    assert out["cpu_ratio_largest_smallest"] > 0
    first_new = out["sizes"][-1]["outcomes"].get("new", 0)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert articles() == 120 + 2 * REPEATS * 5  # not filled again: only the new batches
    # near-copies of the reused archive's own bodies were made and found
    assert out["sizes"][-1]["outcomes"].get("near_duplicate", 0) >= 1
    assert sum(out["sizes"][-1]["outcomes"].values()) == REPEATS * 5
    # the same workload: new bodies again, not the first run's stored a second time
    assert first_new >= 1 and out["sizes"][-1]["outcomes"].get("new", 0) == first_new


def test_quality_bar_on_every_corpus_folder() -> None:
    needs_corpus()
    from arsip.bench.dedup import default_corpus, quality
    from storage.dedup_index import DEFAULT_THRESHOLD

    folders = default_corpus()
    assert len(folders) >= 3
    result = quality(folders, DEFAULT_THRESHOLD, seed=7)
    assert result["precision"] >= 0.98, result
    assert result["recall"] >= 0.98, result
    # the pairs are what they say: the negatives are the hardest ones (same topic)
    assert result["by_kind"]["same_topic"]["pairs"] == result["negatives"]


def test_edits_grow_and_pairs_are_deterministic() -> None:
    needs_corpus()
    import random

    texts = load_texts([ID_NEWS])
    assert texts
    small = edit(texts[0], 0.01, texts[1:3], random.Random(1))
    large = edit(texts[0], 0.10, texts[1:3], random.Random(1))
    from crawler.dedup import normalise_body, shingles

    def jaccard(x: str, y: str) -> float:
        a, b = set(shingles(normalise_body(x))), set(shingles(normalise_body(y)))
        return len(a & b) / len(a | b)

    assert 1.0 > jaccard(texts[0], small) > jaccard(texts[0], large)
    a = build_pairs(texts[:10], seed=3)
    b = build_pairs(texts[:10], seed=3)
    assert [(p.a, p.b, p.kind) for p in a] == [(p.a, p.b, p.kind) for p in b]


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    res = run_cli("bench", "dedup", "--sizes", "ten", "--skip-quality")
    assert res.returncode == 2 and "--sizes" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_cli("bench", "dedup", "--corpus", str(tmp_path), "--skip-scaling")
    assert res.returncode == 1 and "ground-truth.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not PG_ADMIN_URL.startswith("postgres"),
                    reason="PostgreSQL's scaling: ARSIP_TEST_DATABASE_URL unset")
def test_scaling_on_postgresql_with_the_largest_size_kept() -> None:
    """The write path measured on PostgreSQL (``--database``): the smaller sizes in a
    temporary database, the largest in ``--keep-database`` (kept, filled only up to the size
    when reused); a near-copy is still found there, and an ordinary insert still gets a new
    id after the bulk load wrote ids itself."""
    import psycopg

    name = f"arsip_bench_dedup_test_{uuid.uuid4().hex[:8]}"
    args = ("bench", "dedup", "--skip-quality", "--sizes", "30", "120", "--batch", "5",
            "--database", PG_ADMIN_URL, "--keep-database", name, "--format", "json")
    kept = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def articles() -> int:
        with psycopg.connect(kept) as conn:
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])

    try:
        first = run_cli(*args)
        assert first.returncode == 0, first.stderr
        out = json.loads(first.stdout)
        assert out["backend"] == "postgresql" and out["database"].endswith(f"/{name}")
        assert [row["archive"] for row in out["sizes"]] == [30, 120]
        assert all(row["ms_per_article"] > 0 and row["bytes_per_article"] > 0
                   for row in out["sizes"])
        assert articles() == 120 + REPEATS * 5
        again = run_cli(*args)
        assert again.returncode == 0, again.stderr
        out = json.loads(again.stdout)
        assert articles() == 120 + 2 * REPEATS * 5  # not filled again
        outcomes = out["sizes"][-1]["outcomes"]
        assert outcomes.get("near_duplicate", 0) >= 1 and sum(outcomes.values()) == REPEATS * 5
    finally:
        _pg_drop(PG_ADMIN_URL, name)


def test_keep_database_needs_a_postgresql_server() -> None:
    res = run_cli("bench", "dedup", "--skip-quality", "--sizes", "30", "--keep-database", "x")
    assert res.returncode == 2 and "needs --database" in res.stderr
    assert "Traceback" not in res.stderr
