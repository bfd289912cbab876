"""Politeness: a minimum interval between requests to one host, from the site's
``download_delay`` and the Crawl-delay of its robots.txt, whichever is larger.

Scrapy's RobotsTxtMiddleware obeys Allow/Disallow but not Crawl-delay; AutoThrottle moves a
download slot's delay between DOWNLOAD_DELAY and its maximum, and the slot's jitter spreads
each wait over ±50 %. This middleware keeps a floor that none of them can break: it raises the
host's download slot delay to the floor (without jitter) on every request and response, and
raises AutoThrottle's minimum once a Crawl-delay is known.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from protego import Protego
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response

logger = logging.getLogger(__name__)

MAX_CRAWL_DELAY = 60.0  # a robots.txt asking for more is capped (and logged)


class PolitenessMiddleware:
    def __init__(self, crawler: Crawler, delay: float, user_agent: str) -> None:
        self.crawler = crawler
        self.delay = max(0.0, delay)
        self.user_agent = user_agent
        self.crawl_delays: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolitenessMiddleware:
        s = crawler.settings
        return cls(crawler, s.getfloat("ARSIP_POLITENESS_DELAY", 0.0), s.get("USER_AGENT", ""))

    def floor(self, request: Request) -> float:
        host = (urlsplit(request.url).hostname or "").lower()
        return max(self.delay, self.crawl_delays.get(host, 0.0))

    def _enforce(self, request: Request) -> None:
        floor = self.floor(request)
        if floor <= 0 or self.crawler.engine is None:
            return
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(downloader.get_slot_key(request))
        if slot is None:
            return
        if slot.delay < floor:
            slot.delay = floor
        if "jitter" in type(slot).__annotations__:
            slot.jitter = 0.0
        else:  # Scrapy < 2.19
            slot.randomize_delay = False

    def process_request(self, request: Request) -> None:
        self._enforce(request)
        return None

    def process_response(self, request: Request, response: Response) -> Response:
        if request.url.endswith("/robots.txt") and response.status == 200:
            self._read_crawl_delay(request, response)
        self._enforce(request)
        return response

    def _read_crawl_delay(self, request: Request, response: Response) -> None:
        try:
            robots = Protego.parse(response.body.decode("utf-8", "replace"))
            delay: Any = robots.crawl_delay(self.user_agent) or robots.crawl_delay("*")
        except Exception:  # noqa: BLE001 - a broken robots.txt gives no Crawl-delay
            return
        if not delay:
            return
        delay = float(delay)
        if delay > MAX_CRAWL_DELAY:
            logger.warning("%s asks for Crawl-delay %s s; using %s s", request.url, delay,
                           MAX_CRAWL_DELAY)
            delay = MAX_CRAWL_DELAY
        host = (urlsplit(request.url).hostname or "").lower()
        self.crawl_delays[host] = delay
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("arsip/crawl_delay", delay)
        # AutoThrottle must not lower a slot below the Crawl-delay between two responses
        for ext in getattr(self.crawler.extensions, "middlewares", ()):
            if hasattr(ext, "mindelay") and ext.mindelay < delay:
                ext.mindelay = delay
