"""The extraction worker pool of a crawl (``crawler.extensions.ExtractionPool``)."""

from __future__ import annotations

import asyncio
import os
import signal
from types import SimpleNamespace

import pytest

from crawler.extensions import ExtractionPool, RunRecorder
from crawler.processing import process_page
from crawler.worker_pool import WorkerDied
from storage.raw_codec import decompress

PAGE = (b"<html lang='id'><head><title>Judul berita</title>"
        b"<meta property='og:type' content='article'></head><body>"
        b"<nav><a href='/section/a'>Seksi</a></nav><article><h1>Judul berita</h1>"
        + b"".join(b"<p>Paragraf ke-%d dari berita ini, cukup panjang untuk dihitung sebagai "
                   b"isi artikel yang sebenarnya oleh pengekstrak.</p>" % i for i in range(12))
        + b"</article></body></html>")


def test_workers_run_at_a_lower_priority_than_the_crawl() -> None:
    pool = ExtractionPool(1, niceness=5)
    pool.spider_opened()
    try:
        assert pool.pool is not None
        worker = asyncio.run(pool.pool.run(os.nice, 0))
        assert worker == min(os.nice(0) + 5, 19)
    finally:
        pool.spider_closed()


def test_a_worker_returns_the_article_with_its_raw_page_compressed() -> None:
    pool = ExtractionPool(1)
    pool.spider_opened()
    try:
        article, fp, raw_gz = asyncio.run(
            pool.process(PAGE, "http://127.0.0.1:8000/read/1/judul", "utf-8", None))
    finally:
        pool.spider_closed()
    assert article.is_article and "Paragraf ke-11" in article.body
    assert fp is not None and raw_gz is not None
    assert raw_gz.codec == "zstd" and raw_gz.raw_size == len(PAGE)
    assert decompress(raw_gz.codec, raw_gz.data) == PAGE
    assert article.links == []  # the crawl follows an article's related links only
    # a page that is no article is not kept: nothing to compress
    listing, _, none = process_page(
        b"<html><body><a href='/read/3/x'>x</a></body></html>",
        "http://127.0.0.1:8000/section/a", "utf-8", None, for_crawl=True)
    assert none is None
    assert listing.links == ["http://127.0.0.1:8000/read/3/x"]  # a listing's links are kept


def test_with_no_worker_left_the_crawl_ends_failed_and_says_why() -> None:
    closed: list[str] = []

    class Engine:
        async def close_spider_async(self, reason: str) -> None:
            closed.append(reason)

    recorder = RunRecorder.__new__(RunRecorder)  # only its final status is asked for
    recorder.final_status, recorder.error = None, None
    crawler = SimpleNamespace(engine=Engine(), extensions=SimpleNamespace(middlewares=[recorder]))
    pool = ExtractionPool(1, crawler=crawler)  # type: ignore[arg-type]
    pool.spider_opened()
    try:
        assert pool.pool is not None
        os.kill(pool.pool.pids[0], signal.SIGKILL)

        async def main() -> None:
            with pytest.raises(WorkerDied):
                await pool.process(PAGE, "http://127.0.0.1:8000/read/1/judul", "utf-8", None)
            await asyncio.sleep(0.1)  # the close runs as a task of its own

        asyncio.run(main())
    finally:
        pool.spider_closed()
    assert closed == ["extraction_failed"]
    assert recorder.final_status == "failed"
    error = recorder.error or ""
    assert "extraction worker processes ended" in error
    assert "killed by signal 9" in error


def test_the_extraction_stack_is_warmed_up_once_per_process(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """``warm_up`` runs a page through the extraction once; a second call (a re-extraction
    after a benchmark's extraction, a pool started again) costs nothing."""
    from crawler import processing

    calls: list[str] = []
    monkeypatch.setattr(processing, "_WARM", [])
    monkeypatch.setattr(processing, "process_page", lambda *a, **k: calls.append(a[1]))
    assert processing.warm_up() and processing.warm_up()
    assert len(calls) == 1
