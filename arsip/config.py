"""Settings: ``arsip.toml`` (path from ``ARSIP_CONFIG``) and ``ARSIP_*`` environment variables.

The file::

    database_url = "sqlite:///arsip.db"      # ARSIP_DATABASE_URL wins
    contact_url = "https://example.org/about-our-archive"
    redis_url = "redis://127.0.0.1:6379/0"   # optional; ARSIP_REDIS_URL wins

    [defaults]                                # any site key, applied to every site
    download_delay = 1.0

    [daemon]
    max_parallel = 2
    grace_seconds = 30
    misfire_grace_seconds = 3600
    log_file = "arsip-daemon.log"

    [[sites]]
    name = "intisari"
    start_urls = ["https://intisari.grid.id/"]
    allowed_domains = ["intisari.grid.id"]
    every = "30m"                             # or cron = "*/30 * * * *" (+ timezone)

Validation collects every problem as ``site 'NAME': key 'KEY': reason`` so that
``arsip sites validate`` and the daemon report them all at once.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def check_http_url(url: Any) -> str | None:
    """A reason why ``url`` is not an absolute http(s) URL, or None."""
    if not isinstance(url, str) or not url.strip():
        return "must be a non-empty string"
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # noqa: F841 - raises on a bad port
    except ValueError as exc:
        return f"bad URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"bad URL {url!r}: only http and https are crawled"
    if not parts.hostname:
        return f"bad URL {url!r}: no host"
    return None


def _site_problems(raw: dict[str, Any], label: str) -> list[str]:
    problems: list[str] = []
    bad_keys: set[str] = set()

    def bad(key: str, why: str) -> None:
        problems.append(f"{label}: key '{key}': {why}")
        bad_keys.add(key)

    for key, value in raw.items():
        if key not in SITE_KEYS:
            bad(key, "unknown key")
            continue
        if key in LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                bad(key, "must be a list of strings")
                continue
            if key in ("start_urls", "sitemap_urls", "feed_urls"):
                for v in value:
                    why = check_http_url(v)
                    if why:
                        bad(key, why)
        elif key in INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int):
                bad(key, f"must be a whole number, not {value!r}")
            elif value < 0:
                bad(key, f"must not be negative ({value})")
        elif key in FLOAT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                bad(key, f"must be a number, not {value!r}")
            elif value < 0:
                bad(key, f"must not be negative ({value})")
            elif key == "near_duplicate_threshold" and not 0 < value <= 1:
                bad(key, f"must be between 0 and 1 ({value})")
        elif key == "enabled":
            if not isinstance(value, bool):
                bad(key, f"must be true or false, not {value!r}")
        elif key in STR_KEYS and not isinstance(value, str):
            bad(key, f"must be a string, not {value!r}")
    # the checks below look at values whose type is right; a key already reported is skipped,
    # the others are still checked so that every problem is reported at once
    given, raw = raw, {k: v for k, v in raw.items() if k not in bad_keys}
    if raw.get("article_url_pattern"):
        try:
            re.compile(raw["article_url_pattern"])
        except re.error as exc:
            bad("article_url_pattern", f"bad regular expression: {exc}")
    if raw.get("cron") and raw.get("every"):
        bad("cron", "give either 'cron' or 'every', not both")
    if raw.get("cron"):
        tz = raw.get("timezone")
        why = cron_problem(raw["cron"], None if tz and timezone_problem(tz) else tz)
        if why:
            bad("cron", why)
    if raw.get("timezone"):
        why = timezone_problem(raw["timezone"])
        if why:
            bad("timezone", why)
    for key in ("every", "timeout"):
        if raw.get(key):
            try:
                parse_duration(raw[key])
            except ValueError as exc:
                bad(key, str(exc))
    if not any(given.get(k) for k in ("start_urls", "sitemap_urls", "feed_urls")):
        bad("start_urls", "a site needs at least one of start_urls, sitemap_urls, feed_urls")
    return problems


def cron_problem(expr: str, timezone: str | None = None) -> str | None:
    from apscheduler.triggers.cron import CronTrigger

    if len(expr.split()) != 5:
        return f"bad cron expression {expr!r}: needs 5 fields (minute hour day month weekday)"
    try:
        CronTrigger.from_crontab(expr, timezone=timezone or "UTC")
    except Exception as exc:  # noqa: BLE001 - APScheduler raises ValueError and others
        return f"bad cron expression {expr!r}: {exc}"
    return None


def timezone_problem(name: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {name!r}"
    return None


def config_path(path: str | None = None) -> Path:
    return Path(path or os.environ.get("ARSIP_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | None = None, *, required: bool = False) -> Config:
    """Read and validate the config file; a missing default file gives an empty config.

    Raises ConfigError listing every problem.
    """
    p = config_path(path)
    explicit = bool(path or os.environ.get("ARSIP_CONFIG"))
    if not p.exists():
        if required or explicit:
            raise ConfigError([f"config file not found: {p}"])
        return apply_env(Config())
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(p)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read: {exc}"], str(p)) from exc
    cfg = parse_config(raw, str(p))
    return apply_env(cfg)


def apply_env(cfg: Config) -> Config:
    if os.environ.get("ARSIP_DATABASE_URL"):
        cfg.database_url = os.environ["ARSIP_DATABASE_URL"]
    if os.environ.get("ARSIP_REDIS_URL"):
        cfg.redis_url = os.environ["ARSIP_REDIS_URL"]
    if os.environ.get("ARSIP_CONTACT_URL"):
        cfg.contact_url = os.environ["ARSIP_CONTACT_URL"]
    return cfg


def parse_config(raw: dict[str, Any], path: str | None = None) -> Config:
    problems: list[str] = []
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(f"key '{key}': unknown key")
    for key in ("database_url", "contact_url", "redis_url"):
        if key in raw and not isinstance(raw[key], str):
            problems.append(f"key '{key}': must be a string")
    if isinstance(raw.get("contact_url"), str):
        why = check_http_url(raw["contact_url"])
        if why:
            problems.append(f"key 'contact_url': {why}")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append("key 'defaults': must be a table")
        defaults = {}
    elif "name" in defaults:
        problems.append("defaults: key 'name': a default name makes no sense")
    else:
        problems += _site_problems(defaults, "defaults") if defaults else []
        problems = [p for p in problems if "a site needs at least one" not in p]
    daemon_raw = raw.get("daemon", {})
    daemon = DaemonConfig()
    if not isinstance(daemon_raw, dict):
        problems.append("key 'daemon': must be a table")
    else:
        for key, value in daemon_raw.items():
            if key not in DAEMON_KEYS:
                problems.append(f"daemon: key '{key}': unknown key")
            elif key == "log_file":
                if not isinstance(value, str):
                    problems.append(f"daemon: key '{key}': must be a string")
                else:
                    daemon.log_file = value
            elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                problems.append(f"daemon: key '{key}': must be a positive number, not {value!r}")
            elif key == "max_parallel":
                if not isinstance(value, int):
                    problems.append(f"daemon: key '{key}': must be a whole number")
                else:
                    daemon.max_parallel = value
            else:
                setattr(daemon, key, float(value))
    sites_raw = raw.get("sites", [])
    sites: list[SiteConfig] = []
    if not isinstance(sites_raw, list):
        problems.append("key 'sites': must be an array of tables ([[sites]])")
        sites_raw = []
    seen: set[str] = set()
    for i, site_raw in enumerate(sites_raw):
        if not isinstance(site_raw, dict):
            problems.append(f"sites[{i}]: must be a table")
            continue
        name = site_raw.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"sites[{i}]: key 'name': every site needs a name")
            label = f"sites[{i}]"
        elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            problems.append(f"site '{name}': key 'name': use letters, digits, '.', '_' and '-'")
            label = f"site '{name}'"
        else:
            label = f"site '{name}'"
            if name in seen:
                problems.append(f"{label}: key 'name': duplicate site name")
            seen.add(name)
        merged = {**defaults, **site_raw}
        site_problems = _site_problems(merged, label)
        problems += site_problems
        if not site_problems and isinstance(name, str):
            sites.append(site_from_dict(merged))
    if problems:
        raise ConfigError(problems, path)
    return Config(
        path=path,
        database_url=raw.get("database_url"),
        contact_url=raw.get("contact_url"),
        redis_url=raw.get("redis_url"),
        defaults=defaults,
        daemon=daemon,
        sites=sites,
    )


def site_from_dict(values: dict[str, Any]) -> SiteConfig:
    kwargs = {k: v for k, v in values.items() if k in SITE_KEYS}
    for key in FLOAT_KEYS:
        if kwargs.get(key) is not None:
            kwargs[key] = float(kwargs[key])
    return SiteConfig(**kwargs)


def schedule_problems(cfg: Config) -> list[str]:
    """Problems that only matter to the daemon: enabled sites without a schedule."""
    return [
        f"site '{s.name}': key 'cron': no schedule (give 'cron' or 'every', or enabled = false)"
        for s in cfg.sites
        if s.enabled and not s.cron and not s.every
    ]
