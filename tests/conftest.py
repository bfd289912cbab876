"""Shared test fixtures.

Backend: by default every test archive is a fresh SQLite file. With
``ARSIP_TEST_DATABASE_URL=postgresql://user@127.0.0.1:PORT/postgres`` (a server the test run
may create databases on) each test gets a fresh PostgreSQL database instead, so the whole
suite runs on PostgreSQL (see README: "Running the tests on PostgreSQL").
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.fault_helpers import stop

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
# the seed article the project starts from (a copy of ../shared/seeds/000_21469154c11597cc.txt
# kept in the repository, so that its tests run on any clone)
SEED = REPO_ROOT / "tests" / "data" / "seeds" / "000_21469154c11597cc.txt"
CORPUS = SHARED / "corpus"

PG_ADMIN_URL = os.environ.get("ARSIP_TEST_DATABASE_URL", "")
BACKEND = "postgresql" if PG_ADMIN_URL.startswith("postgres") else "sqlite"


def pytest_report_header(config: pytest.Config) -> str:
    return f"arsip test backend: {BACKEND}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's arsip.toml or archive, or writes into the repo."""
    for name in list(os.environ):
        if name.startswith("ARSIP_") and not name.startswith("ARSIP_TEST_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _pg_create(admin_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    from storage.engine import normalise_url

    name = f"arsip_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalise_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


def _pg_drop(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    from storage.engine import normalise_url

    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty archive database URL (SQLite file or PostgreSQL database).

    Also exported as ARSIP_DATABASE_URL, so CLI calls in the test use it.
    """
    if BACKEND == "postgresql":
        url, name = _pg_create(PG_ADMIN_URL)
        monkeypatch.setenv("ARSIP_DATABASE_URL", url)
        yield url
        _pg_drop(PG_ADMIN_URL, name)
    else:
        url = f"sqlite:///{tmp_path / 'arsip.db'}"
        monkeypatch.setenv("ARSIP_DATABASE_URL", url)
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[object]:
    """An engine on a fresh archive migrated to head."""
    from storage.engine import open_archive

    eng = open_archive(database_url)
    yield eng
    eng.dispose()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``arsip`` CLI in a subprocess (same interpreter)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "arsip", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=input,
    )


@pytest.fixture
def cli():
    return run_cli


@contextmanager
def serve_process(database_url: str, cwd: Path, *args: str,
                  ) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """``arsip serve --port 0 ARGS`` in a subprocess on the archive: (process, its
    http://127.0.0.1:PORT address, the line it printed), stopped (killed if it must) on the
    way out."""
    import re

    proc = subprocess.Popen(
        [sys.executable, "-m", "arsip", "serve", "--port", "0", *args], cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ARSIP_DATABASE_URL": database_url})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, f"arsip serve did not start: {line!r} " \
                      f"{proc.stderr.read() if proc.stderr else ''}"
        yield proc, match.group(0), line
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def seed_text() -> str:
    if not SEED.exists():
        pytest.skip(f"seed article not found at {SEED} (the repository's copy is missing)")
    return SEED.read_text(encoding="utf-8")


# -- Redis (``arsip worker``'s queue) ------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """``ARSIP_TEST_REDIS_URL`` (CI; the test database is flushed), else a private
    ``redis-server`` on a free loopback port (skipped with a reason when not installed)."""
    url = os.environ.get("ARSIP_TEST_REDIS_URL")
    if url:
        # pytest-xdist workers share the server: each gets a database of its own, since
        # every test flushes its database and run ids (1, 2, ...) repeat across archives
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        number = int(worker[2:]) if worker[2:].isdigit() else 0
        parts = urlsplit(url)
        yield urlunsplit((parts.scheme, parts.netloc, f"/{1 + number % 15}", parts.query, ""))
        return
    from arsip.bench.workers import private_redis
    from arsip.errors import CommandError

    try:
        server = private_redis()
        started = server.__enter__()
    except CommandError as exc:
        pytest.skip(f"{exc} (and ARSIP_TEST_REDIS_URL is not set)")
    try:
        yield started
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def redis_url(redis_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    monkeypatch.setenv("ARSIP_REDIS_URL", redis_server)
    return redis_server
