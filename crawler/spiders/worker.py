"""The spider of ``arsip worker``: NewsSpider's routing, fed by a run's shared Redis queue.

It starts nothing itself (``crawler.distributed.seed_run`` queued the run's start requests);
every request it yields carries its arsip fetch key (``arsip_claim``), which the
distributed scheduler claims in the run's shared ``seen`` set as it queues the request, so
that each URL is fetched once by the whole fleet. Its errbacks tell the scheduler what a
failed request produced, as ``LeaseMiddleware`` does for responses.

Hops are kept fleet-wide (``crawler.distributed``): each request carries its related-link
hop and listing depth (``arsip_reach``), which the claim records; a page reached again by a
shorter way, on any worker, has what it had cut at ``related_depth`` or ``depth`` (its
article's related links, its links) followed then.
"""

from __future__ import annotations

import json
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
            reach = kwargs["depth"] if kwargs["kind"] in ("listing", "candidate") else ""
            req.meta["arsip_reach"] = (kwargs.get("hop", 0), reach)
        return req

    def redirect_claim(self, request: Request, source: str
                       ) -> tuple[str, tuple[int | str, int | str] | None]:
        """The claim (fetch key) and reach (hop, listing depth) of a redirect from ``source``
        to ``request.url``, as ``_follow`` gives them to a link: a redirect's target counts
        with its source, so a direct link to it is fetched once across the fleet, whichever
        comes first. No claim when the target has its source's key (http to https, www, a
        trailing slash: the claim is the source's own); robots.txt, sitemaps and feeds
        (``meta``) are not claimed."""
        meta = request.meta.get("arsip")
        if not isinstance(meta, dict) or meta.get("kind", "meta") == "meta":
            return "", None
        key = fetch_key(request.url)
        if key == fetch_key(source):
            return "", None
        meta["key"] = key  # what the page cuts is kept under the target's key
        if meta.get("is_page_all") or meta.get("merge") is not None:
            return key, None  # a part of an article: claimed, as _request_part claims it
        depth = meta.get("depth", 0) if meta.get("kind") in ("listing", "candidate") else ""
        return key, (meta.get("hop", 0), depth)

    # -- hops across the fleet ---------------------------------------------------------------
    def _take_cut(self, key: str, hop: int, depth: int | None, nearer_hop: bool,
                  nearer_depth: bool) -> list[Request]:
        # nearer than this worker queued the page by: the fleet's counts may be lower still,
        # and what the page cut is in Redis, whichever worker parsed it
        if self.leases is None:
            return super()._take_cut(key, hop, depth, nearer_hop, nearer_depth)
        released = self.leases.shorter_way(key, hop, depth)
        return [] if released is None else self.follow_released(released, hop, depth)

    def _store_cut(self, key: str, urls: list[str], depth: int) -> Iterable[Request]:
        if self.leases is None:
            return super()._store_cut(key, urls, depth)
        links = json.dumps([urls, depth]).encode()
        hop = self.leases.store_cut(key, related=True, limit=self.options.related_depth,
                                    links=links)
        if hop is None:
            return ()
        return self._release((urls, depth), None, hop, None)

    def _store_cut_links(self, key: str, links: list[str]) -> Iterable[Request]:
        if self.leases is None:
            return super()._store_cut_links(key, links)
        depth = self.leases.store_cut(key, related=False, limit=self.options.depth,
                                      links=json.dumps(links).encode())
        if depth is None:
            return ()
        return self._release(None, links, 0, depth)

    def follow_released(self, released: Any, hop: int, depth: int | None) -> list[Request]:
        """Requests for what a shorter way to a page released (``crawler.distributed_scrapy.
        Released``: the JSON of ``_store_cut`` and ``_store_cut_links``)."""
        related = None
        if released.related:
            urls, cut_depth = json.loads(released.related)
            related = (urls, cut_depth)
        links = json.loads(released.links) if released.links else None
        return self._release(related, links, hop, depth)

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
