"""The archive writer: batches of pages into the database, in a process of its own.

``ArchivePipeline`` (``crawler.pipelines``) hands batches of plain, picklable jobs to
``write_batch``, in a single-process pool forked at the crawl's start (or, with
``ARSIP_WRITER_PROCESS = False``, in a thread of the crawl process). The writer process:

- owns its own engine, made in the child (``start_writer``), never a connection inherited
  across the fork, and disposed of by ``stop_writer``;
- writes a batch as one transaction (should an article fail, the batch is rolled back and
  written again with one SAVEPOINT per article, the bad one reported); a database error is
  retried once, then the batch fails with ``WriteFailed`` (one line, password redacted);
- ignores SIGINT (Ctrl-C reaches the whole process group: the crawl closes gracefully and
  flushes through the writer), and dies with the crawl process (``PR_SET_PDEATHSIG`` on
  Linux, else a watchdog thread): a killed crawl leaves no writer behind, and the batch it
  was writing is rolled back, never half-written.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from storage.archive import ArchivedPage, store_page, touch_checked
from storage.checkpoint import BackgroundCheckpoints
from storage.engine import error_line

logger = logging.getLogger("crawler.pipelines")

# one job per item: ("page", url, ArchivedPage) | ("not_modified", url, canonical_url)
# | ("error", url, message) (the item could not even be turned into a page)
Job = tuple[str, str, Any]


@dataclass(frozen=True)
class WriterConfig:
    database_url: str
    site_id: int
    run_id: int | None
    near_threshold: float


@dataclass
class Written:
    """A batch's per-item results (``StoreResult``, ``"not_modified"`` or an error string)
    and the wall seconds the writer spent on it."""

    results: list[Any]
    seconds: float
    # a raw-page dictionary trained after this batch (storage.raw_codec.Dictionary): the
    # extraction workers compress the pages that follow with it
    dictionary: Any = None


class WriteFailed(Exception):
    """A batch not written (the database is unavailable, even after one retry)."""

    def __init__(self, message: str, seconds: float = 0.0) -> None:
        super().__init__(message, seconds)
        self.message = message
        self.seconds = seconds

    def __str__(self) -> str:
        return self.message


class _ArticleFailed(Exception):
    """An article failed in an optimistic batch (written without SAVEPOINTs)."""


class Writer:
    def __init__(self, config: WriterConfig) -> None:
        from storage.engine import make_engine

        self.config = config
        self.engine = make_engine(config.database_url)
        # SQLite: the log's pages copied into the file on a thread, while the next batch is
        # written (started at the first batch: nothing runs before the writer is used)
        self.checkpoints = BackgroundCheckpoints(self.engine)
        self.pages_since_check = 0
        self.has_dictionary: bool | None = None  # not asked yet
        self.train_failed = False  # the site's pages gave zstd nothing to train on

    def write(self, jobs: list[Job]) -> Written:
        started = time.perf_counter()
        self.checkpoints.start()
        try:
            try:
                results = self.write_once(jobs)
            except (OperationalError, DBAPIError) as exc:
                if not (getattr(exc, "connection_invalidated", False)
                        or isinstance(exc, OperationalError)):
                    raise
                logger.warning("archive write failed, retrying once: %s",
                               db_error_message(exc, self.config.database_url))
                time.sleep(1.0)
                results = self.write_once(jobs)
        except Exception as exc:  # noqa: BLE001 - reported to the crawl as one line
            raise WriteFailed(db_error_message(exc, self.config.database_url),
                              time.perf_counter() - started) from None
        self.checkpoints.nudge()
        self.pages_since_check += sum(1 for kind, _, _ in jobs if kind == "page")
        dictionary = self.train_if_due()
        return Written(results, time.perf_counter() - started, dictionary)

    def train_if_due(self) -> Any:
        """A new raw-page dictionary for the site when ``storage.raw_store``'s policy asks
        for one: asked after every batch until the site has one, then every
        ``CHECK_PAGES`` pages (and after a training that failed). The site's pages stored without it are recompressed
        with it when they are few (a first crawl's first pages). Never fails the crawl."""
        from storage import raw_store

        due = self.pages_since_check >= (
            raw_store.CHECK_PAGES if self.has_dictionary or self.train_failed else 1)
        if not due or not self.config.site_id:
            return None
        self.pages_since_check = 0
        try:
            with Session(self.engine) as session, session.begin():
                from storage.archive import lock_for_writing

                lock_for_writing(session)
                if self.has_dictionary is None:
                    self.has_dictionary = raw_store.current_dictionary(
                        session, self.config.site_id) is not None
                if not raw_store.needs_training(session, self.config.site_id).train:
                    return None
                new = raw_store.train_dictionary(session, self.config.site_id)
                self.train_failed = new is None
                if new is not None:
                    self.has_dictionary = True
                    raw_store.recompress_few(session, self.config.site_id, new)
                return new
        except Exception as exc:  # noqa: BLE001 - pages are still stored, without it
            # not the crawl's failure (the next check tries again): not on its stderr
            logger.info("raw page dictionary not trained: %s",
                        db_error_message(exc, self.config.database_url))
            return None

    def write_once(self, jobs: list[Job]) -> list[Any]:
        """One transaction for the batch. Optimistic first: without a SAVEPOINT per article
        (they cost 15 % of the write path); if one article fails, the batch is rolled back
        and written again with each article in its own SAVEPOINT, so that the bad one is
        reported and the others are stored."""
        try:
            return self._write(jobs, isolate=False)
        except _ArticleFailed:
            return self._write(jobs, isolate=True)

    def _write(self, jobs: list[Job], *, isolate: bool) -> list[Any]:
        cfg = self.config
        results: list[Any] = []
        with Session(self.engine) as session, session.begin():
            for kind, _url, payload in jobs:
                if kind == "error":
                    results.append(payload)
                    continue
                try:
                    with session.begin_nested() if isolate else nullcontext():
                        if kind == "not_modified":
                            touch_checked(session, [payload])
                            results.append("not_modified")
                        else:
                            page: ArchivedPage = payload
                            results.append(store_page(
                                session, cfg.site_id, page, run_id=cfg.run_id,
                                near_threshold=cfg.near_threshold,
                            ))
                except OperationalError:
                    raise  # the database itself: the whole batch is retried
                except Exception as exc:  # noqa: BLE001 - one bad article, not the batch
                    if not isolate:
                        raise _ArticleFailed from exc  # the transaction rolls back
                    results.append(error_string(exc))
        return results

    def finish(self) -> None:
        """At the crawl's end: the few pages that the workers compressed before they had
        the site's new dictionary (in flight when it was trained), recompressed with it."""
        if not self.has_dictionary or not self.config.site_id:
            return
        from storage import raw_store
        from storage.archive import lock_for_writing

        try:
            with Session(self.engine) as session, session.begin():
                lock_for_writing(session)
                zdict = raw_store.current_dictionary(session, self.config.site_id)
                if zdict is not None:
                    raw_store.recompress_few(session, self.config.site_id, zdict)
        except Exception as exc:  # noqa: BLE001 - they stay readable as they are
            logger.info("raw pages not recompressed: %s",
                        db_error_message(exc, self.config.database_url))

    def close(self) -> None:
        self.finish()
        self.checkpoints.stop()
        self.engine.dispose()


def error_string(exc: BaseException) -> str:
    """One bad article's error, as the crawl's failures list shows it."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:200]}"


def db_error_message(exc: BaseException, url: str) -> str:
    return error_line(exc, url)


# --- the writer process's side ----------------------------------------------------------

_WRITER: Writer | None = None  # in the writer process: its own writer (and engine)


def start_writer(config: WriterConfig, parent_pid: int) -> None:
    """The pool's initializer, in the (forked) writer process."""
    global _WRITER
    # Ctrl-C reaches the whole process group: the crawl closes gracefully and flushes its
    # last batch through us, so we must not die first
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a SIGTERM meant for us ends us (not the crawl's own handler, inherited by the fork)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:  # the crawl's event loop wakes up on signals through this fd: not on ours
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    die_with_parent(parent_pid)
    _WRITER = Writer(config)


def write_batch(jobs: list[Job], writer: Writer | None = None) -> Written:
    """Write one batch: with ``writer`` (in-thread mode), else the process's own."""
    target = writer or _WRITER
    if target is None:
        raise WriteFailed("the archive writer is not started")
    return target.write(jobs)


def ping() -> int:
    return os.getpid()


def stop_writer() -> None:
    global _WRITER
    if _WRITER is not None:
        _WRITER.close()
        _WRITER = None


def die_with_parent(parent_pid: int) -> None:
    """End this (forked) process when the crawl process that started it dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            if libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # the parent died before prctl
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="arsip-parent-watchdog", daemon=True).start()
