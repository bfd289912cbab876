"""The crawler's URL policy and the Scrapy middleware that enforces it.

No test here opens a connection: the policy is pure, and the middleware is driven with
synthetic Request/Response objects through Scrapy's real downloader-middleware chain (the
"download" is a function that records the URL and returns a canned response).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.core.downloader.middleware import DownloaderMiddlewareManager
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from crawler.safety import UrlPolicy, parse_ipv4_loose
from crawler.safety_middleware import (
    PRIORITY,
    STATS_REFUSED,
    STATS_SAMPLES,
    SafetyMiddleware,
)

START_HOST = "127.0.0.1:8080"


@pytest.fixture
def policy() -> UrlPolicy:
    return UrlPolicy(["example.com"], [START_HOST])


ALLOWED = [
    "http://example.com/",
    "https://example.com/news/1.html?x=1#top",
    "https://www.example.com/a",
    "http://deep.sub.example.com/a",
    "HTTPS://EXAMPLE.COM/upper",
    "http://example.com./trailing-dot",
    "http://example.com:80/",
    "https://example.com:443/",
    "http://xn--bcher-kva.example.com/",
    "http://bücher.example.com/",
    "http://127.0.0.1:8080/article/1",
]


@pytest.mark.parametrize("url", ALLOWED)
def test_allowed(policy: UrlPolicy, url: str) -> None:
    assert policy.check(url) is None
    assert policy.allows(url)


REFUSED = [
    # (url, a word the reason must contain)
    ("file:///etc/passwd", "scheme file"),
    ("ftp://example.com/x", "scheme ftp"),
    ("javascript:alert(1)", "scheme javascript"),
    ("data:text/html,<b>x</b>", "scheme data"),
    ("gopher://example.com/", "scheme gopher"),
    ("//example.com/no-scheme", "scheme"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://10.255.255.255/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.254/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://127.0.0.2/", "loopback"),
    ("http://127.0.0.1/", "loopback"),  # allowed only on port 8080
    ("http://127.0.0.1:8081/", "port 8081"),
    ("http://[::1]/", "loopback"),
    ("http://[::1]:8080/", "loopback"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
    ("http://[fc00::1]/", "private"),
    ("http://[::]/", "unspecified"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://100.64.0.1/", "non-public"),
    ("http://8.8.8.8/", "not an allowed host"),
    # IPv4 spellings some resolvers accept
    ("http://2130706433/", "127.0.0.1"),
    ("http://2130706433:8080/", "127.0.0.1"),
    ("http://0x7f.1/", "127.0.0.1"),
    ("http://0x7f000001/", "127.0.0.1"),
    ("http://0177.0.0.1/", "127.0.0.1"),
    ("http://127.1/", "127.0.0.1"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"),
    ("http://2852039166/", "169.254.169.254"),
    ("http://1.2.3.999/", "no valid IP"),
    ("http://0x7g.1/", "no valid IP"),
    # names of this machine
    ("http://localhost/", "local host name"),
    ("http://localhost:8080/", "local host name"),
    ("http://a.localhost/", "local host name"),
    ("http://metadata.google.internal/", "local host name"),
    # domains
    ("http://evil-example.com/", "not on an allowed domain"),
    ("http://example.com.evil.com/", "not on an allowed domain"),
    ("http://notexample.com/", "not on an allowed domain"),
    ("http://example.org/", "not on an allowed domain"),
    ("http://com/", "not on an allowed domain"),
    # userinfo and other authority tricks
    ("http://example.com@evil.com/", "userinfo"),
    ("http://user:pass@example.com/", "userinfo"),
    ("http://evil.com@example.com/", "userinfo"),
    ("http://example.com\\@evil.com/", "userinfo"),
    ("http://evil.com\\.example.com/", "backslash"),
    ("http://exa%6dple.com/", "percent"),
    ("http://exa mple.com/", "whitespace"),
    ("http://example.com\x00.evil.com/", "control"),
    # ports
    ("http://example.com:8080/", "port 8080"),
    ("http://www.example.com:22/", "port 22"),
    ("http://example.com:99999/", "bad port"),
    # no host / unparseable
    ("http:///path", "no host"),
    ("http://[::1/", "unparseable"),
    ("", "empty"),
]


@pytest.mark.parametrize(("url", "word"), REFUSED)
def test_refused(policy: UrlPolicy, url: str, word: str) -> None:
    reason = policy.check(url)
    assert reason is not None, url
    assert word.lower() in reason.lower(), reason
    assert "\n" not in reason


def test_lookalike_domains_are_not_subdomains() -> None:
    p = UrlPolicy(["example.com"])
    assert p.check("http://sub.example.com/") is None
    for host in ("evil-example.com", "evilexample.com", "example.com.evil.com",
                 "example.co", "xample.com"):
        assert p.check(f"http://{host}/") is not None, host


def test_explicit_hosts_allow_private_addresses_and_local_names() -> None:
    p = UrlPolicy([], ["127.0.0.2", "[::1]:9000", "localhost:8000",
                       "http://10.1.2.3:8081/start", "https://192.168.0.5/"])
    assert p.check("http://127.0.0.2:1234/") is None  # any port: no port in the entry
    assert p.check("http://[::1]:9000/x") is None
    assert p.check("http://[::1]:9001/x") is not None
    assert p.check("http://localhost:8000/") is None
    assert p.check("http://localhost/") is not None
    assert p.check("http://10.1.2.3:8081/other") is None  # a start URL's host and port
    assert p.check("http://10.1.2.3/") is not None
    assert p.check("https://192.168.0.5/") is None  # default port of the URL's scheme
    assert p.check("https://192.168.0.5:8443/") is not None
    # the explicit host does not open its neighbours
    assert p.check("http://127.0.0.3:1234/") is not None
    assert p.check("http://[::2]:9000/") is not None


def test_ip_in_allowed_domains_is_an_exact_host() -> None:
    p = UrlPolicy(["127.0.0.1", "example.com"])
    assert p.check("http://127.0.0.1:5000/") is None
    assert p.check("http://127.0.0.2:5000/") is not None


def test_empty_policy_refuses_everything() -> None:
    p = UrlPolicy()
    for url in ("http://example.com/", "http://127.0.0.1/", "https://8.8.8.8/"):
        assert p.check(url) is not None


@pytest.mark.parametrize("entry", ["bad domain", "1.2.3.999", "http://[::1", ""])
def test_bad_policy_entries(entry: str) -> None:
    if entry == "":
        UrlPolicy([entry], [])  # blank entries are skipped
        with pytest.raises(ValueError):
            UrlPolicy([], [entry])
        return
    with pytest.raises(ValueError):
        UrlPolicy([entry], [entry])


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("10.0.0.1", "10.0.0.1"),
        ("169.254.169.254.", "169.254.169.254"),
    ],
)
def test_loose_ipv4_reads_like_inet_aton(host: str, address: str) -> None:
    assert str(parse_ipv4_loose(host)) == address
    # the C library agrees (inet_aton is what getaddrinfo falls back to for such hosts)
    if not host.endswith("."):
        assert socket.inet_ntoa(socket.inet_aton(host)) == address


@pytest.mark.parametrize("host", ["example.com", "1.example", "a1"])
def test_loose_ipv4_leaves_names_alone(host: str) -> None:
    assert parse_ipv4_loose(host) is None


def test_check_does_no_dns(monkeypatch: pytest.MonkeyPatch, policy: UrlPolicy) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the URL policy must not resolve names or connect")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "gethostbyname", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for url in [u for u in ALLOWED] + [u for u, _ in REFUSED]:
        policy.check(url)


# ------------------------------------------------------------------ the middleware


class LureSpider(Spider):
    name = "lure"
    allowed_domains = ["spider-domain.test"]
    start_urls = ["http://127.0.0.1:8080/"]


def _manager(settings: dict[str, Any] | None = None) -> tuple[Any, SafetyMiddleware, Any]:
    """Scrapy's real downloader-middleware chain with ours at its documented priority."""
    crawler = get_crawler(LureSpider, {
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.safety_middleware.SafetyMiddleware": PRIORITY,
            # Scrapy's own offsite filter would hide what ours does (it knows only the
            # spider's allowed_domains); the ordering test below keeps it
            "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
        },
        "ARSIP_ALLOWED_DOMAINS": ["example.com"],
        "ARSIP_REFUSED_SAMPLES": 3,
        **(settings or {}),
    })
    crawler.spider = crawler._create_spider()
    crawler.stats.open_spider()
    manager = DownloaderMiddlewareManager.from_crawler(crawler)
    ours = [m for m in manager.middlewares if isinstance(m, SafetyMiddleware)]
    assert len(ours) == 1
    ours[0].spider_opened(crawler.spider)
    return manager, ours[0], crawler


class FakeWeb:
    """The "network": records what would have been fetched and answers from a table."""

    def __init__(self, redirects: dict[str, tuple[int, str]] | None = None,
                 refresh: dict[str, str] | None = None) -> None:
        self.fetched: list[str] = []
        self.redirects = redirects or {}
        self.refresh = refresh or {}

    async def __call__(self, request: Request) -> Response:
        self.fetched.append(request.url)
        if request.url in self.redirects:
            status, target = self.redirects[request.url]
            return Response(request.url, status=status, headers={"Location": target},
                            request=request)
        if request.url in self.refresh:
            body = (f'<html><head><meta http-equiv="refresh" content="0;url='
                    f'{self.refresh[request.url]}"></head></html>').encode()
            return HtmlResponse(request.url, body=body, request=request)
        return HtmlResponse(request.url, body=b"<html><body>ok</body></html>", request=request)


async def _follow(manager: Any, web: FakeWeb, url: str, dont_filter: bool = False) -> Any:
    """Download like the engine does: a Request coming back (a redirect) is downloaded again."""
    result: Any = Request(url, dont_filter=dont_filter)
    for _ in range(10):
        result = await manager.download_async(web, result)
        if isinstance(result, Response):
            return result
    raise AssertionError("redirect loop")


def test_middleware_sits_before_robots_and_offsite() -> None:
    manager, ours, _ = _manager({
        "ROBOTSTXT_OBEY": True,
        "DOWNLOADER_MIDDLEWARES": {"crawler.safety_middleware.SafetyMiddleware": PRIORITY},
    })
    names = [type(m).__name__ for m in manager.middlewares]
    assert names[0] == "SafetyMiddleware"
    assert names.index("OffsiteMiddleware") > 0
    assert names.index("RobotsTxtMiddleware") > 0
    assert names.index("RedirectMiddleware") > names.index("SafetyMiddleware")


def test_allowed_requests_pass() -> None:
    manager, ours, crawler = _manager()
    web = FakeWeb()
    response = asyncio.run(_follow(manager, web, "http://127.0.0.1:8080/page"))
    assert response.status == 200
    asyncio.run(_follow(manager, web, "https://www.example.com/a"))
    asyncio.run(_follow(manager, web, "http://x.spider-domain.test/b"))  # spider's domains
    assert web.fetched == ["http://127.0.0.1:8080/page", "https://www.example.com/a",
                           "http://x.spider-domain.test/b"]
    assert crawler.stats.get_value(STATS_REFUSED) is None


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2:8080/",
        "http://[::1]:8080/",
        "http://10.0.0.5/admin",
        "http://evil.com/",
        "http://2852039166/",  # 169.254.169.254, one number
        "http://2130706434:8080/",  # 127.0.0.2
    ],
)
def test_redirect_to_refused_host_is_dropped(target: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    manager, ours, crawler = _manager()
    start = "http://127.0.0.1:8080/r"
    web = FakeWeb(redirects={start: (302, target)})
    # dont_filter is copied onto redirects by Scrapy: it must not open the policy
    with pytest.raises(IgnoreRequest, match="arsip refused"):
        asyncio.run(_follow(manager, web, start, dont_filter=True))
    assert web.fetched == [start], "the redirect target must never be fetched"
    assert crawler.stats.get_value(STATS_REFUSED) == 1
    samples = crawler.stats.get_value(STATS_SAMPLES)
    assert len(samples) == 1 and samples[0][0].startswith(target.split("/")[0])
    assert any("refused" in r.getMessage() and "redirected from" in r.getMessage()
               for r in caplog.records)


def test_redirect_to_another_spelling_of_the_allowed_host_is_never_fetched_so() -> None:
    """A redirect to ``http://2130706433:8080/`` (127.0.0.1:8080, the allowed host, as one
    number) is refused (w3lib before 2.6 leaves the host as written), or fetched at the
    address's own spelling (w3lib 2.6 and later read such a host as an IPv4 address when
    Scrapy builds the redirect): the obfuscated host is never what is fetched."""
    manager, _, crawler = _manager()
    start = "http://127.0.0.1:8080/r"
    web = FakeWeb(redirects={start: (302, "http://2130706433:8080/")})
    try:
        asyncio.run(_follow(manager, web, start))
    except IgnoreRequest as exc:
        assert "arsip refused" in str(exc)
        assert web.fetched == [start]
        assert crawler.stats.get_value(STATS_REFUSED) == 1
    else:
        assert web.fetched == [start, "http://127.0.0.1:8080/"]


def test_redirect_to_file_url_is_not_followed() -> None:
    manager, ours, crawler = _manager()
    start = "http://127.0.0.1:8080/f"
    web = FakeWeb(redirects={start: (302, "file:///etc/passwd")})
    try:
        result = asyncio.run(_follow(manager, web, start))
    except IgnoreRequest:
        result = None
    # Scrapy itself does not follow a redirect to a non-HTTP scheme; ours would refuse it
    assert result is None or result.status == 302
    assert web.fetched == [start]
    assert ours.policy.check("file:///etc/passwd") is not None


def test_redirect_chain_refused_at_the_hop_that_leaves() -> None:
    manager, ours, crawler = _manager()
    a, b = "http://127.0.0.1:8080/a", "https://www.example.com/b"
    web = FakeWeb(redirects={a: (301, b), b: (307, "http://192.168.0.1/router")})
    with pytest.raises(IgnoreRequest):
        asyncio.run(_follow(manager, web, a))
    assert web.fetched == [a, b]


def test_meta_refresh_to_refused_host_is_dropped() -> None:
    manager, ours, crawler = _manager()
    start = "http://127.0.0.1:8080/m"
    web = FakeWeb(refresh={start: "http://169.254.169.254/"})
    with pytest.raises(IgnoreRequest):
        asyncio.run(_follow(manager, web, start))
    assert web.fetched == [start]


def test_refusals_counted_and_samples_bounded() -> None:
    manager, ours, crawler = _manager()
    web = FakeWeb()
    urls = [f"http://10.0.0.{i}/" for i in range(1, 8)]
    for url in urls:
        with pytest.raises(IgnoreRequest):
            asyncio.run(_follow(manager, web, url))
    assert web.fetched == []
    assert crawler.stats.get_value(STATS_REFUSED) == 7
    samples = crawler.stats.get_value(STATS_SAMPLES)
    assert [s[0] for s in samples] == urls[:3]  # ARSIP_REFUSED_SAMPLES = 3
    assert all("private" in s[1] for s in samples)


def test_request_scheduled_signal_refuses_before_the_scheduler() -> None:
    _, ours, crawler = _manager()
    with pytest.raises(IgnoreRequest):
        ours.request_scheduled(Request("http://169.254.169.254/"), crawler.spider)
    ours.request_scheduled(Request("http://www.example.com/"), crawler.spider)
    assert crawler.stats.get_value(STATS_REFUSED) == 1


def test_process_request_has_no_spider_argument() -> None:
    import inspect

    assert list(inspect.signature(SafetyMiddleware.process_request).parameters) == [
        "self", "request"]


def test_bad_settings_fail_loudly() -> None:
    with pytest.raises(ValueError, match="ARSIP_ALLOWED"):
        _manager({"ARSIP_ALLOWED_HOSTS": ["http://[::1"]})


# ------------------------------------------------------------------ a real crawl, loopback only

CRAWL_SCRIPT = r'''
import json, sys
from scrapy import Spider
from scrapy.crawler import CrawlerProcess

start, allowed_host, out = sys.argv[1], sys.argv[2], sys.argv[3]

class LinkSpider(Spider):
    name = "links"
    start_urls = [start]

    def parse(self, response):
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, callback=self.parse)

    def closed(self, reason):
        stats = self.crawler.stats.get_stats()
        with open(out, "w") as fh:
            json.dump({k: v for k, v in stats.items() if k.startswith(("arsip/", "downloader/"))
                       or k == "finish_reason"}, fh, default=str)

process = CrawlerProcess({
    "DOWNLOADER_MIDDLEWARES": {"crawler.safety_middleware.SafetyMiddleware": 10},
    "ARSIP_ALLOWED_HOSTS": [allowed_host],
    "ROBOTSTXT_OBEY": True,
    "METAREFRESH_ENABLED": True,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "INFO",
    "DOWNLOAD_TIMEOUT": 10,
    "RETRY_ENABLED": False,
    "CLOSESPIDER_TIMEOUT": 60,
})
process.crawl(LinkSpider)
process.start()
'''


class _Recorder:
    """A loopback HTTP server that logs every request it gets (path and Host header)."""

    def __init__(self, host: str, pages: dict[str, tuple[int, dict[str, str], str]] | None
                 = None) -> None:
        import http.server
        import threading

        self.requests: list[tuple[str, str]] = []
        recorder = self
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                recorder.requests.append((self.path, self.headers.get("Host", "")))
                status, headers, body = (pages or {}).get(
                    self.path, (200, {}, "<html><body>lure</body></html>"))
                data = body.encode()
                self.send_response(status)
                headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = family

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _can_bind(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_real_crawl_never_reaches_lure_listeners(tmp_path: Any) -> None:
    """A crawl of a 127.0.0.1 site whose links, redirects and meta refreshes point at lure
    listeners on 127.0.0.2 and [::1]: the lures see no request (robots.txt included), the
    site's own pages are fetched, and the refusals are in the crawl's stats."""
    import json
    import subprocess
    import sys

    if not _can_bind("127.0.0.2"):
        pytest.skip("cannot bind 127.0.0.2 on this machine")
    with _Recorder("127.0.0.2") as lure4:
        lure6_cm = _Recorder("::1") if _can_bind("::1") else None
        with lure6_cm or _Recorder("127.0.0.2") as lure6:
            l4 = f"http://127.0.0.2:{lure4.port}"
            l6 = f"http://[::1]:{lure6.port}" if lure6_cm else f"http://127.0.0.2:{lure6.port}"
            links = "".join(f'<a href="{h}">x</a>' for h in [
                "/ok", "/r-lure4", "/r-lure6", "/refresh", "/r-local",
                f"{l4}/linked", f"{l6}/linked6", "http://2130706433:1/decimal",
            ])
            pages: dict[str, tuple[int, dict[str, str], str]] = {
                "/": (200, {}, f"<html><body>{links}</body></html>"),
                "/ok": (200, {}, "<html><body>fine</body></html>"),
                "/r-lure4": (302, {"Location": f"{l4}/redirected"}, ""),
                "/r-lure6": (301, {"Location": f"{l6}/redirected6"}, ""),
                "/refresh": (200, {}, '<html><head><meta http-equiv="refresh" '
                             f'content="0;url={l4}/refreshed"></head></html>'),
            }
            with _Recorder("127.0.0.1", pages) as site:
                base = f"http://127.0.0.1:{site.port}"
                # a redirect to the site's own server under a local name: refused by name
                pages["/r-local"] = (302, {"Location": f"http://localhost:{site.port}/ok"}, "")
                out = tmp_path / "stats.json"
                script = tmp_path / "crawl.py"
                script.write_text(CRAWL_SCRIPT, encoding="utf-8")
                proc = subprocess.run(
                    [sys.executable, str(script), f"{base}/", f"127.0.0.1:{site.port}",
                     str(out)],
                    capture_output=True, text=True, timeout=120,
                    cwd=str(Path(__file__).resolve().parent.parent),
                )
                assert proc.returncode == 0, proc.stderr[-3000:]
            assert lure4.requests == [], lure4.requests
            assert lure6.requests == [], lure6.requests
    site_paths = {path for path, _ in site.requests}
    assert {"/", "/ok", "/robots.txt", "/r-lure4", "/r-lure6", "/refresh",
            "/r-local"} <= site_paths
    assert all(host == f"127.0.0.1:{site.port}" for _, host in site.requests), site.requests
    stats = json.loads(out.read_text())
    refused = {url for url, _ in stats["arsip/refused_samples"]}
    assert f"{l4}/redirected" in refused and f"{l4}/refreshed" in refused
    assert f"{l4}/linked" in refused
    assert any("redirected6" in u for u in refused)
    assert f"http://localhost:{site.port}/ok" in refused
    assert stats["arsip/refused"] >= 7
    assert "refused" in proc.stderr and "redirected from" in proc.stderr


def test_verdicts_are_per_authority_and_follow_later_allowances() -> None:
    policy = UrlPolicy()
    assert policy.check("http://127.0.0.1:8000/a") is not None
    policy.allow_host("127.0.0.1:8000")
    assert policy.check("http://127.0.0.1:8000/b?x=1") is None
    assert policy.check("http://127.0.0.1:8001/b") is not None  # another port
    assert policy.check("http://user@127.0.0.1:8000/b") is not None  # userinfo
    assert policy.check("http://127.0.0.1:8000/a b") is not None  # the rest still counts
    policy.allow_domain("example.com")
    assert policy.check("https://news.example.com/read/1") is None
    assert policy.check("https://news.example.com.evil.test/read/1") is not None
