"""The archive writer in a process of its own (``crawler.writer_process``).

It writes what the crawl hands it, owns its own engine, retries a database error once and
then fails the batch in one line; it dies with the crawl, survives Ctrl-C long enough for the
crawl to flush through it, and when it dies the crawl fails cleanly with a one-line error.
The crawls here drive the real ``arsip crawl`` CLI against the sample site on 127.0.0.1.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import psutil
import pytest

from arsip.sample_site.content import stories
from arsip.sample_site.server import SiteServer
from crawler import writer_process
from crawler.writer_process import WriteFailed, Writer, WriterConfig
from tests.fault_helpers import (
    article_count,
    consistency_problems,
    error_lines,
    process_gone,
    rows,
    scalar,
    spawn_cli,
    wait_for,
)

STORY_PATHS = {s.path: s.id for s in stories()}
SLOW = ("--download-delay", "0.3")  # about 20 pages: 6 s and more


def crawl_args(site_url: str, *extra: str) -> list[str]:
    # no extraction workers: the writer is the crawl process's only child
    return ["crawl", site_url + "/", "--quiet", "--workers", "0", *extra]


def the_writer(pid: int) -> psutil.Process:
    children = psutil.Process(pid).children(recursive=True)
    assert len(children) == 1, children
    return children[0]


@pytest.fixture
def slow_crawl(database_url: str) -> Iterator[tuple[subprocess.Popen[str], psutil.Process]]:
    """A slow crawl that has archived something, and its writer process."""
    with SiteServer(delay=0.3) as site:
        proc = spawn_cli(*crawl_args(site.url, *SLOW))
        writer = None
        try:
            assert wait_for(lambda: proc.poll() is not None or article_count(database_url) >= 1,
                            timeout=60, interval=0.05), "nothing archived within 60 s"
            assert proc.poll() is None, "the crawl ended before the test could act"
            writer = the_writer(proc.pid)
            yield proc, writer
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if writer is not None and not process_gone(writer):  # never left behind by a test
                writer.kill()


def run_records(url: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    out = []
    for status, error, stats in rows(url, "SELECT status, error, stats FROM crawl_runs"):
        out.append((status, error, json.loads(stats) if isinstance(stats, str) else stats))
    return out


def test_writer_killed_mid_crawl_fails_the_crawl_in_one_line(database_url, slow_crawl):
    proc, writer = slow_crawl
    assert writer.pid != proc.pid
    writer.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)  # closes, does not hang
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err, err
    errors = error_lines(err)
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    assert "archive writer process ended unexpectedly" in errors[0], errors
    assert "signal 9" in errors[0]
    [(status, error, _stats)] = run_records(database_url)
    assert status == "failed" and "writer process ended" in (error or ""), error
    # what it wrote before it died is whole; the crawl stopped before the end
    assert consistency_problems(database_url) == {}
    assert 1 <= article_count(database_url) < len(STORY_PATHS)


def test_writer_dies_with_a_killed_crawl(database_url, slow_crawl):
    proc, writer = slow_crawl
    os.kill(proc.pid, signal.SIGKILL)  # the crawl process alone
    proc.wait(timeout=10)
    assert wait_for(lambda: process_gone(writer), timeout=10), "the writer outlived the crawl"
    # whatever it was writing is rolled back: whole articles only
    assert consistency_problems(database_url) == {}


def test_ctrl_c_flushes_through_the_writer(database_url, slow_crawl):
    proc, writer = slow_crawl
    if os.path.exists(f"/proc/{writer.pid}/status"):  # Linux: its signal dispositions
        with open(f"/proc/{writer.pid}/status") as f:
            ignored = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
        assert ignored & (1 << (signal.SIGINT - 1)), "the writer does not ignore SIGINT"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err  # interrupted, not failed
    assert "Traceback" not in err and error_lines(err) == [], err
    [(status, _error, stats)] = run_records(database_url)
    assert status == "interrupted"
    # the writer outlived the signal and wrote every article the run counted
    assert stats["write_errors"] == 0
    assert stats["articles_new"] + stats["near_duplicates"] == article_count(database_url) >= 1
    assert wait_for(lambda: process_gone(writer), timeout=10)
    assert consistency_problems(database_url) == {}


# -- the writer's own behaviour (no crawl) -------------------------------------------------

def _pool(config: WriterConfig) -> ProcessPoolExecutor:
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    return ProcessPoolExecutor(1, mp_context=ctx, initializer=writer_process.start_writer,
                               initargs=(config, os.getpid()))


def _site(engine: Any) -> int:
    from sqlalchemy.orm import Session

    from storage.runs import ensure_site

    with Session(engine) as session, session.begin():
        return ensure_site(session, "t")


def _page(n: int) -> Any:
    from crawler.dedup import fingerprint
    from storage.archive import ArchivedPage

    story = stories()[n]
    body = "\n\n".join(story.paragraphs)
    url = f"http://127.0.0.1:9{story.path}"
    return ArchivedPage(url=url, canonical_url=url, alias_urls=[], title=story.id, body=body,
                        fingerprint=fingerprint(body), raw_body=body.encode())


def test_writer_process_writes_a_batch_with_per_item_results(engine, database_url):
    site_id = _site(engine)
    pages = [_page(0), _page(1)]
    jobs = [("page", pages[0].url, pages[0]),
            ("error", "http://127.0.0.1:9/x", "ValueError: not a page"),
            ("page", pages[1].url, pages[1]),
            ("not_modified", pages[0].url, pages[0].canonical_url)]
    with _pool(WriterConfig(database_url, site_id, None, 0.8)) as pool:
        assert pool.submit(writer_process.ping).result(timeout=30) != os.getpid()
        written = pool.submit(writer_process.write_batch, jobs).result(timeout=60)
        again = pool.submit(writer_process.write_batch, jobs[:1]).result(timeout=60)
        pool.submit(writer_process.stop_writer).result(timeout=30)
    outcomes = [getattr(r, "outcome", r) for r in written.results]
    assert outcomes == ["new", "ValueError: not a page", "new", "not_modified"]
    assert [r.outcome for r in again.results] == ["unchanged"]
    assert written.seconds > 0
    assert sorted(r[0] for r in rows(database_url, "SELECT canonical_url FROM articles")) \
        == sorted(p.canonical_url for p in pages)


def test_one_bad_article_is_reported_and_the_rest_of_its_batch_stored(engine, database_url):
    """The batch is written optimistically, without a SAVEPOINT per article; an article that
    fails half-way (its raw page cannot be stored, after its article row was) sends the batch
    back to be written again with each article in its own SAVEPOINT."""
    site_id = _site(engine)
    good = [_page(0), _page(2)]
    bad = _page(1)
    bad.headers = {"X-Broken": {"a set": "is no JSON"}.keys()}  # type: ignore[dict-item]
    jobs = [("page", good[0].url, good[0]), ("page", bad.url, bad),
            ("page", good[1].url, good[1])]
    writer = Writer(WriterConfig(database_url, site_id, None, 0.8))
    try:
        written = writer.write(jobs)
    finally:
        writer.close()
    outcomes = [getattr(r, "outcome", r) for r in written.results]
    assert outcomes[0] == outcomes[2] == "new"
    assert isinstance(outcomes[1], str) and "\n" not in outcomes[1], outcomes
    # nothing of the bad article is left (its article row was written before its raw page)
    assert sorted(r[0] for r in rows(database_url, "SELECT canonical_url FROM articles")) \
        == sorted(p.canonical_url for p in good)
    assert scalar(database_url, "SELECT COUNT(*) FROM raw_pages") == 2
    assert not rows(database_url, f"SELECT 1 FROM article_urls WHERE url = '{bad.url}'")
    assert consistency_problems(database_url) == {}


def test_unreachable_database_is_retried_once_then_one_line():
    # nothing listens on port 1: every connection attempt fails at once
    url = "postgresql+psycopg://arsip:s3cret@127.0.0.1:1/archive"
    with _pool(WriterConfig(url, 1, None, 0.8)) as pool:
        with pytest.raises(WriteFailed) as info:
            pool.submit(writer_process.write_batch, [("page", "u", _page(0))]).result(60)
    failed = info.value
    assert "\n" not in failed.message and failed.message
    assert "s3cret" not in failed.message
    assert failed.seconds >= 1.0  # the one retry waits a second


def test_write_is_retried_once_on_operational_error(monkeypatch, engine, database_url):
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(writer_process.time, "sleep", lambda s: None)
    writer = Writer(WriterConfig(database_url, _site(engine), None, 0.8))
    calls: list[int] = []

    def flaky(jobs: list[Any]) -> list[Any]:
        calls.append(len(jobs))
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return ["ok"] * len(jobs)

    monkeypatch.setattr(writer, "write_once", flaky)
    assert writer.write([("page", "u", None)]).results == ["ok"]
    assert calls == [1, 1]

    def down(jobs: list[Any]) -> list[Any]:
        calls.append(len(jobs))
        raise OperationalError("INSERT", {}, Exception("server closed the connection\nmore"))

    calls.clear()
    monkeypatch.setattr(writer, "write_once", down)
    with pytest.raises(WriteFailed, match="^server closed the connection$"):
        writer.write([("page", "u", None)])
    assert calls == [1, 1]  # once, then once again: no more
    writer.close()


# -- the benchmark's breakdown with the writer in a process of its own --------------------

def _bench_result(writer_cpu: dict[str, float]) -> dict[str, Any]:
    # 1000 pages: the crawl process 4 s of CPU, its children (two extraction workers that
    # spent 6 s in process_page, and the writer when it is a process) the rest
    return {"responses": 1000, "wall_s": 10.0, "cpu_main_s": 4.0 if "process_cpu" in writer_cpu
            else 7.0, "cpu_children_s": 6.5 + writer_cpu.get("process_cpu", 0.0),
            "worker_cpu": {"extract": 4.6, "fingerprint": 0.5, "compress": 0.4,
                           "process_page": 6.0},
            "writer_cpu": writer_cpu, "write_wall_s": 8.0}


def test_bench_breakdown_counts_the_writer_process_apart_from_fetch_and_pool() -> None:
    from arsip.bench.crawl_report import breakdown, cpu_ceiling

    in_process = breakdown(_bench_result(
        {"write_batch": 3.0, "dedup_index": 1.0, "process_cpu": 3.5}), None)
    in_thread = breakdown(_bench_result({"write_batch": 3.0, "dedup_index": 1.0}), None)
    for b in (in_process, in_thread):
        # the same work either way: fetch 4 ms, storage 2.4 ms (0.4 of it compressing the
        # raw page in the workers), dedup 1.5 ms, pool 1 ms a page
        assert b["fetch_ms_per_page"] == 4.0
        assert b["storage_ms_per_page"] == 2.4
        assert b["extraction_ms_per_page"] == 4.6
        assert b["dedup_ms_per_page"] == 1.5
        assert b["pool_overhead_ms_per_page"] == 1.0
    assert in_process["writer_process"] and not in_thread["writer_process"]
    assert in_process["writer_overhead_ms_per_page"] == 0.5  # unpickling, start-up
    assert in_process["writer_cpu_ms_per_page"] == 3.5
    assert in_thread["writer_overhead_ms_per_page"] == 0.0
    # the writer process is bound to one core too: 7 ms a page caps the crawl at 142.9/s
    capped = _bench_result({"write_batch": 6.0, "process_cpu": 7.0})
    capped["cpu_main_s"], capped["cpu_children_s"] = 1.0, 7.0
    assert cpu_ceiling(capped) == round(1000 / 7.0, 1)


def test_writer_thread_mode_still_archives_everything() -> None:
    # ARSIP_WRITER_PROCESS = False: the writer in a thread of the crawl process (the bench's
    # --writer thread sets it), the same archive at the end
    env = {k: v for k, v in os.environ.items() if k != "ARSIP_DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "arsip", "bench", "crawl", "--pages", "40", "--runs", "arsip",
         "--writer", "thread", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["arsip"]["status"] == "finished"
    assert report["breakdown"]["writer_process"] is False
    assert report["breakdown"]["storage_ms_per_page"] > 0  # the probe saw the thread
    outcomes = report["arsip"]["outcomes"]
    assert outcomes["articles_new"] + outcomes["near_duplicates"] + outcomes["aliases"] == 40
    assert outcomes["errors"] == 0


def test_a_dead_writers_exit_status_is_waited_for_its_message() -> None:
    """The pool can say it is broken while its own thread is still reaping the killed
    writer (the exit status not known for a moment): the message waits for it, briefly."""
    import threading
    from concurrent.futures.process import BrokenProcessPool

    from crawler.pipelines import ArchivePipeline

    class Reaped:  # a killed process whose status another thread is about to set
        def __init__(self) -> None:
            self.code: int | None = None
            threading.Timer(0.2, lambda: setattr(self, "code", -9)).start()

        @property
        def exitcode(self) -> int | None:
            return self.code

    pipeline = object.__new__(ArchivePipeline)
    pipeline.use_process = True
    pipeline._writer_procs = [Reaped()]
    message = pipeline._failure_message(BrokenProcessPool("a child process terminated"))
    assert message == "the archive writer process ended unexpectedly: killed by signal 9"
    # a status never known (after the wait): the message without it
    pipeline._writer_procs = [type("Unknown", (), {"exitcode": None})()]
    assert pipeline._failure_message(BrokenProcessPool("gone")) \
        == "the archive writer process ended unexpectedly"
