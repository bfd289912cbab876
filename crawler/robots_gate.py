"""A guard in front of Scrapy's RobotsTxtMiddleware (see ``RobotsGate``)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured


class RobotsGate:
    """Downloader middleware before RobotsTxtMiddleware: one request per host waits for
    robots.txt, the others wait here until it has been read.

    Scrapy 2.19's RobotsTxtMiddleware lets every request of a host await one Deferred while
    robots.txt downloads; Twisted hands its result to the first awaiter only and ``None`` to
    the others, which the middleware takes as "no robots.txt": they are let through, even
    to disallowed paths. A single crawl rarely meets it (it starts with one request), a
    worker always does (it leases many requests of a host at once).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._robots: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsGate:
        if not crawler.settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured("robots.txt not obeyed")
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if request.meta.get("dont_obey_robotstxt"):
            return None
        if self._robots is None:
            from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

            downloader = getattr(self.crawler.engine, "downloader", None)
            found = [m for m in getattr(getattr(downloader, "middleware", None),
                                        "middlewares", ())
                     if isinstance(m, RobotsTxtMiddleware)]
            self._robots = found[0] if found else False
        parsers = getattr(self._robots, "_parsers", None) if self._robots else None
        if not isinstance(parsers, dict):
            return None
        from twisted.internet.defer import Deferred

        netloc = urlsplit(request.url).netloc
        while isinstance(parsers.get(netloc), Deferred):
            await asyncio.sleep(0.05)
        return None
