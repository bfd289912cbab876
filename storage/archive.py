"""The write path: one fetched article page into the archive.

The statements are Core statements, run on the session's connection
(``session.connection().execute``): through ``Session.execute`` one cost 78 us of CPU
against 32 us on the connection, and a new article takes eight.

``store_page`` decides what a page is to the archive (a new article, a new URL of a known
one, an exact copy, a near-duplicate, a new version of a known article's text, or nothing
new) and writes it. The caller owns the transaction; the pipeline writes a batch of pages in
one transaction (again with a SAVEPOINT per page when one of them fails), so a crash never
leaves half an article. Uniqueness is
decided by the database (insert-or-ignore on unique keys), never by SELECT-then-INSERT.

What a page *is* (an exact copy of an archived text, a near-duplicate of one) is decided by
reading the archive, so two writers storing copies of one story at the same instant must not
decide without each other: on SQLite the write lock (BEGIN IMMEDIATE) serialises writers; on
PostgreSQL ``store_page`` takes a transaction-level advisory lock first, so that archive
writers' transactions take turns there too (readers are never blocked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from storage.fingerprint import Fingerprint
from storage.models import (
    Article,
    ArticleLink,
    ArticleURL,
    ArticleVersion,
    RawPage,
    utcnow,
)
from storage.raw_codec import Compressed, Dictionary, compress
from storage.upsert import dialect_name, execute_rows, insert_ignore_stmt, insert_stmt
from storage.url_identity import is_rendering_variant, url_variants

# The stored raw pages: zstandard with the site's dictionary (storage.raw_codec,
# storage.raw_store), compressed in the crawl's extraction workers; pages stored before
# revision 0003 are gzip members (ISA-L) and stay readable.

# PostgreSQL advisory lock of the archive's writers (see the module docstring): a fixed
# 64-bit key, b"arsip-wr" read as a signed integer
WRITE_LOCK_KEY = int.from_bytes(b"arsip-wr", "big", signed=True)
_WRITE_LOCK = text("SELECT pg_advisory_xact_lock(:key)")

OUTCOMES = ("new", "alias", "near_duplicate", "version", "unchanged")


@dataclass
class LinkRecord:
    url: str  # canonical
    title: str
    kind: str  # inline, block


@dataclass
class ArchivedPage:
    """What the crawler hands to the archive for one article (all pages merged)."""

    url: str  # the URL fetched last (after redirects)
    canonical_url: str
    alias_urls: list[str] = field(default_factory=list)  # every other URL seen for it
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    published_local: str | None = None
    modified: datetime | None = None
    modified_local: str | None = None
    language: str | None = None
    description: str | None = None
    image: str | None = None
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    body: str = ""
    related: list[LinkRecord] = field(default_factory=list)
    fingerprint: Fingerprint | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes = b""
    # raw_body compressed already (compress_raw), by a worker
    raw_gz: Compressed | None = None
    # a multi-page article's pages after the first (url, raw body), fetched with it
    raw_parts: list[tuple[str, bytes]] = field(default_factory=list)
    fetched_at: datetime = field(default_factory=utcnow)
    etag: str | None = None
    last_modified: str | None = None
    extractor_version: str | None = None  # crawler.extraction.version.EXTRACTOR_VERSION


@dataclass
class StoreResult:
    outcome: str
    article_id: int
    aliases_added: int = 0


@lru_cache(maxsize=1)
def _article_of_urls() -> Any:
    # built once (an expanding IN): the look-up runs for every page written
    return (select(ArticleURL.article_id)
            .where(ArticleURL.url.in_(bindparam("urls", expanding=True)))
            .order_by(ArticleURL.article_id).limit(1))


@lru_cache(maxsize=1)
def _article_of_hash() -> Any:
    return (select(Article.id).where(Article.content_hash == bindparam("hash"))
            .order_by(Article.id).limit(1))


def find_article_id(session: Session, urls: list[str]) -> int | None:
    """The article that any of ``urls`` (or their http/https, www/bare twins) is known for."""
    candidates = sorted({v for u in urls for v in url_variants(u)})
    if not candidates:
        return None
    return session.connection().execute(_article_of_urls(), {"urls": candidates}).scalar_one_or_none()


def add_aliases(session: Session, article_id: int, urls: dict[str, str]) -> int:
    """Record URLs (url -> kind) for an article; URLs known already are left as they are."""
    if not urls:
        return 0
    now = utcnow()
    rows = [{"url": u, "article_id": article_id, "kind": k, "first_seen": now}
            for u, k in urls.items()]
    # the count of URLs actually added is the alias statistic: the rows the insert-or-ignore
    # returns (a rowcount is not reliable for executemany on every driver)
    stmt = insert_ignore_stmt(dialect_name(session), ArticleURL.__table__, ("url",), ("url",))
    return len(session.connection().execute(stmt, rows).all())


LINK_COLUMNS = ("from_article_id", "to_url", "kind", "anchor", "position")


def link_rows_of(article_id: int, links: list[LinkRecord]) -> list[dict[str, Any]]:
    """An article's related links as ``article_links`` rows (each URL and kind once)."""
    rows = []
    seen = set()
    for i, link in enumerate(links):
        key = (link.url, link.kind)
        if key in seen:
            continue
        seen.add(key)
        rows.append({"from_article_id": article_id, "to_url": link.url, "kind": link.kind,
                     "anchor": link.title, "position": i})
    return rows


def _store_links(session: Session, article_id: int, links: list[LinkRecord]) -> None:
    rows = link_rows_of(article_id, links)
    execute_rows(session.connection(),
                 insert_ignore_stmt(dialect_name(session), ArticleLink.__table__,
                                    ("from_article_id", "to_url", "kind")),
                 LINK_COLUMNS, [tuple(row[c] for c in LINK_COLUMNS) for row in rows])


def compress_raw(body: bytes, dictionary: Dictionary | None = None) -> Compressed:
    """A raw page as the archive stores it (zstandard, with the site's dictionary)."""
    return compress(body, dictionary)


def _store_raw(session: Session, article_id: int, page: ArchivedPage) -> None:
    if not page.raw_body and not page.raw_gz:
        return
    packed = page.raw_gz or compress_raw(page.raw_body)
    session.connection().execute(insert_stmt(dialect_name(session), RawPage.__table__), {
        "article_id": article_id,
        "url": page.url,
        "fetched_at": page.fetched_at,
        "status": page.status,
        "headers": page.headers,
        "body_gz": packed.data,
        "codec": packed.codec,
        "dictionary_id": packed.dictionary_id,
        "raw_size": packed.raw_size,
        "content_hash": page.fingerprint.content_hash if page.fingerprint else None,
    })
    for number, (url, body) in enumerate(page.raw_parts, 1):
        part = compress_raw(body)
        session.connection().execute(insert_stmt(dialect_name(session), RawPage.__table__), {
            "article_id": article_id, "url": url, "fetched_at": page.fetched_at,
            "status": page.status, "headers": page.headers, "body_gz": part.data,
            "codec": part.codec, "dictionary_id": part.dictionary_id,
            "raw_size": part.raw_size, "part": number,
            "content_hash": page.fingerprint.content_hash if page.fingerprint else None,
        })


def _article_values(page: ArchivedPage) -> dict[str, Any]:
    fp = page.fingerprint
    return {
        "title": page.title,
        "authors": page.authors,
        "published": page.published,
        "published_local": page.published_local,
        "modified": page.modified,
        "modified_local": page.modified_local,
        "language": page.language,
        "description": page.description,
        "image": page.image,
        "section": page.section,
        "tags": page.tags,
        "body": page.body,
        "content_hash": fp.content_hash if fp else "",
        "minhash": fp.minhash if fp else None,
        "etag": page.etag,
        "last_modified_header": page.last_modified,
        "extractor_version": page.extractor_version,
    }


def _alias_map(page: ArchivedPage) -> dict[str, str]:
    urls: dict[str, str] = {page.canonical_url: "canonical"}
    for u in page.alias_urls:
        urls.setdefault(u, "alias")
    return urls


def store_page(
    session: Session,
    site_id: int,
    page: ArchivedPage,
    *,
    run_id: int | None = None,
    near_threshold: float | None = None,
) -> StoreResult:
    """Write one article page; returns what it was to the archive.

    ``near_threshold``: estimated Jaccard at or above which the page is a near-duplicate
    (default ``storage.dedup_index.default_threshold()``).
    """
    from storage import dedup_index

    if near_threshold is None:
        near_threshold = dedup_index.default_threshold()
    lock_for_writing(session)
    now = utcnow()
    fp = page.fingerprint
    urls = _alias_map(page)
    existing = find_article_id(session, list(urls))
    if existing is not None:
        return _update_existing(session, existing, page, urls, now)
    if fp and fp.content_hash and page.body.strip():
        same = session.connection().execute(_article_of_hash(),
                               {"hash": fp.content_hash}).scalar_one_or_none()
        if same is not None:
            added = add_aliases(session, same, {u: "copy" for u in urls})
            session.connection().execute(update(Article).where(Article.id == same).values(last_seen=now))
            _prefer_proper_name(session, same, page.canonical_url)
            return StoreResult("alias", same, added)
    values = _article_values(page)
    values.update(site_id=site_id, canonical_url=page.canonical_url, first_seen=now,
                  last_seen=now, last_checked=now, run_id=run_id)
    stmt = insert_ignore_stmt(dialect_name(session), Article.__table__, ("canonical_url",),
                              ("id",))
    new_id = session.connection().execute(stmt, values).scalar_one_or_none()
    if new_id is None:  # another writer stored it between our look-up and our insert
        raced = find_article_id(session, [page.canonical_url])
        if raced is None:
            raced = session.connection().execute(
                select(Article.id).where(Article.canonical_url == page.canonical_url)
            ).scalar_one()
        return _update_existing(session, raced, page, urls, now)
    added = add_aliases(session, new_id, urls)
    _store_links(session, new_id, page.related)
    _store_raw(session, new_id, page)
    outcome = "new"
    if fp is not None:
        if dedup_index.mark_near_duplicate(session, new_id, fp, near_threshold):
            outcome = "near_duplicate"
        dedup_index.index_article(session, new_id, fp)
    return StoreResult(outcome, new_id, added)


def lock_for_writing(session: Session) -> None:
    """On PostgreSQL, wait for the archive's write turn (an advisory lock held until the
    transaction ends; taken again in the same transaction, a no-op). Every write function
    here takes it before it writes anything, so that writers never wait for it while
    holding row locks (no deadlock between two batches)."""
    if dialect_name(session) == "postgresql":
        session.connection().execute(_WRITE_LOCK, {"key": WRITE_LOCK_KEY})


def _prefer_proper_name(session: Session, article_id: int, candidate: str) -> None:
    """An exact copy met first under a print or AMP rendering URL (``/cetak/ID``) gives its
    name up to the article's own URL when that turns up: the order pages arrive in must not
    decide which URL names the story."""
    current = session.connection().execute(
        select(Article.canonical_url).where(Article.id == article_id)
    ).scalar_one()
    if not is_rendering_variant(current) or is_rendering_variant(candidate):
        return
    session.connection().execute(update(Article).where(Article.id == article_id)
                    .values(canonical_url=candidate))
    session.connection().execute(update(ArticleURL).where(ArticleURL.url == current).values(kind="copy"))
    session.connection().execute(update(ArticleURL).where(ArticleURL.url == candidate)
                    .values(kind="canonical"))


def _update_existing(session: Session, article_id: int, page: ArchivedPage,
                     urls: dict[str, str], now: datetime) -> StoreResult:
    from storage import dedup_index

    added = add_aliases(session, article_id, urls)
    current = session.connection().execute(
        select(Article.content_hash, Article.title, Article.body, Article.first_seen,
               Article.last_seen).where(Article.id == article_id)
    ).one()
    fp = page.fingerprint
    if fp is None or not page.body.strip() or fp.content_hash == current.content_hash:
        session.connection().execute(update(Article).where(Article.id == article_id)
                        .values(last_seen=now, last_checked=now, etag=page.etag,
                                last_modified_header=page.last_modified))
        return StoreResult("alias" if added else "unchanged", article_id, added)
    # the text changed: keep the old one as a version, the new one becomes current
    # (article_id, version) is unique: a concurrent writer of the same article fails cleanly
    number = (session.connection().execute(
        select(func.max(ArticleVersion.version)).where(ArticleVersion.article_id == article_id)
    ).scalar_one() or 0) + 1
    session.connection().execute(insert_stmt(dialect_name(session), ArticleVersion.__table__), {
        "article_id": article_id, "version": number, "title": current.title,
        "body": current.body, "content_hash": current.content_hash,
        "first_seen": _text_first_seen(session, article_id, current.content_hash,
                                       current.first_seen),
        "last_seen": current.last_seen,
    })
    values = _article_values(page)
    values.update(last_seen=now, last_checked=now)
    session.connection().execute(update(Article).where(Article.id == article_id).values(**values))
    session.connection().execute(delete(ArticleLink).where(ArticleLink.from_article_id == article_id))
    _store_links(session, article_id, page.related)
    _store_raw(session, article_id, page)
    dedup_index.index_article(session, article_id, fp, replace=True)
    return StoreResult("version", article_id, added)


def _text_first_seen(session: Session, article_id: int, content_hash: str,
                     article_first_seen: datetime) -> datetime:
    """When the article's current text was first seen: the first raw page fetched with that
    text (every new text is stored with its raw page), else the article's first sighting."""
    first = session.connection().execute(
        select(func.min(RawPage.fetched_at))
        .where(RawPage.article_id == article_id, RawPage.content_hash == content_hash)
    ).scalar_one_or_none()
    return first or article_first_seen


def touch_checked(session: Session, urls: list[str]) -> None:
    """A re-check found the article unchanged (HTTP 304): only its check time moves."""
    lock_for_writing(session)
    article_id = find_article_id(session, urls)
    if article_id is not None:
        now = utcnow()
        session.connection().execute(update(Article).where(Article.id == article_id)
                        .values(last_checked=now, last_seen=now))
