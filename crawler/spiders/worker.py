"""The spider of ``arsip worker``: NewsSpider's routing, fed by a run's shared Redis queue.

It starts nothing itself (``crawler.distributed.seed_run`` queued the run's start requests);
every request it yields carries its arsip fetch key (``arsip_claim``), which the
distributed scheduler claims in the run's shared ``seen`` set as it queues the request, so
that each URL is fetched once by the whole fleet. Its errbacks tell the scheduler what a
failed request produced, as ``LeaseMiddleware`` does for responses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from scrapy import Request
from twisted.python.failure import Failure

from crawler.options import CrawlOptions
from crawler.spiders.news import NewsSpider, fetch_key


class WorkerSpider(NewsSpider):
    name = "arsip-worker"

    def __init__(self, options: CrawlOptions, run_id: int = 0, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.run_id = run_id
        self.leases: Any = None  # the DistributedScheduler, set when it opens

    async def start(self) -> AsyncIterator[Any]:
        return
        yield  # an async generator that yields nothing: the queue is the start

    def _follow(self, url: str, **kwargs: Any) -> Request | None:
        req = super()._follow(url, **kwargs)
        if req is not None:
            req.meta["arsip_claim"] = fetch_key(url)
        return req

    def _request_part(self, url: str, meta: dict[str, Any], alias: str | None,
                      **kwargs: Any) -> Request | None:
        req = super()._request_part(url, meta, alias, **kwargs)
        if req is not None:
            # the page's ordinary fetch key: a ?page=all also linked directly is claimed
            # (and fetched) once across all workers, as in a one-machine crawl
            req.meta["arsip_claim"] = fetch_key(url)
        return req

    def on_error(self, failure: Failure) -> None:
        try:
            super().on_error(failure)
        finally:
            if self.leases is not None:
                self.leases.release(_lease(failure))

    def on_part_error(self, failure: Failure) -> Iterable[Any]:
        lease = _lease(failure)
        if self.leases is None:
            return list(super().on_part_error(failure))
        self.leases.hold(lease)  # on_error (called inside) releases once
        try:
            out = list(super().on_part_error(failure))
            for item in out:
                self.leases.adopt(item, lease)
            return out
        finally:
            self.leases.release(lease)


def _lease(failure: Failure) -> bytes | None:
    request = getattr(failure, "request", None)
    return request.meta.get("arsip_lease") if request is not None else None
