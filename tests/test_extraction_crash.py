"""An extraction worker process killed in the middle of a crawl (``crawler.worker_pool``).

The pages it held fail and are recorded; the other workers go on; with none left the crawl
ends ``failed`` in one line; what was archived stays whole. The crawls drive the real
``arsip crawl`` CLI against the sample site on 127.0.0.1, slowed down so that the test acts
in the middle of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator

import psutil
import pytest

from arsip.sample_site.content import stories
from arsip.sample_site.server import SiteServer
from crawler.settings import EXTRACT_NICE
from tests.fault_helpers import (
    article_count,
    consistency_problems,
    error_lines,
    process_gone,
    rows,
    spawn_cli,
    wait_for,
)

STORY_PATHS = {s.path: s.id for s in stories()}


def extraction_workers(crawl_pid: int) -> list[psutil.Process]:
    """The crawl's extraction workers: its children at the workers' lower priority (the
    archive writer, its other child, runs at the crawl's own)."""
    own = psutil.Process(crawl_pid).nice()
    return [p for p in psutil.Process(crawl_pid).children()
            if p.nice() == min(own + EXTRACT_NICE, 19)]


def slow_crawl(site_url: str, workers: int) -> subprocess.Popen[str]:
    return spawn_cli("crawl", site_url + "/", "--quiet", "--workers", str(workers),
                     "--download-delay", "0.3")


@pytest.fixture
def site() -> Iterator[SiteServer]:
    with SiteServer(delay=0.3) as server:
        yield server


def _started(proc: subprocess.Popen[str], database_url: str, workers: int) -> list[psutil.Process]:
    assert wait_for(lambda: proc.poll() is not None or article_count(database_url) >= 1,
                    timeout=60, interval=0.05), "nothing archived within 60 s"
    assert proc.poll() is None, "the crawl ended before the test could act"
    found = extraction_workers(proc.pid)
    assert len(found) == workers, found
    return found


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_only_worker_killed_ends_the_crawl_failed_in_one_line(database_url, site):
    proc = slow_crawl(site.url, 1)
    try:
        [worker] = _started(proc, database_url, 1)
        worker.kill()
        out, err = proc.communicate(timeout=60)  # closes, does not go on page after page
    finally:
        _stop(proc)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err, err
    errors = error_lines(err)
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    assert "extraction worker processes ended" in errors[0] and "signal 9" in errors[0]
    [(status, error)] = rows(database_url, "SELECT status, error FROM crawl_runs")
    assert status == "failed" and "extraction worker" in (error or ""), error
    assert consistency_problems(database_url) == {}
    assert 1 <= article_count(database_url) < len(STORY_PATHS)


def test_one_worker_killed_the_other_finishes_the_crawl(database_url, site):
    proc = slow_crawl(site.url, 2)
    try:
        victim, survivor = _started(proc, database_url, 2)
        victim.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert "Traceback" not in err, err
    [(status, stats)] = rows(database_url, "SELECT status, stats FROM crawl_runs")
    stats = json.loads(stats) if isinstance(stats, str) else stats
    assert status == "finished", (status, stats)
    # the pages the dead worker held (at most two) failed and are on record; every other
    # story was archived by the survivor
    failed = [f for f in stats["failures"] if "extraction worker" in json.dumps(f)]
    assert len(failed) <= 2, stats["failures"]
    assert article_count(database_url) >= len(STORY_PATHS) - len(failed), (stats, out, err)
    assert consistency_problems(database_url) == {}
    assert not survivor.is_running() or survivor.status() == psutil.STATUS_ZOMBIE


def test_workers_die_with_a_killed_crawl(database_url, site):
    proc = slow_crawl(site.url, 2)
    try:
        workers = _started(proc, database_url, 2)
        os.kill(proc.pid, signal.SIGKILL)  # the crawl process alone
        proc.wait(timeout=10)
        assert wait_for(lambda: all(process_gone(p) for p in workers), timeout=10), \
            "an extraction worker outlived the crawl"
    finally:
        _stop(proc)
    assert consistency_problems(database_url) == {}
