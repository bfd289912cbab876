"""Fingerprints, the near-duplicate index and the write path's decisions (store_page)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from arsip.sample_site.content import portal_stories, stories
from crawler.dedup import (
    BANDS,
    NUM_PERM,
    content_hash,
    fingerprint,
    normalise_body,
    similarity,
)
from storage import dedup_index
from storage.archive import ArchivedPage, store_page
from storage.models import Article, ArticleURL, ArticleVersion, MinHashBand
from storage.runs import ensure_site

STORIES = {s.id: s for s in stories()}
PORTAL = {p.id: p for p in portal_stories(list(STORIES.values()))}
BASE = "http://127.0.0.1:8000"
OTHER = "http://localhost:8000"


def text(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


# -- fingerprints ------------------------------------------------------------------------
def test_fingerprint_shapes_and_determinism() -> None:
    body = text(STORIES["033112345"].paragraphs)
    a, b = fingerprint(body), fingerprint(body)
    assert a == b
    assert a.minhash is not None and len(a.minhash) == NUM_PERM * 4
    assert len(a.band_keys) == BANDS and len({band for band, _ in a.band_keys}) == BANDS
    assert all(-(2**63) <= key < 2**63 for _, key in a.band_keys)  # fits BIGINT


def test_content_hash_ignores_case_punctuation_spacing_and_baca_juga() -> None:
    body = text(STORIES["033100003"].paragraphs)
    noisy = body.upper().replace(".", " . ").replace("\n\n", "\n\nBaca Juga: Judul Lain\n\n", 1)
    assert content_hash(noisy) == content_hash(body)
    assert content_hash(body + " Tambahan.") != content_hash(body)
    assert "baca juga" not in normalise_body("Satu.\nBaca juga: Dua\nTiga.")


def test_empty_body_has_no_sketch() -> None:
    fp = fingerprint("  \n ")
    assert fp.minhash is None and fp.band_keys == []


def test_similarity_separates_copies_from_other_stories() -> None:
    seed = fingerprint(text(STORIES["033112345"].paragraphs))
    copy = fingerprint(text(PORTAL["8801"].paragraphs))
    other = fingerprint(text(STORIES["033100005"].paragraphs))
    same_topic = fingerprint(text(PORTAL["8805"].paragraphs))
    t = dedup_index.DEFAULT_THRESHOLD
    assert similarity(seed.minhash, copy.minhash) >= t  # type: ignore[arg-type]
    assert dedup_index.is_near_duplicate(seed, copy, t)
    assert not dedup_index.is_near_duplicate(seed, other, t)
    assert not dedup_index.is_near_duplicate(same_topic, fingerprint(
        text(STORIES["033100003"].paragraphs)), t)
    assert similarity(seed.minhash, other.minhash) < 0.1  # type: ignore[arg-type]


def test_threshold_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dedup_index.default_threshold() == dedup_index.DEFAULT_THRESHOLD
    monkeypatch.setenv("ARSIP_NEAR_DUPLICATE_THRESHOLD", "0.9")
    assert dedup_index.default_threshold() == 0.9
    monkeypatch.setenv("ARSIP_NEAR_DUPLICATE_THRESHOLD", "nonsense")
    assert dedup_index.default_threshold() == dedup_index.DEFAULT_THRESHOLD


# -- the write path ----------------------------------------------------------------------
def page(url: str, paragraphs: list[str], published: datetime | None, *,
         aliases: list[str] | None = None, fetched_at: datetime | None = None,
         raw: bool = True) -> ArchivedPage:
    body = text(paragraphs)
    kw: dict[str, Any] = {}
    if fetched_at is not None:
        kw["fetched_at"] = fetched_at
    return ArchivedPage(url=url, canonical_url=url, alias_urls=list(aliases or []),
                        title=url.rsplit("/", 1)[-1], published=published, body=body,
                        fingerprint=fingerprint(body),
                        raw_body=f"<html>{body}</html>".encode() if raw else b"", **kw)


def dedup_pages() -> list[ArchivedPage]:
    """Stories and their copies: two portal groups, an earlier-published copy, strangers."""
    pages = [page(f"{BASE}{s.path}", s.paragraphs, s.published) for s in STORIES.values()]
    for p in PORTAL.values():
        if p.source != "033100004":  # (that one is an exact copy: an alias, tested below)
            pages.append(page(f"{OTHER}{p.path}", p.paragraphs, p.published))
    # a second copy of the seed, lightly edited, on a third portal
    seed = STORIES["033112345"]
    edited = list(seed.paragraphs)
    edited[7] = "Sehari sebelumnya Blinken mengomentari pengiriman pasukan Rusia ke Kazakhstan."
    pages.append(page("http://portal3.test/berita/77/rusia-marah", edited,
                      seed.published + timedelta(hours=6)))
    return pages


def store_all(engine: Any, pages: list[ArchivedPage], threshold: float | None = None
              ) -> list[str]:
    outcomes = []
    with Session(engine) as session, session.begin():
        site_id = ensure_site(session, "t")
        for p in pages:
            outcomes.append(store_page(session, site_id, p, near_threshold=threshold).outcome)
    return outcomes


def groups(engine: Any) -> dict[str, list[str]]:
    """{original canonical URL: sorted canonical URLs of its near-duplicates} (groups only)."""
    with Session(engine) as session:
        rows = session.execute(select(Article.id, Article.canonical_url,
                                      Article.duplicate_of_id)).all()
    url = {r.id: r.canonical_url for r in rows}
    out: dict[str, list[str]] = {}
    for r in rows:
        if r.duplicate_of_id is not None:
            out.setdefault(url[r.duplicate_of_id], []).append(r.canonical_url)
    return {k: sorted(v) for k, v in sorted(out.items())}


def wipe(engine: Any) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(Article))
        assert session.execute(select(MinHashBand)).first() is None  # cascaded


def test_near_duplicates_grouped_under_the_earliest_published(engine: Any) -> None:
    store_all(engine, dedup_pages())
    got = groups(engine)
    seed = f"{BASE}{STORIES['033112345'].path}"
    assert got[seed] == sorted([f"{OTHER}{PORTAL['8801'].path}",
                                "http://portal3.test/berita/77/rusia-marah"])
    assert got[f"{BASE}{STORIES['033100003'].path}"] == [f"{OTHER}{PORTAL['8802'].path}"]
    # the portal published this one five hours before the original site: it is the original
    assert got[f"{OTHER}{PORTAL['8804'].path}"] == [f"{BASE}{STORIES['033100009'].path}"]
    assert len(got) == 3
    with Session(engine) as session:
        rows = session.execute(select(Article.duplicate_of_id, Article.similarity)).all()
        originals = {r.duplicate_of_id for r in rows if r.duplicate_of_id}
        # groups never chain: every original is itself not a duplicate
        for oid in originals:
            assert session.get(Article, oid).duplicate_of_id is None  # type: ignore[union-attr]
        sims = [r.similarity for r in rows if r.duplicate_of_id]
        assert all(s is not None and s >= dedup_index.DEFAULT_THRESHOLD for s in sims)


def test_same_pages_in_any_order_give_the_same_groups(engine: Any) -> None:
    pages = dedup_pages()
    orders = [pages, list(reversed(pages))]
    for seed in (1, 2, 3):
        shuffled = list(pages)
        random.Random(seed).shuffle(shuffled)
        orders.append(shuffled)
    results = []
    for order in orders:
        wipe(engine)
        store_all(engine, order)
        results.append(groups(engine))
    assert results[0] and all(r == results[0] for r in results[1:])


def test_newer_original_is_repointed_when_an_older_story_arrives(engine: Any) -> None:
    seed = STORIES["033112345"]
    copy1 = page(f"{OTHER}{PORTAL['8801'].path}", PORTAL["8801"].paragraphs,
                 PORTAL["8801"].published)
    edited = list(seed.paragraphs)
    edited[2] = "Washington langsung memperingatkan Kazakhstan soal kehadiran pasukan Rusia."
    copy2 = page("http://portal3.test/x/1", edited, seed.published + timedelta(days=1))
    original = page(f"{BASE}{seed.path}", seed.paragraphs, seed.published)
    assert store_all(engine, [copy1]) == ["new"]
    assert store_all(engine, [copy2]) == ["near_duplicate"]
    assert groups(engine) == {copy1.url: [copy2.url]}
    # the earliest published arrives last: it becomes the original of the whole group
    assert store_all(engine, [original]) == ["near_duplicate"]
    assert groups(engine) == {original.url: sorted([copy1.url, copy2.url])}


def test_threshold_is_configurable(engine: Any) -> None:
    oil = STORIES["033100009"]
    copy = PORTAL["8804"]  # estimated Jaccard about 0.76 to the original
    pages = [page(f"{BASE}{oil.path}", oil.paragraphs, oil.published),
             page(f"{OTHER}{copy.path}", copy.paragraphs, copy.published)]
    assert store_all(engine, pages, threshold=0.9) == ["new", "new"]
    assert groups(engine) == {}
    wipe(engine)
    assert store_all(engine, pages, threshold=0.6) == ["new", "near_duplicate"]


def test_exact_copy_at_another_url_is_an_alias(engine: Any) -> None:
    s = STORIES["033100004"]
    copy = PORTAL["8803"]  # the same body, another headline and Baca Juga lines
    out = store_all(engine, [page(f"{BASE}{s.path}", s.paragraphs, s.published),
                             page(f"{OTHER}{copy.path}", copy.paragraphs, copy.published)])
    assert out == ["new", "alias"]
    with Session(engine) as session:
        assert session.execute(select(Article.id)).scalars().all().__len__() == 1
        kinds = dict(session.execute(select(ArticleURL.url, ArticleURL.kind)).all())
    assert kinds[f"{OTHER}{copy.path}"] == "copy"


def test_known_url_in_another_form_is_the_same_article(engine: Any) -> None:
    s = STORIES["033100005"]
    first = page(f"http://www.example.com{s.path}", s.paragraphs, s.published)
    again = page(f"https://example.com{s.path}", s.paragraphs, s.published)
    # one article; the other form of its URL is kept as an alias, then nothing is new
    assert store_all(engine, [first, again, again]) == ["new", "alias", "unchanged"]
    with Session(engine) as session:
        assert len(session.execute(select(Article.id)).all()) == 1
        urls = set(session.execute(select(ArticleURL.url)).scalars())
    assert urls == {first.url, again.url}


def test_changed_text_becomes_a_version(engine: Any) -> None:
    s = STORIES["033100002"]
    url = f"{BASE}{s.path}"
    t0 = datetime(2024, 1, 1, 8, 0).astimezone()
    v1 = page(url, s.paragraphs, s.published, fetched_at=t0)
    v2_text = [*s.paragraphs, "Pembaruan: Kremlin menambahkan keterangan resmi."]
    v2 = page(url, v2_text, s.published, fetched_at=t0 + timedelta(hours=6))
    v3_text = [*v2_text, "Pembaruan kedua: latihan berakhir."]
    v3 = page(url, v3_text, s.published, fetched_at=t0 + timedelta(hours=12))
    assert store_all(engine, [v1]) == ["new"]
    assert store_all(engine, [v1]) == ["unchanged"]
    with Session(engine) as session:
        seen_v1 = session.execute(select(Article.first_seen, Article.last_seen)).one()
    assert store_all(engine, [v2]) == ["version"]
    assert store_all(engine, [v3]) == ["version"]
    with Session(engine) as session:
        art = session.execute(select(Article)).scalar_one()
        versions = session.execute(select(ArticleVersion).order_by(ArticleVersion.version)
                                   ).scalars().all()
        assert art.body == text(v3_text)
        assert [v.version for v in versions] == [1, 2]
        assert versions[0].body == text(s.paragraphs)
        assert versions[1].body == text(v2_text)
        # when each text was seen: v1 from its first fetch to its last sighting
        assert versions[0].first_seen == t0
        assert versions[0].last_seen == seen_v1.last_seen
        assert versions[1].first_seen == t0 + timedelta(hours=6)
        assert versions[1].last_seen <= art.last_seen
        assert versions[0].content_hash == content_hash(text(s.paragraphs))
        # the index follows the current text
        bands = set(session.execute(select(MinHashBand.band, MinHashBand.key)
                                    .where(MinHashBand.article_id == art.id)).all())
        assert bands == set(fingerprint(text(v3_text)).band_keys)


def test_replaced_bands_are_those_of_the_new_signature_only(engine: Any) -> None:
    """``index_article(replace=True)`` (a re-check that found a changed page): each band's
    row replaced where its key changed, and no band past the new signature's last kept."""
    from dataclasses import replace

    s = STORIES["033100002"]
    store_all(engine, [page(f"{BASE}{s.path}", s.paragraphs, s.published)])
    with Session(engine) as session:
        aid = session.execute(select(Article.id)).scalar_one()
    fp = fingerprint(text(s.paragraphs))
    keys = [(band, key ^ 1 if band % 3 == 0 else key) for band, key in fp.band_keys[:10]]

    def bands() -> set[tuple[int, int]]:
        with Session(engine) as session:
            return set(session.execute(select(MinHashBand.band, MinHashBand.key)
                                       .where(MinHashBand.article_id == aid)).all())

    assert bands() == set(fp.band_keys) and len(fp.band_keys) > 10
    for new_keys in (keys, fp.band_keys, []):
        with Session(engine) as session, session.begin():
            dedup_index.index_article(session, aid, replace(fp, band_keys=new_keys),
                                      replace=True)
        assert bands() == set(new_keys)


@pytest.mark.parametrize("kind", ["exact copy", "near-duplicate"])
def test_concurrent_writers_of_two_copies_make_one_story(engine, kind) -> None:
    """Two writers store copies of one story at the same time (two crawls, or two machines of
    a fleet): the second waits for the first's transaction and sees its article, as if they
    had come one after the other. (On SQLite the write lock serialises them; on PostgreSQL
    an advisory lock does.)"""
    import threading

    seed = STORIES["033112345"]
    first = page(f"{BASE}{seed.path}", seed.paragraphs, seed.published)
    paragraphs = list(seed.paragraphs)
    if kind == "near-duplicate":
        paragraphs[7] = "Sehari sebelumnya Blinken mengomentari pengiriman pasukan Rusia."
    second = page("http://portal3.test/berita/77/rusia-marah", paragraphs,
                  seed.published + timedelta(hours=6))
    with Session(engine) as session, session.begin():
        site_id = ensure_site(session, "t")
    outcome: list[str] = []
    failures: list[BaseException] = []

    def other_writer() -> None:
        try:
            with Session(engine) as session, session.begin():
                outcome.append(store_page(session, site_id, second).outcome)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    with Session(engine) as session, session.begin():
        assert store_page(session, site_id, first).outcome == "new"
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(1.0)  # it must wait for this transaction, not decide without it
        waited = thread.is_alive()
    thread.join(30)
    assert not failures, failures
    assert waited
    expected = "alias" if kind == "exact copy" else "near_duplicate"
    assert outcome == [expected]
    with Session(engine) as session:
        rows = session.execute(select(Article.canonical_url, Article.duplicate_of_id)).all()
    assert len(rows) == (1 if kind == "exact copy" else 2)


def test_rows_written_at_once_end_as_written_one_by_one(engine: Any) -> None:
    """``execute_rows`` (every row in one statement on PostgreSQL, an executemany on
    SQLite) leaves what the statement run once per row in order would: an upsert's row given
    twice ends with the later values (PostgreSQL refuses to update a row twice in one
    statement: the rows are folded first), an insert-or-ignore keeps the first; NULLs and
    text pass through."""
    from storage.archive import LINK_COLUMNS
    from storage.models import ArticleLink
    from storage.upsert import execute_rows, insert_ignore_stmt, replace_stmt

    s = STORIES["033100002"]
    store_all(engine, [page(f"{BASE}{s.path}", s.paragraphs, s.published)])
    with Session(engine) as session:
        aid = session.execute(select(Article.id)).scalar_one()
    bands = [(aid, 90, 1), (aid, 91, 2), (aid, 90, 3), (aid, 92, -(2**62))]
    links = [(aid, "http://a.test/1", "related", None, 0),
             (aid, "http://a.test/2", "inline", "Dua", 1),
             (aid, "http://a.test/1", "related", "later", 2)]
    with Session(engine) as session, session.begin():
        conn = session.connection()
        dialect = conn.dialect.name
        execute_rows(conn, replace_stmt(dialect, MinHashBand.__table__,
                                        ("article_id", "band"), ("key",)),
                     ("article_id", "band", "key"), bands)
        execute_rows(conn, insert_ignore_stmt(dialect, ArticleLink.__table__,
                                              ("from_article_id", "to_url", "kind")),
                     LINK_COLUMNS, [tuple(row) for row in links])
    with Session(engine) as session:
        stored = dict(session.execute(select(MinHashBand.band, MinHashBand.key).where(
            (MinHashBand.article_id == aid) & (MinHashBand.band >= 90))).all())
        kept = {(r.to_url, r.kind): (r.anchor, r.position) for r in session.execute(
            select(ArticleLink).where(ArticleLink.from_article_id == aid)).scalars()
            if r.to_url.startswith("http://a.test/")}
    assert stored == {90: 3, 91: 2, 92: -(2**62)}
    assert kept == {("http://a.test/1", "related"): (None, 0),
                    ("http://a.test/2", "inline"): ("Dua", 1)}
