"""`arsip bench reextract`: runs small and prints the figures and ratios scripts read."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PG_ADMIN_URL, run_cli


def test_bench_reextract_runs_small_and_prints_the_keys() -> None:
    res = run_cli("bench", "reextract", "--pages", "24", "--workers", "1", "--rounds", "3",
                  "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["pages"] == 24 and out["extract"]["articles"] == 24
    # each round starts from the archive as built: every article changes in every round
    assert out["rounds"] == 3 and out["changed_per_round"] == [24, 24, 24]
    ratios = out["ratios_reextract_extract"]
    assert len(ratios) == 3 and len(out["ratios_unchanged_extract"]) == 3
    # the figures are the median round's
    assert out["ratio_reextract_extract"] == sorted(ratios)[1]
    # the synthetic archive was stored by an older extraction: every article changes once,
    # then (with --force) none does
    assert out["reextract"]["examined"] == 24 and out["reextract"]["changed"] == 24
    assert out["reextract"]["failed"] == 0
    assert out["reextract_unchanged"]["examined"] == 24
    assert out["reextract_unchanged"]["changed"] == 0
    rate = out["reextract"]["articles_per_s"]
    assert out["ratio_reextract_extract"] == pytest.approx(
        rate / out["extract"]["articles_per_s"], rel=0.02)
    cpu = out["main_cpu_ms_per_article"]
    assert set(cpu) == {"extract", "reextract", "reextract_unchanged"}
    assert all(value > 0 for value in cpu.values())
    # with the worker's: extraction's CPU is the worker's mostly (several ms a page, the
    # main process's a fraction of one), and the ratio of the totals is extract's over
    # reextract's
    every = out["cpu_ms_per_article"]
    assert set(every) == set(cpu)
    assert all(every[k] > cpu[k] + 1.0 for k in every)
    assert out["cpu_ratio_reextract_extract"] == pytest.approx(
        every["extract"] / every["reextract"], abs=0.002)
    assert 0 < out["raw_stored_bytes"] < out["raw_bytes"]
    assert out["raw_ratio"] == round(out["raw_stored_bytes"] / out["raw_bytes"], 4)
    text = run_cli("bench", "reextract", "--pages", "12", "--workers", "0", "--rounds", "1")
    assert text.returncode == 0, text.stderr
    assert "ratio reextract/extract" in text.stdout
    assert "main process CPU per article" in text.stdout
    assert "CPU per article, workers included" in text.stdout


def test_the_older_extraction_cut_at_the_first_baca_juga() -> None:
    """``--stale cut``: each stored body is what an extractor that stopped at the body's
    first "Baca Juga" line kept: the paragraphs before it, none after; ``lead`` keeps the
    first paragraph only."""
    from arsip.bench.reextract import stale_body
    from arsip.bench.synthetic_site import SyntheticSite

    site = SyntheticSite(40, 3)
    for story in site.stories:
        first = min(story.inline)
        cut = stale_body(site, story, "cut")
        kept = [site.paragraphs[p] for p in story.paragraphs[:first + 1]]
        assert cut == f"{story.title}. " + " ".join(kept)
        assert site.paragraphs[story.paragraphs[first + 1]] not in cut
        assert stale_body(site, story, "lead") == \
            f"{story.title}. {site.paragraphs[story.paragraphs[0]]}"
    res = run_cli("bench", "reextract", "--pages", "24", "--workers", "1", "--rounds", "1",
                  "--stale", "cut", "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["stale"] == "cut" and out["changed_per_round"] == [24]
    # no syndicated copy among the first 24 stories (one in 33 is one): nothing is a
    # near-duplicate in the stale archive either
    assert out["stale_near_duplicates"] == 0


@pytest.mark.skipif(not PG_ADMIN_URL.startswith("postgres"),
                    reason="re-extraction on PostgreSQL: ARSIP_TEST_DATABASE_URL unset")
def test_bench_reextract_on_postgresql_in_databases_dropped_after() -> None:
    """``--database`` (a PostgreSQL server): the archive built in a temporary database there,
    each round in one created from it (every article changes in every round), all dropped
    at the end."""
    import psycopg

    res = run_cli("bench", "reextract", "--pages", "24", "--workers", "1", "--rounds", "2",
                  "--database", PG_ADMIN_URL, "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["backend"] == "postgresql" and out["changed_per_round"] == [24, 24]
    assert out["reextract_unchanged"]["changed"] == 0 and out["reextract"]["failed"] == 0
    # the server's CPU is not the bench's to count: no ratio of CPU that would leave it out
    assert out["cpu_ratio_reextract_extract"] is None
    name = out["database"].rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (name + "%",)).fetchall()
    assert name.startswith("arsip_bench_") and left == []


def test_bench_reextract_database_must_be_postgresql() -> None:
    res = run_cli("bench", "reextract", "--pages", "12", "--database", "sqlite:///x.db")
    assert res.returncode == 2 and "PostgreSQL server URL" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
