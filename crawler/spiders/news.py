"""One generic news spider: it only routes requests.

Discovery: start pages (followed to ``depth`` listing hops, pagination included), sitemaps
(also those named in robots.txt; sitemap indexes and news sitemaps), RSS/Atom feeds, and each
article's related links ("Baca Juga" and related blocks) to ``related_depth`` hops.
Extraction happens in ``crawler.extraction`` (in the ExtractionPool's worker processes);
storage in the pipeline. Every URL is canonicalised before it is requested; a URL already
fetched in this run, or archived in an earlier run (and not due for a re-check), is not
requested again; an archived article's stored related links (``article_links``) are then
followed as its page's would be, so that a crawl after an interrupted one, or a scheduled
run, reaches every story an uninterrupted crawl does.

The spider is assembled from mixins, each a module of its own: ``crawler.spiders.hops``
(the pages' hop and depth counts and what they cut at a limit), ``crawler.spiders.
stored_links`` (archived articles and their stored links), ``crawler.spiders.discovery``
(robots.txt, sitemaps, feeds), ``crawler.spiders.redirects`` (a redirect's target counts
with its source); ``crawler.spiders.fetch_keys`` says what a URL is fetched as.
This module routes: requests (``_follow``), pages, multi-page articles, items, errors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from sqlalchemy.exc import SQLAlchemyError
from twisted.python.failure import Failure

from crawler.extraction.article import ExtractedArticle, RelatedLink
from crawler.identity import article_identity
from crawler.items import ArticleItem
from crawler.options import CrawlOptions
from crawler.spiders.discovery import Discovery
from crawler.spiders.fetch_keys import fetch_key, request_url
from crawler.spiders.hops import HopBook
from crawler.spiders.redirects import Redirects
from crawler.spiders.stored_links import StoredLinks
from crawler.urls import canonicalize, identity_key

logger = logging.getLogger(__name__)

MAX_FAILURES = 200
# IgnoreRequest messages of requests dropped on purpose (others, such as "max redirections
# reached" or a decompression bomb, are failures of the page)
IGNORED_ON_PURPOSE = ("Forbidden by robots.txt", "Filtered offsite request", "arsip refused")


@dataclass
class MergeState:
    """A multi-page article being assembled page by page (rel=next / ?page=N)."""

    first: ExtractedArticle
    first_url: str
    status: int
    headers: dict[str, str]
    raw_body: bytes
    bodies: list[str] = field(default_factory=list)
    related: list[RelatedLink] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    parts: list[tuple[str, bytes]] = field(default_factory=list)  # pages after the first


class NewsSpider(HopBook, StoredLinks, Discovery, Redirects, Spider):
    name = "arsip"

    def __init__(self, options: CrawlOptions, **kwargs: Any) -> None:
        super().__init__(name=self.name, **kwargs)
        self.options = options.validate()
        self.allowed_domains = list(options.allowed_domains)
        self.seen: set[str] = set()
        self.archived: set[str] = set()
        self._init_hops()  # the pages' hop and depth counts (``crawler.spiders.hops``)
        self._init_known()  # the archive's known URLs (``crawler.spiders.stored_links``)
        self.scheduled = 0
        self._pool: Any = None
        self._db_gone = False

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NewsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # a redirect's target counts with its source (``crawler.spiders.redirects``)
        crawler.signals.connect(spider.redirect_scheduled, signal=signals.request_scheduled)
        return spider

    # -- components ------------------------------------------------------------------
    @property
    def pool(self) -> Any:
        if self._pool is None:
            from crawler.extensions import ExtractionPool, find_extension

            self._pool = find_extension(self.crawler, ExtractionPool)
        return self._pool

    def closed(self, reason: str) -> None:
        if self._known:
            self._known.engine.dispose()

    def _database_gone(self, exc: Exception) -> None:
        """The archive cannot be read: stop following links and close the crawl (once)."""
        if self._db_gone:
            return
        self._db_gone = True
        from crawler.extensions import close_for_database_error
        from storage.engine import error_line, redact

        url = self.crawler.settings.get("ARSIP_DATABASE_URL") or ""
        message = error_line(exc, url)
        logger.error("archive database unavailable: %s", message)
        self._stat("arsip/errors")
        self._failure(url and redact(url) or "database", f"database: {message}")
        asyncio.ensure_future(close_for_database_error(self.crawler, message))

    def _stat(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key, count)

    def _failure(self, url: str, reason: str) -> None:
        assert self.crawler.stats is not None
        failures = self.crawler.stats.get_value("arsip/failures")
        if failures is None:
            failures = []
            self.crawler.stats.set_value("arsip/failures", failures)
        if len(failures) < MAX_FAILURES:
            failures.append({"url": url, "reason": reason[:300]})
        logger.info("failed: %s: %s", url, reason)

    # -- requests --------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        opts = self.options
        for url in opts.start_urls:
            req = self._follow(url, kind="listing", depth=0, check_known=False)
            if req:
                yield req
        for url in opts.sitemap_urls:
            yield self._meta_request(url, self.parse_sitemap)
        if opts.discover_sitemaps:
            for root in dict.fromkeys(_root(u) for u in opts.start_urls):
                yield self._meta_request(root + "/robots.txt", self.parse_robots)
        for url in opts.feed_urls:
            yield self._meta_request(url, self.parse_feed)

    def _meta_request(self, url: str, callback: Any) -> Request:
        return Request(url, callback=callback, errback=self.on_error, dont_filter=True,
                       meta={"arsip": {"kind": "meta", "depth": 0, "hop": 0}}, priority=10)

    def _budget_left(self) -> bool:
        return not self.options.max_pages or self.scheduled < self.options.max_pages

    def _follow(
        self,
        url: str,
        *,
        kind: str,
        depth: int,
        hop: int = 0,
        check_known: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> Request | None:
        if not url.startswith(("http://", "https://")):
            return None
        if not self._budget_left():
            self._stat("arsip/skipped_budget")
            return None
        key = fetch_key(url)
        reach = depth if kind in ("listing", "candidate") else None
        if key in self.seen or identity_key(url) in self.archived:
            self._shorter_way(key, hop, reach)
            return None
        self.seen.add(key)
        self._hops[key] = hop
        if reach is not None:
            self._depths[key] = reach
        target = request_url(url, kind)
        seen_as = canonicalize(url, article=False)
        if seen_as != target and kind != "listing":  # e.g. the AMP URL of the article
            extra = {**(extra or {}), "aliases": [seen_as]}
        headers: dict[str, str] = {}
        if check_known and self.known:
            try:
                known = self.known.lookup(canonicalize(url))
            except SQLAlchemyError as exc:
                self._database_gone(exc)
                return None
            if known is not None:
                if not known.due:
                    self._stat("arsip/skipped_known")
                    self._unlocked.extend(self._known_links(key, known.article_id, hop, depth))
                    return None
                extra = {**(extra or {}), "known_id": known.article_id}
                if known.etag:
                    headers["If-None-Match"] = known.etag
                if known.last_modified:
                    headers["If-Modified-Since"] = known.last_modified
                self._stat("arsip/rechecks")
        self.scheduled += 1
        meta = {"arsip": {"kind": kind, "depth": depth, "hop": hop, "key": key, **(extra or {})},
                "handle_httpstatus_list": [304]}
        # articles first: they are what we are here for; listings feed the queue
        priority = 5 if kind in ("related", "candidate") else 0
        return Request(target, callback=self.parse_page, errback=self.on_error,
                       headers=headers, meta=meta, dont_filter=True, priority=priority)

    def _follow_all(self, urls: Iterable[str], **kwargs: Any) -> Iterator[Request]:
        """``_follow`` each URL; with the requests that a shorter way to a page unlocked."""
        for url in urls:
            req = self._follow(url, **kwargs)
            if req:
                yield req
            while self._unlocked:
                yield self._unlocked.pop(0)

    # -- callbacks -------------------------------------------------------------------
    async def parse_page(self, response: Response) -> AsyncIterator[Any]:
        meta = response.meta["arsip"]
        self._stat("arsip/pages")
        if response.status == 304:
            canonical = canonicalize(response.url)
            yield ArticleItem(url=response.url, canonical_url=canonical, alias_urls=[],
                              article=ExtractedArticle(url=response.url), related=[],
                              fingerprint=None, status=304, not_modified=True)
            if meta.get("known_id") is not None:  # unchanged: its stored links continue
                for req in self._not_modified_links(meta):
                    yield req
            return
        if not isinstance(response, TextResponse):
            ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
            self._stat("arsip/errors")
            self._failure(response.url, f"not an HTML page ({ctype or 'no content type'})")
            if meta.get("merge"):
                for out in self._finish(meta["merge"], None, None, response, meta):
                    yield out
            return
        try:
            article, fp, raw_gz = await self.pool.process(response.body, response.url,
                                                          response.encoding,
                                                          self.options.article_url_pattern)
        except Exception as exc:  # noqa: BLE001 - one bad page never stops the crawl
            self._stat("arsip/errors")
            self._failure(response.url, f"extraction failed: {type(exc).__name__}: {exc}")
            return
        if article.is_article:
            for out in self._route_article(response, article, fp, meta, raw_gz):
                yield out
            return
        self._stat("arsip/non_articles")
        if meta.get("merge"):  # a "next page" that is not an article: finish with what we have
            for out in self._finish(meta["merge"], None, None, response, meta):
                yield out
            return
        # the fewest listing hops this page was reached by (none: only as a related link)
        key = meta.get("key")
        depth = meta["depth"] if meta["kind"] in ("listing", "candidate") else None
        if key is not None and key in self._depths:  # a shorter way may have turned up
            depth = min(self._depths[key], depth if depth is not None else self._depths[key])
        if depth is not None and depth < self.options.depth:
            for req in self._follow_all(article.links, kind="candidate", depth=depth + 1):
                yield req
        elif key is not None and depth != 0:
            links = self._unsettled(article.links)
            if links:
                for req in self._store_cut_links(key, links):
                    yield req

    def _route_article(self, response: Response, article: ExtractedArticle, fp: Any,
                       meta: dict[str, Any], raw_gz: Any = None) -> Iterable[Any]:
        merge: MergeState | None = meta.get("merge")
        here = response.url
        # a "show all" variant holds the whole article: fetch it instead of the pages
        if (merge is None and article.page_all_url and not meta.get("is_page_all")
                and canonicalize(article.page_all_url, article=False)
                != canonicalize(here, article=False)):
            req = self._request_part(article.page_all_url, meta, here, is_page_all=True)
            if req is not None:
                yield req
            # (None: the show-all page is requested already and will give the article)
            return
        # pages of one article (rel=next / ?page=N): gather them, then one item
        if article.next_page_url and not meta.get("is_page_all"):
            state = merge or MergeState(first=article, first_url=here, status=response.status,
                                        headers=_headers(response), raw_body=response.body)
            if merge is not None:  # stored with the first, for re-extraction
                state.parts.append((here, response.body))
            state.bodies.append(article.body)
            state.related.extend(article.related)
            state.urls.append(here)
            if len(state.urls) < 50:
                req = self._request_part(article.next_page_url, meta, None, merge=state)
                if req is not None:
                    yield req
                    return
            yield from self._finish(state, None, None, response, meta)
            return
        if merge is not None:
            yield from self._finish(merge, article, fp, response, meta)
            return
        yield from self._emit(article, fp, response, meta, aliases=meta.get("aliases", []),
                              raw_gz=raw_gz)

    def _request_part(self, url: str, meta: dict[str, Any], alias: str | None, *,
                      is_page_all: bool = False, merge: MergeState | None = None
                      ) -> Request | None:
        key = "part:" + canonicalize(url, article=False)
        # also the URL's ordinary fetch key: a ?page=all linked directly is fetched once
        if key in self.seen or fetch_key(url) in self.seen:
            return None
        self.seen.update((key, fetch_key(url)))
        new_meta = {**meta, "is_page_all": is_page_all, "merge": merge,
                    "aliases": [*meta.get("aliases", []), *([alias] if alias else [])]}
        return Request(url, callback=self.parse_page, errback=self.on_part_error,
                       meta={"arsip": new_meta, "handle_httpstatus_list": [304]},
                       dont_filter=True, priority=8)

    def _finish(self, state: MergeState, last: ExtractedArticle | None, fp: Any,
                response: Response | None, meta: dict[str, Any]) -> Iterable[Any]:
        from crawler.dedup import fingerprint

        bodies = list(state.bodies)
        related = list(state.related)
        urls = list(state.urls)
        parts = list(state.parts)
        if last is not None:
            assert response is not None  # the last page's response comes with its article
            parts.append((response.url, response.body))
            bodies.append(last.body)
            related.extend(last.related)
            urls.append(response.url)
        merged = replace(state.first)
        merged.body = "\n\n".join(b for b in bodies if b.strip())
        merged.related = related
        self._stat("arsip/multipage_merged")
        # the fingerprint of the whole text (cheap next to extraction; rare)
        yield from self._emit(merged, fingerprint(merged.body), None, meta,
                              aliases=[*meta.get("aliases", []), *urls],
                              raw=(state.first_url, state.status, state.headers,
                                   state.raw_body), raw_parts=parts)

    def _emit(self, article: ExtractedArticle, fp: Any, response: Response | None,
              meta: dict[str, Any], *, aliases: list[str],
              raw: tuple[str, int, dict[str, str], bytes] | None = None,
              raw_gz: Any = None, raw_parts: list[tuple[str, bytes]] | None = None
              ) -> Iterable[Any]:
        if response is not None:
            url, status, headers, body = (response.url, response.status, _headers(response),
                                          response.body)
            redirects = list(response.meta.get("redirect_urls", []))
        else:
            assert raw is not None
            url, status, headers, body = raw
            redirects = []
        canonical, alias_urls = article_identity(article, url, [*aliases, *redirects])
        if identity_key(canonical) in self.archived:
            return
        self.archived.add(identity_key(canonical))
        self.archived.update(identity_key(a) for a in alias_urls)
        related = []
        for link in article.related:
            related.append(RelatedLink(url=canonicalize(link.url), title=link.title,
                                       kind=link.kind))
        yield ArticleItem(
            url=url, canonical_url=canonical, alias_urls=alias_urls, article=article,
            related=related, fingerprint=fp, status=status, headers=headers,
            raw_body=b"" if raw_gz else body, raw_gz=raw_gz, raw_parts=raw_parts or [],
            etag=headers.get("Etag") or headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
        )
        hop = meta.get("hop", 0)
        key = meta.get("key")
        if key is not None:  # a shorter way to this page may have turned up meanwhile
            hop = min(hop, self._hops.get(key, hop))
        urls = [link.url for link in article.related]
        if hop < self.options.related_depth:
            yield from self._follow_all(urls, kind="related", depth=meta.get("depth", 0),
                                        hop=hop + 1)
        elif urls and key is not None and hop > 0:  # (a page at hop 0 has no shorter way)
            yield from self._store_cut(key, urls, meta.get("depth", 0))

    # -- errors ----------------------------------------------------------------------
    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            message = str(failure.value)
            if message.startswith(IGNORED_ON_PURPOSE):
                # robots.txt, the URL policy or the offsite filter: not a failure of the site
                self._stat("arsip/ignored")
                return
        self._stat("arsip/errors")
        self._failure(url, _reason(failure))

    def on_part_error(self, failure: Failure) -> Iterable[Any]:
        """A page of a multi-page article failed: archive what was gathered."""
        self.on_error(failure)
        request = getattr(failure, "request", None)
        meta = request.meta.get("arsip", {}) if request is not None else {}
        state: MergeState | None = meta.get("merge")
        if state is not None and state.bodies:
            response = getattr(failure.value, "response", None)
            yield from self._finish(state, None, None, response, meta)


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _headers(response: Response) -> dict[str, str]:
    out = {}
    for name, values in response.headers.items():
        key = name.decode("latin-1")
        out[key] = b", ".join(values).decode("latin-1")
    return out


def _reason(failure: Failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    exc = failure.value
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip(": ")
