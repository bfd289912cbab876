"""Scrapy downloader middleware that enforces :class:`crawler.safety.UrlPolicy`.

Every request the policy refuses is dropped (``IgnoreRequest``), logged, counted in the
crawl's stats (``arsip/refused``) and sampled (``arsip/refused_samples``: at most
``ARSIP_REFUSED_SAMPLES`` ``[url, reason]`` pairs, default 50).

Enable it early in the downloader chain::

    DOWNLOADER_MIDDLEWARES = {"crawler.safety_middleware.SafetyMiddleware": 10}

Priority 10 puts it before every built-in downloader middleware (OffsiteMiddleware is at 50,
RobotsTxtMiddleware at 100), so no robots.txt is fetched from a refused host. Redirects are
covered whatever the priority: RedirectMiddleware (600) and MetaRefreshMiddleware (580) turn a
redirect response into a *new* Request that goes back to the engine, is scheduled again
(``request_scheduled``, checked here too) and passes through every ``process_request`` again,
this one first. Unlike OffsiteMiddleware it ignores ``dont_filter`` and ``allow_offsite``:
a redirect copies ``dont_filter`` from its source request, so honouring it would let a
redirect from a start URL go anywhere.

Settings (read in ``from_crawler``):

- ``ARSIP_ALLOWED_DOMAINS``: domains whose hosts and subdomains may be fetched;
- ``ARSIP_ALLOWED_HOSTS``: exact hosts (``127.0.0.1:8080``, or a start URL);
- the spider's own ``allowed_domains`` and the hosts of its ``start_urls`` are added when the
  spider opens.

With no allowed domain and no allowed host, every request is refused (deny by default).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider, signals
from scrapy.exceptions import IgnoreRequest

from crawler.safety import UrlPolicy

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

PRIORITY = 10
STATS_REFUSED = "arsip/refused"
STATS_SAMPLES = "arsip/refused_samples"
DEFAULT_MAX_SAMPLES = 50
MAX_SAMPLE_URL_LEN = 500


class SafetyMiddleware:
    """Drop every request (redirect targets and robots.txt included) the URL policy refuses."""

    def __init__(self, policy: UrlPolicy, stats: StatsCollector | None = None,
                 max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self.policy = policy
        self.stats = stats
        self.max_samples = max(0, max_samples)
        self.samples: list[list[str]] = []
        self._logged: set[tuple[str, str]] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SafetyMiddleware:
        settings = crawler.settings
        try:
            policy = UrlPolicy(settings.getlist("ARSIP_ALLOWED_DOMAINS"),
                               settings.getlist("ARSIP_ALLOWED_HOSTS"))
        except ValueError as exc:
            raise ValueError(f"ARSIP_ALLOWED_DOMAINS / ARSIP_ALLOWED_HOSTS: {exc}") from exc
        mw = cls(policy, crawler.stats,
                 settings.getint("ARSIP_REFUSED_SAMPLES", DEFAULT_MAX_SAMPLES))
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.request_scheduled, signal=signals.request_scheduled)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        for domain in getattr(spider, "allowed_domains", None) or ():
            try:
                self.policy.allow_domain(domain)
            except ValueError:
                logger.warning("ignoring bad allowed domain %r of spider %s", domain, spider.name)
        for url in getattr(spider, "start_urls", None) or ():
            try:
                self.policy.allow_host(url)
            except ValueError:
                logger.warning("ignoring bad start URL %r of spider %s", url, spider.name)

    def request_scheduled(self, request: Request, spider: Spider | None = None) -> None:
        """Refuse before the scheduler (and its duplicate filter) keeps the request."""
        self._enforce(request)

    def process_request(self, request: Request) -> None:
        self._enforce(request)

    def _enforce(self, request: Request) -> None:
        reason = self.policy.check(request.url)
        if reason is None:
            return
        self._record(request, reason)
        raise IgnoreRequest(f"arsip refused {request.url[:MAX_SAMPLE_URL_LEN]}: {reason}")

    def _record(self, request: Request, reason: str) -> None:
        url = request.url[:MAX_SAMPLE_URL_LEN]
        redirected_from = request.meta.get("redirect_urls") or []
        via = f" (redirected from {redirected_from[-1][:MAX_SAMPLE_URL_LEN]})" \
            if redirected_from else ""
        key = (reason, url.split("/")[2] if url.count("/") >= 2 else url)
        level = logging.WARNING if key not in self._logged else logging.INFO
        if len(self._logged) < 10_000:
            self._logged.add(key)
        logger.log(level, "refused %s%s: %s", url, via, reason)
        sampled = len(self.samples) < self.max_samples
        if sampled:
            self.samples.append([url, reason])
        if self.stats is not None:
            self.stats.inc_value(STATS_REFUSED)
            if sampled:
                self.stats.set_value(STATS_SAMPLES, [list(s) for s in self.samples])

    def stats_snapshot(self) -> dict[str, Any]:
        """The refusal figures (for a crawl summary)."""
        refused = self.stats.get_value(STATS_REFUSED, 0) if self.stats is not None else 0
        return {"refused": refused, "samples": [list(s) for s in self.samples]}
