"""Raw pages stored with zstandard and per-site dictionaries: readable (and the gzip pages
of before), trained by a crawl and handed to its workers, `arsip db compact` (fewer bytes,
resumable), `arsip stats` figures, WARC export of zstd pages, the migration's raw sizes."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from crawler.extensions import ExtractionPool
from crawler.processing import process_page
from storage import raw_codec, raw_store
from storage.models import RawDictionary, RawPage
from storage.raw_codec import Dictionary
from storage.raw_store import compact_batch, read_raw, train_dictionary
from tests.archive_factory import ArchiveFactory
from tests.reextract_helpers import news_page, store, story


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


def gzip_archive(engine: Any, pages: int = 30, site: str = "kabar") -> dict[int, bytes]:
    """Pages stored as before revision 0003 (gzip), by the test factory: raw id -> html."""
    with Session(engine) as s, s.begin():
        f = ArchiveFactory(s)
        for n in range(pages):
            f.article(title=f"Berita {n}", body=story(n), site=site,
                      raw_html=news_page(f"Berita {n}", story(n)))
    with Session(engine) as s:
        return {p.id: gzip.decompress(p.body_gz)
                for p in s.execute(select(RawPage)).scalars()}


def test_codecs_round_trip() -> None:
    pages = [news_page(f"Judul {n}", story(n)) for n in range(12)]
    zdict = Dictionary(7, raw_codec.train(pages))
    packed = raw_codec.compress(pages[0], zdict)
    assert (packed.codec, packed.dictionary_id, packed.raw_size) == ("zstd", 7, len(pages[0]))
    assert raw_codec.decompress("zstd", packed.data, zdict) == pages[0]
    plain = raw_codec.compress(pages[0])
    assert raw_codec.decompress("zstd", plain.data) == pages[0]
    assert len(packed.data) < len(plain.data) < len(raw_codec.compress_gzip(pages[0]))
    assert raw_codec.decompress("gzip", gzip.compress(pages[1])) == pages[1]
    with pytest.raises(raw_codec.RawPageUnreadable):
        raw_codec.decompress("zstd", packed.data)  # its dictionary is needed
    with pytest.raises(raw_codec.RawPageUnreadable):
        raw_codec.decompress("brotli", b"x")


def test_gzip_pages_stay_readable_and_compact_reduces_bytes_resumably(engine: Any,
                                                                      cli: Any) -> None:
    originals = gzip_archive(engine, 30)
    with Session(engine) as s:
        assert all(read_raw(s, p) == originals[p.id]
                   for p in s.execute(select(RawPage)).scalars())
        site_id = s.execute(text("SELECT id FROM sites")).scalar_one()
        gz_bytes = s.execute(select(func.sum(func.length(RawPage.body_gz)))).scalar_one()
    # interrupted after one batch of 10 (a committed transaction), then run to the end
    with Session(engine) as s, s.begin():
        zdict = train_dictionary(s, site_id)
        assert zdict is not None
        pages, before, after, _ = compact_batch(s, site_id, zdict, 0, 10)
    assert pages == 10 and after < before
    result = cli("db", "compact", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pages"] == 20  # the 10 done before are not done again
    assert report["sites"][0]["dictionary_id"] == zdict.id  # the current one, not retrained
    assert report["bytes_after"] < report["bytes_before"] / 2
    with Session(engine) as s:
        rows = s.execute(select(RawPage)).scalars().all()
        assert {(p.codec, p.dictionary_id) for p in rows} == {("zstd", zdict.id)}
        assert all(read_raw(s, p) == originals[p.id] for p in rows)
        assert all(p.raw_size == len(originals[p.id]) for p in rows)
        stored = sum(len(p.body_gz) for p in rows)
    assert stored < gz_bytes / 2
    again = json.loads(cli("db", "compact", "--format", "json").stdout)
    assert again["pages"] == 0
    text_report = cli("db", "compact")
    assert "0 pages recompressed" in text_report.stdout


def test_compact_trains_a_dictionary_when_the_site_has_none(engine: Any, cli: Any) -> None:
    gzip_archive(engine, 12, site="kecil")
    gzip_archive(engine, 3, site="mini")  # too few pages to train on
    result = cli("db", "compact", "--format", "json")
    assert result.returncode == 0, result.stderr
    sites = {r["site"]: r for r in json.loads(result.stdout)["sites"]}
    assert sites["kecil"]["trained"] and sites["kecil"]["dictionary_id"] is not None
    assert sites["mini"]["dictionary_id"] is None and sites["mini"]["pages"] == 3
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(RawDictionary)).scalar_one() == 1
        assert s.execute(select(RawPage.codec).distinct()).scalars().all() == ["zstd"]
    bad = cli("db", "compact", "--site", "tidak-ada")
    assert bad.returncode == 1 and "no site named" in bad.stderr


def test_stats_show_raw_bytes(engine: Any, cli: Any) -> None:
    originals = gzip_archive(engine, 12)
    result = cli("stats", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    site = data["sites"][0]
    assert site["raw_bytes"] == sum(len(b) for b in originals.values())
    with Session(engine) as s:
        stored = s.execute(select(func.sum(func.length(RawPage.body_gz)))).scalar_one()
    assert site["raw_stored_bytes"] == stored
    assert data["total"]["raw_bytes"] == site["raw_bytes"]
    assert data["total"]["raw_stored_bytes"] == stored
    assert site["raw_ratio"] == round(stored / site["raw_bytes"], 4)
    cli("db", "compact")
    after = json.loads(cli("stats", "--format", "json").stdout)["total"]
    assert after["raw_bytes"] == site["raw_bytes"] and after["raw_stored_bytes"] < stored
    assert after["raw_dictionary_bytes"] > 0
    table = cli("stats", "--format", "table").stdout
    assert "raw_ratio" in table


def test_warc_export_of_zstd_pages(engine: Any, cli: Any, tmp_path: Path) -> None:
    from warcio.archiveiterator import ArchiveIterator

    originals = gzip_archive(engine, 12)
    assert cli("db", "compact").returncode == 0
    with Session(engine) as s:
        assert s.execute(select(RawPage.codec).distinct()).scalars().all() == ["zstd"]
        urls = {p.url: originals[p.id] for p in s.execute(select(RawPage)).scalars()}
    out = tmp_path / "a.warc.gz"
    result = cli("export", "--format", "warc", "--output", str(out))
    assert result.returncode == 0, result.stderr
    bodies = {}
    with out.open("rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type == "response":
                bodies[record.rec_headers.get_header("WARC-Target-URI")] = \
                    record.content_stream().read()
    assert bodies == urls
    check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_workers_compress_with_the_dictionary_they_are_sent() -> None:
    pages = [news_page(f"Judul {n}", story(n)) for n in range(12)]
    zdict = Dictionary(41, raw_codec.train(pages))
    pool = ExtractionPool(2)
    pool.spider_opened()
    try:
        async def go() -> list[Any]:
            before = await pool.process(pages[0], "http://kabar.test/read/1/a", "utf-8", None)
            await pool.set_dictionary(zdict)
            return [before] + [await pool.process(p, f"http://kabar.test/read/{n}/a", "utf-8",
                                                  None) for n, p in enumerate(pages[:4], 2)]
        results = asyncio.run(go())
    finally:
        pool.spider_closed()
    assert results[0][2].dictionary_id is None
    assert [r[2].dictionary_id for r in results[1:]] == [41, 41, 41, 41]
    assert raw_codec.decompress("zstd", results[1][2].data, zdict) == pages[0]
    # in-process (no workers): the same
    from crawler import processing

    processing.set_dictionary(zdict)
    try:
        assert process_page(pages[1], "http://kabar.test/read/9/a", "utf-8", None,
                            for_crawl=True)[2].dictionary_id == 41  # type: ignore[union-attr]
    finally:
        processing.set_dictionary(None)


def test_a_crawl_trains_the_sites_dictionary(database_url: str, cli: Any) -> None:
    result = cli("demo", "--workers", "2")
    assert result.returncode == 0, result.stderr
    stats = json.loads(cli("stats", "--format", "json").stdout)["total"]
    assert stats["raw_stored_bytes"] <= 0.12 * stats["raw_bytes"]
    from storage.engine import make_engine

    engine = make_engine(database_url)
    try:
        with Session(engine) as s:
            dictionaries = s.execute(select(RawDictionary)).scalars().all()
            assert len(dictionaries) == 1 and dictionaries[0].pages >= raw_store.MIN_TRAIN_PAGES
            rows = s.execute(select(RawPage)).scalars().all()
            assert {(p.codec, p.dictionary_id) for p in rows} == {("zstd", dictionaries[0].id)}
            assert all(len(read_raw(s, p)) == p.raw_size for p in rows)
            assert any(p.part == 1 for p in rows)  # the multi-page article's second page
    finally:
        engine.dispose()


def test_training_policy(engine: Any) -> None:
    with Session(engine) as s, s.begin():
        for n in range(raw_store.MIN_TRAIN_PAGES - 1):
            store(s, f"http://kabar.test/read/{n}/a", news_page(f"J {n}", story(n)))
        site_id = s.execute(text("SELECT id FROM sites")).scalar_one()
        assert raw_store.maybe_train(s, site_id) is None  # too few
        store(s, "http://kabar.test/read/99/a", news_page("J 99", story(99)))
        first = raw_store.maybe_train(s, site_id)
        assert first is not None
        assert raw_store.maybe_train(s, site_id) is None  # just trained
        assert raw_store.current_dictionary(s, site_id) == first


def test_migration_fills_raw_sizes_of_gzip_pages(database_url: str) -> None:
    from storage.engine import make_engine, upgrade

    engine = make_engine(database_url)
    try:
        upgrade(engine, "0002")
        html = news_page("Lama", story(5))
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sites (id, name, created_at) VALUES "
                              "(1, 'lama', '2024-01-01 00:00:00')"))
            conn.execute(text(
                "INSERT INTO articles (id, site_id, canonical_url, authors, tags, body, "
                "content_hash, first_seen, last_seen, last_checked) VALUES (1, 1, "
                "'http://lama.test/a', '[]', '[]', 'x', 'h', '2024-01-01 00:00:00', "
                "'2024-01-01 00:00:00', '2024-01-01 00:00:00')"))
            conn.execute(text(
                "INSERT INTO raw_pages (article_id, url, fetched_at, status, headers, body_gz)"
                " VALUES (1, 'http://lama.test/a', '2024-01-01 00:00:00', 200, '{}', :b)"),
                {"b": gzip.compress(html)})
        upgrade(engine)
        with Session(engine) as s:
            page = s.execute(select(RawPage)).scalar_one()
            assert (page.codec, page.dictionary_id, page.part) == ("gzip", None, 0)
            assert page.raw_size == len(html)
            assert read_raw(s, page) == html
    finally:
        engine.dispose()
