"""`arsip serve --workers N`: N server processes on one port, answering as one server."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.archive_factory import ArchiveFactory, filler
from tests.conftest import serve_process

SITE = '''
[[sites]]
name = "kompas"
start_urls = ["https://kompas.example/"]
every = "1h"
'''


def children_of(pid: int) -> list[int]:
    """The worker processes started by ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry))
    return found


@pytest.fixture
def server(engine: Any, database_url: str, tmp_path: Path) -> Any:
    with Session(engine) as s:
        f = ArchiveFactory(s)
        for n in range(12):
            f.article(title=f"Kazakhstan {n}", body=f"kazakhstan {filler(20, n)}",
                      site="kompas")
        s.commit()
    (tmp_path / "arsip.toml").write_text(SITE)
    (tmp_path / "token").write_text("rahasia\n")
    with serve_process(database_url, tmp_path, "--workers", "2",
                       "--token-file", "token") as (proc, base, line):
        assert "2 processes" in line, line
        # the address printed is listening already: the first request waits for a worker
        assert httpx.get(base + "/healthz", timeout=60).status_code == 200
        deadline = time.monotonic() + 60
        while len(children_of(proc.pid)) < 2 or not _answers(base):
            assert proc.poll() is None and time.monotonic() < deadline, "workers did not start"
            time.sleep(0.2)
        yield proc, base


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_workers_answer_as_one_server(server: Any) -> None:
    proc, base = server
    assert len(children_of(proc.pid)) == 2
    first = httpx.get(base + "/api/search", params={"q": "kazakhstan", "limit": 5}).json()
    assert len(first["results"]) == 5 and first["next"]
    # the next page's token is good whichever worker reads it (a fresh connection each
    # time: the kernel hands connections to both processes)
    pages = [httpx.get(base + "/api/search",
                       params={"q": "kazakhstan", "limit": 5, "next": first["next"]})
             for _ in range(12)]
    assert {p.status_code for p in pages} == {200}
    assert len({tuple(r["id"] for r in p.json()["results"]) for p in pages}) == 1
    # the settings reached every worker: loopback names only, the token, the sites
    assert httpx.get(base + "/healthz", headers={"Host": "rebound.example"}).status_code == 400
    runs = [httpx.post(base + "/api/sites/kompas/run",
                       headers={"Authorization": "Bearer rahasia"}) for _ in range(6)]
    assert {r.status_code for r in runs} == {409}  # accepted; no daemon is running
    assert httpx.post(base + "/api/sites/kompas/run").status_code == 401


def test_workers_is_checked(cli: Any, database_url: str) -> None:
    res = cli("serve", "--workers", "0")
    assert res.returncode == 2 and "--workers" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _requests_until_closed(base: str, limit: int) -> tuple[int, int]:
    """(responses on one kept-alive connection until one said ``Connection: close``, or
    ``limit``; how many connections ``limit`` + 1 requests took)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(base)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    first_close, ports = 0, set()
    try:
        for n in range(1, limit + 2):
            conn.request("GET", "/healthz")
            ports.add(conn.sock.getsockname()[1])
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            if response.getheader("connection") == "close" and not first_close:
                first_close = n
    finally:
        conn.close()
    return first_close, len(ports)


def test_workers_close_a_kept_alive_connection_after_100_requests(server: Any) -> None:
    """With --workers, a connection is closed after 100 requests (its client connects again,
    to whichever process accepts first), so kept-alive connections do not stay where the
    accept race put them; one process keeps them open."""
    _, base = server
    assert _requests_until_closed(base, 100) == (100, 2)


def test_one_process_keeps_connections_and_the_limit_is_a_setting(
        engine: Any, database_url: str, tmp_path: Path) -> None:
    (tmp_path / "arsip.toml").write_text(SITE)
    with serve_process(database_url, tmp_path) as (_, base, _line):
        assert _requests_until_closed(base, 120) == (0, 1)
    with serve_process(database_url, tmp_path, "--keepalive-requests", "3") as (_, base, _line):
        assert _requests_until_closed(base, 7) == (3, 3)
