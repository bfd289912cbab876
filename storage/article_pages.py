"""What an article's page shows besides ``storage.queries.show_article``: the articles that
link to it, the texts of its versions, its raw pages, and look-up by any URL variant; and
:func:`article_page`, all of it read at once. Functions take a Session; the caller owns it. The statements are built once (module
constants with bound parameters): building a select costs more Python than running it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from storage.archive import find_article_id
from storage.errors import NotFound
from storage.models import Article, ArticleLink, ArticleURL, ArticleVersion, RawPage
from storage.queries import (
    ArticleView,
    GraphNode,
    ViewParts,
    article_view,
    graph_of,
    links_from,
    resolve_article,
)
from storage.raw_store import read_raw
from storage.reads import read
from storage.upsert import dialect_name

CURRENT = 0  # the version number of an article's current text


_RELATED_IN = (
    select(Article.id, Article.title, Article.canonical_url, ArticleLink.kind,
           ArticleLink.anchor)
    .join(Article, Article.id == ArticleLink.from_article_id)
    .where(ArticleLink.to_url.in_(select(ArticleURL.url)
                                  .where(ArticleURL.article_id == bindparam("aid"))),
           ArticleLink.from_article_id != bindparam("aid"))
    .order_by(Article.id.desc()).limit(bindparam("n")))


RELATED_IN_LIMIT = 200


def related_in(session: Session, article_id: int, *,
               limit: int = RELATED_IN_LIMIT) -> list[dict[str, Any]]:
    """Archived articles linking to this one (through any of its URLs), with the link's kind."""
    rows = read(session, _RELATED_IN, {"aid": article_id, "n": limit}).all()
    return [{"id": i, "title": t, "url": u, "kind": k, "anchor": a} for i, t, u, k, a in rows]


class VersionText(NamedTuple):
    """A text of an article: its current one (``reason`` None), or an older version with when
    it was seen and why the next newer text replaced it (``"changed"`` on the site,
    ``"reextract"``: a re-extraction of the stored page)."""

    title: str | None
    body: str
    reason: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None


_VERSIONS = (select(ArticleVersion.version, ArticleVersion.title, ArticleVersion.body,
                    ArticleVersion.reason, ArticleVersion.first_seen,
                    ArticleVersion.last_seen)
             .where(ArticleVersion.article_id == bindparam("aid")))


def version_texts(session: Session, article_id: int) -> dict[int, VersionText]:
    """{version: text} of an article, its current text as version 0 (CURRENT)."""
    article = session.get(Article, article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    texts: dict[int, VersionText] = {CURRENT: VersionText(article.title, article.body)}
    for version, title, body, reason, first_seen, last_seen in session.execute(
            _VERSIONS, {"aid": article_id}):
        texts[int(version)] = VersionText(title, body, reason, first_seen, last_seen)
    return texts


@dataclass
class RawPageInfo:
    id: int
    article_id: int
    url: str
    fetched_at: datetime
    status: int
    headers: dict[str, Any]


_RAW_PAGES = (select(RawPage.id, RawPage.article_id, RawPage.url, RawPage.fetched_at,
                     RawPage.status, RawPage.headers)
              .where(RawPage.article_id == bindparam("aid"))
              .order_by(RawPage.fetched_at, RawPage.id))


def raw_pages_of(session: Session, article_id: int) -> list[RawPageInfo]:
    """An article's stored raw pages (without their bodies), oldest first."""
    rows = read(session, _RAW_PAGES, {"aid": article_id}).all()
    return [RawPageInfo(*row) for row in rows]


def raw_page(session: Session, page_id: int) -> tuple[RawPageInfo, bytes]:
    """One raw page and its body as fetched (decompressed). Raises NotFound."""
    row = session.get(RawPage, page_id)
    if row is None:
        raise NotFound(f"no raw page with id {page_id}")
    info = RawPageInfo(row.id, row.article_id, row.url, row.fetched_at, row.status,
                       dict(row.headers or {}))
    return info, read_raw(session, row)  # whatever its codec (gzip, zstd with a dictionary)


def article_for_urls(session: Session, urls: list[str]) -> int | None:
    """The article known under any of ``urls`` (or their http/https, www/bare twins)."""
    found = find_article_id(session, urls)
    if found is not None:
        return int(found)
    # a canonical URL recorded on the article but not (yet) among its aliases
    return session.execute(
        select(Article.id).where(Article.canonical_url.in_(urls)).limit(1)
    ).scalar()


@dataclass
class ArticlePage:
    view: ArticleView
    graph: GraphNode
    raw: list[RawPageInfo]
    texts: dict[int, VersionText]  # {version: text}; empty without versions
    related_in: list[dict[str, Any]]


def article_page(session: Session, article_id: int, *, depth: int = 2) -> ArticlePage:
    """Everything the web view's article page shows, each thing read once: the view's own
    links are the graph's first level, its raw pages the list of raw pages, and the site,
    versions' count, aliases, near-duplicates, raw pages and incoming links in one
    statement (:func:`_page_parts`), each level's links with their targets
    (:func:`storage.queries.links_from`): four statements for an article without versions
    or an original (a depth-2 graph), one more for each. Raises NotFound."""
    article = resolve_article(session, article_id)
    first = links_from(session, [article.id])
    parts, raw, incoming = _page_parts(session, article)
    view = article_view(session, article, first, [
        {"url": r.url, "fetched_at": r.fetched_at, "status": r.status} for r in raw],
        parts=parts)
    return ArticlePage(
        view=view, graph=graph_of(session, article, depth=depth, first=first), raw=raw,
        texts=version_texts(session, article.id) if view.version_count else {},
        related_in=incoming)


def _page_parts(session: Session, article: Article,
                ) -> tuple[ViewParts, list[RawPageInfo], list[dict[str, Any]]]:
    """The article page's small lists in one statement, each a JSON array (a statement
    each cost the page more of the server's and the database's CPU than reading its rows:
    about 0.25 ms a statement at a million articles on PostgreSQL). The same rows and order
    as :func:`storage.queries.article_view`'s, :func:`raw_pages_of` and
    :func:`related_in` (sorted here: SQLite promises no order inside an aggregate)."""
    dialect = dialect_name(session)
    row = session.connection().execute(  # as storage.reads.read: plain columns
        _parts_sql(dialect),
        {"aid": article.id, "sid": article.site_id, "n": RELATED_IN_LIMIT}).one()
    site, versions = row[0], row[1]
    aliases, duplicates, raws, incoming = (  # SQLite's arrays come as text
        json.loads(value) if isinstance(value, str) else value for value in row[2:])
    aliases = sorted(aliases or [], key=lambda r: (_when(r[2]), r[3]))
    raw = [RawPageInfo(i, article.id, u, _when(f), st, h)
           for i, u, f, st, h in sorted(raws or [], key=lambda r: (_when(r[2]), r[0]))]
    return ViewParts(
        site=site, version_count=int(versions),
        aliases=[{"url": u, "kind": k, "first_seen": _when(f)} for u, k, f, _ in aliases],
        duplicates=[{"id": i, "url": u, "title": t, "similarity": sim}
                    for i, u, t, sim in sorted(duplicates or [])],
    ), raw, [{"id": i, "title": t, "url": u, "kind": k, "anchor": a}
             for i, t, u, k, a in sorted(incoming or [], key=lambda r: -r[0])]


def _when(value: str) -> datetime:
    """A timestamp from JSON (naive UTC, as stored), aware like ``UTCDateTime``'s."""
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@lru_cache(maxsize=4)
def _parts_sql(dialect: str) -> TextClause:
    """The statements of ``storage.queries.article_view`` (site, versions, aliases,
    duplicates), :func:`raw_pages_of` and :func:`related_in`, as one text statement: the
    same statement built from those selects cost 0.2-0.5 ms more of Python a page on
    PostgreSQL (SQLAlchemy derives a large select's cache key at every execution);
    ``tests/test_show_related.py::test_article_page_reads_each_thing_once`` holds the two
    forms to the same rows."""
    if dialect == "postgresql":
        def agg(columns: str, rest: str) -> str:
            return f"(SELECT json_agg(json_build_array({columns})) {rest})"
        headers = "r.headers"
    else:
        def agg(columns: str, rest: str) -> str:
            return f"(SELECT json_group_array(json_array({columns})) {rest})"
        headers = "json(r.headers)"
    return text(
        "SELECT (SELECT s.name FROM sites AS s WHERE s.id = :sid), "
        "(SELECT count(*) FROM article_versions AS v WHERE v.article_id = :aid), "
        + agg("u.url, u.kind, u.first_seen, u.id",
              "FROM article_urls AS u WHERE u.article_id = :aid") + ", "
        + agg("d.id, d.canonical_url, d.title, d.similarity",
              "FROM articles AS d WHERE d.duplicate_of_id = :aid") + ", "
        + agg(f"r.id, r.url, r.fetched_at, r.status, {headers}",
              "FROM raw_pages AS r WHERE r.article_id = :aid") + ", "
        + agg("x.id, x.title, x.canonical_url, x.kind, x.anchor",
              "FROM (SELECT a.id, a.title, a.canonical_url, l.kind, l.anchor "
              "FROM article_links AS l JOIN articles AS a ON a.id = l.from_article_id "
              "WHERE l.to_url IN (SELECT url FROM article_urls WHERE article_id = :aid) "
              "AND l.from_article_id != :aid ORDER BY a.id DESC LIMIT :n) AS x"))
