"""The settings' shape: ``Config`` (top level), ``SiteConfig`` (one ``[[sites]]`` table),
``DaemonConfig`` (``[daemon]``), the keys each may hold and ``ConfigError``.

Loading and validation live in :mod:`config.loading` and :mod:`config.validation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_CONFIG = "arsip.toml"
EVERY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
EVERY_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str], path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f"{path}: " if path else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{where}{problems[0]}{more}" if problems else f"{where}invalid")


@dataclass
class SiteConfig:
    name: str
    start_urls: list[str] = field(default_factory=list)
    allowed_domains: list[str] = field(default_factory=list)
    article_url_pattern: str | None = None
    sitemap_urls: list[str] = field(default_factory=list)
    feed_urls: list[str] = field(default_factory=list)
    related_depth: int = 2
    depth: int = 2
    max_pages: int = 0  # 0 = no limit
    download_delay: float = 0.0
    download_timeout: float = 30.0  # seconds a page may take to arrive
    concurrency: int = 8
    user_agent: str | None = None
    # re-check policy: articles younger than recheck_days are re-fetched at most every
    # recheck_hours (conditional requests); older ones are never fetched again.
    recheck_days: float = 2.0
    recheck_hours: float = 6.0
    near_duplicate_threshold: float | None = None
    # schedule (daemon)
    cron: str | None = None
    every: str | None = None
    timezone: str | None = None
    enabled: bool = True
    timeout: str | None = None  # "2h", "90m": the longest a run may take
    # test hook: the crawl child exits at once with this status (daemon tests)
    test_exit_code: int | None = None
    # test hook: the crawl child sleeps this long before crawling (daemon tests)
    test_sleep: float | None = None

    def every_seconds(self) -> float | None:
        return parse_duration(self.every) if self.every else None

    def timeout_seconds(self) -> float | None:
        return parse_duration(self.timeout) if self.timeout else None

    def schedule_text(self) -> str:
        if self.cron:
            return f"cron {self.cron}" + (f" ({self.timezone})" if self.timezone else "")
        if self.every:
            return f"every {self.every}"
        return "-"


@dataclass
class DaemonConfig:
    max_parallel: int = 2
    grace_seconds: float = 30.0
    misfire_grace_seconds: float = 3600.0
    log_file: str | None = None
    poll_seconds: float = 1.0


@dataclass
class Config:
    path: str | None = None
    database_url: str | None = None
    contact_url: str | None = None
    redis_url: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    sites: list[SiteConfig] = field(default_factory=list)

    def site(self, name: str) -> SiteConfig | None:
        for site in self.sites:
            if site.name == name:
                return site
        return None


SITE_KEYS = {f.name: f for f in fields(SiteConfig)}
DAEMON_KEYS = {f.name for f in fields(DaemonConfig)}
TOP_KEYS = {"database_url", "contact_url", "redis_url", "defaults", "daemon", "sites"}
LIST_KEYS = {"start_urls", "allowed_domains", "sitemap_urls", "feed_urls"}
INT_KEYS = {"related_depth", "depth", "max_pages", "concurrency", "test_exit_code"}
FLOAT_KEYS = {"download_delay", "download_timeout", "recheck_days", "recheck_hours", "near_duplicate_threshold",
              "test_sleep"}
STR_KEYS = {"name", "article_url_pattern", "user_agent", "cron", "every", "timezone", "timeout"}


def parse_duration(text: str) -> float:
    """``"30m"`` -> 1800.0; units s, m, h, d. Raises ValueError."""
    m = EVERY_RE.match(str(text))
    if not m:
        raise ValueError(f"bad duration {text!r} (use a number and s, m, h or d, e.g. '30m')")
    value = float(m.group(1)) * EVERY_UNITS[m.group(2)]
    if value <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return value
