"""The Scrapy side of a worker: its scheduler, on the run's shared Redis queue.

- ``DistributedScheduler`` (on scrapy-redis's ``Scheduler``): the run's Redis queue instead
  of a local one (``crawler.distributed_queue.LeasedQueue``). ``enqueue_request`` claims
  the request's arsip key and pushes it in one atomic step; ``next_request`` leases a
  request. A leased request is held until all it produced is durable: the spider middleware
  ``LeaseMiddleware`` (``crawler.distributed_middlewares``) counts the requests and articles
  a response yields (the errbacks of ``WorkerSpider`` do the same for failures); the request
  is acknowledged when its child requests are queued and its articles written
  (``crawler.distributed_archive.LeasedArchivePipeline``). A retry or redirect takes its
  parent's place in the queue (a redirect claims its target's key, as a link to it would); a
  request that a ``request_scheduled`` handler drops before the queue (off-site, refused)
  releases what it held. A worker leases no more than it downloads at once (its per-site
  concurrency). On close (SIGTERM) every request still held goes back to the queue.
- Shared politeness (``SharedRateLimit``) is in ``crawler.distributed_middlewares``; the
  run's stats and end (``DistributedRunRecorder``) in ``crawler.distributed_archive``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy_redis import picklecompat
from scrapy_redis.scheduler import Scheduler as RedisScheduler

from crawler.distributed_keys import RunKeys
from crawler.distributed_queue import LeasedQueue, Released
from crawler.distributed_redis import connect
from crawler.distributed_scripts import Scripts, member_payload
from crawler.spiders.fetch_keys import fetch_key

logger = logging.getLogger(__name__)


class DistributedScheduler(RedisScheduler):
    def __init__(self, crawler: Crawler, server: Any) -> None:
        s = crawler.settings
        self.run_id = s.getint("ARSIP_RUN_ID")
        self.keys = RunKeys(self.run_id)
        super().__init__(server, persist=True, queue_key=self.keys.queue,
                         dupefilter_key=self.keys.seen, idle_before_close=0)
        self.crawler = crawler
        self.stats = crawler.stats
        self.scripts = Scripts(server)
        self.lease_ms = int(s.getfloat("ARSIP_LEASE_SECONDS", 30.0) * 1000)
        self.poll = s.getfloat("ARSIP_POLL_SECONDS", 0.25)
        self.held: Counter[bytes] = Counter()
        # a worker leases no more requests than it downloads at once (its concurrency for
        # a site): the rest of the run's queue stays shared, for any idle worker to take
        self.in_hand = max(1, s.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
                           or s.getint("CONCURRENT_REQUESTS") or 1)
        self.acked = 0
        self.run_ended = False
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DistributedScheduler:
        url = crawler.settings.get("ARSIP_REDIS_URL")
        if not url or not crawler.settings.getint("ARSIP_RUN_ID"):
            raise NotConfigured("no Redis URL or run id")
        sched = cls(crawler, connect(url))
        crawler.signals.connect(sched.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(sched.request_scheduled, signal=signals.request_scheduled)
        return sched

    # -- Scrapy's scheduler interface ---------------------------------------------------
    def open(self, spider: Any) -> None:
        self.spider = spider
        self.queue = LeasedQueue(self.server, spider, self.keys, self.scripts, self.lease_ms)
        spider.leases = self
        loop = asyncio.get_event_loop()
        self._tasks = [loop.create_task(self._renew_loop()), loop.create_task(self._poll_loop())]

    def close(self, reason: str) -> None:
        for task in self._tasks:
            task.cancel()
        held = list(self.held)
        if held:
            back = self.queue.give_back(held)
            logger.info("returned %d in-flight requests to the queue", back)
            self._inc("arsip/returned", back)
        self.held.clear()

    def has_pending_requests(self) -> bool:
        return len(self.queue) > 0

    def enqueue_request(self, request: Request) -> bool:
        meta = request.meta
        parent = meta.pop("arsip_parent", None)
        replaced = meta.pop("arsip_lease", None)  # a retry or redirect of a leased request
        claim = meta.pop("arsip_claim", "")
        reach = meta.pop("arsip_reach", None)
        if replaced is not None and not claim:
            source = _url_of(replaced)
            if source is not None and source != request.url:
                # a redirect: its target is claimed too, so that a direct link to the
                # target (found before or after) is not fetched again, nor this one if it was
                claim, reach = self.spider.redirect_claim(request, source)
                if claim in {fetch_key(url) for url in meta.get("redirect_urls") or ()}:
                    # a loop (back to a page of its own chain): followed, as on one machine,
                    # until Scrapy's redirect limit records the page as failed
                    claim, reach = "", None
        out = self.queue.push(request, claim, reach or ("", ""))
        pushed = out is True
        self._inc("scheduler/enqueued/redis" if pushed else "arsip/claimed_elsewhere")
        if isinstance(out, Released) and reach is not None:
            # a page claimed before, reached now by a shorter way: what it had cut is
            # followed (queued before the lease of what found the way is released)
            hop, depth = reach
            for req in self.spider.follow_released(out, hop, None if depth == "" else depth):
                self.enqueue_request(req)
        # only now, with the request safely queued, may what produced it be acknowledged
        if replaced is not None:
            self.release(replaced)
        if parent is not None:
            self.release(parent)
        return pushed

    def request_scheduled(self, request: Request, spider: Any = None) -> None:
        """A request on its way to ``enqueue_request``. A handler of this signal (the
        offsite filter, ``SafetyMiddleware``) may drop it first, silently: the lease it
        carries (a redirect or retry of a leased request, ``arsip_lease``) or holds (a
        request a leased response yielded, ``arsip_parent``) would then be held for ever
        and the run would never end. ``engine.crawl`` is synchronous, so once the current
        call returns the request was queued (``enqueue_request`` took both out) or dropped."""
        meta = request.meta
        if "arsip_parent" in meta or "arsip_lease" in meta:
            asyncio.get_event_loop().call_soon(self._unless_queued, request)

    def _unless_queued(self, request: Request) -> None:
        meta = request.meta
        parent = meta.pop("arsip_parent", None)
        replaced = meta.pop("arsip_lease", None)
        if parent is not None or replaced is not None:
            self._inc("arsip/dropped_before_queue")
            self.release(replaced)
            self.release(parent)

    def next_request(self) -> Request | None:
        if self._downloading() >= self.in_hand:
            return None  # enough in hand: what is left is for other workers, or later
        popped = self.queue.pop()
        if popped is None:
            return None
        member, request = popped
        request.meta["arsip_lease"] = member
        self.held[member] += 1
        self._inc("scheduler/dequeued/redis")
        return request

    def _downloading(self) -> int:
        """Requests in this worker's downloader (waiting for robots.txt, a rate slot or a
        connection, or downloading)."""
        try:
            return len(self.crawler.engine.downloader.active)  # type: ignore[union-attr]
        except (AttributeError, RuntimeError):  # no engine (yet)
            return 0

    # -- hops across the fleet (``crawler.spiders.worker.WorkerSpider``) -------------------
    def shorter_way(self, key: str, hop: int, depth: int | None) -> Released | None:
        return self.queue.shorter_way(key, hop, depth)

    def store_cut(self, key: str, *, related: bool, limit: int, links: bytes) -> int | None:
        return self.queue.store_cut(key, related=related, limit=limit, links=links)

    # -- leases ---------------------------------------------------------------------------
    def adopt(self, output: Any, lease: bytes | None) -> None:
        """Something ``lease``'s response produced: the lease is held until it is durable."""
        if lease is None or lease not in self.held:
            return
        if isinstance(output, Request):
            output.meta["arsip_parent"] = lease
        else:
            try:
                output._arsip_lease = lease
            except AttributeError:
                return
        self.held[lease] += 1

    def hold(self, lease: bytes | None) -> None:
        if lease is not None and lease in self.held:
            self.held[lease] += 1

    def release(self, lease: bytes | None) -> None:
        if lease is None or lease not in self.held:
            return
        self.held[lease] -= 1
        if self.held[lease] <= 0:
            del self.held[lease]
            self.queue.ack(lease)
            self.acked += 1

    # -- idleness: the run's end ------------------------------------------------------------
    def spider_idle(self) -> None:
        engine = self.crawler.engine
        if engine is None or not engine.running:
            return
        self.queue.reap()
        state = self.queue.drained()
        if state == -1:
            raise DontCloseSpider
        self.run_ended = True  # the run is over: close with reason "finished"

    async def _renew_loop(self) -> None:
        interval = max(self.lease_ms / 3000.0, 0.2)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.queue.renew, list(self.held))
            except Exception as exc:  # noqa: BLE001 - Redis hiccup: next round
                logger.warning("cannot renew leases: %s", exc)

    async def _poll_loop(self) -> None:
        # Scrapy looks at an idle scheduler every 5 s; other workers fill the shared queue at
        # any time, so wake the engine more often (it then leases or checks for the end)
        while True:
            await asyncio.sleep(self.poll)
            slot = getattr(self.crawler.engine, "_slot", None)
            nextcall = getattr(slot, "nextcall", None)
            if nextcall is not None and getattr(slot, "closing", None) is None:
                nextcall.schedule()

    def _inc(self, key: str, count: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(key, count)


def _url_of(member: bytes) -> str | None:
    """The URL of a leased request (a retry keeps it, a redirect does not)."""
    try:
        url = picklecompat.loads(member_payload(member)).get("url")
    except Exception:  # noqa: BLE001 - unreadable: no claim, as before
        return None
    return url if isinstance(url, str) else None


def leases(crawler: Crawler) -> DistributedScheduler | None:
    return getattr(crawler.spider, "leases", None)
