"""`arsip export --format warc` replays in pywb: every stored capture, gzip-stored (from before
the zstd store) and zstd with a site dictionary alike, is found by pywb's index at its URL and
time and served back byte for byte, in pywb's rewritten replay too.

pywb runs from a virtualenv of its own (it pins ``redis==2.10.6``, which arsip's test
dependencies cannot share): ``ARSIP_TEST_PYWB`` names the folder that holds its ``wb-manager``
and ``wayback`` (`.ci/run` makes ``.venv-pywb``; without either the test is skipped with the
reason). The replay server listens on 127.0.0.1 and serves only the collection (no live web,
no recording); the records carry no cookies, so pywb's cookie rewriting (which would look up
the public suffix list) never runs.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import RawPage
from storage.raw_store import read_raw
from tests.archive_factory import ArchiveFactory
from tests.conftest import REPO_ROOT
from tests.fault_helpers import free_port, stop, wait_for
from tests.reextract_helpers import news_page, story

COLLECTION = "arsip"


def _pywb_bin() -> Path:
    configured = os.environ.get("ARSIP_TEST_PYWB")
    folder = Path(configured) if configured else REPO_ROOT / ".venv-pywb" / "bin"
    if not (folder / "wayback").exists() or not (folder / "wb-manager").exists():
        if configured:  # asked for and missing: a broken setup, not a reason to skip
            pytest.fail(f"ARSIP_TEST_PYWB={configured}: no wayback / wb-manager there")
        pytest.skip("pywb not installed: python3 -m venv .venv-pywb && "
                    ".venv-pywb/bin/pip install 'pywb>=2.10' (or set ARSIP_TEST_PYWB)")
    return folder


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Path) -> None:
    (tmp_path / "arsip.toml").touch()


def _archive(engine: Any) -> None:
    """Two sites: ``kabar``'s pages recompressed with its dictionary later (``db compact``),
    ``lama``'s left gzip as stored before; one ``kabar`` article captured twice (its text
    changed on the site), one ``lama`` page in windows-1252. Stored headers as fetched: a
    Content-Encoding and Content-Length of the transfer, not of the stored body."""
    with Session(engine) as s, s.begin():
        f = ArchiveFactory(s)
        for n in range(12):
            f.article(title=f"Berita {n}", body=story(n), site="kabar",
                      raw_html=news_page(f"Berita {n}", story(n)))
        first = s.execute(select(RawPage).order_by(RawPage.id)).scalars().first()
        assert first is not None
        changed = news_page("Berita 0 (diperbarui)", story(0) + " Ralat: angka diperbaiki.")
        s.add(RawPage(article_id=first.article_id, url=first.url,
                      fetched_at=first.fetched_at + timedelta(days=3), status=200,
                      headers={"Content-Type": "text/html; charset=utf-8",
                               "Content-Encoding": "br"},
                      body_gz=gzip.compress(changed), raw_size=len(changed)))
        for n in range(12, 15):
            f.article(title=f"Kabar lama {n}", body=story(n), site="lama",
                      raw_html=news_page(f"Kabar lama {n}", story(n)))
        latin = ("<html><head><meta charset='windows-1252'><title>Caf\u00e9 \u2013 "
                 "d\u00e9j\u00e0 vu</title></head><body><p>Caf\u00e9 \u2013 d\u00e9j\u00e0 "
                 "vu: 5 \u20ac.</p></body></html>").encode("windows-1252")
        f.article(title="Café – déjà vu", body="Café – déjà vu: 5 €.", site="lama",
                  raw_html=latin, headers={"Content-Type": "text/html; charset=windows-1252"})


@pytest.fixture
def pywb_home(tmp_path: Path) -> Path:
    """A pywb home folder with an empty collection."""
    home = tmp_path / "pywb"
    home.mkdir()
    subprocess.run([str(_pywb_bin() / "wb-manager"), "init", COLLECTION], cwd=home,
                   check=True, capture_output=True, timeout=120)
    return home


@contextmanager
def _wayback(home: Path) -> Iterator[str]:
    """pywb's replay server for ``home`` on a free port of 127.0.0.1; yields its base URL."""
    port = free_port()
    with (home / "wayback.log").open("wb") as log:
        server = subprocess.Popen([str(_pywb_bin() / "wayback"), "-p", str(port),
                                   "-b", "127.0.0.1", "-d", str(home)],
                                  cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server, timeout=10)


def _timestamp(page: RawPage) -> str:
    return page.fetched_at.strftime("%Y%m%d%H%M%S")


def test_exported_warc_replays_in_pywb(engine: Any, cli: Any, tmp_path: Path,
                                       pywb_home: Path) -> None:
    home = pywb_home
    _archive(engine)
    assert cli("db", "compact", "--site", "kabar").returncode == 0
    with Session(engine) as s:
        pages = s.execute(select(RawPage).order_by(RawPage.id)).scalars().all()
        captures = [(p.url, _timestamp(p), read_raw(s, p), p.headers, p.codec)
                    for p in pages]
    assert {codec for *_, codec in captures} == {"zstd", "gzip"}
    warc = tmp_path / "archive.warc.gz"
    result = cli("export", "--format", "warc", "--output", str(warc))
    assert result.returncode == 0, result.stderr
    added = subprocess.run([str(_pywb_bin() / "wb-manager"), "add", COLLECTION, str(warc)],
                           cwd=home, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stdout + added.stderr

    with _wayback(home) as base:
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
            def up() -> bool:
                try:
                    return http.get(f"/{COLLECTION}/").status_code < 500
                except httpx.TransportError:
                    return False
            assert wait_for(up, 60), (home / "wayback.log").read_text(errors="replace")

            # pywb's index has every capture, at its URL and time
            for url in {u for u, *_ in captures}:
                index = http.get(f"/{COLLECTION}/cdx", params={"url": url, "output": "json"})
                assert index.status_code == 200
                mine = sorted((ts, "200") for u, ts, *_ in captures if u == url)
                found = sorted((r["timestamp"], r["status"]) for r in _json_lines(index.text))
                assert found == mine, url

            for url, ts, body, headers, _ in captures:
                # the original payload, as fetched (``id_``: no rewriting)
                original = http.get(f"/{COLLECTION}/{ts}id_/{url}")
                assert original.status_code == 200, (url, ts)
                assert original.content == body, (url, ts)
                assert original.headers["content-type"] == headers["Content-Type"]
                # and the page as pywb replays it in a browser (rewritten, its scripts added)
                page = http.get(f"/{COLLECTION}/{ts}mp_/{url}")
                assert page.status_code == 200, (url, ts)
                title = body.split(b"<title>", 1)[1].split(b"</title>", 1)[0]
                charset = headers["Content-Type"].split("charset=")[1]
                assert title.decode(charset) in page.text
                assert "wombat" in page.text

            # the changed article: each capture replays its own text
            twice = [c for c in captures if c[0] == captures[0][0]]
            assert len(twice) == 2 and twice[0][2] != twice[1][2]
            for url, ts, body, *_ in twice:
                assert http.get(f"/{COLLECTION}/{ts}id_/{url}").content == body


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
