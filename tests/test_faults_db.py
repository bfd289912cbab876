"""The archive survives faults of the crawl process and of the database: a SIGKILL in the
middle of a crawl, the PostgreSQL server going away, a full disk, a read-only filesystem.

Each test drives the real ``arsip crawl`` CLI against the sample news site on 127.0.0.1 and
checks the archive afterwards with SQL (``tests.fault_helpers.CONSISTENCY_CHECKS``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arsip.sample_site.content import stories
from arsip.sample_site.server import SiteServer
from tests.conftest import BACKEND, run_cli
from tests.fault_helpers import (
    PostgresServer,
    TmpfsMount,
    can_mount,
    consistency_problems,
    error_lines,
    postgres_bindir,
    rows,
    scalar,
    spawn_cli,
    sqlite_integrity,
    variant_renderer,
    wait_for,
)

STORY_PATHS = {s.path: s.id for s in stories()}
# a crawl slow enough for a fault to land in its middle: a slow server and one request at a
# time, 0.3 s apart (about 20 pages: 10 s and more)
SLOW = ("--download-delay", "0.3")
ALL_IDS = set(STORY_PATHS.values())


def archived_ids(database_url: str) -> list[str]:
    """The sample-site story id of every archived article (one entry per article row)."""
    out = []
    for (url,) in rows(database_url, "SELECT canonical_url FROM articles"):
        ids = [sid for path, sid in STORY_PATHS.items() if path in url]
        assert len(ids) == 1, f"not a story URL: {url}"
        out.extend(ids)
    return out


def story_fetches(server: SiteServer, start: int = 0) -> list[str]:
    """Story ids of the article-page requests in the server's log (from entry ``start``)."""
    out = []
    for req in server.requests[start:]:
        sid = STORY_PATHS.get(req.path.split("?")[0].rstrip("/"))
        if sid:
            out.append(sid)
    return out


def run_statuses(database_url: str) -> list[tuple[int, str, str | None]]:
    return [(r[0], r[1], r[2]) for r in rows(
        database_url, "SELECT id, status, error FROM crawl_runs ORDER BY id")]


def assert_consistent(database_url: str) -> None:
    problems = consistency_problems(database_url)
    assert problems == {}, f"archive not consistent: {problems}"


def crawl_args(site_url: str, *extra: str) -> list[str]:
    return ["crawl", site_url + "/", "--quiet", "--workers", "0", *extra]


# -- SIGKILL in the middle of a crawl ------------------------------------------------------

def test_sigkill_mid_crawl_then_recrawl_loses_and_duplicates_nothing(database_url):
    with SiteServer(delay=0.3) as site:
        proc = spawn_cli(*crawl_args(site.url, *SLOW))
        try:
            started = wait_for(
                lambda: proc.poll() is not None
                or (scalar(database_url, "SELECT COUNT(*) FROM articles")
                    if _has_schema(database_url) else 0) >= 1,
                timeout=60, interval=0.05)
            assert started and proc.poll() is None, (
                "the crawl ended before anything was archived: " + _output(proc))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL

        # what the killed crawl left: whole articles only, and its run still "running"
        assert_consistent(database_url)
        first_ids = archived_ids(database_url)
        assert first_ids and len(first_ids) == len(set(first_ids))
        assert set(first_ids) < ALL_IDS, "the kill landed after the crawl had finished"
        runs = run_statuses(database_url)
        assert [r[1] for r in runs] == ["running"]
        killed_run = runs[0][0]

        # the same crawl again (the site need not be slow any more)
        site._server.delay = 0.0
        before = len(site.requests)
        res = run_cli(*crawl_args(site.url))
        assert res.returncode == 0, res.stdout + res.stderr
        refetched = set(story_fetches(site, before)) & set(first_ids)
        assert refetched == set(), f"archived by the killed run yet fetched again: {refetched}"

    # nothing lost, nothing twice, nothing half-written
    final_ids = archived_ids(database_url)
    assert sorted(final_ids) == sorted(ALL_IDS)
    # (one first page each; a multi-page article's later pages are stored with it)
    assert scalar(database_url, "SELECT COUNT(*) FROM raw_pages WHERE part = 0") \
        == len(ALL_IDS)
    assert_consistent(database_url)
    runs = dict((r[0], r[1]) for r in run_statuses(database_url))
    assert runs[killed_run] == "abandoned"
    assert sorted(runs.values()) == ["abandoned", "finished"]
    # and `arsip runs` shows the killed run as not finished
    shown = run_cli("runs", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    statuses = {r["id"]: r["status"] for r in json.loads(shown.stdout)}
    assert statuses[killed_run] == "abandoned"


def _has_schema(database_url: str) -> bool:
    try:
        scalar(database_url, "SELECT COUNT(*) FROM articles")
    except Exception:  # noqa: BLE001 - the crawl has not migrated the database yet
        return False
    return True


def _output(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        return "(still running)"
    out, err = proc.communicate()
    return f"exit {proc.returncode}: {out} {err}"


# -- the PostgreSQL server going away mid-crawl --------------------------------------------

@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PostgresServer]:
    if BACKEND != "postgresql":
        pytest.skip("PostgreSQL only (set ARSIP_TEST_DATABASE_URL): an SQLite file cannot "
                    "go away like a server")
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)")
    server = PostgresServer(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class OutageResult:
    url: str
    returncode: int
    stdout: str
    stderr: str
    first_ids: list[str]
    first_problems: dict[str, list[tuple[object, ...]]]
    first_runs: list[tuple[int, str, str | None]]
    refetched: set[str]
    second: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def postgres_outage(private_postgres: PostgresServer) -> OutageResult:
    """A crawl whose PostgreSQL server is stopped mid-crawl and started again once the crawl
    has ended; then the same crawl again."""
    pg = private_postgres
    url = pg.create_database(f"arsip_fault_{uuid.uuid4().hex[:8]}")
    env = {"ARSIP_DATABASE_URL": url}
    with SiteServer(delay=0.3) as site:
        proc = spawn_cli(*crawl_args(site.url, *SLOW), env=env)
        try:
            assert wait_for(lambda: proc.poll() is not None or _count(url) >= 1, timeout=60,
                            interval=0.05), "nothing archived within 60 s"
            assert proc.poll() is None, "the crawl ended before the database went away"
            pg.stop("fast")  # the server goes away (its connections are terminated)
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pg.start()
        first_ids = archived_ids(url)
        first_problems = consistency_problems(url)
        first_runs = run_statuses(url)
        site._server.delay = 0.0  # the recovery run need not be slow
        before = len(site.requests)
        second = run_cli(*crawl_args(site.url), env=env)
        refetched = set(story_fetches(site, before)) & set(first_ids)
    return OutageResult(url, proc.returncode, out, err, first_ids, first_problems, first_runs,
                        refetched, second)


def test_postgres_stopped_mid_crawl_fails_clearly_then_next_run_recovers(postgres_outage):
    r = postgres_outage
    # the failure is reported: exit 1, and the last line says what happened
    assert r.returncode == 1, r.stdout + r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("arsip: error:") and "database" in last, r.stderr
    assert len(error_lines(r.stderr.replace("Traceback", ""))) == 1, r.stderr
    assert "failed" in r.stdout  # the summary line names the run as failed
    # nothing half-written, nothing twice
    assert len(r.first_ids) == len(set(r.first_ids)) >= 1
    assert r.first_problems == {}
    assert len(r.first_runs) == 1 and r.first_runs[0][1] in ("running", "failed")
    # the next run recovers: exit 0, everything archived once, nothing archived re-fetched
    assert r.second.returncode == 0, r.second.stdout + r.second.stderr
    assert r.refetched == set()
    assert sorted(archived_ids(r.url)) == sorted(ALL_IDS)
    assert_consistent(r.url)
    statuses = [row[1] for row in run_statuses(r.url)]
    assert statuses[0] in ("failed", "abandoned") and statuses[1] == "finished", statuses


def test_postgres_outage_shows_no_traceback(postgres_outage):
    assert "Traceback" not in postgres_outage.stderr, postgres_outage.stderr


def _count(url: str) -> int:
    return scalar(url, "SELECT COUNT(*) FROM articles") if _has_schema(url) else 0


# -- a read-only filesystem, a full disk (SQLite) -------------------------------------------

@pytest.fixture
def tmpfs() -> Iterator[TmpfsMount]:
    if BACKEND != "sqlite":
        pytest.skip("an SQLite file on a small filesystem: the PostgreSQL server's own disk "
                    "is not the crawl's to fill")
    reason = can_mount()
    if reason:
        pytest.skip(reason)
    fs = TmpfsMount(8 * 1024 * 1024)
    fs.mount()
    try:
        yield fs
    finally:
        fs.close()


@pytest.fixture(scope="module")
def seeded_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, set[str]]]:
    """An SQLite archive that a first, successful small crawl filled (made once per module;
    each test copies it): what the archive holds before the fault."""
    if BACKEND != "sqlite":
        pytest.skip("SQLite only: a full disk or a read-only filesystem under the archive "
                    "file (a PostgreSQL server's disk is the server's own)")
    db = tmp_path_factory.mktemp("seed") / "arsip.db"
    url = f"sqlite:///{db}"
    with SiteServer() as site:
        res = run_cli(*crawl_args(site.url, "--max-pages", "6"),
                      env={"ARSIP_DATABASE_URL": url})
    assert res.returncode == 0, res.stdout + res.stderr
    held = {r[0] for r in rows(url, "SELECT canonical_url FROM articles")}
    assert 1 <= len(held) < len(ALL_IDS), held
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    yield db, held


def _copy_archive(seed: Path, folder: Path) -> tuple[Path, str]:
    db = folder / "arsip.db"
    shutil.copyfile(seed, db)
    return db, f"sqlite:///{db}"


def _assert_one_line_failure(res: subprocess.CompletedProcess[str], *words: str) -> str:
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    # every line is a log line or ours: no multi-line message anywhere
    for line in res.stderr.strip().splitlines():
        assert re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ |arsip: )", line), line
    errors = error_lines(res.stderr)
    assert len(errors) == 1, res.stderr
    assert res.stderr.strip().splitlines()[-1] == errors[0]
    assert any(w in errors[0] for w in words), errors[0]
    return errors[0]


def test_read_only_filesystem_is_a_clear_error_and_archive_intact(tmpfs, seeded_archive):
    db, url = _copy_archive(seeded_archive[0], tmpfs.dir)
    held = seeded_archive[1]
    with SiteServer() as site:
        tmpfs.remount("ro")
        before = len(site.requests)
        res = run_cli(*crawl_args(site.url), env={"ARSIP_DATABASE_URL": url})
        _assert_one_line_failure(res, "read-only", "readonly", "read only")
        # it did not crawl without an archive to write to
        assert site.requests[before:] == []
    # readers still read the archive where it is
    env = {"ARSIP_DATABASE_URL": url}
    res = run_cli("export", "--format", "jsonl", env=env)
    assert res.returncode == 0, res.stderr
    assert {json.loads(line)["url"] for line in res.stdout.splitlines()} == held
    res = run_cli("search", "Rusia", "--format", "json", env=env)
    assert res.returncode == 0 and error_lines(res.stderr) == [], res.stderr
    tmpfs.remount("rw")
    assert sqlite_integrity(db) == "ok"
    assert {r[0] for r in rows(url, "SELECT canonical_url FROM articles")} == held
    assert_consistent(url)


def test_full_disk_is_a_clear_error_and_archive_intact(tmpfs, seeded_archive):
    db, url = _copy_archive(seeded_archive[0], tmpfs.dir)
    held = seeded_archive[1]
    # a site of texts the archive does not hold yet: real writes
    with SiteServer(variant_renderer("edisi lain")) as site:
        # a disk with room for the database as it is, and a little more
        tmpfs.remount(f"size={tmpfs.used() + 96 * 1024}")
        res = run_cli(*crawl_args(site.url), env={"ARSIP_DATABASE_URL": url})
        _assert_one_line_failure(res, "full", "space")
    tmpfs.remount("size=8m")
    assert sqlite_integrity(db) == "ok"
    after = {r[0] for r in rows(url, "SELECT canonical_url FROM articles")}
    assert held <= after and len(after) < len(held) + len(ALL_IDS)
    assert_consistent(url)
    # the failed run is recorded as such, with the reason
    last = run_statuses(url)[-1]
    assert last[1] == "failed" and "full" in (last[2] or ""), last


def test_database_errors_reaching_the_cli_edge_are_one_line():
    # what `arsip` prints for a raw database error (e.g. the server gone mid-command)
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from arsip.cli import error_message

    exc = OperationalError("INSERT INTO articles ...", {}, sqlite3.OperationalError(
        "database or disk is full"))
    assert error_message(exc) == ("database error: database or disk is full", 1)
