"""One machine fetches every URL once; a redirect's target counts with its source
(``NewsSpider.redirect_scheduled``), as the worker fleet's does (``tests/test_fleet_finishes.py``).

``tests/fleet_site.py``: an old URL answers 301 with an article's address and the article is
also linked directly; a moved page answers 301 to a page that answers 404 and is also linked
directly. Each of those targets is requested once by ``arsip crawl``, whichever way comes
first; a redirect to the same page by another spelling is still followed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.test import get_crawler

from arsip.sample_site.server import SiteServer
from crawler.options import from_url
from crawler.spiders.fetch_keys import fetch_key
from crawler.spiders.news import NewsSpider
from tests.fleet_site import BROKEN, LOOP, MISSING, MOVED_AWAY, REDIRECTED, FleetSite


def _crawl(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    (tmp_path / "arsip.toml").write_text("\n".join([
        "[[sites]]", 'name = "grup"', f'start_urls = ["http://127.0.0.1:{port}/"]',
        'allowed_domains = ["127.0.0.1"]', "related_depth = 2", 'every = "1h"']) + "\n",
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSIP_")}
    env.update(ARSIP_DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}",
               ARSIP_CONFIG=str(tmp_path / "arsip.toml"))
    return subprocess.run([sys.executable, "-m", "arsip", "crawl", "grup", "--workers", "0",
                           "--quiet"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_one_machine_fetches_a_redirect_target_once(tmp_path: Path, delay: float) -> None:
    site = FleetSite()
    story = site.by_id[REDIRECTED]
    with SiteServer(site.render, delay=delay) as server:
        proc = _crawl(tmp_path, server.port)
        assert proc.returncode == 0, proc.stderr
        fetched = Counter(r.path for r in server.requests if r.path != "/robots.txt")
    # both redirects were followed or met their target first: the sources were requested
    assert fetched[f"/berita/{REDIRECTED}"] == 1
    assert fetched[MOVED_AWAY] == 1
    assert fetched[story.path] == 1  # linked directly, and the target of a 301
    assert fetched[MISSING] == 1  # linked directly, and the 404 behind a 301
    # (500: retried; a redirect loop: followed until the redirect limit)
    again = {p: n for p, n in fetched.items() if n > 1 and p != BROKEN and p not in LOOP}
    assert not again, again


def _redirected(url: str, source: str, kind: str = "candidate", hop: int = 1,
                depth: int = 1) -> Request:
    """What Scrapy's RedirectMiddleware makes of a request of ``source`` that ``_follow``
    gave: its meta, with ``redirect_urls``."""
    return Request(url, meta={"arsip": {"kind": kind, "depth": depth, "hop": hop,
                                        "key": fetch_key(source)},
                              "redirect_urls": [source]})


def test_a_redirect_marks_its_target_seen_unless_it_is_the_same_page() -> None:
    options = from_url("http://example.org/").with_overrides(related_depth=2)
    s = NewsSpider.from_crawler(get_crawler(NewsSpider, {}), options=options)
    old, target = "http://example.org/berita/4", "http://example.org/read/4/candi"
    assert s._follow(old, kind="candidate", depth=1) is not None
    req = _redirected(target, old)
    s.redirect_scheduled(req)  # followed: the target is seen now, with its source's counts
    assert fetch_key(target) in s.seen and req.meta["arsip"]["key"] == fetch_key(target)
    assert s._hops[fetch_key(target)] == 1 and s._depths[fetch_key(target)] == 1
    assert s._follow(target, kind="candidate", depth=1) is None  # a direct link: not again
    s.redirect_scheduled(req.copy())  # a retry of the redirected request: still followed
    # the target linked and fetched before: the redirect is not followed
    with pytest.raises(IgnoreRequest):
        s.redirect_scheduled(_redirected(target, "http://example.org/berita/5"))
    # the same page spelled otherwise (https, www, a trailing slash): followed, as the
    # source's own fetch; nothing new is marked seen
    seen = set(s.seen)
    for same in ("https://example.org/berita/4", "http://www.example.org/berita/4",
                 "http://example.org/berita/4/"):
        s.redirect_scheduled(_redirected(same, old))
    # a loop (back to a page of its own chain) is followed, until Scrapy's redirect limit
    # records the page as failed
    loop = _redirected(old, target)
    loop.meta["redirect_urls"] = [old, target]
    s.redirect_scheduled(loop)
    # robots.txt and sitemaps (``meta``) are not counted
    s.redirect_scheduled(_redirected("http://example.org/sitemap2.xml",
                                     "http://example.org/sitemap.xml", kind="meta"))
    assert s.seen == seen


def test_the_fleet_spider_leaves_redirects_to_its_scheduler() -> None:
    from crawler.spiders.worker import WorkerSpider

    worker = WorkerSpider(from_url("http://example.org/"))
    worker.seen.add(fetch_key("http://example.org/read/4/candi"))
    # no local drop, no local claim: the run's shared claim decides (``DistributedScheduler``)
    req = _redirected("http://example.org/read/4/candi", "http://example.org/berita/4")
    worker.redirect_scheduled(req)
    assert req.meta["arsip"]["key"] == fetch_key("http://example.org/berita/4")
