"""The archive pipeline: articles into the database, in batches, off the reactor.

Items are buffered and written in batches (``ARSIP_WRITE_BATCH`` items or every
``ARSIP_WRITE_INTERVAL`` seconds) by one writer: a process of its own
(``crawler.writer_process``; ``ARSIP_WRITER_PROCESS``, default true), so that the database
work never competes with the reactor for the crawl process's GIL, or a thread of the crawl
process (``ARSIP_WRITER_PROCESS = False``; always for an in-memory SQLite database). At most
two batches wait for the writer (back-pressure). A batch is one transaction (an article that
fails sends it back to be written with one SAVEPOINT per article): a crash never leaves half
an article, and one bad article does not lose the others. If the database goes away, the
batch is retried once, then the crawl is closed with reason ``database_error`` (the run is recorded as failed, nothing half-written);
so is it if the writer process dies.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from crawler import writer_process
from crawler.extraction.version import EXTRACTOR_VERSION
from crawler.items import ArticleItem
from crawler.writer_process import Job, Writer, WriterConfig, db_error_message, error_string
from storage.archive import ArchivedPage, LinkRecord, StoreResult
from storage.engine import is_in_memory

logger = logging.getLogger(__name__)

WRITER_EXIT_WAIT = 1.0  # seconds a dead writer's exit status is waited for, for its message
OUTCOME_STATS = {
    "new": "arsip/articles_new",
    "alias": "arsip/aliases",
    "near_duplicate": "arsip/near_duplicates",
    "version": "arsip/versions",
    "unchanged": "arsip/unchanged",
}


def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else None


def to_archived_page(item: ArticleItem) -> ArchivedPage:
    art = item.article
    return ArchivedPage(
        url=item.url,
        canonical_url=item.canonical_url,
        alias_urls=list(item.alias_urls),
        title=art.title,
        authors=list(art.authors),
        published=_parse_dt(art.published),
        published_local=art.published,
        modified=_parse_dt(art.modified),
        modified_local=art.modified,
        language=art.language,
        description=art.description,
        image=art.image,
        section=art.section,
        tags=list(art.tags),
        body=art.body,
        related=[LinkRecord(url=r.url, title=r.title, kind=r.kind) for r in item.related],
        fingerprint=item.fingerprint,
        status=item.status,
        headers=dict(item.headers),
        raw_body=b"" if item.raw_gz else item.raw_body,
        raw_gz=item.raw_gz,
        raw_parts=list(item.raw_parts),
        fetched_at=item.fetched_at,
        etag=item.etag,
        last_modified=item.last_modified,
        extractor_version=EXTRACTOR_VERSION,
    )


class ArchivePipeline:
    # how long the close waits for the writer process to dispose of its engine and exit
    STOP_TIMEOUT = 60.0

    def __init__(self, crawler: Crawler) -> None:
        s = crawler.settings
        self.crawler = crawler
        self.database_url: str = s.get("ARSIP_DATABASE_URL")
        self.site_id = s.getint("ARSIP_SITE_ID")
        self.run_id = s.getint("ARSIP_RUN_ID") or None
        self.batch_size = max(1, s.getint("ARSIP_WRITE_BATCH", 25))
        self.interval = s.getfloat("ARSIP_WRITE_INTERVAL", 2.0)
        self.use_process = s.getbool("ARSIP_WRITER_PROCESS", True) and not is_in_memory(
            self.database_url)
        threshold = s.get("ARSIP_NEAR_DUPLICATE_THRESHOLD")
        from storage.dedup_index import default_threshold

        self.near_threshold = float(threshold) if threshold not in (None, "") else \
            default_threshold()
        self.buffer: list[ArticleItem] = []
        self.pending: set[asyncio.Future[Any]] = set()
        self.engine: Any = None  # in-thread mode only: the writer process owns its own
        self.writer: Writer | None = None  # in-thread mode only
        self.executor: Executor | None = None
        self._writer_procs: list[Any] = []
        self._timer: asyncio.Task[None] | None = None
        self._last_flush = time.monotonic()
        self._drain_checked = 0.0
        self._draining_seen = False
        self.failed = False
        self.write_seconds = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        return cls(crawler)

    def config(self) -> WriterConfig:
        return WriterConfig(self.database_url, self.site_id, self.run_id, self.near_threshold)

    def open_spider(self) -> None:
        if self.use_process:
            # fork where the extraction pool does (crawler.extensions.ExtractionPool); the
            # child makes its own engine (start_writer), never using a connection of ours
            ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            executor = ProcessPoolExecutor(1, mp_context=ctx,
                                           initializer=writer_process.start_writer,
                                           initargs=(self.config(), os.getpid()))
            # start it now, from this (the main) thread: the writer dies with it. Frozen,
            # the objects it inherits are never traversed by its garbage collector (which
            # would copy their memory pages)
            gc.freeze()
            try:
                executor.submit(writer_process.ping)
            finally:
                gc.unfreeze()
            self._writer_procs = list(getattr(executor, "_processes", {}).values())
            self.executor = executor
        else:
            self.writer = Writer(self.config())
            self.engine = self.writer.engine
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="arsip-writer")
        self._timer = asyncio.get_event_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(min(self.interval / 2, 1.0))
            if not self.failed and self._writer_gone():
                # died idle: fail now, not at the next batch (or never, at the end)
                self._fail(BrokenProcessPool("the writer process ended"), [])
            elif self.buffer and time.monotonic() - self._last_flush >= self.interval:
                self._flush()

    def _writer_gone(self) -> bool:
        return any(p.exitcode is not None for p in self._writer_procs)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        if self.failed:
            # reported once already; Scrapy would log each dropped item whole (raw page
            # included) at WARNING
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("arsip/write_errors")
            raise DropItem("the archive database is unavailable", log_level="DEBUG")
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size or (not self.pending and self._draining()):
            self._flush()
        # back-pressure: never more than two batches queued for the writer
        while len(self.pending) > 2:
            await asyncio.wait(self.pending, return_when=asyncio.FIRST_COMPLETED)
        return item

    def _draining(self) -> bool:
        """Nothing is left to fetch: the pages in hand are the crawl's last ones. Their
        articles are then written as soon as the writer is free, in small batches beside the
        last extractions, not as one full batch after them (a full batch takes the writer a
        fifth of a second, while the rest of the crawl waits). Asked at most 10 times a
        second (a shared scheduler's answer is a Redis round trip)."""
        now = time.monotonic()
        if now - self._drain_checked < 0.1:
            return self._draining_seen
        self._drain_checked = now
        engine = getattr(self.crawler, "engine", None)
        try:
            scheduler = engine.scheduler if engine is not None else None
            self._draining_seen = bool(
                scheduler is not None and not engine.downloader.active  # type: ignore[union-attr]
                and not scheduler.has_pending_requests())
        except Exception:  # noqa: BLE001 - only an optimisation: full batches then
            self._draining_seen = False
        return self._draining_seen

    def _flush(self) -> None:
        if not self.buffer or self.executor is None:
            return
        batch, self.buffer = self.buffer, []
        self._last_flush = time.monotonic()
        loop = asyncio.get_event_loop()
        fut: asyncio.Future[Any]
        try:
            # looked up at each call (a benchmark probe may wrap it)
            fut = loop.run_in_executor(self.executor, writer_process.write_batch,
                                       to_jobs(batch), self.writer)
        except (BrokenProcessPool, RuntimeError) as exc:  # the writer is gone already
            fut = loop.create_future()
            fut.set_exception(exc)
        self.pending.add(fut)
        fut.add_done_callback(lambda f: self._batch_done(f, batch))

    def _batch_done(self, fut: asyncio.Future[Any], batch: list[ArticleItem]) -> None:
        self.pending.discard(fut)
        stats = self.crawler.stats
        assert stats is not None
        exc = fut.exception() if not fut.cancelled() else None
        if exc is not None:
            self._fail(exc, batch)
            return
        written = fut.result()
        self.write_seconds += written.seconds
        if written.dictionary is not None:  # the site's raw pages have a new dictionary
            asyncio.ensure_future(self._new_dictionary(written.dictionary))
        for item, result in zip(batch, written.results, strict=True):
            if isinstance(result, StoreResult):
                stats.inc_value(OUTCOME_STATS[result.outcome])
            elif result == "not_modified":
                stats.inc_value("arsip/not_modified")
            else:
                logger.warning("cannot store %s: %s", item.url, result)
                stats.inc_value("arsip/errors")
                stats.inc_value("arsip/write_errors")
                _record_failure(stats, item.url, f"store: {result}")

    async def _new_dictionary(self, dictionary: Any) -> None:
        from crawler.extensions import ExtractionPool, find_extension

        try:
            pool = find_extension(self.crawler, ExtractionPool)
            await pool.set_dictionary(dictionary)
        except Exception as exc:  # noqa: BLE001 - the pages go on with the one they had
            logger.warning("raw page dictionary not passed to the workers: %s", exc)

    def _fail(self, exc: BaseException, batch: list[ArticleItem]) -> None:
        """A batch not written (or the writer gone): the crawl closes, ``database_error``."""
        stats = self.crawler.stats
        assert stats is not None
        first = not self.failed
        self.failed = True
        self.write_seconds += getattr(exc, "seconds", 0.0)
        message = self._failure_message(exc)
        if first:  # once: the batches queued behind it fail for the same reason
            logger.error("archive write failed: %s", message)
        if batch:
            stats.inc_value("arsip/write_errors", len(batch))
            stats.inc_value("arsip/errors", len(batch))
            _record_failure(stats, batch[0].url, f"database: {message}")
        if self.crawler.engine is not None:
            asyncio.ensure_future(self._close("database_error", message,
                                              writer_died=self._writer_died(exc)))

    def _writer_died(self, exc: BaseException) -> bool:
        return self.use_process and isinstance(exc, BrokenProcessPool | RuntimeError)

    def _failure_message(self, exc: BaseException) -> str:
        if self._writer_died(exc):
            # the pool reports itself broken while its own thread may be reaping the dead
            # process (a second waitpid then finds no child and the exit status is not
            # known yet): wait a moment for it, once, on this failure path
            deadline = time.monotonic() + WRITER_EXIT_WAIT
            while self._writer_procs and time.monotonic() < deadline and all(
                    p.exitcode is None for p in self._writer_procs):
                time.sleep(0.01)
            codes = [p.exitcode for p in self._writer_procs if p.exitcode is not None]
            how = ""
            if codes and codes[0] < 0:
                how = f": killed by signal {-codes[0]}"
            elif codes:
                how = f": exit code {codes[0]}"
            return f"the archive writer process ended unexpectedly{how}"
        return db_error_message(exc, self.database_url)

    async def _close(self, reason: str, message: str = "", *, writer_died: bool = False
                     ) -> None:
        from crawler.extensions import RunRecorder, close_for_database_error, find_extension

        if writer_died:  # the run's error says so, not that the database went away
            try:
                recorder = find_extension(self.crawler, RunRecorder)
            except NotConfigured:
                recorder = None
            if recorder is not None and recorder.final_status is None:
                recorder.final_status = "failed"
                recorder.error = message
        await close_for_database_error(self.crawler, message)

    async def close_spider(self) -> None:
        if self._timer:
            self._timer.cancel()
        if not self.failed:
            self._flush()
        if self.pending:
            await asyncio.wait(set(self.pending))
        await self._stop_writer()
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("arsip/write_seconds", round(self.write_seconds, 3))

    async def _stop_writer(self) -> None:
        executor, self.executor = self.executor, None
        if isinstance(executor, ProcessPoolExecutor):
            # the writer disposes of its engine, then exits; waited for, so that its CPU
            # time is the crawl's (RUSAGE_CHILDREN)
            try:
                await asyncio.wait_for(asyncio.wrap_future(
                    executor.submit(writer_process.stop_writer)), self.STOP_TIMEOUT)
            except (BrokenProcessPool, RuntimeError):
                pass  # gone already
            except TimeoutError:
                logger.error("the archive writer process did not stop: killing it")
                for proc in self._writer_procs:
                    if proc.exitcode is None:
                        proc.kill()
            except Exception as exc:  # noqa: BLE001 - the engine's disposal, at the end
                logger.warning("archive writer: %s", exc)
            executor.shutdown(wait=True)
        elif executor is not None:
            executor.shutdown(wait=True)
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def to_jobs(batch: list[ArticleItem]) -> list[Job]:
    """The writer's jobs for a batch of items: plain, picklable data."""
    jobs: list[Job] = []
    for item in batch:
        if item.not_modified:
            jobs.append(("not_modified", item.url, item.canonical_url))
            continue
        try:
            jobs.append(("page", item.url, to_archived_page(item)))
        except Exception as exc:  # noqa: BLE001 - one bad article, not the batch
            jobs.append(("error", item.url, error_string(exc)))
    return jobs


def _record_failure(stats: Any, url: str, reason: str) -> None:
    failures = stats.get_value("arsip/failures")
    if failures is None:
        failures = []
        stats.set_value("arsip/failures", failures)
    if len(failures) < 200:
        failures.append({"url": url, "reason": reason[:300]})
