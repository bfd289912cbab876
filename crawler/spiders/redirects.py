"""A redirect's target counts with its source: every URL is fetched once.

A request that answers with a redirect is followed by Scrapy's ``RedirectMiddleware`` as a
new request for the target (same ``meta``, with ``redirect_urls``). Its target is another
page than the one the link named, so it is claimed as a link to it would be: with the
source's related-link hop and listing depth. An article that an old URL redirects to and
that is also linked directly (or a 404 behind a redirect) is then fetched once, whichever
way comes first: a direct link met later is not followed, and a redirect to a page fetched
already is dropped (that page reached by a shorter way releases what it had cut, as a link
would). A redirect to the same page spelled otherwise (http to https, www, a trailing slash:
the same fetch key) keeps its source's claim and is followed, and so is a redirect loop
(back to a page of its own chain), until Scrapy's redirect limit records it as a failure.

On one machine ``NewsSpider.redirect_scheduled`` (a ``request_scheduled`` handler) marks the
target seen in the spider's own seen-set; the worker fleet claims it in the run's shared set
(``crawler.distributed_scrapy.DistributedScheduler``, with ``redirect_claim``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from crawler.spiders.fetch_keys import fetch_key
from crawler.urls import identity_key


class Redirects:
    """A mixin of ``NewsSpider``: the claim of a redirect's target."""

    crawler: Any
    seen: set[str]
    archived: set[str]

    if TYPE_CHECKING:  # the spider's, used here
        _hops: dict[str, int]
        _depths: dict[str, int]
        _unlocked: list[Request]

        def _stat(self, key: str, count: int = 1) -> None: ...

        def _shorter_way(self, key: str, hop: int, depth: int | None) -> None: ...

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

    def redirect_scheduled(self, request: Request, spider: Any = None) -> None:
        """``request_scheduled``: a redirect's target is marked seen with its source's hop
        and depth, or, seen already, the redirect is dropped (``IgnoreRequest``)."""
        redirects = request.meta.get("redirect_urls")
        meta = request.meta.get("arsip")
        if not redirects or not isinstance(meta, dict):
            return
        if meta.get("key") == fetch_key(request.url):
            return  # claimed already (a retry of the redirected request), or its own page
        claim, reach = self.redirect_claim(request, redirects[-1])
        if not claim or claim in {fetch_key(url) for url in redirects}:
            return  # (a loop: followed, until Scrapy's redirect limit fails the page)
        part = reach is None  # a page of a multi-page article
        hop = int(reach[0]) if reach is not None else 0
        depth = None if reach is None or reach[1] == "" else int(reach[1])
        if claim in self.seen or identity_key(request.url) in self.archived:
            if part:
                return  # dropping it would lose the article's pages gathered so far
            self._stat("arsip/redirects_seen")
            self._shorter_way(claim, hop, depth)
            self._crawl_unlocked()
            raise IgnoreRequest(f"redirect to a page fetched already: {request.url[:300]}")
        self.seen.add(claim)
        if not part:
            self._hops[claim] = hop
            if depth is not None:
                self._depths[claim] = depth

    def _crawl_unlocked(self) -> None:
        """The requests that a shorter way to a page allowed, outside a callback."""
        while self._unlocked:
            self.crawler.engine.crawl(self._unlocked.pop(0))
