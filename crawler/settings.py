"""Scrapy settings of an arsip crawl: Scrapy's own plus ours (``ARSIP_*``)."""

from __future__ import annotations

import os
from typing import Any

from config import __version__
from crawler.options import CrawlOptions

DEFAULT_CONTACT = "https://github.com/arsip-project/arsip"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # a news page is < 1 MB; 16 MB is generous
WARN_RESPONSE_BYTES = 4 * 1024 * 1024

# niceness added to the extraction workers' (crawler.extensions.ExtractionPool)
EXTRACT_NICE = 10


def user_agent(contact_url: str | None) -> str:
    return f"arsip/{__version__} (+{contact_url or DEFAULT_CONTACT}; news archiver)"


def crawl_settings(
    opts: CrawlOptions,
    *,
    database_url: str,
    run_id: int,
    site_id: int,
    contact_url: str | None = None,
    extract_workers: int | None = None,
) -> dict[str, Any]:
    workers = extract_workers if extract_workers is not None else (os.cpu_count() or 1)
    return {
        "BOT_NAME": "arsip",
        "USER_AGENT": opts.user_agent or user_agent(contact_url),
        "ROBOTSTXT_OBEY": True,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "CONCURRENT_REQUESTS": max(opts.concurrency, 1) * 2,
        "CONCURRENT_REQUESTS_PER_DOMAIN": opts.concurrency,
        # Scrapy 2.13+ starts this many tasks per response; items are few per page
        "CONCURRENT_ITEMS": 4,
        # the per-site delay, and robots.txt Crawl-delay when larger, are a floor kept by
        # PolitenessMiddleware (without the slot's random jitter)
        "DOWNLOAD_DELAY": opts.download_delay,
        "ARSIP_POLITENESS_DELAY": opts.download_delay,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": 0.1,
        "AUTOTHROTTLE_MAX_DELAY": 30.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": max(1.0, opts.concurrency / 2),
        "DOWNLOAD_TIMEOUT": opts.download_timeout,
        "DOWNLOAD_MAXSIZE": MAX_RESPONSE_BYTES,
        "DOWNLOAD_WARNSIZE": WARN_RESPONSE_BYTES,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 2,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "REDIRECT_MAX_TIMES": 5,
        "METAREFRESH_ENABLED": False,
        "COOKIES_ENABLED": False,
        "DNS_TIMEOUT": 20,
        "DEPTH_LIMIT": 0,  # the spider counts listing depth and related hops itself
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",  # the spider dedups URLs
        "HTTPCACHE_ENABLED": False,
        "ITEM_PIPELINES": {"crawler.pipelines.ArchivePipeline": 300},
        "DOWNLOADER_MIDDLEWARES": {
            # first: no request (robots.txt and redirect targets included) to a refused host
            "crawler.safety_middleware.SafetyMiddleware": 10,
            # requests of a host wait for its robots.txt (RobotsTxtMiddleware, 100, lets all
            # but the first through unchecked while robots.txt downloads)
            "crawler.robots_gate.RobotsGate": 95,
            # after RobotsTxtMiddleware (100): Crawl-delay is known once robots.txt is read
            "crawler.politeness.PolitenessMiddleware": 150,
        },
        "EXTENSIONS": {
            "scrapy.extensions.telnet.TelnetConsole": None,
            "scrapy.extensions.logstats.LogStats": None,
            "crawler.extensions.ExtractionPool": 100,
            "crawler.extensions.RunRecorder": 200,
        },
        "ARSIP_DATABASE_URL": database_url,
        "ARSIP_RUN_ID": run_id,
        "ARSIP_SITE_ID": site_id,
        "ARSIP_SITE_NAME": opts.name,
        "ARSIP_EXTRACT_WORKERS": workers,
        "ARSIP_EXTRACT_NICE": EXTRACT_NICE,
        # articles per write transaction: on SQLite each transaction adds a segment to the
        # search index that later merges rewrite; 100 took 0.35 ms of CPU per page less
        # than 25 (arsip bench crawl), and a batch waits at most ARSIP_WRITE_INTERVAL
        "ARSIP_WRITE_BATCH": 100,
        "ARSIP_WRITE_INTERVAL": 2.0,
        "ARSIP_NEAR_DUPLICATE_THRESHOLD": opts.near_duplicate_threshold,
        "ARSIP_ALLOWED_DOMAINS": list(opts.allowed_domains),
        "ARSIP_ALLOWED_HOSTS": list(opts.allowed_hosts),
        "ARSIP_PROGRESS_INTERVAL": 10.0,
        "ARSIP_STATS_INTERVAL": 5.0,
    }
