"""Serve a site on 127.0.0.1: the sample news site for ``arsip demo`` and the test suite.

``SiteServer`` is a context manager running a threaded HTTP server in a background thread;
``.url`` is its base URL and ``.requests`` the log of every request (method, path, host,
user agent, time, headers), which tests use to prove what was and was not fetched. With
``etags=True`` it answers conditional requests as a news site's server does: every 200 page
gets an ``ETag`` (a hash of its body, unless the page sets one), and a request whose
``If-None-Match`` names the current one gets ``304 Not Modified`` without a body.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from arsip.sample_site.site import Page, SampleSite


class RawResponse:
    """A renderer's answer that handles the connection itself (fault injection in tests):
    ``action(handler)`` writes whatever it likes to ``handler.wfile``, or nothing."""

    def __init__(self, action: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.action = action


Renderer = Callable[[str, str], "Page | RawResponse"]


@dataclass
class LoggedRequest:
    method: str
    path: str
    host: str
    user_agent: str
    time: float
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        srv = self.server
        host = self.headers.get("Host") or f"127.0.0.1:{srv.server_address[1]}"
        with srv.lock:
            srv.log.append(LoggedRequest(self.command, self.path, host,
                                         self.headers.get("User-Agent", ""), time.time(),
                                         dict(self.headers.items())))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self._answer(srv, host, head)
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _answer(self, srv: _Server, host: str, head: bool) -> None:
        if srv.delay:
            time.sleep(srv.delay)
        try:
            page = srv.renderer(self.path, f"http://{host}")
        except Exception as exc:  # noqa: BLE001 - a fixture bug shows as a 500
            page = Page(500, f"fixture error: {exc}".encode(), {"Content-Type": "text/plain"})
        if isinstance(page, RawResponse):
            self.close_connection = True
            try:
                page.action(self)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        headers = {"Content-Type": "text/html; charset=utf-8", **page.headers}
        if srv.etags and page.status == 200:
            etag = headers.setdefault(
                "ETag", '"' + hashlib.sha256(page.body).hexdigest()[:20] + '"')
            if etag in _etags(self.headers.get("If-None-Match", "")):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with srv.lock:
                    srv.not_modified += 1
                return
        self.send_response(page.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        if not head:
            try:
                self.wfile.write(page.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def _etags(header: str) -> set[str]:
    """The entity tags an If-None-Match header names (weak ones compare as strong: RFC 9110
    uses the weak comparison for If-None-Match)."""
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], renderer: Renderer, delay: float,
                 etags: bool = False) -> None:
        super().__init__(addr, _Handler)
        self.renderer = renderer
        self.delay = delay
        self.etags = etags
        self.not_modified = 0
        self.lock = threading.Lock()
        self.log: list[LoggedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0


class SiteServer:
    """Serve ``renderer`` (default: the sample news site) on ``host``, a free port."""

    def __init__(self, renderer: Renderer | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, delay: float = 0.0, etags: bool = False) -> None:
        if renderer is None:
            renderer = SampleSite().render
        self._server = _Server((host, port), renderer, delay, etags)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="arsip-site-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        if isinstance(host, bytes):
            host = host.decode("ascii")
        return f"http://{host}:{self.port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._server.lock:
            return list(self._server.log)

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was answering at one time."""
        with self._server.lock:
            return self._server.max_in_flight

    @property
    def not_modified(self) -> int:
        """How many ``304 Not Modified`` answers it gave (``etags=True``)."""
        with self._server.lock:
            return self._server.not_modified

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def start(self) -> SiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
