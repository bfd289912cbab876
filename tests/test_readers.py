"""Readers of the archive (``storage.engine.open_reader``: the CLI's search, export, show and
lists, the crawl's known-URL look-ups, the web view) while writers come and go.

A reader never fails because a writer is busy, has just closed (and removed the ``-wal`` and
``-shm`` files) or has not opened yet; it never writes, never migrates and never creates the
database. On SQLite readers used to open the file read-only (``mode=ro``), which cannot always
build the ``-shm`` index or recover a WAL that a writer has just left ("unable to open
database file"); they now use an ordinary connection with ``PRAGMA query_only``. The crawl
test runs on PostgreSQL too; the tests of SQLite's files are skipped there.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from arsip.sample_site.server import SiteServer
from storage.engine import make_engine, open_archive, open_reader
from storage.errors import NoArchive, StorageError
from tests.conftest import BACKEND, run_cli
from tests.fault_helpers import consistency_problems, error_lines, variant_renderer, wait_for

sqlite_only = pytest.mark.skipif(BACKEND != "sqlite",
                                 reason="SQLite only: its files (-wal, -shm) and connection modes")


# ------------------------------------------------------------------ a reader cannot write


@pytest.mark.parametrize("sql", [
    "INSERT INTO sites (name, created_at) VALUES ('x', CURRENT_TIMESTAMP)",
    "DELETE FROM articles",
    "CREATE TABLE intruder (x INTEGER)",
    "DROP TABLE articles",
])
def test_a_reader_cannot_write(engine: Any, database_url: str, sql: str) -> None:
    reader = open_reader(database_url)
    try:
        with pytest.raises(DBAPIError) as caught, reader.begin() as conn:
            conn.execute(text(sql))
        assert "read" in str(caught.value.orig).lower()  # readonly / read-only transaction
        with reader.connect() as conn:  # and the archive is as it was
            assert conn.execute(text("SELECT COUNT(*) FROM sites")).scalar() == 0
            names = reader.dialect.get_table_names(conn)
        assert "articles" in names and "intruder" not in names
    finally:
        reader.dispose()


@sqlite_only
def test_a_reader_never_creates_or_migrates_the_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(NoArchive, match="no archive at .*none.db"):
        open_reader(f"sqlite:///{missing}")
    assert list(tmp_path.iterdir()) == []  # no empty database, no -wal, no -shm
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a database without the archive's tables
    with pytest.raises(NoArchive):
        open_reader(f"sqlite:///{empty}")
    assert sqlite3.connect(empty).execute("SELECT COUNT(*) FROM sqlite_master").fetchone() == (0,)
    # through the CLI: one line, exit 1, still nothing created
    for args in (["search", "x"], ["export"], ["show", "1"]):
        res = run_cli(*args, env={"ARSIP_DATABASE_URL": f"sqlite:///{missing}"})
        assert res.returncode == 1, res.stderr
        assert error_lines(res.stderr) == [res.stderr.strip()], res.stderr
        assert "no archive at" in res.stderr
    assert not missing.exists() and not Path(f"{missing}-wal").exists()


@sqlite_only
def test_a_reader_is_an_ordinary_connection_that_refuses_writes(engine: Any,
                                                                 database_url: str) -> None:
    reader = open_reader(database_url)
    try:
        assert reader.url.query.get("mode") == "rw"  # not mode=ro; never created (no rwc)
        with reader.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    finally:
        reader.dispose()


# ------------------------------------------------------------------ writers come and go


def _sqlite_file(database_url: str) -> Path:
    return Path(database_url.removeprefix("sqlite:///"))


def _count(reader_url: str) -> int:
    reader = open_reader(reader_url)
    try:
        with reader.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM sites")).scalar_one())
    finally:
        reader.dispose()


@sqlite_only
def test_a_reader_opens_whatever_state_the_last_writer_left(engine: Any,
                                                            database_url: str) -> None:
    """The states a writer leaves behind, one by one: closed (no -wal, no -shm), open with
    frames in the WAL, killed with frames in the WAL and no -shm, and a -shm that is
    stale or empty. Each time the reader reads every committed row."""
    db = _sqlite_file(database_url)
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    engine.dispose()
    assert not wal.exists() and not shm.exists()  # the last writer closed: both removed
    assert _count(database_url) == 0

    raw = sqlite3.connect(db)
    raw.execute("PRAGMA wal_autocheckpoint=0")
    raw.execute("INSERT INTO sites (name, created_at) VALUES ('satu', CURRENT_TIMESTAMP)")
    raw.commit()
    assert wal.stat().st_size > 0
    assert _count(database_url) == 1  # a writer is open, its frames only in the WAL
    # as if it had been killed: the WAL with its frames, no -shm (recovery needed)
    saved = wal.read_bytes()
    raw.close()
    wal.write_bytes(saved)
    shm.unlink(missing_ok=True)
    assert _count(database_url) == 1
    for stale in (b"", b"\0" * 3, b"\xff" * 32768):
        shm.write_bytes(stale)
        assert _count(database_url) == 1, stale[:4]


@sqlite_only
def test_a_reader_waits_for_a_writer_holding_the_whole_file(engine: Any,
                                                            database_url: str) -> None:
    """The last writer to close checkpoints with an exclusive lock on the file and then
    removes -wal and -shm; a reader arriving then waits (busy timeout), never fails."""
    db = _sqlite_file(database_url)
    engine.dispose()
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO sites (name, created_at) VALUES ('dua', CURRENT_TIMESTAMP)")
    release = threading.Timer(1.5, lambda: (holder.execute("COMMIT"), holder.close()))
    release.start()
    try:
        started = time.monotonic()
        assert _count(database_url) == 1  # waited for the commit, then read it
        assert time.monotonic() - started >= 1.0
    finally:
        release.join()


@sqlite_only
def test_a_reader_retries_an_open_that_fails_for_an_instant(
        engine: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's first read can fail for an instant while another connection creates,
    recovers or removes the WAL's files ("unable to open database file", "database is
    locked", outside the busy handler). Provoked here for real: the -wal path is a folder
    for 0.5 s (SQLite cannot open the WAL: "unable to open database file"). The reader
    retries and reads; should the failure last, it is one line after the retries."""
    import storage.engine

    db = _sqlite_file(database_url)
    engine.dispose()
    wal = Path(f"{db}-wal")
    wal.mkdir()
    with pytest.raises(sqlite3.OperationalError, match="unable to open database file"):
        sqlite3.connect(db).execute("SELECT COUNT(*) FROM sites").fetchone()
    unblock = threading.Timer(0.5, wal.rmdir)
    unblock.start()
    try:
        assert _count(database_url) == 0
    finally:
        unblock.join()
    assert not wal.is_dir()
    wal.unlink(missing_ok=True)
    wal.mkdir()  # for good this time: a clear error once the retries are over
    monkeypatch.setattr(storage.engine, "READER_OPEN_RETRY_SECONDS", 0.3)
    with pytest.raises(StorageError, match="cannot open database .*unable to open database file"):
        open_reader(database_url)
    wal.rmdir()


def _writer_loop(url: str, seconds: float, done: Any, out: Any) -> None:
    """Open a writer engine, commit a row, close it (the last connection removes -wal and
    -shm), again and again: the writer that has just closed and has not opened yet. Goes on
    (up to 30 s more) until it has closed as the last connection at least 3 times."""
    removed = written = 0
    db = Path(url.removeprefix("sqlite:///"))
    start = time.monotonic()
    while time.monotonic() - start < seconds or (
            removed < 3 and time.monotonic() - start < seconds + 30):
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO sites (name, created_at) VALUES (:n, CURRENT_TIMESTAMP)"),
                         {"n": f"w{written}"})
        eng.dispose()
        written += 1
        removed += not Path(f"{db}-wal").exists()
    done.set()
    out.put(("writer", written, removed))


def _reader_loop(url: str, done: Any, out: Any) -> None:
    ok, errors = 0, Counter[str]()
    while not done.is_set():
        try:
            _count(url)
            ok += 1
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            errors[str(exc)[:200]] += 1
        time.sleep(0.002 * (ok % 3))  # moments with no reader open: the writer is alone
    out.put(("reader", ok, dict(errors)))


@sqlite_only
def test_readers_never_fail_while_writers_open_and_close(engine: Any,
                                                         database_url: str) -> None:
    """Processes opening reader engines in a loop while a writer process opens, commits
    and closes in a loop: no reader call fails, whatever instant it opens at (the writer
    busy, just closed with -wal and -shm removed, or not opened yet)."""
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    out, done = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_writer_loop, args=(database_url, 6.0, done, out))]
    procs += [ctx.Process(target=_reader_loop, args=(database_url, done, out))
              for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    writer = next(r for r in results if r[0] == "writer")
    readers = [r for r in results if r[0] == "reader"]
    assert writer[1] > 0 and writer[2] >= 3, writer  # it did close as the last connection
    assert all(r[1] > 0 for r in readers), readers
    assert [r[2] for r in readers] == [{}, {}, {}], readers


# ------------------------------------------------------------------ a real crawl


def _archive(url: str) -> list[tuple[str, str, str]]:
    res = run_cli("export", "--format", "jsonl", env={"ARSIP_DATABASE_URL": url})
    assert res.returncode == 0, res.stderr
    return sorted((r["url"].split("/", 3)[3], r["title"], r["body"])
                  for r in map(json.loads, res.stdout.splitlines()))


class ReaderProcesses:
    """Threads each running the real CLI (search as JSON, export as JSONL) in a loop."""

    CALLS = [["search", "Rusia", "--format", "json", "--limit", "100"],
             ["export", "--format", "jsonl"]]

    def __init__(self, n: int) -> None:
        self.stop = threading.Event()
        self.results: list[tuple[list[str], Any]] = []
        self.exported: list[int] = []
        self.threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(n)]

    def _loop(self, i: int) -> None:
        while not self.stop.is_set():
            args = self.CALLS[i % len(self.CALLS)]
            i += 1
            res = run_cli(*args, timeout=120)
            self.results.append((args, res))
            if args[0] == "export" and res.returncode == 0:
                self.exported.append(len(res.stdout.splitlines()))

    def __enter__(self) -> ReaderProcesses:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=300)


def test_readers_during_a_slow_crawl_never_fail_and_the_archive_is_the_reference(
        engine: Any, database_url: str, tmp_path: Path) -> None:
    """A crawl of a slowed site (every response delayed, several seconds in all) with reader
    processes looping search and export from before its first request to after its end:
    no reader call fails or says "locked", and the archive equals an undisturbed crawl's."""
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    renderer = variant_renderer("pembaca")
    with SiteServer(renderer) as site:
        res = run_cli("crawl", site.url + "/", "--quiet", "--workers", "0",
                      env={"ARSIP_DATABASE_URL": reference})
        assert res.returncode == 0, res.stderr
    expected = _archive(reference)
    assert len(expected) == 10
    with SiteServer(renderer, delay=0.4) as site, ReaderProcesses(4) as readers:
        assert wait_for(lambda: len(readers.results) >= 2, timeout=60)  # reading already
        crawl = run_cli("crawl", site.url + "/", "--quiet", timeout=300)
        # go on until a reader has exported the whole archive, after the crawl
        assert wait_for(lambda: len(expected) in readers.exported, timeout=120)
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    assert "locked" not in crawl.stderr.lower() and error_lines(crawl.stderr) == []
    failed = [(args, r.returncode, r.stderr) for args, r in readers.results
              if r.returncode != 0 or "locked" in r.stderr.lower() or error_lines(r.stderr)]
    assert failed == [], failed
    for args, r in readers.results:  # well-formed output every time
        if args[0] == "search":
            assert isinstance(json.loads(r.stdout), list)
        else:
            [json.loads(line) for line in r.stdout.splitlines()]
    assert len(set(readers.exported)) >= 2, readers.exported  # they read while it grew
    assert _archive(database_url) == expected
    assert consistency_problems(database_url) == {}


def test_open_archive_readonly_is_the_reader(engine: Any, database_url: str) -> None:
    """``open_archive(readonly=True)`` (older callers) gives the same reader engine."""
    reader = open_archive(database_url, readonly=True)
    try:
        with pytest.raises(DBAPIError), reader.begin() as conn:
            conn.execute(text("INSERT INTO sites (name, created_at) VALUES ('x', CURRENT_TIMESTAMP)"))
    finally:
        reader.dispose()
