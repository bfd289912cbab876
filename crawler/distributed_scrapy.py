"""The Scrapy side of a worker: scheduler, lease tracking, shared politeness, pipeline, stats.

- ``DistributedScheduler`` (on scrapy-redis's ``Scheduler``): the run's Redis queue instead
  of a local one. ``enqueue_request`` claims the request's arsip key and pushes it in one
  atomic step; ``next_request`` leases a request. A leased request is held until all it
  produced is durable: the spider middleware ``LeaseMiddleware`` counts the requests and
  articles a response yields (the errbacks of ``WorkerSpider`` do the same for failures);
  the request is acknowledged when its child requests are queued and its articles written
  (``LeasedArchivePipeline``). A retry or redirect takes its parent's place in the queue
  (a redirect claims its target's key, as a link to it would); a request that a
  ``request_scheduled`` handler drops before the queue (off-site, refused) releases what
  it held. A worker leases no more than it downloads at once (its per-site concurrency).
  On close (SIGTERM) every request still held goes back to the queue.
- ``SharedRateLimit``: a downloader middleware reserving each download's slot in a per-host
  Redis key, so that N workers together keep a site's ``download_delay``.
- ``DistributedRunRecorder``: per-worker stats in Redis, the run's totals in its record; the
  run is ended (``finished``) by the first worker that sees its queue drained.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy_redis import picklecompat
from scrapy_redis.queue import Base as RedisQueueBase
from scrapy_redis.scheduler import Scheduler as RedisScheduler

from crawler.distributed import (
    RunKeys,
    Scripts,
    connect,
    end_run,
    make_member,
    member_payload,
    publish_stats,
    rate_wait,
)
from crawler.extensions import RunRecorder
from crawler.pipelines import ArchivePipeline
from crawler.request_codec import PRIVATE_META as PRIVATE_META
from crawler.request_codec import decode_request, encode_request

logger = logging.getLogger(__name__)

MAX_RESERVATIONS = 5  # a request woken too late for its slot takes another, this many times


@dataclass(frozen=True)
class Released:
    """What a page had cut at a limit, released by a shorter way to it (JSON, or None)."""

    related: bytes | None
    links: bytes | None


def _released(out: list[bytes]) -> Released:
    return Released(related=out[0] or None, links=out[1] or None)


class LeasedQueue(RedisQueueBase):
    """A run's request queue with leases (scrapy-redis's queue base: encoding, key)."""

    def __init__(self, server: Any, spider: Any, keys: RunKeys, scripts: Scripts,
                 lease_ms: int) -> None:
        super().__init__(server, spider, keys.queue, serializer=picklecompat)
        self.keys = keys
        self.scripts = scripts
        self.lease_ms = lease_ms

    def __len__(self) -> int:
        return int(self.server.zcard(self.keys.queue))

    def push(self, request: Request, claim: str = "",  # type: ignore[override]
             reach: tuple[int | str, int | str] = ("", "")) -> bool | Released:
        """Queue ``request`` unless ``claim`` is taken: True, False, or (a page claimed
        before, reached now by a shorter way: ``reach`` is its related-link hop and listing
        depth) what that page had cut and may now follow."""
        member = make_member(request.priority, encode_request(request, self.spider))
        out = self.scripts.push(keys=self.keys.claim_keys(),
                                args=[claim, -request.priority, member, *reach,
                                      *self._limits()])
        return _released(out) if isinstance(out, list) else bool(out)

    def shorter_way(self, key: str, hop: int, depth: int | None) -> Released | None:
        """``key`` (claimed) reached again by ``hop`` related links and at listing ``depth``
        (None: as a related link): what it had cut, when that is a shorter way."""
        out = self.scripts.shorter(keys=self.keys.hop_keys(),
                                   args=[key, hop, "" if depth is None else depth,
                                         *self._limits()])
        return _released(out) if isinstance(out, list) else None

    def store_cut(self, key: str, *, related: bool, limit: int, links: bytes) -> int | None:
        """Keep what ``key``'s page cut at ``limit`` (its article's related links, or its
        links); or, when a shorter way to it arrived meanwhile, its count now (hops or
        depth): the caller follows them."""
        keys = ([self.keys.hops, self.keys.cut] if related
                else [self.keys.depths, self.keys.cutlinks])
        best = int(self.scripts.cut(keys=keys, args=[key, limit, links]))
        return None if best < 0 else best

    def _limits(self) -> tuple[int, int]:
        options = self.spider.options
        return options.related_depth, options.depth

    def pop(self, timeout: int = 0) -> tuple[bytes, Request] | None:  # type: ignore[override]
        member = self.scripts.lease(keys=[self.keys.queue, self.keys.inflight],
                                    args=[self.lease_ms])
        if member is None:
            return None
        try:
            return member, decode_request(member_payload(member), self.spider)
        except Exception as exc:  # noqa: BLE001 - a request no worker can read: dropped
            logger.error("dropping an unreadable queued request: %s", exc)
            self.ack(member)
            return self.pop()

    def ack(self, member: bytes) -> None:
        self.server.zrem(self.keys.inflight, member)

    def renew(self, members: list[bytes]) -> int:
        if not members:
            return 0
        return int(self.scripts.renew(keys=[self.keys.inflight], args=[self.lease_ms, *members]))

    def give_back(self, members: list[bytes]) -> int:
        if not members:
            return 0
        return int(self.scripts.give_back(keys=[self.keys.inflight, self.keys.queue],
                                          args=members))

    def reap(self) -> int:
        return int(self.scripts.reap(keys=[self.keys.inflight, self.keys.queue,
                                           self.keys.requeued]))

    def drained(self) -> int:
        return int(self.scripts.drained(keys=[self.keys.queue, self.keys.inflight,
                                              self.keys.finished]))

    def clear(self) -> None:  # never: the queue is shared by every worker
        pass


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


class LeasedArchivePipeline(ArchivePipeline):
    """The archive pipeline; a written article releases the lease of the page it came from."""

    def _batch_done(self, fut: asyncio.Future[Any], batch: list[Any]) -> None:
        super()._batch_done(fut, batch)
        if fut.cancelled() or fut.exception() is not None:
            return  # not written: the leases are returned to the queue when the worker stops
        sched = leases(self.crawler)
        if sched is not None:
            for item in batch:
                sched.release(getattr(item, "_arsip_lease", None))


class DistributedRunRecorder(RunRecorder):
    """Per-worker stats in Redis, run totals in the run record; ends the run once."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        from crawler.distributed import worker_id

        self.worker_id = crawler.settings.get("ARSIP_WORKER_ID") or worker_id()
        self.redis_url = crawler.settings.get("ARSIP_REDIS_URL")
        self.server: Any = None
        self.worker_status = "running"

    def spider_opened(self) -> None:
        self.server = connect(self.redis_url)
        super().spider_opened()

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["worker_status"] = self.worker_status
        out["claimed_elsewhere"] = int(self.crawler.stats.get_value(  # type: ignore[union-attr]
            "arsip/claimed_elsewhere", 0) or 0)
        return out

    def _write(self, stats: dict[str, Any], status: str | None) -> None:
        finished = status == "finished"
        if status:
            stats["worker_status"] = "finished" if finished else self.worker_status
        publish_stats(self.server, self.engine, self.run_id, self.worker_id, stats,
                      finished=finished)
        if finished:
            end_run(self.server, self.run_id)

    async def spider_closed(self, reason: str) -> None:
        sched = leases(self.crawler)
        ended = sched is not None and sched.run_ended
        if reason == "finished" and not ended:
            reason = "stopped"  # closed without the run being drained: not the run's end
        # a worker's own end (SIGTERM, a database error) is not the run's: others go on
        self.final_status = "finished" if ended else None
        if not ended:
            self.worker_status = "interrupted" if reason == "shutdown" else "stopped"
        await super().spider_closed(reason)
