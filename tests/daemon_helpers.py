"""Helpers of the daemon tests: a config writer, a tiny local site, the real daemon in a
subprocess, and run queries. Everything stays on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PAGE = b"""<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Beranda</title></head><body><h1>Beranda</h1>
<p>Halaman kecil untuk uji daemon.</p></body></html>"""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def write_config(path: Path, sites: list[dict[str, Any]], daemon: dict[str, Any] | None = None,
                 **top: Any) -> Path:
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    if daemon:
        lines.append("[daemon]")
        lines += [f"{k} = {toml_value(v)}" for k, v in daemon.items()]
    for site in sites:
        lines.append("[[sites]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in site.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def site(name: str, url: str = "http://127.0.0.1:9/", **keys: Any) -> dict[str, Any]:
    """A site entry on a loopback URL (hook sites never fetch it)."""
    return {"name": name, "start_urls": [url], "allowed_domains": ["127.0.0.1"], **keys}


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def tiny_site() -> Iterator[str]:
    """A one-page site on 127.0.0.1; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class DaemonProcess:
    """`arsip daemon` in a subprocess, its stderr in a file."""

    def __init__(self, workdir: Path, config: Path, database_url: str,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.config = config
        self.database_url = database_url
        self.extra_args = extra_args
        self.log_path = workdir / f"daemon-{time.monotonic_ns()}.log"
        # --log-file: the same lines, and the crawl children's logs go next to it
        self.file_log_path = workdir / "logs" / "daemon.log"
        self.file_log_path.parent.mkdir(exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ARSIP_CONFIG"] = str(self.config)
        env["ARSIP_DATABASE_URL"] = self.database_url
        return env

    def start(self) -> DaemonProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arsip", "daemon", "--log-level", "INFO", "--log-file", str(self.file_log_path),
             *self.extra_args],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env(), cwd=self.workdir,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Poll ``predicate`` until truthy; fail with the daemon's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) while waiting "
                                     f"for {what}; log:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()[-4000:]}")

    def stop(self, *, kill_children: bool = True) -> None:
        """Make sure the daemon and (unless told otherwise) any crawl child it left are gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        for run in all_runs(self.database_url) if kill_children else []:
            if run["status"] == "running" and run["pid"]:
                kill_quietly(run["pid"])
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_until(what: str, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def kill_quietly(pid: int) -> None:
    if pid == os.getpid():
        return
    try:
        os.killpg(pid, signal.SIGKILL)  # the crawl child leads its own process group
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def all_runs(database_url: str) -> list[dict[str, Any]]:
    """Every run (oldest first) as a dict, read with a fresh engine."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import Session

    from storage.engine import make_engine
    from storage.schedule import list_runs, run_dict

    engine = make_engine(database_url)
    try:
        if "crawl_runs" not in inspect(engine).get_table_names():
            return []
        with Session(engine) as s:
            return [run_dict(r, name) for r, name in reversed(list_runs(s, limit=None))]
    finally:
        engine.dispose()


def runs_of(database_url: str, site_name: str, status: str | None = None) -> list[dict[str, Any]]:
    return [r for r in all_runs(database_url)
            if r["site"] == site_name and (status is None or r["status"] == status)]


def heartbeats(database_url: str) -> list[Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from storage.engine import make_engine
    from storage.models import DaemonHeartbeat

    engine = make_engine(database_url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(DaemonHeartbeat)))
    finally:
        engine.dispose()


def stored_next_runs(database_url: str) -> dict[str, Any]:
    from storage.engine import make_engine
    from storage.schedule import stored_jobs

    engine = make_engine(database_url)
    try:
        return {k: v.next_run_time for k, v in (stored_jobs(engine) or {}).items()}
    finally:
        engine.dispose()
