"""`arsip bench daemon`: runs the real daemon and reports its own RSS."""

from __future__ import annotations

import json

import pytest

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
