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
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from storage import dedup_index
from storage.archive import LINK_COLUMNS, LinkRecord, link_rows_of, lock_for_writing
from storage.dedup_index import BAND_COLUMNS
from storage.errors import NotFound
from storage.filters import ArticleFilter
from storage.fingerprint import Fingerprint
from storage.models import (
    Article,
    ArticleLink,
    ArticleVersion,
    MinHashBand,
    RawDictionary,
    RawPage,
)
from storage.raw_codec import Dictionary
from storage.raw_store import dictionary
from storage.text_index import TextChange, bulk_text_update
from storage.upsert import (
    dialect_name,
    execute_rows,
    insert_ignore_stmt,
    insert_stmt,
    replace_stmt,
)

REASON = "reextract"
link_values = itemgetter(*LINK_COLUMNS)  # an article_links row as LINK_COLUMNS' values

# the articles' columns of each field ``crawler.reextract.changed_fields`` names
_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title",), "authors": ("authors",),
    "dates": ("published", "published_local", "modified", "modified_local"),
    "body": ("body",), "links": (),
    "metadata": ("language", "description", "image", "section", "tags"),
}


@lru_cache(maxsize=128)
def _update_stmt(columns: tuple[str, ...]) -> Any:
    """UPDATE articles SET <columns>, extractor_version WHERE id = :aid, built once per set
    of columns."""
    articles = cast(Table, Article.__table__)
    return update(articles).where(articles.c.id == bindparam("aid")).values(
        {name: bindparam(name) for name in (*columns, "extractor_version")})


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """Core statements built once (SQLAlchemy caches their compiled form): building an
    ORM-enabled UPDATE per article cost more than running it."""
    articles = cast(Table, Article.__table__)
    raw_pages = cast(Table, RawPage.__table__)
    dictionaries_ = cast(Table, RawDictionary.__table__)
    links = cast(Table, ArticleLink.__table__)
    bands = cast(Table, MinHashBand.__table__)
    mine, theirs = bands.alias("mine"), bands.alias("theirs")
    a = articles.c
    v = cast(Table, ArticleVersion.__table__).c
    r = raw_pages.c
    ids: Any = bindparam("ids", expanding=True)
    return {
        "max_versions": select(v.article_id, func.max(v.version)).where(v.article_id.in_(ids))
        .group_by(v.article_id),
        "text_first_seen": select(r.article_id, r.content_hash, func.min(r.fetched_at))
        .where(r.article_id.in_(ids)).group_by(r.article_id, r.content_hash),
        "drop_links": delete(links).where(links.c.from_article_id.in_(ids)),
        # the articles sharing a band with each of ``ids`` (the (band, key) index per band)
        "band_matches": select(mine.c.article_id, theirs.c.article_id.label("other"))
        .join(theirs, (theirs.c.band == mine.c.band) & (theirs.c.key == mine.c.key))
        .where(mine.c.article_id.in_(ids)).distinct(),
        "copies": select(a.id).where(a.duplicate_of_id.in_(ids)),
        # bands past a signature's last (none unless the number of bands changed)
        "extra_bands": delete(bands).where(bands.c.article_id.in_(ids)
                                           & (bands.c.band >= bindparam("n"))),
        "raw_hash": update(raw_pages).where(r.id == bindparam("rid"))
        .values(content_hash=bindparam("hash")),
        "groups": select(a.id, a.duplicate_of_id).where(a.id.in_(ids)
                                                         | a.duplicate_of_id.in_(ids)),
        "current": select(a.id, a.canonical_url, a.title, a.authors, a.published_local,
                          a.modified_local, a.language, a.description, a.image, a.section,
                          a.tags, a.body, a.content_hash, a.first_seen, a.last_seen)
        .where(a.id.in_(ids)),
        "current_links": select(links.c.from_article_id, links.c.to_url, links.c.kind)
        .where(links.c.from_article_id.in_(ids))
        .order_by(links.c.from_article_id, links.c.position, links.c.id),
        "fingerprints": select(a.id, a.content_hash, a.minhash).where(a.id.in_(ids)),
        "many_bands": select(bands.c.article_id, bands.c.band, bands.c.key)
        .where(bands.c.article_id.in_(ids)).order_by(bands.c.article_id, bands.c.band),
        # (Core statements throughout: an ORM one's first compile in a process cost 5-10 ms,
        # on a run's first batch, while the workers wait)
        "raw_meta": select(r.id, r.article_id, r.fetched_at, r.part)
        .where(r.article_id.in_(ids)).order_by(r.article_id, r.fetched_at, r.id),
        "raw_rows": select(r.id, r.article_id, r.url, r.headers, r.codec, r.body_gz,
                           r.dictionary_id, r.part).where(r.id.in_(ids)),
        "has_dictionary": select(dictionaries_.c.id).where(dictionaries_.c.id == bindparam("did")),
        "mark_version": update(articles).where(a.id.in_(ids))
        .values(extractor_version=bindparam("version")),
    }


@dataclass
class StoredPage:
    """A stored raw page as stored (compressed): the extraction worker decompresses it."""

    article_id: int
    url: str
    data: bytes
    codec: str
    dictionary_id: int | None
    headers: Any  # the response headers as stored (JSON)
    raw_id: int = 0

    @property
    def encoding(self) -> str | None:
        """The charset its headers name (read in the worker: parsing costs)."""
        return _charset(self.headers)


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


def archive_size(session: Session) -> int:
    """About how many articles the archive holds (the highest id: no count of the table)."""
    return int(session.execute(select(func.max(Article.id))).scalar() or 0)


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
    """Per article, its latest fetch's raw pages, compressed as stored (first page
    first)."""
    if not article_ids:
        return {}
    st = _statements()
    conn = session.connection()
    meta = conn.execute(st["raw_meta"], {"ids": article_ids}).all()
    chosen: dict[int, list[int]] = {}
    latest: dict[int, Any] = {}
    for row in meta:
        if row.part == 0:
            latest[row.article_id] = row.fetched_at
    for row in meta:
        if latest.get(row.article_id) == row.fetched_at:
            chosen.setdefault(row.article_id, []).append(row.id)
    ids = [i for group in chosen.values() for i in group]
    rows = {r.id: r for r in conn.execute(st["raw_rows"], {"ids": ids})} if ids else {}
    out: dict[int, list[StoredPage]] = {aid: [] for aid in article_ids}
    for aid, group in chosen.items():
        for rid in sorted(group, key=lambda i: (rows[i].part, i)):
            row = rows[rid]
            out[aid].append(StoredPage(aid, row.url, bytes(row.body_gz), row.codec,
                                       row.dictionary_id, row.headers, rid))
    return out


def dictionaries(session: Session, ids: set[int]) -> list[Dictionary]:
    """The compression dictionaries of these ids (those that exist)."""
    return [dictionary(session, i) for i in sorted(ids) if session.connection().execute(
        _statements()["has_dictionary"], {"did": i}).first() is not None]


def load_current(session: Session, article_ids: list[int]) -> dict[int, Current]:
    if not article_ids:
        return {}
    # Core statements built once, on the session's connection (not the ORM's execution)
    st = _statements()
    conn = session.connection()
    rows = conn.execute(st["current"], {"ids": article_ids}).all()
    out = {r.id: Current(**r._asdict()) for r in rows}
    for link in conn.execute(st["current_links"], {"ids": article_ids}):
        out[link.from_article_id].links.append((link.to_url, link.kind))
    return out


def apply_batch(session: Session, plans: list[tuple[Current, NewFields, list[str]]],
                version: str, *, near_threshold: float | None = None) -> Applied:
    """Write the new extraction of a batch's changed articles in place (the caller's
    transaction): each kind of row for the whole batch in one statement (executemany) rather
    than a dozen statements per article; only the near-duplicate regrouping, whose every
    step reads what the previous one wrote, goes article by article."""
    conn = session.connection()
    st = _statements()
    dialect = dialect_name(session)
    applied = Applied()
    plans = [p for p in plans if p[2]]
    if not plans:
        return applied
    texts = [c for c, _, fields in plans if "title" in fields or "body" in fields]
    if texts:
        ids = [c.id for c in texts]
        numbers = dict(conn.execute(st["max_versions"], {"ids": ids}).all())
        seen = {(aid, h): at for aid, h, at in
                conn.execute(st["text_first_seen"], {"ids": ids})}
        conn.execute(insert_stmt(dialect, ArticleVersion.__table__), [{
            "article_id": c.id, "version": (numbers.get(c.id) or 0) + 1, "title": c.title,
            "body": c.body, "content_hash": c.content_hash,
            # when the current text was first seen: its first raw page, else the article's
            # first sighting (``storage.archive._text_first_seen``)
            "first_seen": seen.get((c.id, c.content_hash)) or c.first_seen,
            "last_seen": c.last_seen, "reason": REASON} for c in texts])
    pending: list[tuple[list[str], dict[str, Any]]] = []  # each article's UPDATE
    raw_hashes: list[dict[str, Any]] = []
    regroup_fps: list[tuple[int, Fingerprint]] = []
    published: dict[int, datetime | None] = {}  # the regrouped ones' new dates
    link_rows: list[dict[str, Any]] = []
    relinked: list[int] = []
    for current, new, fields in plans:
        fp = new.fingerprint
        hash_changed = fp is not None and fp.content_hash != current.content_hash
        # only the changed fields' columns: the full-text index is redone only for a new
        # title or body, the signature only for a new text
        columns = [c for name in fields for c in _COLUMNS[name]]
        if fp is not None and (hash_changed or "body" in fields):
            columns += ["content_hash", "minhash"]
        values = {c: getattr(new, c) for c in columns if c not in ("content_hash", "minhash")}
        if "content_hash" in columns and fp is not None:
            values.update(content_hash=fp.content_hash, minhash=fp.minhash)
        values.update(aid=current.id, extractor_version=version)
        pending.append((columns, values))
        if hash_changed and fp is not None:
            raw_hashes += [{"rid": rid, "hash": fp.content_hash} for rid in current.raw_ids]
            regroup_fps.append((current.id, fp))
            if "dates" in fields:
                published[current.id] = new.published
        if "links" in fields:
            old = {u for u, _ in current.links}
            now = {r.url for r in new.related}
            applied.links_gained += len(now - old)
            applied.links_lost += len(old - now)
            relinked.append(current.id)
            link_rows += link_rows_of(current.id, new.related)
    if relinked:
        conn.execute(st["drop_links"], {"ids": relinked})
    execute_rows(conn, insert_ignore_stmt(dialect, ArticleLink.__table__,
                                          ("from_article_id", "to_url", "kind")),
                 LINK_COLUMNS, [link_values(row) for row in link_rows])
    if raw_hashes:
        conn.execute(st["raw_hash"], raw_hashes)
    book = None
    if regroup_fps:
        # every changed article's new LSH bands first: each regrouping below then sees the
        # whole batch's new texts. Each band's row is replaced where its key changed (a row
        # per band: never deleted and inserted again)
        execute_rows(conn, replace_stmt(dialect, MinHashBand.__table__, ("article_id", "band"),
                                        ("key",)), BAND_COLUMNS,
                     [(aid, band, key) for aid, fp in regroup_fps for band, key in fp.band_keys])
        conn.execute(st["extra_bands"], {"ids": [aid for aid, _ in regroup_fps],
                                         "n": min(len(fp.band_keys) for _, fp in regroup_fps)})
        # and the candidates of them and of their copies, all in one look-up: the bands do
        # not change below (only the marks do), so each is what ``dedup_index.candidates``
        # would find then
        changed = [aid for aid, _ in regroup_fps]
        lookup = sorted({*changed, *conn.execute(st["copies"], {"ids": changed}).scalars()})
        shared: dict[int, set[int]] = {aid: set() for aid in lookup}
        for aid, other in conn.execute(st["band_matches"], {"ids": lookup}).all():
            shared[aid].add(other)
        known = {aid: [i for i in sorted(found)[:dedup_index.MAX_CANDIDATES] if i != aid]
                 for aid, found in shared.items()}
        # regrouped before the articles' UPDATE (with their new signatures and dates), so
        # that a changed article's new mark goes in that UPDATE: a second UPDATE of the row
        # would write its whole record again, the body's overflow pages included
        count, book = regroup_batch(session, regroup_fps, near_threshold, candidates=known,
                                    published=published)
        applied.duplicates_marked += count
        for columns, values in pending:
            mark = book.take(values["aid"])
            if mark is not None:
                columns += ["duplicate_of_id", "similarity"]
                values.update(duplicate_of_id=mark[0], similarity=mark[1])
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for columns, values in pending:
        updates.setdefault(tuple(columns), []).append(values)
    # the full-text index's old words out and new ones in, for the whole batch at once
    # (``storage.text_index``), around the UPDATEs
    texts_changed = [TextChange(c.id, c.title, c.body, n.title, n.body)
                     for c, n, fields in plans if "title" in fields or "body" in fields]
    with bulk_text_update(conn, texts_changed):
        for key, rows in updates.items():
            conn.execute(_update_stmt(key), rows)
    if book is not None:
        book.flush()  # the other marks that changed (copies, former originals)
    return applied


def mark_version(session: Session, article_ids: list[int], version: str) -> None:
    if article_ids:
        session.connection().execute(_statements()["mark_version"],
                                     {"ids": article_ids, "version": version})


def stored_fingerprints(session: Session, article_ids: list[int]) -> dict[int, Fingerprint]:
    """``stored_fingerprint`` of many articles in two statements (those without one left
    out)."""
    if not article_ids:
        return {}
    st = _statements()
    conn = session.connection()
    bands: dict[int, list[tuple[int, int]]] = {}
    for aid, band, key in conn.execute(st["many_bands"], {"ids": article_ids}).all():
        bands.setdefault(aid, []).append((band, key))
    return {r.id: Fingerprint(r.content_hash, bytes(r.minhash), bands.get(r.id, []))
            for r in conn.execute(st["fingerprints"], {"ids": article_ids})
            if r.minhash is not None}


def regroup_batch(session: Session, fps: list[tuple[int, Fingerprint]],
                  threshold: float | None = None, *,
                  candidates: dict[int, list[int]] | None = None,
                  published: dict[int, datetime | None] | None = None
                  ) -> tuple[int, dedup_index.MarkBook]:
    """``regroup`` for a batch of articles whose texts changed, their new LSH bands written
    already: every one of them and of their copies leaves its group first, then each
    changed article is grouped again in id order, then each former copy. The rows read and
    the marks set are kept in memory meanwhile (``dedup_index.MarkBook``: the batch's rows
    and their candidates' read in one statement) and the marks that changed written at the
    end in one: not a look-up and an UPDATE per article. ``published``: the changed
    articles' new dates, where they changed (their rows may still hold the old ones).
    Returns how many articles' marks changed, and the book, its marks not written yet
    (``take`` one to write it with its article's UPDATE, ``flush`` the others)."""
    book = dedup_index.MarkBook(session)
    if not fps:
        return 0, book
    known = candidates or {}
    if threshold is None:
        threshold = dedup_index.default_threshold()
    conn = session.connection()
    st = _statements()
    ids = [aid for aid, _ in fps]
    before = {r.id: r.duplicate_of_id for r in conn.execute(st["groups"], {"ids": ids})}
    affected = sorted(before)
    book.rows(sorted({*affected, *(i for found in known.values() for i in found)}))
    # the changed articles' rows as they will be (their signatures, stored before or after
    # this, and their dates)
    book.revise({aid: fp.minhash for aid, fp in fps}, published or {})
    book.point([(i, None, None) for i in affected if before[i] is not None])
    grouped = []  # the changed articles that joined a group or became one's original
    for aid, fp in sorted(fps, key=lambda item: item[0]):
        if dedup_index.mark_near_duplicate(session, aid, fp, threshold, found=known.get(aid),
                                           marks=book):
            grouped.append(aid)
    changed = set(ids)
    # the former copies' fingerprints (regrouping changes marks, never fingerprints)
    others = stored_fingerprints(session, [i for i in affected if i not in changed])
    for member in affected:
        if member in changed:
            continue
        member_fp = others.get(member)
        if member_fp is not None:
            dedup_index.mark_near_duplicate(session, member, member_fp, threshold,
                                            found=known.get(member), marks=book)
    after = {i: book.mark(i) for i in affected}
    moved = sum(1 for i in affected if before.get(i) != after.get(i))
    # one that marked a group without being marked itself became its original: the former
    # original's mark changed (counted once, as ``regroup`` does)
    return moved + sum(1 for aid in grouped if after.get(aid) is None), book
