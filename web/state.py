"""What the app's endpoints share: the archive's engines, the API token, the page-token key,
the templates. Made by :func:`web.app.create_app`, kept on ``app.state.arsip``."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.requests import Request

T = TypeVar("T")


@dataclass
class WebState:
    engine: Engine  # read-only
    database_url: str | None
    token: str | None = None  # write actions exist only when set
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    config_loader: Callable[[], Any] | None = None
    _writer: Engine | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _cache_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _cache_locks_lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, key: str, ttl: float, fn: Callable[[Session], T]) -> T:
        """``read(fn)``, computed at most every ``ttl`` seconds: while one request computes a
        stale value again, the others are served the previous one. Each key has its own
        lock: a slow value being computed never holds up another."""
        now = time.monotonic()
        entry = self._cache.get(key)
        if entry is not None and now - entry[0] < ttl:
            return entry[1]  # type: ignore[no-any-return]
        with self._cache_locks_lock:
            lock = self._cache_locks.setdefault(key, threading.Lock())
        if entry is not None and not lock.acquire(blocking=False):
            return entry[1]  # type: ignore[no-any-return]
        if entry is None:
            lock.acquire()
        try:
            entry = self._cache.get(key)
            if entry is None or time.monotonic() - entry[0] >= ttl:
                entry = (time.monotonic(), self.read(fn))
                self._cache[key] = entry
            return entry[1]  # type: ignore[no-any-return]
        finally:
            lock.release()

    def read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in a read-only session (called from a threadpool endpoint)."""
        with Session(self.engine) as session:
            return fn(session)

    def writer(self) -> Engine:
        """A writing engine, opened on the first write action."""
        with self._lock:
            if self._writer is None:
                from storage.engine import open_archive

                self._writer = open_archive(self.database_url)  # the archive's writer
            return self._writer

    def config(self) -> Any:
        if self.config_loader is not None:
            return self.config_loader()
        from config.loading import load_config

        return load_config()

    def close(self) -> None:
        self.engine.dispose()
        if self._writer is not None:
            self._writer.dispose()


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.arsip
    return state


def token_from(token_file: str | None) -> str | None:
    """The API token: the file's first line, else ``ARSIP_API_TOKEN``; None when neither.

    Raises ValueError for an unreadable or empty file.
    """
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as fh:
                token = fh.readline().strip()
        except OSError as exc:
            raise ValueError(f"cannot read token file {token_file}: {exc.strerror}") from None
        if not token:
            raise ValueError(f"token file {token_file} is empty")
        return token
    return os.environ.get("ARSIP_API_TOKEN") or None
