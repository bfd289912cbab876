"""What the app's endpoints share: the archive's engines, the API token, the page-token key,
the templates. Made by :func:`web.app.create_app`, kept on ``app.state.arsip``."""

from __future__ import annotations

import logging
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
logger = logging.getLogger(__name__)


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
        """``read(fn)``, computed at most every ``ttl`` seconds. Once stale, the value is
        served as it is while a thread of its own computes it again: no request waits for a
        slow figure (the sites page's take seconds at a million articles) but the very
        first, which the others asking meanwhile wait for. Each key has its own lock: a
        slow value being computed never holds up another; a refresh that fails leaves the
        stale value (logged; tried again by the next request)."""
        now = time.monotonic()
        entry = self._cache.get(key)
        if entry is not None and now - entry[0] < ttl:
            return entry[1]  # type: ignore[no-any-return]
        with self._cache_locks_lock:
            lock = self._cache_locks.setdefault(key, threading.Lock())
        if entry is not None:
            if lock.acquire(blocking=False):  # else a refresh is under way already
                try:
                    threading.Thread(target=self._refresh, args=(key, fn, lock),
                                     daemon=True, name=f"arsip-web-refresh-{key}").start()
                except RuntimeError as exc:  # no thread to be had: the next request tries
                    lock.release()
                    logger.warning("refreshing %s not started: %s", key, exc)
            return entry[1]  # type: ignore[no-any-return]
        with lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = (time.monotonic(), self.read(fn))
                self._cache[key] = entry
            return entry[1]  # type: ignore[no-any-return]

    def _refresh(self, key: str, fn: Callable[[Session], Any], lock: threading.Lock) -> None:
        try:
            self._cache[key] = (time.monotonic(), self.read(fn))
        except Exception as exc:  # noqa: BLE001 - the stale value stays; the next asks again
            logger.warning("refreshing %s failed (the previous value is shown): %s", key, exc)
        finally:
            lock.release()

    def read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in a read-only session (called from a threadpool endpoint).

        Its transaction ends with a COMMIT, not the ROLLBACK of closing the session: on
        PostgreSQL, psycopg forgets every statement it has prepared at a ROLLBACK (the
        server's too: ``DEALLOCATE ALL``), so that each request's statements were parsed
        and planned again, never prepared (the article page: 2.8 ms of PostgreSQL's CPU
        of its 3.9 at a million articles, most of it planning). Read-only, the two end the
        same (and nothing read is expired by it: the result may hold ORM objects)."""
        with Session(self.engine, expire_on_commit=False) as session:
            result = fn(session)
            session.commit()
            return result

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
