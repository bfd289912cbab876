"""A worker's spider and downloader middlewares: lease counting and shared politeness.

- ``LeaseMiddleware`` (spider middleware, outermost): what a leased response yields is
  counted against its lease (``DistributedScheduler.adopt``), the lease released once the
  response is done with.
- ``SharedRateLimit`` (downloader middleware): each download reserves its host's next slot
  in a per-host Redis key, so that N workers together keep a site's ``download_delay``.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.distributed_redis import connect
from crawler.distributed_scrapy import leases
from crawler.distributed_scripts import Scripts, rate_wait

MAX_RESERVATIONS = 5  # a request woken too late for its slot takes another, this many times


class LeaseMiddleware:
    """Spider middleware: count what a leased response yields (outermost: order 1)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LeaseMiddleware:
        return cls(crawler)

    def process_spider_output(self, response: Any, result: Any) -> Any:
        sched = leases(self.crawler)
        lease = _lease_of(response)
        try:
            for out in result:
                if sched is not None:
                    sched.adopt(out, lease)
                yield out
        finally:
            if sched is not None:
                sched.release(lease)

    async def process_spider_output_async(self, response: Any, result: Any) -> Any:
        sched = leases(self.crawler)
        lease = _lease_of(response)
        try:
            async for out in result:
                if sched is not None:
                    sched.adopt(out, lease)
                yield out
        finally:
            if sched is not None:
                sched.release(lease)


def _lease_of(response: Any) -> bytes | None:
    request = getattr(response, "request", None)
    return request.meta.get("arsip_lease") if request is not None else None


class SharedRateLimit:
    """Downloader middleware: one download slot per delay per host, fleet-wide.

    The delay is the host's politeness floor (``crawler.politeness.PolitenessMiddleware``:
    the site's ``download_delay``, or robots.txt's Crawl-delay when larger), else
    ``ARSIP_SHARED_DELAY``. Each download reserves the host's next slot in Redis (on the Redis
    clock) and waits for it, so N workers together keep the delay a single crawl keeps.
    """

    def __init__(self, crawler: Crawler, server: Any, delay: float) -> None:
        self.crawler = crawler
        self.server = server
        self.scripts = Scripts(server)
        self.delay = delay
        self._politeness: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedRateLimit:
        url = crawler.settings.get("ARSIP_REDIS_URL")
        if not url:
            raise NotConfigured("no Redis URL")
        return cls(crawler, connect(url), crawler.settings.getfloat("ARSIP_SHARED_DELAY", 0.0))

    def floor(self, request: Request) -> float:
        if self._politeness is None:
            self._politeness = _politeness(self.crawler) or False
        if self._politeness:
            return max(self.delay, self._politeness.floor(request))
        return self.delay

    async def process_request(self, request: Request) -> None:
        delay = self.floor(request)
        if delay <= 0:
            return None
        host = (urlsplit(request.url).hostname or "").lower()
        slack = min(0.05, delay / 4)
        for _ in range(MAX_RESERVATIONS):
            wait = await asyncio.to_thread(rate_wait, self.server, self.scripts, host, delay)
            if wait <= 0:
                return None
            loop = asyncio.get_running_loop()
            woke = loop.time()
            await asyncio.sleep(wait)
            # a busy event loop can wake us well after our slot, when the next worker's
            # slot is near: then the slot is lost, and we take the next free one
            if loop.time() - woke - wait <= slack:
                return None
        return None


def _politeness(crawler: Crawler) -> Any:
    try:
        from crawler.politeness import PolitenessMiddleware
    except ImportError:
        return None
    downloader = getattr(crawler.engine, "downloader", None)
    for mw in getattr(getattr(downloader, "middleware", None), "middlewares", ()):
        if isinstance(mw, PolitenessMiddleware):
            return mw
    return None
