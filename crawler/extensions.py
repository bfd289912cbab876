"""Scrapy extensions of an arsip crawl.

- ``ExtractionPool``: the worker processes that extract pages, so that the CPU-heavy parsing
  never blocks the reactor (``ARSIP_EXTRACT_WORKERS``; 0 = in the reactor thread), fed from
  the event loop (:mod:`crawler.worker_pool`). A worker that dies fails the pages it held;
  when none is left, the crawl ends ``failed`` (``extraction_failed``). They run
  at a lower priority (``ARSIP_EXTRACT_NICE``): the reactor and the archive writer are the
  crawl's one-at-a-time stages, and pages waited for the writer when the workers took the
  CPU it needed (``arsip bench crawl``: 176 -> 191 pages/s on 2 cores at niceness 10).
- ``RunRecorder``: keeps the crawl-run record up to date (stats while running, final status
  at the end) and prints progress lines (``ARSIP_PROGRESS_INTERVAL``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
import threading
import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler import processing
from crawler.processing import warm_up
from crawler.worker_pool import WorkerDied, WorkerPool
from storage.engine import error_line

logger = logging.getLogger(__name__)

MAX_FAILURES_KEPT = 200
STAT_KEYS = {
    "pages": "arsip/pages",
    "articles_new": "arsip/articles_new",
    "aliases": "arsip/aliases",
    "near_duplicates": "arsip/near_duplicates",
    "versions": "arsip/versions",
    "unchanged": "arsip/unchanged",
    "not_modified": "arsip/not_modified",
    "skipped_known": "arsip/skipped_known",
    "non_articles": "arsip/non_articles",
    "errors": "arsip/errors",
    "refused": "arsip/refused",
    "write_errors": "arsip/write_errors",
}


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the parent shuts the crawl down gracefully and
    # then the pool; workers must not die first in the middle of a page.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_worker(niceness: int, dictionary: Any = None) -> None:
    _ignore_interrupts()
    processing.set_dictionary(dictionary)
    if niceness > 0:
        try:
            os.nice(niceness)
        except OSError:  # not allowed here: the workers run at the crawl's priority
            pass


class ExtractionPool:
    def __init__(self, workers: int, learn_scopes: bool = True, niceness: int = 0,
                 crawler: Crawler | None = None) -> None:
        self.workers = workers
        self.learn_scopes = learn_scopes
        self.niceness = niceness
        self.crawler = crawler
        self.pool: WorkerPool | None = None
        self._closing = False
        # the site's raw-page dictionary the workers compress with (storage.raw_store)
        self.dictionary: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractionPool:
        ext = cls(crawler.settings.getint("ARSIP_EXTRACT_WORKERS", 0),
                  crawler.settings.getbool("ARSIP_LEARN_BODY_SCOPE", True),
                  crawler.settings.getint("ARSIP_EXTRACT_NICE", 0), crawler)
        ext.dictionary = site_dictionary(crawler.settings.get("ARSIP_DATABASE_URL"),
                                         crawler.settings.getint("ARSIP_SITE_ID"))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        if ext.workers > 0:
            # load the extraction stack here, once, before the workers are forked from this
            # process: they inherit it loaded (and share its memory pages) instead of each
            # importing it on its first page (0.12 s of CPU per worker)
            warm_up()
        return ext

    def spider_opened(self) -> None:
        if self.workers > 0:
            self.pool = WorkerPool(self.workers, initializer=_start_worker,
                                   initargs=(self.niceness, self.dictionary))
            self.pool.start()
        else:
            processing.set_dictionary(self.dictionary)
            warm_up()

    async def set_dictionary(self, dictionary: Any) -> None:
        """The site's dictionary was (re)trained: the pages that follow use it. Sent to each
        worker once (a worker runs its calls in order: those sent after it use it)."""
        self.dictionary = dictionary
        if self.pool is None:
            processing.set_dictionary(dictionary)
            return
        await self.pool.broadcast(processing.set_dictionary, dictionary)

    async def process(self, body: bytes, url: str, encoding: str | None,
                      pattern: str | None) -> Any:
        # looked up at each call: a benchmark probe may wrap it
        job = processing.process_page
        if self.pool is None:
            return job(body, url, encoding, pattern, learn_scopes=self.learn_scopes,
                       for_crawl=True)
        try:
            return await self.pool.run(job, body, url, encoding, pattern,
                                       learn_scopes=self.learn_scopes, for_crawl=True)
        except WorkerDied as exc:
            # the page fails (the caller records it); with no worker left, so would every
            # page after it: the crawl ends, failed, and says why
            if not self.pool.alive and not self._closing and self.crawler is not None:
                self._closing = True
                logger.error("extraction stopped: %s", exc)
                asyncio.ensure_future(close_failed(
                    self.crawler, "extraction_failed",
                    f"the crawl's extraction worker processes ended ({self.pool.last_death})"))
            raise

    def spider_closed(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def site_dictionary(database_url: str | None, site_id: int) -> Any:
    """The site's current raw-page dictionary (None: none yet, or no archive to ask)."""
    if not database_url or not site_id:
        return None
    from storage.engine import is_in_memory

    if is_in_memory(database_url):  # (a test's archive: another engine would see none)
        return None
    from sqlalchemy.orm import Session

    from storage.engine import make_engine
    from storage.raw_store import current_dictionary

    try:
        engine = make_engine(database_url, readonly=True)
        try:
            with Session(engine) as session:
                return current_dictionary(session, site_id)
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - pages are then stored without one
        logger.warning("cannot read the site's raw page dictionary: %s", error_line(exc))
        return None


def find_extension(crawler: Crawler, cls: type) -> Any:
    assert crawler.extensions is not None
    for ext in crawler.extensions.middlewares:
        if isinstance(ext, cls):
            return ext
    raise NotConfigured(f"{cls.__name__} is not enabled")


def run_stats(stats: dict[str, Any], started: float) -> dict[str, Any]:
    out: dict[str, Any] = {name: int(stats.get(key, 0) or 0) for name, key in STAT_KEYS.items()}
    out["failures"] = list(stats.get("arsip/failures", []))[:MAX_FAILURES_KEPT]
    out["refused_samples"] = list(stats.get("arsip/refused_samples", []))[:50]
    out["duration_s"] = round(time.monotonic() - started, 2)
    out["requests"] = int(stats.get("downloader/request_count", 0) or 0)
    out["bytes"] = int(stats.get("downloader/response_bytes", 0) or 0)
    # the crawl process's own peak (extraction workers are separate processes)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


class RunRecorder:
    def __init__(self, crawler: Crawler) -> None:
        s = crawler.settings
        self.crawler = crawler
        self.run_id = s.getint("ARSIP_RUN_ID")
        self.database_url = s.get("ARSIP_DATABASE_URL")
        self.stats_interval = s.getfloat("ARSIP_STATS_INTERVAL", 5.0)
        self.progress_interval = s.getfloat("ARSIP_PROGRESS_INTERVAL", 10.0)
        self.site = s.get("ARSIP_SITE_NAME", "")
        self.started = time.monotonic()
        self.engine: Any = None
        self._task: asyncio.Task[None] | None = None
        self.final_status: str | None = None
        self.error: str | None = None
        self._write_lock = threading.Lock()
        self._final_written = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunRecorder:
        if not crawler.settings.getint("ARSIP_RUN_ID"):
            raise NotConfigured("no run record")
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def stats(self) -> dict[str, Any]:
        assert self.crawler.stats is not None
        return run_stats(self.crawler.stats.get_stats(), self.started)

    def spider_opened(self) -> None:
        from storage.engine import make_engine

        self.engine = make_engine(self.database_url)
        self.started = time.monotonic()
        self._task = asyncio.get_event_loop().create_task(self._loop())

    async def _loop(self) -> None:
        last_progress = time.monotonic()
        while True:
            await asyncio.sleep(self.stats_interval)
            stats = self.stats()
            try:
                await asyncio.to_thread(self._write, stats, None)
            except Exception as exc:  # noqa: BLE001 - a stats write may fail; the crawl goes on
                logger.warning("cannot update the run record: %s", error_line(exc))
            if time.monotonic() - last_progress >= self.progress_interval:
                last_progress = time.monotonic()
                print(progress_line(self.site, stats), file=sys.stderr, flush=True)

    def _write(self, stats: dict[str, Any], status: str | None) -> None:
        from sqlalchemy.orm import Session

        from storage.runs import finish_run, update_run_stats

        # a periodic write still in its thread when the crawl closes must not land after
        # (and overwrite) the final one
        with self._write_lock:
            if self._final_written and not status:
                return
            with Session(self.engine) as session, session.begin():
                if status:
                    finish_run(session, self.run_id, status, stats=stats, error=self.error)
                else:
                    update_run_stats(session, self.run_id, stats)
            if status:
                self._final_written = True

    async def spider_closed(self, reason: str) -> None:
        if self._task:
            self._task.cancel()
        status = self.final_status or status_for_reason(reason)
        if status == "failed" and not self.error:
            self.error = f"crawl closed: {reason}"
        stats = self.stats()
        stats["close_reason"] = reason
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("arsip/run_status", status)
        try:
            await asyncio.to_thread(self._write, stats, status)
        except Exception as exc:  # noqa: BLE001
            logger.error("cannot write the final run record: %s", error_line(exc))
        finally:
            if self.engine is not None:
                self.engine.dispose()


async def close_for_database_error(crawler: Crawler, message: str) -> None:
    """Close the crawl because the archive database is gone: the run ends ``failed`` with
    the reason (when the database is back to record it), nothing half-written."""
    await close_failed(crawler, "database_error",
                       "the archive database became unavailable during the crawl" + (
                           f" ({message})" if message else ""))


async def close_failed(crawler: Crawler, reason: str, error: str) -> None:
    """Close the crawl (close reason ``reason``); its run ends ``failed`` with ``error``."""
    try:
        recorder = find_extension(crawler, RunRecorder)
    except NotConfigured:  # no run record (e.g. a benchmark)
        recorder = None
    if recorder is not None and recorder.final_status is None:
        recorder.final_status = "failed"
        recorder.error = error
    if crawler.engine is not None:
        await crawler.engine.close_spider_async(reason=reason)


def status_for_reason(reason: str) -> str:
    if reason == "finished" or reason.startswith("closespider_") or reason == "max_pages":
        return "finished"
    if reason == "shutdown":
        return "interrupted"
    return "failed"


def progress_line(site: str, stats: dict[str, Any]) -> str:
    rate = stats["pages"] / stats["duration_s"] if stats["duration_s"] else 0.0
    return (
        f"arsip: {site}: {stats['pages']} pages, articles {stats['articles_new']} new / "
        f"{stats['aliases']} aliases / {stats['near_duplicates']} near-duplicates / "
        f"{stats['errors']} failed, {rate:.1f} pages/s"
    )
