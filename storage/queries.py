"""Reading the archive: one article with everything known about it, the related-article
graph, per-site statistics. Functions take a Session and return dataclasses / dicts; the
CLI only formats them.

A link's target is found by joining ``article_links.to_url`` to ``article_urls.url`` (every
article's canonical URL is one of its aliases), so whether a related story is archived is
always current.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, func, select, text
from sqlalchemy.orm import Session, aliased

from storage.errors import NotFound
from storage.models import (
    Article,
    ArticleLink,
    ArticleURL,
    ArticleVersion,
    CrawlRun,
    RawPage,
    Site,
)
from storage.reads import read

# --- lookups ------------------------------------------------------------------------------

def resolve_article(session: Session, ref: str | int) -> Article:
    """The article with id ``ref`` or with ``ref`` among its URLs (any alias).

    Raises :class:`NotFound`.
    """
    if isinstance(ref, int) or str(ref).strip().isdigit():
        article = session.get(Article, int(ref))
        if article is None:
            raise NotFound(f"no article with id {int(ref)}")
        return article
    url = str(ref).strip()
    candidates = [url]
    if url.endswith("/"):
        candidates.append(url.rstrip("/"))
    else:
        candidates.append(url + "/")
    for candidate in candidates:
        article_id = read(
            session, select(ArticleURL.article_id).where(ArticleURL.url == candidate)
        ).scalar()
        if article_id is None:
            article_id = read(
                session, select(Article.id).where(Article.canonical_url == candidate)
            ).scalar()
        if article_id is not None:
            return session.get_one(Article, article_id)
    raise NotFound(f"no article with URL {url}")


# --- show ---------------------------------------------------------------------------------

@dataclass
class RelatedLink:
    url: str
    kind: str
    anchor: str | None
    archived: bool
    id: int | None = None
    title: str | None = None


@dataclass
class VersionInfo:
    version: int
    title: str | None
    first_seen: datetime
    last_seen: datetime
    diff: str | None = None  # unified diff against the next newer text
    # why the next newer text replaced it: "changed" (on the site) or "reextract"
    reason: str = "changed"


# why a version's next newer text replaced it (``VersionInfo.reason``), in words: `arsip show
# --versions` and the web view's article page say it alike
REPLACED_BY = {"reextract": "replaced by a re-extraction", "changed": "changed on the site"}


@dataclass
class ArticleView:
    id: int
    url: str
    site: str
    title: str | None
    authors: list[Any]
    published: str | None  # the page's own offset when known, else UTC
    published_utc: datetime | None
    modified: str | None
    language: str | None
    description: str | None
    section: str | None
    tags: list[Any]
    image: str | None
    body: str
    first_seen: datetime
    last_seen: datetime
    last_checked: datetime
    aliases: list[dict[str, Any]]
    duplicate_of: dict[str, Any] | None
    duplicates: list[dict[str, Any]]
    related: list[RelatedLink]
    raw_pages: list[dict[str, Any]]
    version_count: int
    versions: list[VersionInfo] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.versions:
            data.pop("versions")
        return data


def _local_or_utc(local: str | None, utc: datetime | None) -> str | None:
    if local:
        return local
    return utc.isoformat() if utc else None


def show_article(session: Session, ref: str | int, *, versions: bool = False) -> ArticleView:
    """Everything known about one article (id or any of its URLs). Raises NotFound."""
    article = resolve_article(session, ref)
    view = article_view(session, article, links_from(session, [article.id]))
    if versions:
        view.versions = article_versions(session, article)
    return view


@dataclass
class LinkLevel:
    """The related links out of some articles and the archived ones among their targets."""
    links: dict[int, list[tuple[str, str, str | None]]]  # {from id: [(to url, kind, anchor)]}
    targets: dict[str, tuple[int, str | None, str]]  # {url: (id, title, canonical url)}


# each link with its target when archived (a URL is one article's: ``article_urls.url``
# is unique), in their order on the page
_LINKS = (select(ArticleLink.from_article_id, ArticleLink.to_url, ArticleLink.kind,
                 ArticleLink.anchor, Article.id, Article.title, Article.canonical_url)
          .select_from(ArticleLink)
          .outerjoin(ArticleURL, ArticleURL.url == ArticleLink.to_url)
          .outerjoin(Article, Article.id == ArticleURL.article_id)
          .where(ArticleLink.from_article_id.in_(bindparam("ids", expanding=True)))
          .order_by(ArticleLink.from_article_id, ArticleLink.position, ArticleLink.id))


def links_from(session: Session, ids: list[int]) -> LinkLevel:
    """One statement (per 500 ids): the links, in their order on the page, each with its
    target when it is archived."""
    links: dict[int, list[tuple[str, str, str | None]]] = {}
    targets: dict[str, tuple[int, str | None, str]] = {}
    for start in range(0, len(ids), 500):
        for from_id, url, kind, anchor, target, title, canonical in read(
                session, _LINKS, {"ids": ids[start:start + 500]}):
            links.setdefault(from_id, []).append((url, kind, anchor))
            if target is not None:
                targets[url] = (target, title, canonical)
    return LinkLevel(links, targets)


# statements built once (building a select is most of the Python a small look-up costs)
_SITE_AND_VERSIONS = select(
    Site.name, select(func.count()).select_from(ArticleVersion)
    .where(ArticleVersion.article_id == bindparam("aid")).scalar_subquery(),
).where(Site.id == bindparam("sid"))
_ALIASES = (select(ArticleURL.url, ArticleURL.kind, ArticleURL.first_seen)
            .where(ArticleURL.article_id == bindparam("aid"))
            .order_by(ArticleURL.first_seen, ArticleURL.id))
_DUPLICATES = (select(Article.id, Article.canonical_url, Article.title, Article.similarity)
               .where(Article.duplicate_of_id == bindparam("aid")).order_by(Article.id))
_RAW_PAGES = (select(RawPage.url, RawPage.fetched_at, RawPage.status)
              .where(RawPage.article_id == bindparam("aid"))
              .order_by(RawPage.fetched_at, RawPage.id))


class ViewParts(NamedTuple):
    """What :func:`article_view` reads besides the article, its links and raw pages, when a
    caller read it already (``storage.article_pages``: with the rest of the page)."""
    site: str
    version_count: int
    aliases: list[dict[str, Any]]  # url, kind, first_seen; oldest first
    duplicates: list[dict[str, Any]]  # id, url, title, similarity; by id


def article_view(session: Session, article: Article, level: LinkLevel,
                 raw_pages: list[dict[str, Any]] | None = None, *,
                 parts: ViewParts | None = None) -> ArticleView:
    """The view of ``article`` whose links (``level``, from :func:`links_from`), raw pages
    (url, fetched_at, status) and other ``parts`` the caller may have read (read here when
    not given)."""
    one = {"aid": article.id}
    if parts is None:
        site_name, version_count = read(
            session, _SITE_AND_VERSIONS, {**one, "sid": article.site_id}).one()
        parts = ViewParts(site_name, version_count, [
            {"url": url, "kind": kind, "first_seen": first_seen}
            for url, kind, first_seen in read(session, _ALIASES, one)
        ], [
            {"id": i, "url": u, "title": t, "similarity": s}
            for i, u, t, s in read(session, _DUPLICATES, one)
        ])
    site_name, version_count, aliases, duplicates = parts
    duplicate_of = None
    if article.duplicate_of_id is not None:
        original = session.get(Article, article.duplicate_of_id)
        if original is not None:
            duplicate_of = {"id": original.id, "url": original.canonical_url,
                            "title": original.title, "similarity": article.similarity}
    related = []
    for url, kind, anchor in level.links.get(article.id, []):
        target = level.targets.get(url)
        related.append(RelatedLink(
            url=url, kind=kind, anchor=anchor, archived=target is not None,
            id=target[0] if target else None, title=target[1] if target else None,
        ))
    if raw_pages is None:
        raw_pages = [
            {"url": u, "fetched_at": f, "status": s}
            for u, f, s in read(session, _RAW_PAGES, one)
        ]
    return ArticleView(
        id=article.id, url=article.canonical_url, site=site_name, title=article.title,
        authors=list(article.authors or []),
        published=_local_or_utc(article.published_local, article.published),
        published_utc=article.published,
        modified=_local_or_utc(article.modified_local, article.modified),
        language=article.language, description=article.description,
        section=article.section, tags=list(article.tags or []), image=article.image,
        body=article.body, first_seen=article.first_seen, last_seen=article.last_seen,
        last_checked=article.last_checked, aliases=aliases, duplicate_of=duplicate_of,
        duplicates=duplicates, related=related, raw_pages=raw_pages,
        version_count=version_count,
    )


def _text_of(title: str | None, body: str) -> list[str]:
    return [title or "", ""] + body.splitlines()


def article_versions(session: Session, article: Article) -> list[VersionInfo]:
    """Older versions, newest first, each with a unified diff to the next newer text."""
    rows = session.execute(
        select(ArticleVersion).where(ArticleVersion.article_id == article.id)
        .order_by(ArticleVersion.version.desc())
    ).scalars().all()
    newer_lines = _text_of(article.title, article.body)
    newer_name = "current"
    result = []
    for row in rows:
        lines = _text_of(row.title, row.body)
        diff = "\n".join(difflib.unified_diff(
            lines, newer_lines, fromfile=f"version {row.version}", tofile=newer_name,
            lineterm="",
        ))
        result.append(VersionInfo(version=row.version, title=row.title,
                                  first_seen=row.first_seen, last_seen=row.last_seen,
                                  diff=diff, reason=row.reason))
        newer_lines, newer_name = lines, f"version {row.version}"
    return result


# --- related graph ------------------------------------------------------------------------

@dataclass
class GraphNode:
    url: str
    archived: bool
    id: int | None = None
    title: str | None = None
    kind: str | None = None  # how the parent links here: inline, block (None for the root)
    anchor: str | None = None
    repeated: bool = False  # already shown higher in the tree: not expanded again
    children: list[GraphNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "url": self.url, "title": self.title, "archived": self.archived,
            "kind": self.kind, "anchor": self.anchor, "repeated": self.repeated,
            "children": [c.as_dict() for c in self.children],
        }


def related_graph(session: Session, ref: str | int, *, depth: int = 2) -> GraphNode:
    """The tree of related articles around one article, ``depth`` links deep.

    Breadth-first, two queries per level (:func:`links_from`); an article already in the
    tree is shown again where it is linked but marked ``repeated`` and not expanded, so
    cycles end.
    """
    return graph_of(session, resolve_article(session, ref), depth=depth)


def graph_of(session: Session, article: Article, *, depth: int = 2,
             first: LinkLevel | None = None) -> GraphNode:
    """:func:`related_graph` of ``article``; ``first``: its own links when already read."""
    root = GraphNode(url=article.canonical_url, archived=True, id=article.id,
                     title=article.title)
    seen = {article.id}
    frontier = [root]
    for level_number in range(max(depth, 0)):
        ids = [n.id for n in frontier if n.id is not None and not n.repeated]
        if not ids:
            break
        level = first if level_number == 0 and first is not None else links_from(session, ids)
        next_frontier = []
        for node in frontier:
            if node.id is None or node.repeated:
                continue
            for url, kind, anchor in level.links.get(node.id, []):
                target = level.targets.get(url)
                child = GraphNode(url=target[2] if target else url, archived=bool(target),
                                  id=target[0] if target else None,
                                  title=target[1] if target else None,
                                  kind=kind, anchor=anchor)
                if target is not None:
                    if target[0] in seen:
                        child.repeated = True
                    else:
                        seen.add(target[0])
                        next_frontier.append(child)
                node.children.append(child)
        frontier = next_frontier
    return root


# --- stats --------------------------------------------------------------------------------

STATS_COLUMNS = ["site", "articles", "aliases", "near_duplicates", "versions", "raw_pages",
                 "raw_ratio",
                 "first_published", "last_published", "last_run_status", "last_run_finished"]


def site_stats(session: Session, *, site: str | None = None) -> list[dict[str, Any]]:
    """Per site: articles, aliases (URLs besides the canonical one), near-duplicates,
    versions, raw pages, first and last publication date, last crawl run."""
    sites_q = select(Site.id, Site.name).order_by(Site.name)
    if site is not None:
        sites_q = sites_q.where(Site.name == site)
    sites = session.execute(sites_q).all()
    if site is not None and not sites:
        raise NotFound(f"no site named {site!r} in the archive")
    ids = [s.id for s in sites]

    def grouped(stmt: Any) -> dict[int, Any]:
        return {row[0]: row[1:] for row in session.execute(stmt)}

    articles = grouped(
        select(Article.site_id, func.count(), func.count(Article.duplicate_of_id),
               func.min(Article.published), func.max(Article.published))
        .where(Article.site_id.in_(ids)).group_by(Article.site_id)
    )
    # Every count reads indexes only (ix_articles_site_stats of migration 0004 holds
    # site_id, published, duplicate_of_id and the id): never the article rows, which hold
    # the bodies (reading them made `arsip stats` take 70 s at a million articles).
    # An alias is a URL that is not its article's canonical URL: tested against the
    # unique index of canonical URLs, not the article row ("+ 0": not by primary key,
    # which would read the row to compare its canonical URL).
    canonical = aliased(Article)
    aliases = grouped(
        select(Article.site_id, func.count())
        .select_from(Article).join(ArticleURL, ArticleURL.article_id == Article.id)
        .where(Article.site_id.in_(ids),
               ~select(canonical.id).where(canonical.canonical_url == ArticleURL.url,
                                           canonical.id + 0 == ArticleURL.article_id)
               .exists())
        .group_by(Article.site_id)
    )
    versions = grouped(
        select(Article.site_id, func.count())
        .select_from(ArticleVersion).join(Article, Article.id == ArticleVersion.article_id)
        .where(Article.site_id.in_(ids)).group_by(Article.site_id)
    )
    raw = grouped(
        select(Article.site_id, func.count())
        .select_from(RawPage).join(Article, Article.id == RawPage.article_id)
        .where(Article.site_id.in_(ids)).group_by(Article.site_id)
    )
    from storage.raw_store import dictionary_sizes, raw_sizes

    sizes = raw_sizes(session, ids)
    dictionaries = dictionary_sizes(session, ids)
    latest = (
        select(CrawlRun.site_id, func.max(CrawlRun.id).label("run_id"))
        .where(CrawlRun.site_id.in_(ids)).group_by(CrawlRun.site_id).subquery()
    )
    run = aliased(CrawlRun)
    runs = {
        site_id: (status, finished)
        for site_id, status, finished in session.execute(
            select(run.site_id, run.status, run.finished_at)
            .join(latest, latest.c.run_id == run.id)
        )
    }
    rows = []
    for site_id, name in sites:
        count, dups, first, last = articles.get(site_id, (0, 0, None, None))
        status, finished = runs.get(site_id, (None, None))
        rows.append({
            "site": name,
            "articles": count,
            "aliases": aliases.get(site_id, (0,))[0],
            "near_duplicates": dups,
            "versions": versions.get(site_id, (0,))[0],
            "raw_pages": raw.get(site_id, (0,))[0],
            # the raw pages' uncompressed bytes, and what storing them takes
            "raw_bytes": sizes.get(site_id, (0, 0))[0],
            "raw_stored_bytes": sizes.get(site_id, (0, 0))[1],
            "raw_dictionary_bytes": dictionaries.get(site_id, 0),
            "raw_ratio": raw_ratio(*sizes.get(site_id, (0, 0))),
            "first_published": first,
            "last_published": last,
            "last_run_status": status,
            "last_run_finished": finished,
        })
    return rows


def raw_ratio(raw_bytes: int, stored_bytes: int) -> float | None:
    """The raw pages' stored bytes over their raw size (0.085: 8.5 %)."""
    return round(stored_bytes / raw_bytes, 4) if raw_bytes else None


def archive_size(session: Session) -> int | None:
    """Bytes on disk: the SQLite file with its -wal and -shm, or pg_database_size."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return int(session.execute(text("SELECT pg_database_size(current_database())"))
                   .scalar_one())
    if bind.dialect.name == "sqlite":
        engine = bind if isinstance(bind, Engine) else bind.engine
        database = engine.url.database or ""
        if database.startswith("file:"):
            database = database[5:].split("?", 1)[0]
        if database in ("", ":memory:"):
            return None
        path = Path(database)
        total = 0
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(f"{path}{suffix}")
            if candidate.exists():
                total += os.stat(candidate).st_size
        return total
    return None
