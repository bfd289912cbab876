"""`arsip bench daemon`: runs the real daemon and reports its own RSS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.slow


def test_bench_daemon_json_has_the_figures(cli) -> None:
    res = cli("bench", "daemon", "--runs", "2", "--sites", "1", "--format", "json", timeout=240)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert {"runs", "rss_start_mb", "rss_end_mb", "rss_ratio", "finished"} <= out.keys()
    assert out["runs"] >= 2
    assert out["finished"] >= 1  # real crawls of the local site happened
    assert 10 < out["rss_start_mb"] < 1000 and 10 < out["rss_end_mb"] < 1000
    assert out["rss_max_mb"] >= max(out["rss_start_mb"], out["rss_end_mb"])
    assert out["rss_ratio"] == pytest.approx(out["rss_end_mb"] / out["rss_start_mb"], rel=0.01)


def test_bench_daemon_rejects_bad_runs(cli) -> None:
    res = cli("bench", "daemon", "--runs", "0")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["arsip: error: --runs must be at least 1"]


def test_schedule_analysis_counts_late_missed_overlaps() -> None:
    from datetime import UTC, datetime, timedelta

    from arsip.bench.daemon_sites import analyse

    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def at(s: float) -> datetime:
        return t0 + timedelta(seconds=s)

    runs = [
        # site a, every 10 s: on time, on time, late (fire 20, start 24), fire 30 missed
        ("a", at(0), at(2)), ("a", at(10), at(12)), ("a", at(24), at(26)),
        # site b, every 20 s: the second run starts before the first ended
        ("b", at(1), at(25)), ("b", at(21), at(23)),
    ]
    out = analyse(runs, {"a": 10.0, "b": 20.0}, 2.0, at(35), 20.0)
    assert out == {"runs": 5, "late": 1, "missed": 1, "overlaps": 1,
                   "busiest_minute_runs": 3}  # 0, 1, 10 s

    # runs a few milliseconds either side of their fire times (the first one the latest):
    # every one on time, none missed (counted against the first run's start, the next
    # ones looked "early", answered no fire time, and showed as missed and late)
    jitter = [0.004, 0.001, 0.003, -0.002, 0.0]
    runs = [("c", at(60 * k + j), at(60 * k + j + 2)) for k, j in enumerate(jitter)]
    out = analyse(runs, {"c": 60.0}, 6.0, at(250), 60.0)
    assert (out["runs"], out["late"], out["missed"], out["overlaps"]) == (5, 0, 0, 0)
    # against the daemon's grid (the site's phase): a run 7 s after its fire time is late
    phase = {"c": t0 + timedelta(seconds=30)}
    runs = [("c", at(30), at(32)), ("c", at(97), at(99)), ("c", at(150), at(152))]
    out = analyse(runs, {"c": 60.0}, 6.0, at(200), 60.0, phase)
    assert (out["runs"], out["late"], out["missed"], out["overlaps"]) == (3, 1, 0, 0)


def test_schedule_bench_on_three_loopback_sites(cli: Any) -> None:
    res = cli("bench", "daemon", "--sites", "3", "--scheduled-minutes", "6",
              "--seconds-per-minute", "3", "--max-parallel", "2", "--format", "json",
              timeout=240)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"runs", "late", "missed", "overlaps", "rss_start_mb", "rss_end_mb",
            "busiest_minute_runs"} <= set(data)
    assert data["sites"] == 3 and data["runs"] >= 2
    assert data["overlaps"] == 0  # the daemon never runs a site twice at once
    assert 1 <= data["schedule_minutes_min"] <= data["schedule_minutes_max"] <= 10
    assert data["rss_end_mb"] > 10 and data["rss_start_mb"] > 10


@pytest.mark.skipif(not PG_ADMIN_URL.startswith("postgres"),
                    reason="--database is a PostgreSQL server: ARSIP_TEST_DATABASE_URL unset")
def test_schedule_bench_on_postgresql(cli: Any) -> None:
    """The daemon's archive (its runs, its job store) in a temporary database on the server,
    dropped after."""
    import psycopg

    def databases() -> set[str]:
        with psycopg.connect(PG_ADMIN_URL) as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}

    # 24 s of scheduled time (sites every 6 and 9 s): the daemon's start on a new database
    # (migrations, its job store) took half of the 12 s this test gave it once, under CI's
    # load, and only one run fell in the rest
    res = cli("bench", "daemon", "--sites", "2", "--scheduled-minutes", "8",
              "--seconds-per-minute", "3", "--max-parallel", "2", "--database", PG_ADMIN_URL,
              "--format", "json", timeout=240)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["backend"] == "postgresql"
    assert data["runs"] >= 2 and data["overlaps"] == 0
    name = data["database"].rsplit("/", 1)[-1]
    assert name.startswith("arsip_bench_") and name not in databases()  # dropped after


@pytest.mark.skipif(not PG_ADMIN_URL.startswith("postgres"),
                    reason="--database is a PostgreSQL server: ARSIP_TEST_DATABASE_URL unset")
def test_runs_bench_on_postgresql(cli: Any) -> None:
    """The runs bench counts the daemon's runs in its temporary database on the server."""
    res = cli("bench", "daemon", "--runs", "2", "--sites", "1", "--database", PG_ADMIN_URL,
              "--format", "json", timeout=240)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["runs"] >= 2 and data["finished"] >= 1
    assert data["database"].rsplit("/", 1)[-1].startswith("arsip_bench_")


def test_schedule_bench_rejects_bad_arguments(cli: Any) -> None:
    assert cli("bench", "daemon", "--sites", "0").returncode == 2
    assert cli("bench", "daemon", "--max-parallel", "0").returncode == 2
    res = cli("bench", "daemon", "--database", "sqlite:///x.db")
    assert res.returncode == 2 and "PostgreSQL server" in res.stderr
