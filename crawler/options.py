"""Validated crawl options (the spider's arguments), from a configured site or a URL target."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from config.model import SiteConfig
from config.validation import check_http_url


class OptionsError(ValueError):
    """A crawl option is invalid (message names the option)."""


@dataclass(frozen=True)
class CrawlOptions:
    name: str
    start_urls: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    # hosts (host or host:port) explicitly allowed even when private or loopback:
    # a start URL's own host is allowed, which is how tests crawl 127.0.0.1
    allowed_hosts: tuple[str, ...] = ()
    article_url_pattern: str | None = None
    sitemap_urls: tuple[str, ...] = ()
    feed_urls: tuple[str, ...] = ()
    related_depth: int = 2
    depth: int = 2
    max_pages: int = 0
    download_delay: float = 0.0
    download_timeout: float = 30.0
    concurrency: int = 8
    user_agent: str | None = None
    recheck_days: float = 2.0
    recheck_hours: float = 6.0
    near_duplicate_threshold: float | None = None
    discover_sitemaps: bool = True  # also the sitemaps named in robots.txt
    extra: dict[str, str] = field(default_factory=dict)

    def validate(self) -> CrawlOptions:
        for key in ("start_urls", "sitemap_urls", "feed_urls"):
            for url in getattr(self, key):
                why = check_http_url(url)
                if why:
                    raise OptionsError(f"{key}: {why}")
        if not (self.start_urls or self.sitemap_urls or self.feed_urls):
            raise OptionsError("start_urls: nothing to start from")
        for key in ("related_depth", "depth", "max_pages", "concurrency"):
            if getattr(self, key) < 0:
                raise OptionsError(f"{key}: must not be negative")
        if self.download_timeout <= 0:
            raise OptionsError("download_timeout: must be positive")
        if self.concurrency < 1:
            raise OptionsError("concurrency: must be at least 1")
        if self.article_url_pattern:
            try:
                re.compile(self.article_url_pattern)
            except re.error as exc:
                raise OptionsError(f"article_url_pattern: bad regular expression: {exc}") from exc
        return self

    def with_overrides(self, **values: object) -> CrawlOptions:
        values = {k: v for k, v in values.items() if v is not None}
        return replace(self, **values).validate()  # type: ignore[arg-type]


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def from_site(site: SiteConfig) -> CrawlOptions:
    seeds = [*site.start_urls, *site.sitemap_urls, *site.feed_urls]
    domains = tuple(site.allowed_domains) or tuple(dict.fromkeys(_domain(u) for u in seeds))
    return CrawlOptions(
        name=site.name,
        start_urls=tuple(site.start_urls),
        allowed_domains=domains,
        allowed_hosts=tuple(dict.fromkeys(_host_port(u) for u in seeds)),
        article_url_pattern=site.article_url_pattern,
        sitemap_urls=tuple(site.sitemap_urls),
        feed_urls=tuple(site.feed_urls),
        related_depth=site.related_depth,
        depth=site.depth,
        max_pages=site.max_pages,
        download_delay=site.download_delay,
        download_timeout=site.download_timeout,
        concurrency=site.concurrency,
        user_agent=site.user_agent,
        recheck_days=site.recheck_days,
        recheck_hours=site.recheck_hours,
        near_duplicate_threshold=site.near_duplicate_threshold,
    ).validate()


def from_url(url: str) -> CrawlOptions:
    why = check_http_url(url)
    if why:
        raise OptionsError(f"target: {why}")
    host = _host_port(url)
    return CrawlOptions(
        name=host.replace(":", "_"),
        start_urls=(url,),
        allowed_domains=(_domain(url),),
        allowed_hosts=(host,),
    ).validate()
