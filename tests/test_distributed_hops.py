"""Hops across the fleet: what a page cut at ``related_depth`` or ``depth`` is followed when
another worker reaches the page by a shorter way, in either order (a real Redis).

Two ``WorkerSpider``s (two workers) share one run's Redis keys through their own
``DistributedScheduler``; the responses are saved ones. One machine keeps the same counts
in memory (``tests/test_spider_hops.py``); without them in Redis, which pages a fleet
archived depended on which worker met which link first.
"""

from __future__ import annotations

from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.distributed import RunKeys, connect, member_payload
from crawler.distributed_scrapy import DistributedScheduler, LeasedQueue
from crawler.extraction.article import ExtractedArticle, RelatedLink
from crawler.options import from_url
from crawler.request_codec import decode_request
from crawler.spiders.worker import WorkerSpider
from tests.spider_helpers import parse as parse_page

pytestmark = pytest.mark.redis

SITE = "http://127.0.0.1:9"
ONE = SITE + "/read/1/satu"  # on a listing, and a related link of another story
EIGHT = SITE + "/read/8/delapan"  # only a related link of ONE
SECTION = SITE + "/section/dunia"
PAGE_TWO = SECTION + "?page=2"
RUN = 7


def worker(redis_url: str) -> WorkerSpider:
    """A worker's spider and scheduler, as ``DistributedScheduler.open`` joins them (without
    its lease-renewal tasks: nothing is leased here)."""
    options = from_url(SITE + "/").with_overrides(related_depth=1, depth=2)
    crawler = get_crawler(WorkerSpider, {"ARSIP_RUN_ID": RUN})
    spider = WorkerSpider.from_crawler(crawler, options=options, run_id=RUN)
    sched = DistributedScheduler(crawler, connect(redis_url))
    sched.spider = spider
    sched.queue = LeasedQueue(sched.server, spider, sched.keys, sched.scripts, sched.lease_ms)
    spider.leases = sched
    spider._pool = object()  # no extraction pool here (``parse`` gives one)
    return spider  # type: ignore[no-any-return]


def queued(spider: WorkerSpider) -> dict[str, dict[str, Any]]:
    """The run's queue: URL -> the request's arsip meta."""
    server = spider.leases.server
    out = {}
    for member in server.zrange(RunKeys(RUN).queue, 0, -1):
        req = decode_request(member_payload(member), spider)
        out[req.url] = req.meta["arsip"]
    return out


def follow(spider: WorkerSpider, url: str, **kwargs: Any) -> bool:
    """``url`` found by ``spider`` and handed to its scheduler: True when it queued it."""
    reqs = list(spider._follow_all([url], **kwargs))
    return any(spider.leases.enqueue_request(r) for r in reqs)


def story_one(req: Request) -> tuple[ExtractedArticle, HtmlResponse]:
    article = ExtractedArticle(url=ONE, is_article=True, title="Satu", body="Isi. " * 80,
                               related=[RelatedLink(url=EIGHT, title="Delapan", kind="block")])
    return article, HtmlResponse(ONE, body=b"<html></html>", request=req)


def parse(spider: WorkerSpider, req: Request, article: ExtractedArticle) -> list[Request]:
    return [o for o in parse_page(spider, req, article) if isinstance(o, Request)]


def first_request(spider: WorkerSpider, url: str, **kwargs: Any) -> Request:
    req = spider._follow(url, **kwargs)
    assert req is not None
    saved = Request(req.url, meta=dict(req.meta))  # what the scheduler pops (same meta)
    assert spider.leases.enqueue_request(req)
    return saved


def test_related_links_cut_on_one_worker_are_queued_when_another_meets_the_page_nearer(
        redis_url: str) -> None:
    a, b = worker(redis_url), worker(redis_url)
    req = first_request(a, ONE, kind="related", depth=1, hop=1)  # a: as a related link
    article, _ = story_one(req)
    assert parse(a, req, article) == []  # 1 hop: its related links are cut (kept in Redis)
    assert EIGHT not in queued(a)
    assert not follow(b, ONE, kind="candidate", depth=1)  # b: on a listing, claimed before
    assert queued(b)[EIGHT]["hop"] == 1  # ... and its cut related links are queued
    assert not follow(b, ONE, kind="candidate", depth=1)  # once
    assert not follow(a, ONE, kind="related", depth=1, hop=1)
    assert list(queued(a)).count(EIGHT) == 1


def test_a_nearer_way_met_while_the_page_is_in_flight_makes_its_parser_follow(
        redis_url: str) -> None:
    a, b = worker(redis_url), worker(redis_url)
    req = first_request(a, ONE, kind="related", depth=1, hop=1)
    assert not follow(b, ONE, kind="candidate", depth=1)  # nothing cut yet: nothing queued
    assert EIGHT not in queued(a)
    article, _ = story_one(req)
    out = parse(a, req, article)  # a's parser learns the page's hop from Redis
    assert [r.url for r in out] == [EIGHT]
    assert out[0].meta["arsip"]["hop"] == 1


def test_a_farther_way_changes_nothing(redis_url: str) -> None:
    a, b = worker(redis_url), worker(redis_url)
    req = first_request(a, ONE, kind="candidate", depth=1)
    assert not follow(b, ONE, kind="related", depth=1, hop=1)
    article, _ = story_one(req)
    assert [r.url for r in parse(a, req, article)] == [EIGHT]
    assert RunKeys(RUN).cut.encode() not in a.leases.server.keys()


def test_a_listings_links_cut_at_the_depth_limit_are_queued_when_another_meets_it_nearer(
        redis_url: str) -> None:
    a, b = worker(redis_url), worker(redis_url)
    req = first_request(a, SECTION, kind="candidate", depth=2)
    section = ExtractedArticle(url=SECTION, is_article=False, links=[PAGE_TWO])
    assert parse(a, req, section) == []  # depth 2: the limit
    assert PAGE_TWO not in queued(a)
    assert not follow(b, SECTION, kind="candidate", depth=1)
    assert queued(b)[PAGE_TWO]["depth"] == 2


def test_a_listing_met_nearer_while_in_flight_makes_its_parser_follow(redis_url: str) -> None:
    a, b = worker(redis_url), worker(redis_url)
    req = first_request(a, SECTION, kind="related", depth=1, hop=1)  # as a related link
    assert not follow(b, SECTION, kind="listing", depth=0)
    section = ExtractedArticle(url=SECTION, is_article=False, links=[PAGE_TWO])
    out = parse(a, req, section)
    assert [r.url for r in out] == [PAGE_TWO]
    assert out[0].meta["arsip"]["depth"] == 1
