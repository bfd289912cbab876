"""Hostile input: links and redirects from a crawled site to other hosts are refused.

Proved with lure listeners on other loopback addresses (127.0.0.2 and [::1]) that must see no
request; private and link-local addresses (169.254.169.254 ...) are proved by unit tests of the
URL policy that open no connection (tests/test_safety.py), never by letting a crawl try them.
"""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from threading import Thread

import pytest

from arsip.sample_site.server import SiteServer
from arsip.sample_site.site import Page, SampleSite
from tests.conftest import run_cli


class _Lure:
    """A listener that records every request it gets (there must be none)."""

    def __init__(self, host: str, family: int = socket.AF_INET) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self.hits = hits
        self.server: HTTPServer = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Lure:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_links_and_redirects_to_other_hosts_are_refused(database_url):
    lures = [_Lure("127.0.0.2")]
    if _ipv6_available():
        lures.append(_Lure("::1", socket.AF_INET6))
    for lure in lures:
        lure.__enter__()
    try:
        targets = [f"http://127.0.0.2:{lures[0].port}/lure"]
        if len(lures) > 1:
            targets.append(f"http://[::1]:{lures[1].port}/lure")
        sample = SampleSite()

        def render(target: str, base: str) -> Page:
            if target == "/":
                page = sample.render(target, base)
                links = "".join(f'<a href="{t}">lure</a>' for t in targets)
                links += "".join(f'<a href="{base}/go/{i}">jump</a>' for i in range(len(targets)))
                links += '<a href="file:///etc/passwd">file</a>'
                return Page(200, page.body.replace(b"</main>", links.encode() + b"</main>"),
                            page.headers)
            if target.startswith("/go/"):
                return Page(302, b"", {"Location": targets[int(target.split("/")[2])]})
            return sample.render(target, base)

        with SiteServer(render) as server:
            res = run_cli("crawl", server.url + "/", "--quiet", "--workers", "0",
                          "--related-depth", "0")
            assert res.returncode == 0, res.stderr
            assert "/go/0" in server.paths()  # the redirecting page was fetched
        for lure in lures:
            assert lure.hits == [], f"lure got requests: {lure.hits}"
        runs = run_cli("runs", "--format", "json")
        if runs.returncode == 0 and runs.stdout.lstrip().startswith("["):
            stats = json.loads(runs.stdout)[0]["stats"]
            assert stats.get("refused", 0) >= 1, stats
    finally:
        for lure in lures:
            lure.__exit__()


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/",
                                    "http://10.0.0.1/", "http://192.168.1.1/"])
def test_crawl_refuses_private_start_urls_without_connecting(target, database_url):
    """A start URL on a private or link-local address is only crawled when its host is
    explicitly allowed; here we only check the policy's verdict, with no connection."""
    from crawler.safety import UrlPolicy

    policy = UrlPolicy(allowed_domains=["example.com"], allowed_hosts=[])
    assert policy.check(target) is not None
