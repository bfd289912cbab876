"""Helpers shared by the command modules: settings and the archive's engine."""

from __future__ import annotations

from typing import Any

from config.loading import load_config
from config.model import Config


def settings() -> Config:
    """The configuration (arsip.toml + ARSIP_* environment). Raises ConfigError."""
    return load_config()


def database_url(cfg: Config | None = None) -> str | None:
    cfg = cfg or settings()
    return cfg.database_url


def archive_engine(*, readonly: bool = False, cfg: Config | None = None) -> Any:
    """The archive's engine, migrated to head on first use; ``readonly``: a reader's
    (``storage.engine.open_reader``: never writes, migrates or creates; must exist)."""
    from storage.engine import open_archive, open_reader

    if readonly:
        return open_reader(database_url(cfg))
    return open_archive(database_url(cfg))


def not_yet(name: str) -> Any:
    def run(args: Any) -> int:
        from arsip.errors import CommandError

        raise CommandError(f"`arsip {name}` is not available yet")

    return run
