"""`arsip reextract`: stored raw pages extracted again; changed articles updated in place
with a `reextract` version, dedup marks regrouped, links redone; dry run, skip by version,
--force, idempotence, and a run killed mid-way that the next run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.dedup import fingerprint
from crawler.extraction.version import EXTRACTOR_VERSION
from crawler.reextract import Options, extract_stored, reextract
from storage.models import Article, ArticleLink, ArticleVersion
from tests.reextract_helpers import news_page, run, snapshot, store, story, url


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


def test_changed_fields_are_reported_and_stored(engine: Any, cli: Any) -> None:
    related = ((url(50), "Berita lain"),)
    html_a = news_page("Banjir melanda kota", story(1), author="Rina Wijaya", related=related)
    html_b = news_page("Harga beras naik", story(2))
    with Session(engine) as s, s.begin():
        # a: stored by an older extraction (other title, body, byline; no links)
        a = store(s, url(1), html_a, title="Banjir", body=story(1) + "\n\nIklan: beli sekarang.",
                  authors=["Redaksi"])
        b = store(s, url(2), html_b)  # b: what its page gives today
    summary = run(engine)
    assert (summary.examined, summary.changed, summary.unchanged) == (2, 1, 1)
    assert summary.failed == [] and summary.skipped == 0
    assert summary.changed_fields["title"] == 1 and summary.changed_fields["body"] == 1
    assert summary.changed_fields["authors"] == 1 and summary.changed_fields["links"] == 1
    assert summary.changed_fields["dates"] == 0
    assert summary.links_gained == 1
    expected, fp = extract_stored(html_a, url(1), "utf-8")
    with Session(engine) as s:
        row = s.get(Article, a)
        assert row is not None
        assert (row.title, row.body, row.authors) == (expected.title, expected.body,
                                                      expected.authors)
        assert fp is not None and row.content_hash == fp.content_hash
        assert row.extractor_version == EXTRACTOR_VERSION
        assert s.get(Article, b).extractor_version == EXTRACTOR_VERSION  # type: ignore[union-attr]
        versions = s.execute(select(ArticleVersion).where(ArticleVersion.article_id == a)
                             ).scalars().all()
        assert [(v.reason, v.title) for v in versions] == [("reextract", "Banjir")]
        assert versions[0].body.endswith("Iklan: beli sekarang.")
        links = s.execute(select(ArticleLink.to_url).where(ArticleLink.from_article_id == a)
                          ).scalars().all()
        assert links == [url(50)]
        assert s.execute(select(func.count()).select_from(ArticleVersion)
                         .where(ArticleVersion.article_id == b)).scalar_one() == 0
    shown = cli("show", str(a), "--versions")
    assert shown.returncode == 0, shown.stderr
    assert "replaced by a re-extraction" in shown.stdout
    shown_json = json.loads(cli("show", str(a), "--versions", "--format", "json").stdout)
    assert shown_json["versions"][0]["reason"] == "reextract"


def test_a_byline_change_leaves_text_signature_and_search_as_they_were(engine: Any) -> None:
    from storage.search import search

    html = news_page("Pasar ikan dibuka", story(3), author="Rina Wijaya")
    with Session(engine) as s, s.begin():
        a = store(s, url(3), html, authors=["Redaksi"])  # only the byline is stale
        before = s.get(Article, a)
        assert before is not None
        title, body, content_hash, minhash = (before.title, before.body, before.content_hash,
                                              before.minhash)
    summary = run(engine)
    assert summary.changed == 1 and summary.changed_fields["authors"] == 1
    assert summary.changed_fields["body"] == summary.changed_fields["title"] == 0
    with Session(engine) as s:
        row = s.get(Article, a)
        assert row is not None and row.authors == ["Rina Wijaya"]
        assert (row.title, row.body, row.content_hash, row.minhash) == (title, body,
                                                                         content_hash, minhash)
        assert row.extractor_version == EXTRACTOR_VERSION
        assert s.execute(select(func.count()).select_from(ArticleVersion)).scalar_one() == 0
        word = body.split()[3].strip(".,").lower()
        assert a in [hit.id for hit in search(s, word, limit=50)]
        assert a in [hit.id for hit in search(s, "ikan", limit=50)]


def test_dry_run_writes_nothing_and_reports(engine: Any, cli: Any) -> None:
    html = news_page("Jalan baru dibuka", story(3))
    with Session(engine) as s, s.begin():
        store(s, url(3), html, title="Jalan", body=story(30))
        store(s, url(4), news_page("Pasar ramai", story(4)))
    before = snapshot(engine)
    result = cli("reextract", "--dry-run", "--format", "json", "--workers", "0")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert (report["examined"], report["changed"], report["unchanged"]) == (2, 1, 1)
    assert report["changed_fields"]["body"] == 1 and report["changed_fields"]["title"] == 1
    assert report["diffs"][0]["url"] == url(3)
    assert "+Jalan baru dibuka" in report["diffs"][0]["diff"]
    assert snapshot(engine) == before
    text = cli("reextract", "--dry-run", "--workers", "0")
    assert "dry run: nothing written" in text.stdout and "changed:   1" in text.stdout
    assert snapshot(engine) == before


def test_skip_by_version_force_and_idempotent(engine: Any, cli: Any) -> None:
    with Session(engine) as s, s.begin():
        for n in range(5, 9):
            store(s, url(n), news_page(f"Berita {n}", story(n)), body=story(n + 100))
        store(s, url(9), news_page("Sudah baru", story(9)), body=story(99),
              extractor_version=EXTRACTOR_VERSION)  # stored by the current extraction
    first = json.loads(cli("reextract", "--format", "json", "--workers", "2").stdout)
    assert (first["examined"], first["changed"], first["skipped"]) == (4, 4, 1)
    after_first = snapshot(engine)
    second = json.loads(cli("reextract", "--format", "json", "--workers", "0").stdout)
    assert (second["examined"], second["changed"], second["skipped"]) == (0, 0, 5)
    forced = json.loads(cli("reextract", "--force", "--format", "json", "--workers", "0").stdout)
    # --force: the one skipped before is re-extracted too; the others do not change again
    assert (forced["examined"], forced["changed"], forced["unchanged"]) == (5, 1, 4)
    with Session(engine) as s:
        row = s.execute(select(Article).where(Article.canonical_url == url(9))).scalar_one()
        assert row.body == extract_stored(news_page("Sudah baru", story(9)), url(9),
                                          "utf-8")[0].body
    again = json.loads(cli("reextract", "--force", "--format", "json", "--workers", "0").stdout)
    assert (again["changed"], again["unchanged"]) == (0, 5)
    now = snapshot(engine)
    assert now["article_versions"] == after_first["article_versions"] + [
        r for r in now["article_versions"] if r not in after_first["article_versions"]]
    assert len(now["article_versions"]) == 5  # one per changed article, no more


def test_the_garbage_collector_is_eased_during_a_run_and_restored(engine: Any) -> None:
    import gc

    from crawler.reextract import GC_YOUNG

    with Session(engine) as s, s.begin():
        for n in range(30, 33):
            store(s, url(n), news_page(f"Berita {n}", story(n)), body=story(n + 100))
    before = (gc.get_threshold(), gc.get_freeze_count())
    seen: list[tuple[int, int]] = []
    summary = reextract(lambda: Session(engine), Options(workers=0, batch=1),
                        progress=lambda _: seen.append((gc.get_threshold()[0],
                                                        gc.get_freeze_count())))
    assert summary.changed == 3 and seen
    # during the run: the heap at its start frozen, young collections rarer
    assert all(young >= GC_YOUNG and frozen > 0 for young, frozen in seen)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before  # as it was after


def test_select_by_site_id_and_dates(engine: Any) -> None:
    with Session(engine) as s, s.begin():
        a = store(s, url(10), news_page("A", story(10)), body=story(1))
        store(s, url(11), news_page("B", story(11)), body=story(2), site="lain")
    assert run(engine, site="lain", dry_run=True).examined == 1
    assert run(engine, ids=[a], dry_run=True).examined == 1
    from storage.filters import parse_date

    assert run(engine, since=parse_date("2030-01-01"), dry_run=True).examined == 0
    assert run(engine, until=parse_date("2030-01-01"), dry_run=True).examined == 2


def test_id_takes_one_id_or_more_and_repeats(engine: Any, cli: Any) -> None:
    with Session(engine) as s, s.begin():
        ids = [store(s, url(n), news_page(f"Berita {n}", story(n)), body=story(n + 100))
               for n in range(40, 44)]
    listed = cli("reextract", "--dry-run", "--format", "json", "--id", str(ids[0]), str(ids[2]),
                 "--id", str(ids[3]))
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["examined"] == 3  # not ids[1]
    none = cli("reextract", "--id")
    assert none.returncode == 2 and "Traceback" not in none.stderr
    assert len(none.stderr.strip().splitlines()) == 1


def test_bad_input_is_one_line(engine: Any, cli: Any) -> None:
    bad_date = cli("reextract", "--since", "kemarin")
    assert bad_date.returncode == 2 and "not a date" in bad_date.stderr
    assert "Traceback" not in bad_date.stderr
    missing = cli("reextract", "--id", "999")
    assert missing.returncode == 1 and "no article with id 999" in missing.stderr
    no_site = cli("reextract", "--site", "tidak-ada")
    assert no_site.returncode == 1 and "no site named" in no_site.stderr


def test_a_page_that_no_longer_extracts_keeps_its_text(engine: Any) -> None:
    with Session(engine) as s, s.begin():
        a = store(s, url(12), news_page("Baik", story(12)))
        from storage.models import RawPage
        from storage.raw_codec import compress

        packed = compress(b"<html><body>maaf, halaman tidak ada</body></html>")
        raw = s.execute(select(RawPage).where(RawPage.article_id == a)).scalar_one()
        raw.body_gz, raw.codec, raw.dictionary_id = packed.data, packed.codec, None
        body = s.get(Article, a).body  # type: ignore[union-attr]
    summary = run(engine)
    assert summary.changed == 0 and len(summary.failed) == 1
    assert "no longer extracts as an article" in summary.failed[0]["reason"]
    with Session(engine) as s:
        assert s.get(Article, a).body == body  # type: ignore[union-attr]


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_raw_page_is_reported_and_its_article_kept(engine: Any,
                                                                  workers: int) -> None:
    from storage.models import RawPage

    with Session(engine) as s, s.begin():
        bad = store(s, url(13), news_page("Rusak", story(13)), body=story(14))
        good = store(s, url(15), news_page("Utuh", story(15)), body=story(16))
        raw = s.execute(select(RawPage).where(RawPage.article_id == bad)).scalar_one()
        raw.body_gz = b"not zstd at all"  # decompressed in the worker: it fails there
        raw_id = raw.id
    summary = run(engine, workers=workers)
    assert summary.changed == 1 and len(summary.failed) == 1
    assert summary.failed[0]["id"] == bad
    assert summary.failed[0]["reason"].startswith(f"raw page {raw_id} unreadable")
    with Session(engine) as s:
        assert s.get(Article, bad).body == story(14)  # type: ignore[union-attr]
        assert s.get(Article, good).body != story(16)  # type: ignore[union-attr]


def test_the_lsh_bands_are_those_of_the_new_text_only(engine: Any) -> None:
    """A changed text's band rows become exactly its new signature's: each band's key
    replaced in place, and a band past the signature's last (left by a configuration with
    more bands) removed."""
    from storage.models import MinHashBand

    with Session(engine) as s, s.begin():
        a = store(s, url(17), news_page("Berita", story(17)), body=story(18))
        s.add(MinHashBand(article_id=a, band=40, key=12345))  # a band no signature has now
    run(engine)
    with Session(engine) as s:
        body = s.get(Article, a).body  # type: ignore[union-attr]
        stored = sorted(tuple(r) for r in s.execute(
            select(MinHashBand.band, MinHashBand.key).where(MinHashBand.article_id == a)))
    assert body == extract_stored(news_page("Berita", story(17)), url(17), "utf-8")[0].body
    assert stored == sorted(fingerprint(body).band_keys)


def test_near_duplicates_fold_and_unfold(engine: Any) -> None:
    shared = story(20)
    with Session(engine) as s, s.begin():
        x = store(s, url(20), news_page("Asli", shared))
        # y's page is a copy of x's story, but an older extraction stored other text: apart
        y = store(s, url(21), news_page("Salinan", shared + "\n\nSumber: Kabar Kota."),
                  body=story(21))
        # z was stored as a near-copy of x, but its page holds another story: together
        z = store(s, url(22), news_page("Lain", story(22)), body=shared + "\n\nTambahan.")
        marks = {i: s.get(Article, i).duplicate_of_id for i in (x, y, z)}  # type: ignore[union-attr]
    assert marks == {x: None, y: None, z: x}
    summary = run(engine)
    assert summary.changed == 2 and summary.duplicates_marked >= 2
    with Session(engine) as s:
        got = {i: s.get(Article, i).duplicate_of_id for i in (x, y, z)}  # type: ignore[union-attr]
    assert got[z] is None  # no longer matches: apart
    assert {got[x], got[y]} == {None, x} or {got[x], got[y]} == {None, y}  # folded
    assert run(engine, force=True).changed == 0


def test_multi_page_article_pages_are_merged(engine: Any) -> None:
    from storage.archive import ArchivedPage
    from storage.archive import store_page as store_raw
    from tests.reextract_helpers import site_id

    first = news_page("Dua halaman", story(30)).replace(
        b"</article>", f'<a rel="next" href="{url(30)}?page=2">2</a></article>'.encode())
    second = news_page("Dua halaman", story(31))
    with Session(engine) as s, s.begin():
        sid = site_id(s)
        from crawler.dedup import fingerprint

        page = ArchivedPage(url=url(30), canonical_url=url(30), title="Dua halaman",
                            body=story(30), fingerprint=fingerprint(story(30)),
                            raw_body=first, raw_parts=[(url(30) + "?page=2", second)],
                            headers={"Content-Type": "text/html; charset=utf-8"})
        a = store_raw(s, sid, page).article_id
    summary = run(engine)
    assert summary.changed == 1 and summary.changed_fields["body"] == 1
    with Session(engine) as s:
        body = s.get(Article, a).body  # type: ignore[union-attr]
    one = extract_stored(first, url(30), "utf-8")[0].body
    two = extract_stored(second, url(30) + "?page=2", "utf-8")[0].body
    assert body == one + "\n\n" + two


def test_killed_mid_way_leaves_whole_batches_and_the_next_run_completes(
        engine: Any, database_url: str, tmp_path: Path) -> None:
    count = 120
    with Session(engine) as s, s.begin():
        for n in range(100, 100 + count):
            store(s, url(n), news_page(f"Berita {n}", story(n, 4)), body=story(n + 5000, 4))
    env = dict(os.environ, ARSIP_DATABASE_URL=database_url)
    proc = subprocess.Popen([sys.executable, "-m", "arsip", "reextract", "--batch", "5",
                             "--workers", "0", "--quiet"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline:
            with Session(engine) as s:
                done = s.execute(select(func.count()).select_from(Article).where(
                    Article.extractor_version == EXTRACTOR_VERSION)).scalar_one()
            if done >= 10 or proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert 10 <= done < count, f"{done} articles re-extracted before the kill"

    def consistent() -> int:
        with Session(engine) as s:
            rows = s.execute(select(Article.id, Article.extractor_version)).all()
            versions = dict(s.execute(select(ArticleVersion.article_id, func.count())
                                      .group_by(ArticleVersion.article_id)).all())
        marked = 0
        for row in rows:
            if row.extractor_version == EXTRACTOR_VERSION:
                marked += 1
                assert versions.get(row.id) == 1
            else:  # untouched: no version, its old text
                assert row.id not in versions
        return marked

    marked = consistent()
    assert marked % 5 == 0 and marked < count  # whole batches only
    summary = run(engine)
    assert summary.examined == count - marked and summary.skipped == marked
    assert summary.changed == count - marked
    assert consistent() == count


def test_runs_beside_a_crawl(engine: Any, database_url: str, tmp_path: Path) -> None:
    with Session(engine) as s, s.begin():
        for n in range(300, 340):
            store(s, url(n), news_page(f"Berita {n}", story(n, 4)), body=story(n + 7000, 4))
    env = dict(os.environ, ARSIP_DATABASE_URL=database_url)
    crawl = subprocess.Popen([sys.executable, "-m", "arsip", "demo", "--workers", "1"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    results = []
    for _ in range(3):  # re-extractions while the crawl writes (--force: all again)
        results.append(subprocess.run(
            [sys.executable, "-m", "arsip", "reextract", "--force", "--batch", "5",
             "--workers", "1", "--quiet", "--format", "json"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300))
    out, err = crawl.communicate(timeout=300)
    assert crawl.returncode == 0, err
    assert "locked" not in err
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
    assert json.loads(results[0].stdout)["changed"] >= 40
    with Session(engine) as s:
        # the crawl's articles are there, at the current extractor version
        crawled = s.execute(select(func.count()).select_from(Article).where(
            Article.canonical_url.not_like("http://kabar.test/%"))).scalar_one()
        assert crawled == 10
        assert s.execute(select(func.count()).select_from(Article).where(
            Article.extractor_version != EXTRACTOR_VERSION)).scalar_one() == 0
