"""WAL checkpoints on a thread of the writer's process (``storage.checkpoint``).

A batch writer's commit no longer copies the log into the database file itself (SQLite's
automatic checkpoint past 1,000 pages): the thread does, after the writer nudges it; the
writer's own automatic checkpoint comes back as soon as the thread stops.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.checkpoint import DEFAULT_PAGES, SAFETY_PAGES, BackgroundCheckpoints
from storage.engine import make_engine

BLOB = 4_000_000  # bytes a transaction writes: about 1,000 pages of 4 KiB


def _write(engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO blobs (data) VALUES (randomblob(:n))"),
                     [{"n": BLOB // rows}] * rows)


def _autocheckpoint(engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'archive.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    yield engine, tmp_path / "archive.db"
    engine.dispose()


def test_without_the_thread_the_writer_checkpoints_by_itself(sqlite_engine):
    """What the thread takes over: past 1,000 pages of log, SQLite's commit copies them
    into the database file itself (this is what the other tests tell apart)."""
    engine, path = sqlite_engine
    _write(engine, 2)
    _write(engine, 2)
    assert _autocheckpoint(engine) == DEFAULT_PAGES
    assert os.path.getsize(path) > 2 * BLOB


def test_the_writer_leaves_the_checkpoint_to_the_thread(sqlite_engine):
    engine, path = sqlite_engine
    checkpoints = BackgroundCheckpoints(engine, min_interval=0).start()
    try:
        assert checkpoints.running
        assert _autocheckpoint(engine) == SAFETY_PAGES
        _write(engine, 2)
        _write(engine, 2)
        # committed, all in the log: the writer's commit copied nothing into the file
        assert os.path.getsize(path) < BLOB
        assert checkpoints.checkpoints == 0
        with engine.connect() as conn:  # every row readable meanwhile
            assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 4
        checkpoints.nudge()
        assert _wait_for(lambda: checkpoints.checkpoints >= 1)
        assert os.path.getsize(path) > 2 * BLOB  # the thread copied them
    finally:
        checkpoints.stop()
    assert not checkpoints.running
    # the engine's connections checkpoint by themselves again
    assert _autocheckpoint(engine) == DEFAULT_PAGES


def test_writers_in_turn_on_one_engine_share_one_listener(sqlite_engine):
    """Each run of a batch writer (``arsip bench reextract`` runs several on one engine)
    starts its own thread; the engine keeps one checkout listener, not one per run, and
    its connections follow the thread running now."""
    engine, _ = sqlite_engine
    first = BackgroundCheckpoints(engine, min_interval=0).start()
    listeners = len(engine.pool.dispatch.checkout)
    first.stop()
    for _ in range(3):
        again = BackgroundCheckpoints(engine, min_interval=0).start()
        try:
            assert _autocheckpoint(engine) == SAFETY_PAGES
        finally:
            again.stop()
        assert _autocheckpoint(engine) == DEFAULT_PAGES
    assert len(engine.pool.dispatch.checkout) == listeners


def test_stop_copies_the_last_batches(sqlite_engine):
    engine, path = sqlite_engine
    checkpoints = BackgroundCheckpoints(engine, min_interval=60).start()
    _write(engine, 2)
    checkpoints.nudge()  # waits min_interval (60 s) for the next checkpoint...
    started = time.monotonic()
    checkpoints.stop()  # ...which stop does not wait for: a last checkpoint at once
    assert time.monotonic() - started < 30
    assert checkpoints.checkpoints >= 1
    assert os.path.getsize(path) > BLOB


def test_the_crawl_writer_checkpoints_on_its_thread(engine, database_url):
    """The crawl's archive writer starts the thread at its first batch and stops it when it
    closes."""
    from crawler.writer_process import Writer, WriterConfig
    from tests.test_writer_process import _page, _site

    writer = Writer(WriterConfig(database_url, _site(engine), None, 0.8))
    try:
        assert not writer.checkpoints.running
        written = writer.write([("page", _page(0).url, _page(0))])
        assert [getattr(r, "outcome", r) for r in written.results] == ["new"]
        assert writer.checkpoints.running == writer.checkpoints.enabled
        if writer.checkpoints.enabled:
            assert _wait_for(lambda: writer.checkpoints.checkpoints >= 1)
    finally:
        writer.close()
    assert not writer.checkpoints.running
    assert writer.checkpoints.enabled == database_url.startswith("sqlite")


def test_nothing_runs_for_postgresql_or_memory():
    for url in ("postgresql+psycopg://arsip@127.0.0.1:1/none", "sqlite://"):
        engine = make_engine(url)
        checkpoints = BackgroundCheckpoints(engine).start()
        assert not checkpoints.enabled and not checkpoints.running
        checkpoints.nudge()
        checkpoints.stop()
        engine.dispose()
