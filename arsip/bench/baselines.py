"""The baselines of ``arsip bench crawl``: a bare Scrapy spider and a naive pipeline.

``BareSpider`` is Scrapy's own ceiling on a site: it discovers pages the way arsip does
(start page, robots.txt, sitemaps) and follows every link of the site's host, extracting
them cheaply (``//a/@href``) and skipping a URL already seen (canonicalised with
``crawler.urls.canonicalize``, pagination kept apart as arsip's spider does) before making a
request; it yields nothing. ``NaiveSpider`` is the same spider doing what most people write:
``trafilatura.extract`` inline in the callback of each article page, and ``NaivePipeline``
inserting each item with its own ORM session and commit into a fresh SQLite file.

Both run with arsip's Scrapy settings (``crawler.settings.crawl_settings`` for the same
options) minus arsip's own components (pipeline, extensions, middlewares).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scrapy import Request, Spider
from scrapy.http import Response, TextResponse
from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crawler.urls import canonicalize

ARTICLE_PATH = re.compile(r"^/read/\d+/")  # the synthetic site's article URLs
PAGINATION = {"page", "halaman"}
COMPONENT_SETTINGS = ("ITEM_PIPELINES", "EXTENSIONS", "DOWNLOADER_MIDDLEWARES",
                      "SPIDER_MIDDLEWARES")


def baseline_settings(options: Any) -> dict[str, Any]:
    """arsip's Scrapy settings for ``options``, without arsip's own components."""
    from crawler.settings import crawl_settings

    settings = crawl_settings(options, database_url="", run_id=0, site_id=0,
                              extract_workers=0)
    for key in COMPONENT_SETTINGS:
        if key in settings:
            settings[key] = {name: order for name, order in settings[key].items()
                             if not (isinstance(name, str) and name.startswith("crawler."))}
    return {k: v for k, v in settings.items() if not k.startswith("ARSIP_")}


def fetch_key(url: str) -> str:
    """A URL's identity for "seen already": canonical, listing pagination kept."""
    try:
        paged = any(k.lower() in PAGINATION for k, _ in parse_qsl(urlsplit(url).query))
    except ValueError:
        return url
    return canonicalize(url, article=not paged)


class BareSpider(Spider):
    name = "bench-bare"

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(start_url)
        self.start_url = start_url
        self.root = f"{parts.scheme}://{parts.netloc}"
        self.netloc = parts.netloc
        self.allowed_domains = [parts.hostname or ""]
        self.seen: set[str] = set()
        self.articles = 0  # article pages fetched

    async def start(self) -> AsyncIterator[Any]:
        req = self.follow(self.start_url)
        if req is not None:
            yield req
        yield Request(self.root + "/robots.txt", callback=self.parse_robots, dont_filter=True,
                      priority=10)

    def follow(self, url: str) -> Request | None:
        if not url.startswith(("http://", "https://")):
            return None
        try:
            if urlsplit(url).netloc != self.netloc:  # this site only, never off the host
                return None
        except ValueError:
            return None
        key = fetch_key(url)
        if key in self.seen:
            return None
        self.seen.add(key)
        return Request(url, callback=self.parse, dont_filter=True)

    def parse_robots(self, response: Response) -> Iterable[Any]:
        from scrapy.utils.sitemap import sitemap_urls_from_robots

        for url in sitemap_urls_from_robots(response.text, base_url=response.url):
            yield Request(url, callback=self.parse_sitemap, dont_filter=True, priority=10)

    def parse_sitemap(self, response: Response) -> Iterable[Any]:
        from scrapy.utils.sitemap import Sitemap

        sitemap = Sitemap(response.body)
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            if sitemap.type == "sitemapindex":
                yield Request(loc, callback=self.parse_sitemap, dont_filter=True, priority=10)
            else:
                req = self.follow(loc)
                if req is not None:
                    yield req

    def is_article(self, response: Response) -> bool:
        return ARTICLE_PATH.match(urlsplit(response.url).path) is not None

    def links(self, response: Response) -> Iterable[Request]:
        if not isinstance(response, TextResponse):
            return
        for href in response.xpath("//a/@href").getall():
            req = self.follow(response.urljoin(href))
            if req is not None:
                yield req

    def parse(self, response: Response) -> Iterable[Any]:
        if self.is_article(response):
            self.articles += 1
        yield from self.links(response)


class NaiveSpider(BareSpider):
    name = "bench-naive"

    def parse(self, response: Response) -> Iterable[Any]:
        if self.is_article(response) and isinstance(response, TextResponse):
            import trafilatura

            self.articles += 1
            text = trafilatura.extract(response.text, url=response.url)
            if text:
                yield {"url": response.url, "title": response.xpath("//title/text()").get(),
                       "body": text, "html": response.text}
        yield from self.links(response)


class NaivePipeline:
    """One ORM session and one commit per item, into a fresh SQLite file."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.engine: Any = None
        self.model: Any = None
        self.stored = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> NaivePipeline:
        return cls(crawler.settings.get("BENCH_NAIVE_DATABASE_URL"))

    def open_spider(self) -> None:
        from sqlalchemy import create_engine

        self.model = naive_model()
        self.engine = create_engine(self.database_url)
        self.model.metadata.create_all(self.engine)

    def process_item(self, item: Any) -> Any:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            session.add(self.model(url=item["url"], title=item["title"], body=item["body"],
                                   html=item["html"]))
            session.commit()
        self.stored += 1
        return item

    def close_spider(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


class _NaiveBase(DeclarativeBase):
    pass


class NaiveArticle(_NaiveBase):
    """What a naive pipeline stores: URL, title, text, page."""

    __tablename__ = "articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)


def naive_model() -> Any:
    return NaiveArticle
