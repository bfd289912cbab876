"""The spider's hop bookkeeping: how near each page is, and what it cut at a limit.

Listings are followed ``depth`` hops from the start pages, related links ``related_depth``
hops from the articles the listings, sitemaps and feeds give. What a crawl archives must not
depend on the order pages arrive in, so a page met again by a shorter way counts that way:
``HopBook`` keeps the fewest hops (related) and listing hops (depth) each fetch key was
reached by, and what a page had cut at a limit (an article's related links, a listing's
links), followed when a shorter way turns up. ``crawler.spiders.worker.WorkerSpider`` keeps
the same counts fleet-wide (in Redis) by overriding ``_take_cut``, ``_store_cut`` and
``_store_cut_links``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request

from crawler.spiders.fetch_keys import fetch_key

if TYPE_CHECKING:
    from crawler.options import CrawlOptions


class HopBook:
    """A mixin of ``NewsSpider``: the hop and depth counts of the pages it met."""

    options: CrawlOptions
    _hops: dict[str, int]
    _depths: dict[str, int]
    _cut: dict[str, tuple[list[str], int]]
    _cut_links: dict[str, list[str]]
    _unlocked: list[Request]

    if TYPE_CHECKING:  # the spider's, used here
        def _stat(self, key: str, count: int = 1) -> None: ...

        def _follow_all(self, urls: Iterable[str], **kwargs: Any) -> Iterator[Request]: ...

        def _known_nearer(self, key: str, hop: int) -> list[Request]: ...

    def _init_hops(self) -> None:
        self._hops = {}
        self._depths = {}  # reached as a listing or candidate
        self._cut = {}
        self._cut_links = {}
        self._unlocked = []  # requests that a shorter way to a page allowed

    def _shorter_way(self, key: str, hop: int, depth: int | None) -> None:
        """``key`` (seen already) was reached again, ``hop`` related links from a listing
        and, as a listing or candidate, at ``depth``: what it had cut at a limit that
        this shorter way allows is followed now (``_unlocked``, drained by ``_follow_all``)."""
        nearer_hop, nearer_depth = self._lower(key, hop, depth)
        if nearer_hop:
            self._unlocked.extend(self._known_nearer(key, hop))
        if nearer_hop or nearer_depth:
            self._unlocked.extend(self._take_cut(key, hop, depth, nearer_hop, nearer_depth))

    def _lower(self, key: str, hop: int, depth: int | None) -> tuple[bool, bool]:
        """Lower ``key``'s counts to ``hop`` and ``depth`` where they are fewer: which were."""
        best = self._hops.get(key)
        nearer_hop = best is None or hop < best
        if nearer_hop:
            self._hops[key] = hop
        best_depth = self._depths.get(key)
        nearer_depth = depth is not None and (best_depth is None or depth < best_depth)
        if depth is not None and nearer_depth:
            self._depths[key] = depth
        return nearer_hop, nearer_depth

    def _take_cut(self, key: str, hop: int, depth: int | None, nearer_hop: bool,
                  nearer_depth: bool) -> list[Request]:
        """What ``key`` had cut that its nearer counts now allow, as requests."""
        related = links = None
        if nearer_hop and hop < self.options.related_depth:
            related = self._cut.pop(key, None)
        if nearer_depth and depth is not None and depth < self.options.depth:
            links = self._cut_links.pop(key, None)
        return self._release(related, links, hop, depth)

    def _release(self, related: tuple[list[str], int] | None, links: list[str] | None,
                 hop: int, depth: int | None) -> list[Request]:
        """Requests for what a page had cut: its article's related links (with the depth
        they carried), now ``hop`` hops from a listing; its links, now at ``depth``."""
        out: list[Request] = []
        if related is not None and hop < self.options.related_depth:
            self._stat("arsip/related_unlocked")
            out += self._follow_all(related[0], kind="related", depth=related[1], hop=hop + 1)
        if links is not None and depth is not None and depth < self.options.depth:
            self._stat("arsip/links_unlocked")
            out += self._follow_all(links, kind="candidate", depth=depth + 1)
        return out

    def _unsettled(self, links: list[str]) -> list[str]:
        """The links that following them from a page released later could still bring
        nearer: not those already reached from a listing (0 hops) at depth 1 or less (a
        released page's links are at depth 1 or more). Most of a listing's links are, which
        keeps what a crawl holds for its cut listings small."""
        out = []
        for url in links:
            if not url.startswith(("http://", "https://")):
                continue  # never followed (``_follow``)
            key = fetch_key(url)
            if self._hops.get(key) == 0 and self._depths.get(key, 2) <= 1:
                continue
            out.append(url)
        return out

    def _store_cut(self, key: str, urls: list[str], depth: int) -> Iterable[Request]:
        """Keep the related links that ``key``'s article had cut at the limit, for a
        shorter way to it (``_shorter_way``); yields what is to be followed now (none here;
        the fleet's spider may have met a shorter way on another machine)."""
        self._cut[key] = (urls, depth)
        return ()

    def _store_cut_links(self, key: str, links: list[str]) -> Iterable[Request]:
        """The same for a page that is not an article, whose links were not followed (at
        the ``depth`` limit, or reached only as a related link)."""
        self._cut_links[key] = links
        return ()
