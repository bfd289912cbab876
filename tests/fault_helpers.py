"""Helpers of the fault, concurrency and fuzz tests: archive consistency checks in SQL, a
private PostgreSQL server a test may stop and start, small tmpfs mounts (a full disk, a
read-only filesystem), and the real ``arsip`` CLI in a background process.

Everything stays on this machine: servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

# Each query returns offending rows; an intact archive gives none for every one.
CONSISTENCY_CHECKS = {
    "article without its canonical URL in article_urls": """
        SELECT a.id, a.canonical_url FROM articles a
        WHERE NOT EXISTS (SELECT 1 FROM article_urls u
                          WHERE u.article_id = a.id AND u.url = a.canonical_url)""",
    "article without a raw page": """
        SELECT a.id, a.canonical_url FROM articles a
        WHERE NOT EXISTS (SELECT 1 FROM raw_pages r WHERE r.article_id = a.id)""",
    "article without a body": """
        SELECT a.id, a.canonical_url FROM articles a WHERE a.body IS NULL OR a.body = ''""",
    "alias of a missing article": """
        SELECT u.id, u.url FROM article_urls u
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = u.article_id)""",
    "raw page of a missing article": """
        SELECT r.id, r.url FROM raw_pages r
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = r.article_id)""",
    "link of a missing article": """
        SELECT l.id, l.to_url FROM article_links l
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = l.from_article_id)""",
    "version of a missing article": """
        SELECT v.id, v.article_id FROM article_versions v
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = v.article_id)""",
    "minhash band of a missing article": """
        SELECT b.article_id, b.band FROM minhash_bands b
        WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = b.article_id)""",
    "article of a missing site": """
        SELECT a.id, a.site_id FROM articles a
        WHERE NOT EXISTS (SELECT 1 FROM sites s WHERE s.id = a.site_id)""",
    "duplicated canonical URL": """
        SELECT canonical_url, COUNT(*) FROM articles GROUP BY canonical_url
        HAVING COUNT(*) > 1""",
    "duplicated alias URL": """
        SELECT url, COUNT(*) FROM article_urls GROUP BY url HAVING COUNT(*) > 1""",
}


def plain_engine(database_url: str) -> Any:
    """An engine with no arsip set-up at all (no migration, no WAL switch): for checks."""
    from storage.engine import normalise_url

    return create_engine(normalise_url(database_url))


def consistency_problems(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every consistency check that found rows, with (up to 5 of) those rows."""
    eng = plain_engine(database_url)
    problems: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with eng.connect() as conn:
            for name, sql in CONSISTENCY_CHECKS.items():
                rows = [tuple(r) for r in conn.execute(text(sql)).fetchmany(5)]
                if rows:
                    problems[name] = rows
    finally:
        eng.dispose()
    return problems


def scalar(database_url: str, sql: str, **params: Any) -> Any:
    eng = plain_engine(database_url)
    try:
        with eng.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        eng.dispose()


def article_count(database_url: str) -> int:
    """Articles in the archive; 0 while it is not migrated yet (a crawl just started)."""
    try:
        return int(scalar(database_url, "SELECT COUNT(*) FROM articles"))
    except Exception:  # noqa: BLE001 - not migrated yet
        return 0


def process_gone(proc: Any) -> bool:
    """A ``psutil.Process`` that has ended (a zombie not yet reaped counts as ended)."""
    import psutil

    try:
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def rows(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    eng = plain_engine(database_url)
    try:
        with eng.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        eng.dispose()


def sqlite_integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of an SQLite file ("ok" when intact)."""
    import sqlite3

    conn = sqlite3.connect(str(path))
    try:
        return ";".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def stop(proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    """Ask a process to end (SIGTERM); killed if it has not within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The real ``arsip`` CLI in a background process (its own process group)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "arsip", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=full_env, start_new_session=True,
    )


def error_lines(stderr: str) -> list[str]:
    """The lines a user sees as errors: ours (``arsip: error:``) and any traceback."""
    return [line for line in stderr.splitlines()
            if line.startswith("arsip: error:") or line.startswith("Traceback")]


# -- a private PostgreSQL server ----------------------------------------------------------

def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A throw-away PostgreSQL server on 127.0.0.1 that a test may stop and start.

    Run as the ``postgres`` user (the server refuses to run as root) from a data directory
    owned by that user, with trust authentication for local connections.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="arsip-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*runner, *cmd], capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=self.root)

    def init(self) -> None:
        res = self._as_postgres(str(self.bindir / "initdb"), "-D", str(self.data), "-A",
                                "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {res.stderr.strip()[-500:]}")

    def start(self) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                "-c fsync=off -c max_connections=50")
        res = self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                                str(self.log), "-o", opts, "-w", "-t", "60", "start")
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()[-500:]} "
                               f"{self.log.read_text(errors='replace')[-500:]}")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode,
                              "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> str:
        from storage.engine import normalise_url

        admin = create_engine(normalise_url(self.admin_url), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# -- small filesystems: a full disk, a read-only one ---------------------------------------

class TmpfsMount:
    """A tmpfs of ``size`` bytes mounted on a fresh directory (root only)."""

    def __init__(self, size: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="arsip-fs-"))
        self.size = size
        self.mounted = False

    def mount(self) -> None:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs",
                              str(self.dir)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise PermissionError(res.stderr.strip() or "mount failed")
        self.mounted = True

    def remount(self, *options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(["remount", *options]), str(self.dir)],
                       capture_output=True, text=True, check=True)

    def used(self) -> int:
        st = os.statvfs(self.dir)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.dir)], capture_output=True, check=False)
            self.mounted = False
        shutil.rmtree(self.dir, ignore_errors=True)


def can_mount() -> str | None:
    """None when this process may mount a tmpfs, else the reason it may not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    probe = TmpfsMount(64 * 1024)
    try:
        probe.mount()
    except PermissionError as exc:
        return f"mounting a tmpfs is not permitted here: {exc}"
    finally:
        probe.close()
    return None


# -- sample sites with texts of their own ---------------------------------------------------

def variant_renderer(tag: str) -> Any:
    """The sample site with every paragraph marked ``tag``: same shape, other texts (so its
    articles are new to an archive that holds the plain site or another variant)."""
    from dataclasses import replace

    from arsip.sample_site.content import stories
    from arsip.sample_site.site import SampleSite

    varied = [replace(s, paragraphs=[f"{p} [{tag} {i}]" for i, p in enumerate(s.paragraphs)])
              for s in stories()]
    return SampleSite(varied).render
