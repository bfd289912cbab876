"""SQLite WAL checkpoints off a batch writer's path, on a thread of the writing process.

By default SQLite checkpoints in the connection whose commit takes the write-ahead log past
1,000 pages (``wal_autocheckpoint``): that writer copies every page the log holds into the
database file, and syncs it, before its commit returns. In a large archive each stored
article dirties some 35 index leaves in random places (32 in the LSH band index alone), so
at a million articles that copy was a quarter of the time to store a batch (``arsip bench
dedup``: 0.7 of 2.9 ms an article; 0.07 ms at a thousand articles).

SQLite's documentation describes the alternative this module implements ("Application-
Initiated Checkpoints", https://www.sqlite.org/wal.html): the application runs checkpoints
itself, here on a thread of its own, while the writer goes on with its next batch. A
``PASSIVE`` checkpoint never waits for readers or for the writer and copies committed pages
only, so a crash at any point loses nothing (the log is replayed by the next opener).

``BackgroundCheckpoints(engine)`` is started by a writer that commits in batches (the
crawl's archive writer, ``arsip reextract``), nudged after each batch (at most one
checkpoint every ``MIN_INTERVAL`` seconds), and stopped at the end (a last checkpoint).
While it runs, the engine's connections checkpoint by themselves only past
``SAFETY_PAGES`` (not never): should the thread fall behind or fail, the log stays bounded.
Other processes keep SQLite's default. On PostgreSQL and in-memory SQLite it does nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

# at most one background checkpoint this often (each one syncs the database file)
MIN_INTERVAL = 0.5
# the writer's own automatic checkpoint while the thread runs: 16,384 pages (64 MiB of log)
SAFETY_PAGES = 16384


# SQLite's own default (pages)
DEFAULT_PAGES = 1000
_INFO_KEY = "arsip_wal_autocheckpoint"
# engine -> how many BackgroundCheckpoints run on it now; an engine is in it once its one
# checkout listener is set (one per engine, however many writers run on it in turn)
_RUNNING: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
_RUNNING_LOCK = threading.Lock()


def _watch(engine: Engine) -> None:
    """The engine's connections, as they are checked out, get the automatic checkpoint of
    the state: ``SAFETY_PAGES`` while a thread runs on the engine, else SQLite's default
    (set when it changes: a PRAGMA per checkout would cost more than it does)."""
    with _RUNNING_LOCK:
        if engine in _RUNNING:
            return
        _RUNNING[engine] = 0
    ref = weakref.ref(engine)  # the listener must not keep the engine alive

    def on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        watched = ref()
        running = watched is not None and _RUNNING.get(watched, 0) > 0
        pages = SAFETY_PAGES if running else DEFAULT_PAGES
        if record.info.get(_INFO_KEY, DEFAULT_PAGES) != pages:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
            record.info[_INFO_KEY] = pages

    event.listen(engine, "checkout", on_checkout)


class BackgroundCheckpoints:
    """Checkpoints of ``engine``'s SQLite file on a thread, after each nudged batch."""

    def __init__(self, engine: Engine, *, min_interval: float = MIN_INTERVAL) -> None:
        self.engine = engine
        self.min_interval = min_interval
        self.enabled = engine.dialect.name == "sqlite" and (
            engine.url.database or "") not in ("", ":memory:")
        self.checkpoints = 0  # completed by the thread (tests, benchmarks)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> BackgroundCheckpoints:
        """Start the thread (once; a no-op where it does nothing). From now on the engine's
        connections, as they are checked out, raise their automatic checkpoint (pooled ones
        keep their page cache: nothing is reconnected)."""
        if not self.enabled or self._thread is not None:
            return self
        _watch(self.engine)
        with _RUNNING_LOCK:
            _RUNNING[self.engine] += 1
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="arsip-wal-checkpoints",
                                        daemon=True)
        self._thread.start()
        return self

    def nudge(self) -> None:
        """A batch was committed: checkpoint it soon."""
        if self._thread is not None:
            self._wake.set()

    def stop(self) -> None:
        """A last checkpoint, then the thread ends; the engine's connections, as they are
        checked out, checkpoint by themselves again at SQLite's default."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join()
        with _RUNNING_LOCK:
            _RUNNING[self.engine] -= 1

    def __enter__(self) -> BackgroundCheckpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            conn = self.engine.raw_connection()
        except Exception as exc:  # noqa: BLE001 - the writer checkpoints by itself then
            logger.info("background checkpoints not started: %s", exc)
            return
        last = 0.0
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping.is_set():
                    break
                # batches closer together than min_interval share one checkpoint
                if self._stopping.wait(max(0.0, last + self.min_interval - time.monotonic())):
                    break
                self._checkpoint(conn)
                last = time.monotonic()
            self._checkpoint(conn)  # the last batches
        except Exception as exc:  # noqa: BLE001 - the writer checkpoints past SAFETY_PAGES
            logger.info("background checkpoint failed: %s", exc)
        finally:
            conn.close()

    def _checkpoint(self, conn: Any) -> None:
        cursor = conn.cursor()
        try:
            # PASSIVE: as many committed pages as it can without waiting for anyone
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            cursor.close()
        self.checkpoints += 1
