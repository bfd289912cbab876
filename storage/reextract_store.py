"""The archive's side of ``arsip reextract`` (``crawler.reextract``): which articles, their
stored raw pages and current fields, and writing a new extraction of an article in place.

A changed article keeps its previous text as a version (reason ``reextract``), gets the new
fields, fingerprint and LSH bands, its related links are replaced (their targets are found
through the aliases when read, so they resolve by themselves), and its near-duplicate marks
are redone: it leaves its group (and its own copies leave it), then it and each former copy
are grouped again by the crawl's own rule (``dedup_index.mark_near_duplicate``), so copies
that now match fold together and ones that no longer match come apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from storage import dedup_index
from storage.archive import LinkRecord, _store_links, _text_first_seen, lock_for_writing
from storage.errors import NotFound
from storage.filters import ArticleFilter
from storage.fingerprint import Fingerprint
from storage.models import Article, ArticleLink, ArticleVersion, MinHashBand, RawPage
from storage.raw_codec import RawPageUnreadable
from storage.raw_store import read_body
from storage.upsert import dialect_name, insert_stmt

REASON = "reextract"

_FIELDS = ("title", "authors", "published", "published_local", "modified", "modified_local",
           "language", "description", "image", "section", "tags", "body", "extractor_version",
           "content_hash", "minhash")


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """Core statements built once (SQLAlchemy caches their compiled form): building an
    ORM-enabled UPDATE per article cost more than running it."""
    articles = cast(Table, Article.__table__)
    raw_pages = cast(Table, RawPage.__table__)
    links = cast(Table, ArticleLink.__table__)
    a = articles.c
    v = cast(Table, ArticleVersion.__table__).c
    r = raw_pages.c
    ids: Any = bindparam("ids", expanding=True)
    return {
        "update": update(articles).where(a.id == bindparam("aid"))
        .values({name: bindparam(name) for name in _FIELDS}),
        "update_no_fp": update(articles).where(a.id == bindparam("aid"))
        .values({name: bindparam(name) for name in _FIELDS[:-2]}),
        "max_version": select(func.max(v.version)).where(v.article_id == bindparam("aid")),
        "drop_links": delete(links).where(links.c.from_article_id == bindparam("aid")),
        "raw_hash": update(raw_pages).where(r.id.in_(ids))
        .values(content_hash=bindparam("hash")),
        "group": select(a.id, a.duplicate_of_id).where(
            (a.id == bindparam("aid")) | (a.duplicate_of_id == bindparam("aid"))),
        "marks": select(a.id, a.duplicate_of_id).where(a.id.in_(ids)),
        "unmark": update(articles).where(a.id.in_(ids))
        .values(duplicate_of_id=None, similarity=None),
        "mark_version": update(articles).where(a.id.in_(ids))
        .values(extractor_version=bindparam("version")),
    }


@dataclass
class StoredPage:
    article_id: int
    url: str
    body: bytes
    encoding: str | None
    error: str | None = None
    raw_id: int = 0


@dataclass
class Current:
    id: int
    canonical_url: str
    title: str | None
    authors: list[Any]
    published_local: str | None
    modified_local: str | None
    language: str | None
    description: str | None
    image: str | None
    section: str | None
    tags: list[Any]
    body: str
    content_hash: str
    first_seen: datetime
    last_seen: datetime
    links: list[tuple[str, str]] = field(default_factory=list)  # (to_url, kind)
    raw_ids: list[int] = field(default_factory=list)


@dataclass
class NewFields:
    title: str | None
    authors: list[str]
    published: datetime | None
    published_local: str | None
    modified: datetime | None
    modified_local: str | None
    language: str | None
    description: str | None
    image: str | None
    section: str | None
    tags: list[str]
    body: str
    related: list[LinkRecord]
    fingerprint: Fingerprint | None


@dataclass
class Applied:
    duplicates_marked: int = 0
    links_gained: int = 0
    links_lost: int = 0


def lock(session: Session) -> None:
    lock_for_writing(session)


def select_articles(session: Session, *, site: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    ids: list[int] | None = None, version: str | None = None
                    ) -> tuple[list[int], int]:
    """The ids to re-extract (in id order) and how many matched but were skipped (already at
    ``version``; None: none skipped)."""
    where, params, binds = ArticleFilter(site=site, since=since, until=until,
                                         include_duplicates=True).sql(session)
    a = Article.__table__.alias("a")
    stmt = select(a.c.id, a.c.extractor_version).order_by(a.c.id)
    if where:
        stmt = stmt.where(text(" AND ".join(where)).bindparams(*binds, **params))
    if ids:
        stmt = stmt.where(a.c.id.in_(ids))
    rows = session.execute(stmt).all()
    if ids:
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise NotFound(f"no article with id {missing[0]}"
                           + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    todo = [r.id for r in rows if version is None or r.extractor_version != version]
    return todo, len(rows) - len(todo)


def _charset(headers: Any) -> str | None:
    items: list[tuple[Any, ...]]
    if isinstance(headers, dict):
        items = list(headers.items())
    elif isinstance(headers, list):
        items = [tuple(x) for x in headers if isinstance(x, list | tuple) and len(x) == 2]
    else:
        return None
    for name, value in items:
        if str(name).lower() == "content-type":
            if isinstance(value, list):
                value = value[0] if value else ""
            msg = Message()
            msg["content-type"] = str(value)
            charset = msg.get_param("charset")
            return str(charset) if isinstance(charset, str) and charset else None
    return None


def load_pages(session: Session, article_ids: list[int]) -> dict[int, list[StoredPage]]:
    """Per article, its latest fetch's raw pages, decompressed (first page first)."""
    if not article_ids:
        return {}
    meta = session.execute(
        select(RawPage.id, RawPage.article_id, RawPage.fetched_at, RawPage.part)
        .where(RawPage.article_id.in_(article_ids))
        .order_by(RawPage.article_id, RawPage.fetched_at, RawPage.id)
    ).all()
    chosen: dict[int, list[int]] = {}
    latest: dict[int, Any] = {}
    for row in meta:
        if row.part == 0:
            latest[row.article_id] = row.fetched_at
    for row in meta:
        if latest.get(row.article_id) == row.fetched_at:
            chosen.setdefault(row.article_id, []).append(row.id)
    ids = [i for group in chosen.values() for i in group]
    rows = {r.id: r for r in session.execute(
        select(RawPage.id, RawPage.article_id, RawPage.url, RawPage.headers, RawPage.codec,
               RawPage.body_gz, RawPage.dictionary_id, RawPage.part)
        .where(RawPage.id.in_(ids)))} if ids else {}
    out: dict[int, list[StoredPage]] = {aid: [] for aid in article_ids}
    for aid, group in chosen.items():
        for rid in sorted(group, key=lambda i: (rows[i].part, i)):
            row = rows[rid]
            try:
                body = read_body(session, row.codec, row.body_gz, row.dictionary_id)
                error = None
            except (RawPageUnreadable, OSError, EOFError, ValueError) as exc:
                body, error = b"", f"raw page {rid} unreadable: {exc}"[:300]
            out[aid].append(StoredPage(aid, row.url, body, _charset(row.headers), error, rid))
    return out


def load_current(session: Session, article_ids: list[int]) -> dict[int, Current]:
    if not article_ids:
        return {}
    rows = session.execute(
        select(Article.id, Article.canonical_url, Article.title, Article.authors,
               Article.published_local, Article.modified_local, Article.language,
               Article.description, Article.image, Article.section, Article.tags,
               Article.body, Article.content_hash, Article.first_seen, Article.last_seen)
        .where(Article.id.in_(article_ids))
    ).all()
    out = {r.id: Current(**r._asdict()) for r in rows}
    for link in session.execute(
        select(ArticleLink.from_article_id, ArticleLink.to_url, ArticleLink.kind)
        .where(ArticleLink.from_article_id.in_(article_ids))
        .order_by(ArticleLink.from_article_id, ArticleLink.position, ArticleLink.id)
    ):
        out[link.from_article_id].links.append((link.to_url, link.kind))
    return out


def apply(session: Session, current: Current, new: NewFields, fields: list[str],
          version: str, *, near_threshold: float | None = None,
          raw_ids: list[int] | None = None) -> Applied:
    """Write a new extraction of an article in place (the caller's transaction)."""
    conn = session.connection()
    st = _statements()
    applied = Applied()
    fp = new.fingerprint
    text_changed = "title" in fields or "body" in fields
    if text_changed:
        number = (conn.execute(st["max_version"], {"aid": current.id}).scalar_one() or 0) + 1
        conn.execute(insert_stmt(dialect_name(session), ArticleVersion.__table__), {
            "article_id": current.id, "version": number, "title": current.title,
            "body": current.body, "content_hash": current.content_hash,
            "first_seen": _text_first_seen(session, current.id, current.content_hash,
                                           current.first_seen),
            "last_seen": current.last_seen, "reason": REASON,
        })
    values: dict[str, Any] = {
        "aid": current.id, "title": new.title, "authors": new.authors,
        "published": new.published, "published_local": new.published_local,
        "modified": new.modified, "modified_local": new.modified_local,
        "language": new.language, "description": new.description, "image": new.image,
        "section": new.section, "tags": new.tags, "body": new.body,
        "extractor_version": version,
    }
    hash_changed = fp is not None and fp.content_hash != current.content_hash
    if fp is not None:
        values.update(content_hash=fp.content_hash, minhash=fp.minhash)
        conn.execute(st["update"], values)
    else:
        conn.execute(st["update_no_fp"], values)
    if "links" in fields:
        old = {u for u, _ in current.links}
        now = {r.url for r in new.related}
        applied.links_gained, applied.links_lost = len(now - old), len(old - now)
        conn.execute(st["drop_links"], {"aid": current.id})
        _store_links(session, current.id, new.related)
    if hash_changed and fp is not None:
        if raw_ids:
            conn.execute(st["raw_hash"], {"ids": raw_ids, "hash": fp.content_hash})
        applied.duplicates_marked = regroup(session, current.id, fp, near_threshold)
    return applied


def mark_version(session: Session, article_ids: list[int], version: str) -> None:
    if article_ids:
        session.connection().execute(_statements()["mark_version"],
                                     {"ids": article_ids, "version": version})


def stored_fingerprint(session: Session, article_id: int) -> Fingerprint | None:
    row = session.connection().execute(
        select(Article.content_hash, Article.minhash).where(Article.id == article_id)).first()
    if row is None or row.minhash is None:
        return None
    bands = session.connection().execute(
        select(MinHashBand.band, MinHashBand.key).where(MinHashBand.article_id == article_id)
        .order_by(MinHashBand.band)).all()
    return Fingerprint(row.content_hash, bytes(row.minhash), [(b, k) for b, k in bands])


def _marks(session: Session, ids: list[int]) -> dict[int, int | None]:
    return {r.id: r.duplicate_of_id for r in session.connection().execute(
        _statements()["marks"], {"ids": ids})}


def regroup(session: Session, article_id: int, fp: Fingerprint,
            threshold: float | None = None) -> int:
    """Redo the near-duplicate marks of an article whose text changed (module docstring).
    Returns how many articles' marks changed."""
    if threshold is None:
        threshold = dedup_index.default_threshold()
    conn = session.connection()
    st = _statements()
    # the article's own mark and its copies, in one look-up
    before = {r.id: r.duplicate_of_id for r in conn.execute(st["group"], {"aid": article_id})}
    members = sorted(i for i in before if i != article_id)
    affected = [article_id, *members]
    if any(before.get(i) is not None for i in affected):
        conn.execute(st["unmark"], {"ids": affected})
    dedup_index.index_article(session, article_id, fp, replace=True)
    marked = dedup_index.mark_near_duplicate(session, article_id, fp, threshold)
    if not members and before.get(article_id) is None:
        # in no group before: it joined one (or became the original of one), or not
        return int(marked)
    for member in members:
        member_fp = stored_fingerprint(session, member)
        if member_fp is not None:
            dedup_index.mark_near_duplicate(session, member, member_fp, threshold)
    # an original may have been re-pointed by mark_near_duplicate: count every change
    after = _marks(session, affected)
    return sum(1 for i in affected if before.get(i) != after.get(i))
