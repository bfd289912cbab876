"""The daemon's check of the config: every problem at once, as ``arsip sites validate`` shows
them, including sites enabled without a schedule."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from config.loading import config_path, load_config
from config.model import Config, ConfigError
from config.validation import schedule_problems


def config_problems(path: str | None = None) -> tuple[Config | None, list[str]]:
    """The config and every problem in it, as ``arsip sites validate`` and the daemon show them.

    Includes :func:`config.validation.schedule_problems` (an enabled site without a schedule),
    also for a file with other problems. Each problem is one line, prefixed by the file.
    """
    p = config_path(path)
    try:
        cfg = load_config(path, required=True)
    except ConfigError as exc:
        prefix = f"{exc.path}: " if exc.path else ""
        lines = [prefix + problem for problem in exc.problems]
        lines += [prefix + problem for problem in _raw_schedule_problems(p)
                  if problem not in exc.problems]
        return None, lines
    prefix = f"{cfg.path}: " if cfg.path else ""
    return cfg, [prefix + problem for problem in schedule_problems(cfg)]


def _raw_schedule_problems(path: Path) -> list[str]:
    """Schedule problems of a file that does not parse as a whole (best effort)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    defaults: dict[str, Any] = raw["defaults"] if isinstance(raw.get("defaults"), dict) else {}
    sites: list[Any] = raw["sites"] if isinstance(raw.get("sites"), list) else []
    out = []
    for site in sites:
        if not isinstance(site, dict) or not isinstance(site.get("name"), str):
            continue
        merged = {**defaults, **site}
        if merged.get("enabled", True) is not False and not merged.get("cron") \
                and not merged.get("every"):
            out.append(f"site '{site['name']}': key 'cron': no schedule "
                       "(give 'cron' or 'every', or enabled = false)")
    return out


def load_checked_config(path: str | None = None) -> Config:
    """The config, or ConfigError with every problem (the daemon's own check)."""
    cfg, problems = config_problems(path)
    if problems or cfg is None:
        raise ConfigError(problems or ["invalid configuration"])
    return cfg
