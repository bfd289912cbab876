"""What the crawl asks the archive before it fetches a URL (``crawler.known``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from crawler import known as known_mod
from crawler.dedup import fingerprint
from crawler.known import KnownUrls
from storage.archive import ArchivedPage, store_page
from storage.runs import ensure_site

BODY = ("Kalimat pertama berita ini cukup panjang untuk sebuah paragraf. " * 12).strip()


def _store(engine: Any, url: str) -> None:
    with Session(engine) as session, session.begin():
        site_id = ensure_site(session, "t")
        store_page(session, site_id, ArchivedPage(url=url, canonical_url=url, title="Judul",
                                                  body=BODY, fingerprint=fingerprint(BODY)))


def test_a_host_is_known_by_any_of_its_twins_and_no_other_host(engine: Any) -> None:
    _store(engine, "https://www.example.com/read/1/judul")
    known = KnownUrls(engine, recheck_days=7, recheck_hours=24)
    for url in ("https://www.example.com/other", "http://example.com/read/9",
                "https://example.com/"):
        assert known.host_known(url), url
    # a host whose name merely starts like a known one is not known
    for url in ("https://www.example.com.evil.test/read/1/judul", "https://example.co/x",
                "https://www.example.community/read/1/judul", "http://127.0.0.1:8000/"):
        assert not known.host_known(url), url
    hit = known.lookup("https://example.com/read/1/judul")
    assert hit is not None and hit.due is False  # just checked: not due again yet


def test_the_first_crawl_of_a_host_asks_once_per_host_then_sees_new_archive_content(
        engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    known = KnownUrls(engine, recheck_days=7, recheck_hours=24)
    queries: list[str] = []
    original = engine.connect

    def counting_connect() -> Any:
        queries.append("connect")
        return original()

    monkeypatch.setattr(engine, "connect", counting_connect)
    assert known.lookup("http://127.0.0.1:8000/read/1/a") is None
    assert known.lookup("http://127.0.0.1:8000/read/2/b") is None
    assert len(queries) == 1  # one question about the host, none per URL

    monkeypatch.setattr(engine, "connect", original)
    _store(engine, "http://127.0.0.1:8000/read/1/a")
    # within the recheck window the host is still taken as empty (the crawl remembers
    # what it archived itself) ...
    assert known.lookup("http://127.0.0.1:8000/read/1/a") is None
    # ... after it, the archive is asked again and the stored article is found
    monkeypatch.setattr(known_mod, "HOST_RECHECK_S", 0.0)
    hit = known.lookup("http://127.0.0.1:8000/read/1/a")
    assert hit is not None and hit.article_id > 0
    assert known.lookup("http://127.0.0.1:8000/read/2/b") is None
