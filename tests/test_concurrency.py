"""Concurrent use of one archive: two crawls of two sites writing at the same time, and the
daemon crawling on its schedule, while readers search, export and list runs in a loop.

SQLite is the hard case (one writer at a time): WAL, a busy timeout, short write transactions
taken with BEGIN IMMEDIATE and reader connections (``open_reader``: ``query_only``) must keep
"database is locked" (or any error) from ever reaching a user. The same tests run on
PostgreSQL with ``ARSIP_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time

from arsip.sample_site.content import stories
from arsip.sample_site.server import SiteServer
from tests.conftest import run_cli
from tests.fault_helpers import (
    consistency_problems,
    error_lines,
    rows,
    scalar,
    spawn_cli,
    variant_renderer,
    wait_for,
)

READERS = 2


def stored(summary: str) -> int:
    """Articles a crawl's summary line says it stored (new ones and near-duplicates: the
    variant sites differ from each other by a few words only)."""
    m = re.search(r"(\d+) new articles, \d+ aliases, (\d+) near-duplicates", summary)
    assert m, summary
    return int(m.group(1)) + int(m.group(2))


def crawl_args(site_url: str) -> list[str]:
    return ["crawl", site_url + "/", "--quiet", "--workers", "0"]


class Readers:
    """``READERS`` threads running ``arsip export``, ``arsip search`` and ``arsip runs`` in
    a loop until ``stop`` is set; ``check()`` asserts that no call saw an error."""

    CALLS = [("export", ["export", "--format", "jsonl"]),
             ("search", ["search", "Rusia", "--format", "json", "--limit", "50"]),
             ("export", ["export", "--format", "jsonl"]),
             ("runs", ["runs", "--format", "json"])]

    def __init__(self, stop: threading.Event, env: dict[str, str] | None = None) -> None:
        self.stop = stop
        self.env = env
        self.reads: list[tuple[str, subprocess.CompletedProcess[str]]] = []
        self.counts: list[int] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(READERS)]

    def _loop(self, i: int) -> None:
        k = i
        while not self.stop.is_set():
            kind, args = self.CALLS[k % len(self.CALLS)]
            k += 1
            res = run_cli(*args, timeout=120, env=self.env)
            time.sleep(0.1)
            with self.lock:
                self.reads.append((kind, res))
                if kind == "export" and res.returncode == 0:
                    self.counts.append(len(res.stdout.splitlines()))

    def start(self) -> Readers:
        for t in self.threads:
            t.start()
        return self

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in self.threads), "a reader call hung"

    def wait_for_final_archive(self) -> None:
        """Readers go on until one of them has exported the archive as it is now that the
        writing is over (so that they saw it grow: the first export began before it did)."""
        final = run_cli("export", "--format", "jsonl", timeout=120, env=self.env)
        assert final.returncode == 0, final.stderr
        lines = len(final.stdout.splitlines())
        wait_for(lambda: lines in self.counts, timeout=60)

    def check(self) -> None:
        """No reader call saw an error: exit 0, no error line, well-formed output."""
        assert len(self.reads) >= 2 * READERS
        for kind, res in self.reads:
            assert res.returncode == 0, (kind, res.stderr)
            assert "locked" not in res.stderr.lower(), (kind, res.stderr)
            assert error_lines(res.stderr) == [], (kind, res.stderr)
            if kind == "export":
                for line in res.stdout.splitlines():
                    json.loads(line)
            else:
                assert isinstance(json.loads(res.stdout), list)
        # the readers really read while the archive grew
        assert len(set(self.counts)) >= 2, self.counts


def test_readers_never_see_an_error_while_the_daemon_writes(engine, database_url, tmp_path):
    from tests.daemon_helpers import DaemonProcess, all_runs, runs_of, site, write_config

    with SiteServer(variant_renderer("harian")) as one, \
            SiteServer(variant_renderer("mingguan")) as two:
        config = write_config(tmp_path / "arsip.toml", [
            site("harian", one.url + "/", every="2s", related_depth=1),
            site("mingguan", two.url + "/", every="2s", related_depth=1),
        ], daemon={"max_parallel": 2, "grace_seconds": 20})
        stop = threading.Event()
        readers = Readers(stop, env={"ARSIP_CONFIG": str(config)})
        with DaemonProcess(tmp_path, config, database_url) as daemon:
            readers.start()
            try:
                # until each site has a finished run and a reader has seen articles (more
                # runs, of known URLs now, go on meanwhile)
                daemon.wait_for("a finished run of each site", lambda: runs_of(
                    database_url, "harian", "finished") and runs_of(
                    database_url, "mingguan", "finished") and any(readers.counts),
                    timeout=120)
                # a page a loaded machine fails to fetch in a site's first run is fetched by
                # a later one (every 2 s): the archive must be whole by then, never less
                wait_for(lambda: scalar(database_url, "SELECT COUNT(*) FROM articles") >= 20,
                         timeout=60)
                readers.wait_for_final_archive()
            finally:
                stop.set()
                readers.join()
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(60) == 0, daemon.log()[-3000:]
            log = daemon.log()
    readers.check()
    assert "locked" not in log.lower(), log[-3000:]
    for name in ("harian", "mingguan"):
        runs = runs_of(database_url, name)
        assert runs and all(r["status"] in ("finished", "interrupted") for r in runs), runs
        assert not [r for r in runs if r["error"] and "locked" in r["error"].lower()]
    count = scalar(database_url, "SELECT COUNT(*) FROM articles")
    assert count == 20, (count, all_runs(database_url), archived_urls(database_url))
    assert consistency_problems(database_url) == {}


def archived_urls(database_url: str) -> list[str]:
    from sqlalchemy import create_engine, text

    from storage.engine import normalise_url

    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(text("SELECT canonical_url FROM articles")).scalars())
    finally:
        engine.dispose()


def test_two_crawls_at_once_while_readers_read_duplicate_nothing_and_show_no_error(
        engine, database_url):
    stop = threading.Event()
    readers = Readers(stop)
    # a slow site (0.4 s a page): the crawls take several seconds, so the readers, started
    # first, also read while the archive grows
    with SiteServer(variant_renderer("situs A"), delay=0.4) as a, \
            SiteServer(variant_renderer("situs B"), delay=0.4) as b:
        readers.start()
        procs = [spawn_cli(*crawl_args(a.url)), spawn_cli(*crawl_args(b.url))]
        results = []
        try:
            for proc in procs:
                try:
                    out, err = proc.communicate(timeout=180)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                results.append((proc.returncode, out, err))
            readers.wait_for_final_archive()
        finally:
            stop.set()
            readers.join()
        # both were crawling at the same time
        spans = [(min(r.time for r in s.requests), max(r.time for r in s.requests))
                 for s in (a, b)]
        assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
    for code, out, err in results:
        assert code == 0, out + err
        assert "locked" not in err.lower() and error_lines(err) == [], err
        assert stored(out) == 10, out

    ids = {s.id for s in stories()}
    per_site: dict[str, set[str]] = {}
    for (url,) in rows(database_url, "SELECT canonical_url FROM articles"):
        host = url.split("/")[2]
        per_site.setdefault(host, set()).update(i for i in ids if f"/read/{i}/" in url)
    assert per_site == {a.url.split("/")[2]: ids, b.url.split("/")[2]: ids}
    assert scalar(database_url, "SELECT COUNT(*) FROM articles") == 2 * len(ids)
    assert scalar(database_url, "SELECT COUNT(DISTINCT canonical_url) FROM articles") == \
        2 * len(ids)
    assert scalar(database_url, "SELECT COUNT(*) FROM article_urls") == \
        scalar(database_url, "SELECT COUNT(DISTINCT url) FROM article_urls")
    assert consistency_problems(database_url) == {}
    statuses = [r[0] for r in rows(database_url, "SELECT status FROM crawl_runs")]
    assert statuses == ["finished", "finished"]
    readers.check()
