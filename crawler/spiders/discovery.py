"""Where the spider finds article URLs besides the start pages: sitemaps and feeds.

Sitemaps (also those named in robots.txt; sitemap indexes and news sitemaps, gzipped or
not) and RSS/Atom feeds give candidate URLs at listing depth 1. XML is parsed without
entities, DTDs or network access; a malformed sitemap is recorded as a failure and what can
be recovered from it is still used.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from lxml import etree
from scrapy import Request
from scrapy.http import Response, TextResponse
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

MAX_SITEMAP_BYTES = 50 * 1024 * 1024
MAX_SITEMAP_ENTRIES = 50_000
STRICT_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, recover=False,
                                    huge_tree=False, load_dtd=False)
FEED_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, recover=True,
                              huge_tree=False, load_dtd=False)


class Discovery:
    """A mixin of ``NewsSpider``: the callbacks of robots.txt, sitemaps and feeds."""

    if TYPE_CHECKING:  # the spider's, used here
        def _stat(self, key: str, count: int = 1) -> None: ...

        def _failure(self, url: str, reason: str) -> None: ...

        def _follow_all(self, urls: Iterable[str], **kwargs: Any) -> Iterator[Request]: ...

        def _meta_request(self, url: str, callback: Any) -> Request: ...

    def parse_robots(self, response: Response) -> Iterable[Any]:
        if not isinstance(response, TextResponse):
            return
        for url in sitemap_urls_from_robots(response.body, base_url=response.url):
            yield self._meta_request(url, self.parse_sitemap)

    def parse_sitemap(self, response: Response) -> Iterable[Any]:
        body = _sitemap_body(response)
        if body is None:
            self._stat("arsip/errors")
            self._failure(response.url, "not a sitemap (or too large)")
            return
        try:
            etree.fromstring(body, parser=STRICT_XML_PARSER)
        except etree.XMLSyntaxError as exc:
            # recorded, and what can be recovered from it is still used
            self._stat("arsip/errors")
            self._failure(response.url, f"malformed sitemap: {exc}")
        try:
            sitemap = Sitemap(body)
        except Exception as exc:  # noqa: BLE001 - beyond recovery
            self._failure(response.url, f"unreadable sitemap: {exc}")
            return
        locs = islice((loc for entry in sitemap if (loc := entry.get("loc"))),
                      MAX_SITEMAP_ENTRIES)
        if sitemap.type == "sitemapindex":
            for loc in locs:
                yield self._meta_request(loc, self.parse_sitemap)
        else:
            yield from self._follow_all(locs, kind="candidate", depth=1)

    def parse_feed(self, response: Response) -> Iterable[Any]:
        try:
            root = etree.fromstring(response.body, parser=FEED_PARSER)
        except (etree.XMLSyntaxError, ValueError) as exc:
            root = None
            reason = str(exc)
        else:
            reason = "empty or not XML"
        if root is None:
            self._stat("arsip/errors")
            self._failure(response.url, f"malformed feed: {reason}")
            return
        links = root.xpath("//*[local-name()='item']/*[local-name()='link']/text()")
        links += root.xpath(
            "//*[local-name()='entry']/*[local-name()='link']"
            "[not(@rel) or @rel='alternate']/@href"
        )
        yield from self._follow_all(
            (urljoin(response.url, str(link).strip()) for link in links[:MAX_SITEMAP_ENTRIES]),
            kind="candidate", depth=1)


def _sitemap_body(response: Response) -> bytes | None:
    body = response.body
    if body[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
                body = f.read(MAX_SITEMAP_BYTES + 1)
        except (OSError, EOFError):
            return None
        if len(body) > MAX_SITEMAP_BYTES:
            return None
    if b"<urlset" not in body[:4096] and b"<sitemapindex" not in body[:4096]:
        return None
    return body
