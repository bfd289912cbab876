"""The archive pipeline: articles into the database, in batches, off the reactor thread.

Items are buffered and written by one writer thread in batches (``ARSIP_WRITE_BATCH`` items
or every ``ARSIP_WRITE_INTERVAL`` seconds). A batch is one transaction with one SAVEPOINT per
article: a crash never leaves half an article, and one bad article does not lose the others.
If the database goes away, the batch is retried once, then the crawl is closed with reason
``database_error`` (the run is recorded as failed, nothing half-written).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from crawler.items import ArticleItem
from storage.archive import ArchivedPage, LinkRecord, StoreResult, store_page, touch_checked
from storage.engine import redact

logger = logging.getLogger(__name__)

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
        raw_body=item.raw_body,
        fetched_at=item.fetched_at,
        etag=item.etag,
        last_modified=item.last_modified,
    )


class ArchivePipeline:
    def __init__(self, crawler: Crawler) -> None:
        s = crawler.settings
        self.crawler = crawler
        self.database_url: str = s.get("ARSIP_DATABASE_URL")
        self.site_id = s.getint("ARSIP_SITE_ID")
        self.run_id = s.getint("ARSIP_RUN_ID") or None
        self.batch_size = max(1, s.getint("ARSIP_WRITE_BATCH", 25))
        self.interval = s.getfloat("ARSIP_WRITE_INTERVAL", 2.0)
        threshold = s.get("ARSIP_NEAR_DUPLICATE_THRESHOLD")
        from storage.dedup_index import default_threshold

        self.near_threshold = float(threshold) if threshold not in (None, "") else \
            default_threshold()
        self.buffer: list[ArticleItem] = []
        self.pending: set[asyncio.Future[Any]] = set()
        self.engine: Any = None
        self.executor: ThreadPoolExecutor | None = None
        self._timer: asyncio.Task[None] | None = None
        self._last_flush = time.monotonic()
        self.failed = False
        self.write_seconds = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        from storage.engine import make_engine

        self.engine = make_engine(self.database_url)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="arsip-writer")
        self._timer = asyncio.get_event_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval / 2)
            if self.buffer and time.monotonic() - self._last_flush >= self.interval:
                self._flush()

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
        if len(self.buffer) >= self.batch_size:
            self._flush()
        # back-pressure: never more than two batches queued for the writer
        while len(self.pending) > 2:
            await asyncio.wait(self.pending, return_when=asyncio.FIRST_COMPLETED)
        return item

    def _flush(self) -> None:
        if not self.buffer or self.executor is None:
            return
        batch, self.buffer = self.buffer, []
        self._last_flush = time.monotonic()
        loop = asyncio.get_event_loop()
        fut = loop.run_in_executor(self.executor, self._write_batch, batch)
        self.pending.add(fut)
        fut.add_done_callback(lambda f: self._batch_done(f, batch))

    def _batch_done(self, fut: asyncio.Future[Any], batch: list[ArticleItem]) -> None:
        self.pending.discard(fut)
        stats = self.crawler.stats
        assert stats is not None
        exc = fut.exception() if not fut.cancelled() else None
        if exc is not None:
            self.failed = True
            stats.inc_value("arsip/write_errors", len(batch))
            stats.inc_value("arsip/errors", len(batch))
            message = _db_error_message(exc, self.database_url)
            logger.error("archive write failed: %s", message)
            _record_failure(stats, batch[0].url, f"database: {message}")
            if self.crawler.engine is not None:
                asyncio.ensure_future(self._close("database_error", message))
            return
        for item, result in zip(batch, fut.result(), strict=True):
            if isinstance(result, StoreResult):
                stats.inc_value(OUTCOME_STATS[result.outcome])
            elif result == "not_modified":
                stats.inc_value("arsip/not_modified")
            else:
                stats.inc_value("arsip/errors")
                stats.inc_value("arsip/write_errors")
                _record_failure(stats, item.url, f"store: {result}")

    async def _close(self, reason: str, message: str = "") -> None:
        from crawler.extensions import close_for_database_error

        await close_for_database_error(self.crawler, message)

    def _write_batch(self, batch: list[ArticleItem]) -> list[Any]:
        started = time.perf_counter()
        try:
            return self._write_batch_once(batch)
        except (OperationalError, DBAPIError) as exc:
            if getattr(exc, "connection_invalidated", False) or isinstance(exc, OperationalError):
                logger.warning("archive write failed, retrying once: %s",
                               _db_error_message(exc, self.database_url))
                time.sleep(1.0)
                return self._write_batch_once(batch)
            raise
        finally:
            self.write_seconds += time.perf_counter() - started

    def _write_batch_once(self, batch: list[ArticleItem]) -> list[Any]:
        results: list[Any] = []
        with Session(self.engine) as session, session.begin():
            for item in batch:
                try:
                    with session.begin_nested():
                        if item.not_modified:
                            touch_checked(session, [item.canonical_url])
                            results.append("not_modified")
                        else:
                            results.append(store_page(
                                session, self.site_id, to_archived_page(item),
                                run_id=self.run_id, near_threshold=self.near_threshold,
                            ))
                except OperationalError:
                    raise  # the database itself: the whole batch is retried
                except Exception as exc:  # noqa: BLE001 - one bad article, not the batch
                    logger.warning("cannot store %s: %s", item.url, exc)
                    results.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return results

    async def close_spider(self) -> None:
        if self._timer:
            self._timer.cancel()
        if not self.failed:
            self._flush()
        if self.pending:
            await asyncio.wait(set(self.pending))
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self.engine is not None:
            self.engine.dispose()
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("arsip/write_seconds", round(self.write_seconds, 3))


def _record_failure(stats: Any, url: str, reason: str) -> None:
    failures = stats.get_value("arsip/failures")
    if failures is None:
        failures = []
        stats.set_value("arsip/failures", failures)
    if len(failures) < 200:
        failures.append({"url": url, "reason": reason[:300]})


def _db_error_message(exc: BaseException, url: str) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.replace(url, redact(url))
