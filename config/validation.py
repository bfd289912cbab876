"""Validation of settings: every problem as ``site 'NAME': key 'KEY': reason`` so that
``arsip sites validate`` and the daemon report them all at once."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from config.model import (
    FLOAT_KEYS,
    INT_KEYS,
    LIST_KEYS,
    SITE_KEYS,
    STR_KEYS,
    Config,
    parse_duration,
)


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


def site_problems(raw: dict[str, Any], label: str) -> list[str]:
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


def schedule_problems(cfg: Config) -> list[str]:
    """Problems that only matter to the daemon: enabled sites without a schedule."""
    return [
        f"site '{s.name}': key 'cron': no schedule (give 'cron' or 'every', or enabled = false)"
        for s in cfg.sites
        if s.enabled and not s.cron and not s.every
    ]
