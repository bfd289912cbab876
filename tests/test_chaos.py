"""Faults survived: the crawler against the chaos site (issue: faults, hostile input)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from scrapy.http import TextResponse
from scrapy.utils.sitemap import Sitemap

from arsip.sample_site.server import SiteServer
from tests.chaos_site import BILLION_LAUGHS, GOOD, ChaosSite
from tests.conftest import run_cli


@pytest.fixture
def chaos():
    site = ChaosSite()
    with SiteServer(site.render) as server:
        server.site = site  # type: ignore[attr-defined]
        yield server


def _config(tmp_path: Path, server: SiteServer, **extra: object) -> Path:
    lines = [
        "[[sites]]",
        'name = "chaos"',
        f'start_urls = ["{server.url}/"]',
        f'feed_urls = ["{server.url}/bad-feed", "{server.url}/bomb-feed"]',
        'allowed_domains = ["127.0.0.1"]',
        "download_timeout = 3",
        "depth = 3",
        "related_depth = 1",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    path = tmp_path / "arsip.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_chaos_site_crawl_survives_every_fault(chaos, database_url, tmp_path: Path):
    config = _config(tmp_path, chaos)
    started = time.monotonic()
    res = run_cli("crawl", "chaos", "--quiet", "--workers", "1",
                  env={"ARSIP_CONFIG": str(config)}, timeout=240)
    elapsed = time.monotonic() - started
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert elapsed < 180

    exported = run_cli("export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    articles = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    urls = {a["url"] for a in articles}
    # every good article is archived, once, and nothing else
    for story in GOOD:
        assert any(u.endswith(story.path) for u in urls), f"missing {story.path}"
    assert len(articles) == len(GOOD)
    by_path = {a["url"].split("127.0.0.1")[1].split("/", 1)[1]: a for a in articles}
    cp1252 = next(a for p, a in by_path.items() if "windows-1252" in p)
    assert "Kalimat 3-0" in cp1252["body"]
    latin1 = next(a for p, a in by_path.items() if "disebut-latin-1" in p)
    assert "Kalimat 4-0" in latin1["body"]

    runs = run_cli("runs", "--format", "json")
    assert runs.returncode == 0, runs.stderr
    run = json.loads(runs.stdout)[0]
    assert run["status"] == "finished"
    failures = {f["url"].split("127.0.0.1")[1].split("/", 1)[1]: f["reason"]
                for f in run["stats"]["failures"]}
    for path in ("err500", "reset", "truncated", "hang", "huge", "huge-chunked", "bomb",
                 "bad-sitemap.xml", "bad-feed"):
        assert path in failures, f"/{path} not recorded as a failure: {sorted(failures)}"
        assert failures[path], path
    assert any(p.startswith("loop-") for p in failures), failures
    assert "500" in failures["err500"]
    # the link trap is bounded by the listing depth
    calendar = [p for p in chaos.paths() if p.startswith("/calendar/")]
    assert 0 < len(calendar) <= 8, calendar
    # billion laughs were never expanded into URLs
    assert not any("lollol" in p or len(p) > 1000 for p in chaos.paths())
    # memory stayed bounded although a 50 MB page and a 256 MB gzip bomb were served
    peak = run["stats"].get("peak_rss_mb")
    assert peak is not None and peak < 600, peak


def test_second_chaos_crawl_adds_nothing_and_refetches_no_article(chaos, database_url,
                                                                   tmp_path: Path):
    config = _config(tmp_path, chaos)
    env = {"ARSIP_CONFIG": str(config)}
    assert run_cli("crawl", "chaos", "--quiet", "--workers", "0", env=env,
                   timeout=240).returncode == 0
    before = len(chaos.requests)
    res = run_cli("crawl", "chaos", "--quiet", "--workers", "0", env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    assert "0 new articles" in res.stdout
    again = {r.path for r in chaos.requests[before:]}
    assert not again & {s.path for s in GOOD}


def test_sitemap_entities_are_not_expanded():
    body = (BILLION_LAUGHS + '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<url><loc>http://127.0.0.1/&lol9;</loc></url></urlset>").encode()
    started = time.monotonic()
    locs = [entry.get("loc", "") for entry in Sitemap(body)]
    assert time.monotonic() - started < 2
    assert all(len(loc) < 1000 for loc in locs)


def test_feed_entities_are_not_expanded():
    from crawler.options import from_url
    from crawler.spiders.news import NewsSpider

    spider = NewsSpider(from_url("http://127.0.0.1:9/"))

    class _Stats:
        def __init__(self) -> None:
            self.values: dict = {}

        def inc_value(self, key, count=1):  # noqa: ANN001
            self.values[key] = self.values.get(key, 0) + count

        def get_value(self, key, default=None):  # noqa: ANN001
            return self.values.get(key, default)

        def set_value(self, key, value):  # noqa: ANN001
            self.values[key] = value

    class _Crawler:
        stats = _Stats()
        settings: dict = {}

    spider.crawler = _Crawler()  # type: ignore[assignment]
    spider._known = False
    body = (BILLION_LAUGHS + "<rss><channel><item><link>http://127.0.0.1:9/a/&lol9;</link>"
            "</item></channel></rss>").encode()
    response = TextResponse("http://127.0.0.1:9/feed", body=body, encoding="utf-8")
    requests = list(spider.parse_feed(response))
    assert all(len(r.url) < 1000 for r in requests)
