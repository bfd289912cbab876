"""Loading settings: ``arsip.toml`` (path from ``ARSIP_CONFIG``) and ``ARSIP_*`` environment variables.

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
from pathlib import Path
from typing import Any

from config.model import (
    DAEMON_KEYS,
    DEFAULT_CONFIG,
    FLOAT_KEYS,
    SITE_KEYS,
    TOP_KEYS,
    Config,
    ConfigError,
    DaemonConfig,
    SiteConfig,
)
from config.validation import check_http_url, site_problems


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
        problems += site_problems(defaults, "defaults") if defaults else []
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
        this_site = site_problems(merged, label)
        problems += this_site
        if not this_site and isinstance(name, str):
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
