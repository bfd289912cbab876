"""Archived articles the spider does not fetch again: their stored related links.

An archived article that is not due for a re-check (or that answers a re-check with 304)
is not parsed again; its related links stored at archiving (``article_links``, read through
``crawler.known.KnownUrls``) are followed as its page's would be, continuing the related-hop
count, so that a crawl after an interrupted one, or a scheduled run, reaches every story an
uninterrupted crawl does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from crawler.options import CrawlOptions


class StoredLinks:
    """A mixin of ``NewsSpider``: the archive's known URLs and their stored links."""

    options: CrawlOptions
    crawler: Any
    _known: Any
    # archived articles not fetched again whose stored related links were cut at
    # ``related_depth``: (article id, listing depth), read when a shorter way turns up
    _known_cut: dict[str, tuple[int, int]]

    if TYPE_CHECKING:  # the spider's, used here
        _hops: dict[str, int]

        def _stat(self, key: str, count: int = 1) -> None: ...

        def _database_gone(self, exc: Exception) -> None: ...

        def _follow_all(self, urls: Iterable[str], **kwargs: Any) -> Iterator[Request]: ...

        def _store_cut(self, key: str, urls: list[str], depth: int) -> Iterable[Request]: ...

    def _init_known(self) -> None:
        self._known = None
        self._known_cut = {}

    @property
    def known(self) -> Any:
        """The archive's known URLs (``crawler.known.KnownUrls``), False without a database."""
        if self._known is None:
            from crawler.known import KnownUrls
            from storage.engine import make_engine

            url = self.crawler.settings.get("ARSIP_DATABASE_URL")
            engine = make_engine(url, readonly=True) if url else None
            self._known = KnownUrls(engine, self.options.recheck_days,
                                    self.options.recheck_hours) if engine else False
        return self._known

    def _known_links(self, key: str, article_id: int, hop: int, depth: int) -> list[Request]:
        """An archived article that is not fetched again, ``hop`` related links from a
        listing: its stored related links continue the count as its page's
        would (``_emit``): followed below ``related_depth``, else kept for a shorter way."""
        if hop < self.options.related_depth:
            return self._stored_links(article_id, depth, hop)
        if hop > 0:  # (a page at hop 0 has no shorter way)
            self._known_cut[key] = (article_id, depth)
        return []

    def _known_nearer(self, key: str, hop: int) -> list[Request]:
        """``key`` reached by a shorter way, ``hop`` hops from a listing: the stored links
        of the archived article it is, when they were cut at the limit and are allowed now."""
        if hop < self.options.related_depth and key in self._known_cut:
            article_id, cut_depth = self._known_cut.pop(key)
            return self._stored_links(article_id, cut_depth, hop)
        return []

    def _stored_links(self, article_id: int, depth: int, hop: int) -> list[Request]:
        """Requests for the stored related links of archived article ``article_id``, now
        ``hop`` hops from a listing (those archived too continue the same way)."""
        urls = self._stored_urls(article_id)
        if not urls:
            return []
        self._stat("arsip/related_from_archive")
        return list(self._follow_all(urls, kind="related", depth=depth, hop=hop + 1))

    def _stored_urls(self, article_id: int) -> list[str]:
        try:
            return list(self.known.links([article_id]).get(article_id, []))
        except SQLAlchemyError as exc:
            self._database_gone(exc)
            return []

    def _not_modified_links(self, meta: dict[str, Any]) -> list[Request]:
        """A re-checked article answered 304: its stored related links, as ``_emit`` does
        with a page's (this page was requested, so what it cuts at the limit is kept where
        the fleet's spider keeps a fetched page's: ``_store_cut``)."""
        hop, key, depth = meta.get("hop", 0), meta.get("key"), meta.get("depth", 0)
        if key is not None:  # a shorter way to this page may have turned up meanwhile
            hop = min(hop, self._hops.get(key, hop))
        if hop < self.options.related_depth:
            return self._stored_links(meta["known_id"], depth, hop)
        if key is None or hop == 0:
            return []
        urls = self._stored_urls(meta["known_id"])
        return list(self._store_cut(key, urls, depth)) if urls else []
