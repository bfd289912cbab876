"""`arsip bench crawl`: the synthetic site, the baselines and the report's shape.

The figures themselves are benchmark output, never asserted here (no timed tests): only that
every figure is there and measured (positive), that the three crawls did crawl the site, and
that the site is what the benchmark says it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN_KEYS = ("pages_per_s", "articles_per_s", "cpu_s_per_page", "peak_rss_mb")
BREAKDOWN_KEYS = ("fetch_ms_per_page", "extraction_ms_per_page", "dedup_ms_per_page",
                  "storage_ms_per_page", "total_ms_per_page")


@pytest.fixture(scope="module")
def report() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ARSIP_DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "arsip", "bench", "crawl", "--pages", "50", "--format", "json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_every_figure_is_present_and_positive(report: dict) -> None:
    for run in ("bare", "naive", "arsip"):
        for key in RUN_KEYS:
            value = report[run][key]
            assert isinstance(value, int | float) and value > 0, (run, key, value)
    for key in ("ratio_arsip_bare", "ratio_arsip_naive", "server_pages_per_s"):
        assert isinstance(report[key], int | float) and report[key] > 0, key
    assert report["pages"] == 50
    for key in BREAKDOWN_KEYS:
        assert isinstance(report["breakdown"][key], int | float), key
    assert report["breakdown"]["total_ms_per_page"] > 0
    assert report["breakdown"]["extraction_ms_per_page"] > 0  # the probe saw the workers


def test_each_crawl_covered_the_site(report: dict) -> None:
    # every article page is reachable (sitemap); each crawl fetched them all
    assert report["site"]["articles"] == 50
    for run in ("bare", "naive", "arsip"):
        assert report[run]["pages"] > 50, run
    assert report["bare"]["articles"] == 50
    assert report["naive"]["articles"] == 50
    outcomes = report["arsip"]["outcomes"]
    assert report["arsip"]["status"] == "finished"
    # the syndicated copy (every 33rd article) is one of the 50 articles arsip archived
    assert outcomes["articles_new"] + outcomes["near_duplicates"] + outcomes["aliases"] == 50
    assert outcomes["errors"] == 0


def test_synthetic_site_shape() -> None:
    from arsip.bench.synthetic_site import SyntheticSite

    site = SyntheticSite(240, seed=3)
    pages = site.render("http://127.0.0.1:9")
    again = SyntheticSite(240, seed=3).render("http://127.0.0.1:9")
    assert pages == again  # deterministic
    articles = {p: body for p, (_, body) in pages.items() if p.startswith("/read/")}
    assert len(articles) == 240
    sizes = [len(b) for b in articles.values()]
    assert 45_000 < sum(sizes) / len(sizes) < 80_000
    page = next(iter(articles.values())).decode()
    assert 70 <= page.count("<a ") <= 120
    assert "Baca Juga" in page and "Artikel Terkait" in page and "utm_source=" in page
    assert any(b'application/ld+json' in b for b in articles.values())
    assert any(b'application/ld+json' not in b for b in articles.values())
    assert "Sitemap: http://127.0.0.1:9/sitemap.xml" in pages["/robots.txt"][1].decode()
    assert "/section/nasional?page=2" in pages
    syndicated = [s for s in site.stories if s.syndicated_of]
    assert syndicated and all(s.paragraphs == site.stories[s.syndicated_of - 1].paragraphs
                              for s in syndicated)


def test_bare_spider_skips_seen_urls_and_other_hosts() -> None:
    from arsip.bench.baselines import BareSpider

    spider = BareSpider("http://127.0.0.1:9/")
    assert spider.follow("http://127.0.0.1:9/read/1/a") is not None
    assert spider.follow("http://127.0.0.1:9/read/1/a?utm_source=x") is None  # tracking
    assert spider.follow("http://127.0.0.1:9/section/a?page=2") is not None
    assert spider.follow("http://127.0.0.1:9/section/a?page=3") is not None  # kept apart
    assert spider.follow("https://www.facebook.com/x") is None


def test_baseline_settings_drop_arsip_components() -> None:
    from arsip.bench.baselines import baseline_settings
    from crawler.options import from_url
    from crawler.settings import crawl_settings

    opts = from_url("http://127.0.0.1:9/").with_overrides(concurrency=16)
    ours = crawl_settings(opts, database_url="", run_id=0, site_id=0)
    theirs = baseline_settings(opts)
    assert not any(str(k).startswith("ARSIP_") for k in theirs)
    assert not any(str(n).startswith("crawler.") for n in theirs["EXTENSIONS"])
    assert not any(str(n).startswith("crawler.") for n in theirs.get("ITEM_PIPELINES", {}))
    for key in ("CONCURRENT_REQUESTS", "CONCURRENT_ITEMS", "AUTOTHROTTLE_ENABLED",
                "ROBOTSTXT_OBEY", "USER_AGENT"):
        assert theirs[key] == ours[key], key


def test_bad_options_are_usage_errors() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "arsip", "bench", "crawl", "--pages", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("arsip: error:") and "Traceback" not in proc.stderr
