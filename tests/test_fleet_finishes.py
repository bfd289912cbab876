"""A worker fleet on a varied site finishes its run, fetches each URL once, and archives
what one machine archives (``tests/fleet_site.py``: robots.txt with a Disallow, a sitemap,
a 301 to an article also linked directly, 404 and 500 pages, AMP and print copies, a
multi-page article, related links at depth 1 and 2, off-site links and an off-site
redirect, two hosts).

``arsip worker --seed grup --exit-when-idle`` alone, and with two more workers started
before the seed. Each wait is bounded: a run that never ends fails the test instead of
hanging it. Redis: ``ARSIP_TEST_REDIS_URL``, else a private ``redis-server``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from arsip.sample_site.server import SiteServer
from tests.fleet_site import BROKEN, LOOP, MISSING, REDIRECTED, FleetSite
from tests.test_workers import _groups, _runs

WAIT_S = 120  # a run of this site ends in seconds; the reported defect never ended
SITE_DELAY = 0.25  # per response: slow enough that idle workers have work to share


def _config(path: Path, port: int) -> None:
    path.write_text("\n".join([
        "[[sites]]", 'name = "grup"',
        f'start_urls = ["http://127.0.0.1:{port}/", "http://localhost:{port}/"]',
        'allowed_domains = ["127.0.0.1", "localhost"]', "related_depth = 2",
        "concurrency = 2", 'every = "1h"']) + "\n", encoding="utf-8")


def _fetched(server: SiteServer) -> Counter[str]:
    """host + path of each request, robots.txt aside (every worker reads it once)."""
    return Counter(f"{r.host.split(':')[0]}{r.path}" for r in server.requests
                   if r.path != "/robots.txt")


def _worker(name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arsip", "worker", "--workers", "0", "--quiet",
         "--worker-id", name, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _finish(proc: subprocess.Popen[str], what: str, others: list[subprocess.Popen[str]]
            ) -> tuple[int, str]:
    try:
        _, stderr = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        for p in [proc, *others]:
            p.kill()
            p.communicate()
        pytest.fail(f"{what} did not exit within {WAIT_S} s")
    return proc.returncode, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What one machine (``arsip crawl``) fetches and archives from the fleet site."""
    tmp = tmp_path_factory.mktemp("reference")
    db = f"sqlite:///{tmp / 'ref.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSIP_")}
    env.update(ARSIP_DATABASE_URL=db, ARSIP_CONFIG=str(tmp / "arsip.toml"))
    with SiteServer(FleetSite().render) as server:
        _config(tmp / "arsip.toml", server.port)
        proc = subprocess.run([sys.executable, "-m", "arsip", "crawl", "grup", "--workers", "0",
                               "--quiet"], env=env, cwd=tmp, capture_output=True, text=True,
                              timeout=WAIT_S)
        assert proc.returncode == 0, proc.stderr
        fetched = _fetched(server)
    return {"fetched": fetched, "archive": _groups(db),
            "failures": _runs(db)[0][2].get("failures", [])}


def _wait_for_workers(redis_url: str, procs: dict[str, subprocess.Popen[str]]) -> None:
    from crawler.distributed import connect, live_workers

    server = connect(redis_url)
    deadline = time.monotonic() + 60
    while not set(procs) <= set(live_workers(server)):
        ended = {name: p for name, p in procs.items() if p.poll() is not None}
        if ended or time.monotonic() > deadline:
            for p in procs.values():
                p.kill()
            errors = {name: p.communicate()[1][-2000:] for name, p in procs.items()}
            pytest.fail(f"workers {sorted(procs)} never reported in: {errors}")
        time.sleep(0.1)


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("idle", [0, 2], ids=["one-worker", "three-workers"])
def test_fleet_finishes_its_run_and_fetches_each_url_once(
        tmp_path: Path, database_url: str, engine: object, redis_url: str, reference: dict,
        idle: int) -> None:
    # ``engine``: the archive is migrated before the workers start (two workers migrating a
    # fresh PostgreSQL archive at the same moment race, and one exits: not this test's matter)
    from crawler.distributed import RUNS_KEY, RunKeys, connect

    site = FleetSite()
    redirect_target = site.by_id[REDIRECTED].path
    with SiteServer(site.render, delay=SITE_DELAY if idle else 0.0) as server:
        _config(tmp_path / "arsip.toml", server.port)
        waiting = [_worker(f"idle{i}") for i in range(idle)]  # serving no run yet
        if waiting:
            _wait_for_workers(redis_url, {f"idle{i}": p for i, p in enumerate(waiting)})
        seeder = _worker("seeder", "--seed", "grup", "--exit-when-idle")
        code, stderr = _finish(seeder, "arsip worker --seed grup --exit-when-idle", waiting)
        assert code == 0, stderr
        for proc in waiting:  # the run is over: they stop as any worker does
            proc.send_signal(signal.SIGTERM)
        for i, proc in enumerate(waiting):
            code, stderr = _finish(proc, f"worker idle{i} (SIGTERM)", waiting)
            assert code == 0, stderr
        fetched = _fetched(server)

    # the run ended: finished in the archive, nothing left queued or leased in Redis
    runs = _runs(database_url)
    assert [status for _, status, _ in runs] == ["finished"]
    redis = connect(redis_url)
    keys = RunKeys(runs[0][0])
    assert redis.zcard(keys.queue) == 0 and redis.zcard(keys.inflight) == 0
    assert not redis.smembers(RUNS_KEY)

    # each URL fetched once across the fleet: a redirect's target counts with its source
    # (the article /berita/<id> answers 301 to is also linked directly); the 500 page is
    # fetched as often as one machine retries it
    again = {p: n for p, n in fetched.items()
             if n > 1 and not p.endswith(BROKEN) and not p.endswith(LOOP)}
    assert not again, again
    assert fetched[f"127.0.0.1{BROKEN}"] == reference["fetched"][f"127.0.0.1{BROKEN}"] > 1
    # the redirect loop is followed until Scrapy's redirect limit, then recorded as failed
    # (it was dropped silently by the fleet: its pages claimed already)
    for page in LOOP:
        assert fetched[f"127.0.0.1{page}"] == reference["fetched"][f"127.0.0.1{page}"] > 1
    looped = [f for f in runs[0][2].get("failures", []) if "/putar/" in f["url"]]
    assert looped and "redirect" in looped[0]["reason"], runs[0][2].get("failures")
    assert [urlsplit(f["url"]).path for f in reference["failures"] if "/putar/" in f["url"]] \
        == [urlsplit(f["url"]).path for f in looped]
    assert fetched[f"127.0.0.1{redirect_target}"] == 1
    assert fetched[f"127.0.0.1{MISSING}"] == 1  # linked, and the target of a redirect
    # the same pages as one machine (which fetches those two once too). The one
    # timing-dependent difference, either way (as in tests/test_workers.py): an article's
    # plain URL met while its "?page=all" view is in flight is skipped by whoever has
    # archived the view's article by then, and fetched otherwise; the archive is the same
    differ = set(fetched) ^ set(reference["fetched"])
    assert all(f"{p}?page=all" in fetched for p in differ), differ
    assert not any("/private/" in p for p in fetched)
    # the same archive, URL by URL: each article with the same URLs, the same
    # near-duplicates (order-free: which of two copies is stored first, and so which one's
    # URL is canonical, depends on timing on one machine as in a fleet)
    groups, pairs = _groups(database_url)
    ref_groups, ref_pairs = reference["archive"]
    assert len(ref_groups) > 10 and ref_pairs
    assert groups == ref_groups
    assert pairs == ref_pairs
    workers = runs[0][2]["workers"]
    if idle:  # the workers started before the seed took their share of the pages
        assert len([w for w in workers.values() if w["pages"]]) >= 2, workers


def test_a_redirect_claims_its_target_unless_it_is_the_same_page() -> None:
    """A redirect to another page claims that page's key (a link to it is then not fetched
    again); one to the same page by another spelling (https, www, a trailing slash) keeps
    its source's claim, or it would find itself claimed and never be fetched."""
    from scrapy import Request

    from crawler.options import from_url
    from crawler.spiders.news import fetch_key
    from crawler.spiders.worker import WorkerSpider

    spider = WorkerSpider(from_url("http://example.org/"))
    old = "http://example.org/berita/4"

    def redirected(url: str, kind: str = "candidate") -> Request:
        return Request(url, meta={"arsip": {"kind": kind, "depth": 1, "hop": 1,
                                            "key": fetch_key(old)}})

    target = "http://example.org/read/4/candi"
    req = redirected(target)
    assert spider.redirect_claim(req, old) == (fetch_key(target), (1, 1))
    assert req.meta["arsip"]["key"] == fetch_key(target)  # its cut links are the target's
    related = redirected(target, kind="related")
    assert spider.redirect_claim(related, old) == (fetch_key(target), (1, ""))
    for same in ("https://example.org/berita/4", "http://www.example.org/berita/4",
                 "http://example.org/berita/4/"):
        assert spider.redirect_claim(redirected(same), old) == ("", None), same
    assert spider.redirect_claim(redirected("http://example.org/sitemap2.xml", kind="meta"),
                                 "http://example.org/sitemap.xml") == ("", None)


@pytest.mark.redis
def test_a_link_dropped_before_the_queue_releases_the_page_that_found_it(
        redis_url: str) -> None:
    """The offsite filter and the URL policy drop requests in Scrapy's ``request_scheduled``
    signal, before the scheduler sees them: a leased page that yielded such a link was held
    for ever (its run never ended). Now it is acknowledged once the rest is queued."""
    import asyncio

    from scrapy import Request

    from crawler.distributed import RunKeys
    from tests.test_distributed_hops import RUN, SITE, worker

    spider = worker(redis_url)
    sched = spider.leases
    inflight = RunKeys(RUN).inflight
    first = spider._follow(SITE + "/", kind="listing", depth=0, check_known=False)
    assert first is not None and sched.enqueue_request(first)
    page = sched.next_request()  # leased
    assert page is not None and sched.server.zcard(inflight) == 1
    lease = page.meta["arsip_lease"]

    async def parse_and_schedule() -> None:
        offsite = Request("http://elsewhere.example/share")
        onsite = spider._follow(SITE + "/read/1/satu", kind="candidate", depth=1)
        assert onsite is not None
        for child in (offsite, onsite):  # what LeaseMiddleware does with the page's output
            sched.adopt(child, lease)
        # the engine: request_scheduled, then enqueue_request unless a handler dropped it
        sched.request_scheduled(offsite)  # dropped (by the offsite filter, say)
        sched.request_scheduled(onsite)
        assert sched.enqueue_request(onsite)
        sched.release(lease)  # the page's output is all handed over
        assert sched.server.zcard(inflight) == 1  # the dropped link still holds it ...
        await asyncio.sleep(0)
        assert sched.server.zcard(inflight) == 0  # ... until the engine's call returns

    asyncio.run(parse_and_schedule())
    assert sched.acked == 1 and not sched.held
