"""`arsip stats`: per-site counts, dates, last run, and the archive's size on disk."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import NotFound
from storage.models import ArticleURL, CrawlRun, Site
from storage.queries import archive_size, site_stats
from tests.archive_factory import ArchiveFactory, filler
from tests.sql_capture import sqlite_plan, statements


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


@pytest.fixture
def archive(engine: Any) -> None:
    with Session(engine) as s:
        f = ArchiveFactory(s)
        a = f.article(title="Satu", body=filler(30), site="kompas",
                      published=datetime(2023, 1, 5, tzinfo=UTC),
                      aliases=("https://kompas.example/amp/1",))
        f.article(title="Dua", body=filler(30, 1), site="kompas",
                  published=datetime(2023, 3, 9, tzinfo=UTC), duplicate_of=a)
        f.article(title="Tiga", body=filler(30, 2), site="tempo",
                  published=datetime(2022, 7, 1, tzinfo=UTC))
        s.add(ArticleURL(url="https://kompas.example/print/1", article_id=a.id, kind="alias"))
        f.version(a, title="Satu lama", body="lama", version=1,
                  first_seen=datetime(2023, 1, 5, tzinfo=UTC),
                  last_seen=datetime(2023, 1, 6, tzinfo=UTC))
        f.site("empty")
        f.run("kompas", status="failed", finished_at=datetime(2023, 2, 1, tzinfo=UTC))
        f.run("kompas", status="finished", finished_at=datetime(2023, 4, 1, tzinfo=UTC))
        s.commit()


def test_site_stats(engine: Any, archive: None) -> None:
    with Session(engine) as s:
        rows = {r["site"]: r for r in site_stats(s)}
        size = archive_size(s)
        with pytest.raises(NotFound):
            site_stats(s, site="nowhere")
        only = site_stats(s, site="tempo")
    kompas = rows["kompas"]
    assert kompas["articles"] == 2
    assert kompas["aliases"] == 2  # URLs besides the canonical ones
    assert kompas["near_duplicates"] == 1
    assert kompas["versions"] == 1
    assert kompas["raw_pages"] == 2
    assert kompas["first_published"] == datetime(2023, 1, 5, tzinfo=UTC)
    assert kompas["last_published"] == datetime(2023, 3, 9, tzinfo=UTC)
    assert kompas["last_run_status"] == "finished"
    assert kompas["last_run_finished"] == datetime(2023, 4, 1, tzinfo=UTC)
    assert rows["tempo"]["articles"] == 1 and rows["tempo"]["last_run_status"] is None
    assert rows["empty"]["articles"] == 0
    assert [r["site"] for r in only] == ["tempo"]
    assert size is not None and size > 10_000


def test_cli_stats_formats(cli: Any, archive: None) -> None:
    result = cli("stats", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {s["site"]: s["articles"] for s in data["sites"]} == {"kompas": 2, "tempo": 1,
                                                                  "empty": 0}
    assert data["total"]["articles"] == 3 and data["size_bytes"] > 10_000
    rows = list(csv.DictReader(io.StringIO(cli("stats", "--format", "csv").stdout)))
    assert [r["site"] for r in rows] == ["empty", "kompas", "tempo", "(total)"]
    assert rows[-1]["articles"] == "3" and int(rows[-1]["size_bytes"]) > 10_000
    table = cli("stats", "--format", "table", "--site", "kompas").stdout
    assert "kompas" in table and "tempo" not in table.split("(total)")[0]
    assert "archive size on disk:" in table
    result = cli("stats", "--site", "nowhere")
    assert result.returncode == 1 and "no site named" in result.stderr


def test_articles_per_day_counts_the_window_only(engine: Any) -> None:
    # the sites chart's figures: the last N days, today included, nothing after today
    from datetime import date

    from storage.dashboard import articles_per_day

    today = date(2026, 3, 10)
    with Session(engine) as s:
        f = ArchiveFactory(s)
        for n, seen in enumerate([datetime(2026, 3, 10, 23, 59, tzinfo=UTC),
                                  datetime(2026, 3, 10, 0, 0, tzinfo=UTC),
                                  datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
                                  datetime(2026, 3, 1, 0, 0, tzinfo=UTC),  # the first day
                                  datetime(2026, 2, 28, 23, 59, tzinfo=UTC),  # before it
                                  datetime(2026, 3, 11, 0, 0, tzinfo=UTC),  # tomorrow
                                  datetime(2031, 1, 1, tzinfo=UTC)]):  # a clock gone wrong
            f.article(title=f"T{n}", body=filler(20, n), site="kompas", first_seen=seen)
        s.commit()
        counts = articles_per_day(s, days=10, today=today)
    assert counts == {"kompas": {date(2026, 3, 10): 2, date(2026, 3, 8): 1,
                                 date(2026, 3, 1): 1}}


def test_articles_per_day_reads_an_index_not_the_articles(engine: Any) -> None:
    """The chart's counts come from ``(first_seen, site_id)`` alone (migration 0008): at a
    million articles, reading every row for ``first_seen`` (on SQLite behind the body's
    overflow pages) took 3.5 to 28.6 s a refresh, however few articles the window held."""
    from datetime import date

    from storage.dashboard import articles_per_day

    with Session(engine) as s:
        f = ArchiveFactory(s)
        for n in range(30):
            f.article(title=f"T{n}", body=filler(20, n), site=("kompas", "tempo")[n % 2],
                      first_seen=datetime(2026, 3, 1 + n % 9, tzinfo=UTC))
        s.commit()
    with statements(engine, lambda sql: "first_seen" in sql and "GROUP BY" in sql) as seen, \
            Session(engine) as s:
        counts = articles_per_day(s, days=10, today=date(2026, 3, 10))
    assert sum(sum(days.values()) for days in counts.values()) == 30
    assert len(seen) == 1
    statement, params = seen[0]
    if engine.dialect.name == "sqlite":
        plan = sqlite_plan(engine, statement, params)
        assert "COVERING INDEX ix_articles_first_seen_site" in plan, plan
        return
    # PostgreSQL reads a table this small whole by choice: may it use the index at all?
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = " / ".join(conn.exec_driver_sql("EXPLAIN " + statement, params).scalars())
    assert "ix_articles_first_seen_site" in plan, plan
    assert "Seq Scan on articles" not in plan, plan


def test_recent_runs_every_sites_newest_in_two_statements(engine: Any) -> None:
    """The sites page's runs: each site's ``per_site`` newest, newest first, a site without
    runs too, in two statements whatever the number of sites (a statement per site was
    fifty at the daemon's fifty sites); SQLite reads each site's newest off its index."""
    from storage.dashboard import recent_runs

    with Session(engine) as s:
        f = ArchiveFactory(s)
        for n in range(17):  # interleaved, so that ids do not follow the site
            f.run(("kompas", "tempo", "detik")[n % 3], status=("finished", "failed")[n % 2])
        f.site("sepi")
        s.commit()
        everything = {}
        for run in s.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())):
            everything.setdefault(run.site_id, []).append(run.id)
        names = dict(s.execute(select(Site.id, Site.name)).all())
    with statements(engine, lambda sql: "crawl_runs" in sql or "sites" in sql) as seen, \
            Session(engine) as s:
        got = recent_runs(s, per_site=4)
        ids = {name: [r.id for r in runs] for name, runs in got.items()}
    assert ids == {"detik": everything[_id(names, "detik")][:4],
                   "kompas": everything[_id(names, "kompas")][:4],
                   "sepi": [],
                   "tempo": everything[_id(names, "tempo")][:4]}
    assert list(ids) == sorted(ids)
    assert len(seen) == 2
    if engine.dialect.name == "sqlite":
        plan = sqlite_plan(engine, *seen[1])
        assert "ix_crawl_runs_site_id" in plan and "SCAN crawl_runs" not in plan, plan


def _id(names: dict[int, str], name: str) -> int:
    return next(i for i, n in names.items() if n == name)
