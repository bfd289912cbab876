"""What an article's page shows besides ``storage.queries.show_article``: the articles that
link to it, the texts of its versions, its raw pages, and look-up by any URL variant; and
:func:`article_page`, all of it read at once. Functions take a Session; the caller owns it. The statements are built once (module
constants with bound parameters): building a select costs more Python than running it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storage.archive import find_article_id
from storage.errors import NotFound
from storage.models import Article, ArticleLink, ArticleURL, ArticleVersion, RawPage
from storage.queries import (
    ArticleView,
    GraphNode,
    article_view,
    graph_of,
    links_from,
    resolve_article,
)
from storage.raw_store import read_raw
from storage.reads import read

CURRENT = 0  # the version number of an article's current text


_RELATED_IN = (
    select(Article.id, Article.title, Article.canonical_url, ArticleLink.kind,
           ArticleLink.anchor)
    .join(Article, Article.id == ArticleLink.from_article_id)
    .where(ArticleLink.to_url.in_(select(ArticleURL.url)
                                  .where(ArticleURL.article_id == bindparam("aid"))),
           ArticleLink.from_article_id != bindparam("aid"))
    .order_by(Article.id.desc()).limit(bindparam("n")))


def related_in(session: Session, article_id: int, *, limit: int = 200) -> list[dict[str, Any]]:
    """Archived articles linking to this one (through any of its URLs), with the link's kind."""
    rows = read(session, _RELATED_IN, {"aid": article_id, "n": limit}).all()
    return [{"id": i, "title": t, "url": u, "kind": k, "anchor": a} for i, t, u, k, a in rows]


def version_texts(session: Session, article_id: int) -> dict[int, tuple[str | None, str]]:
    """{version: (title, body)} of an article, its current text as version 0 (CURRENT)."""
    article = session.get(Article, article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    texts: dict[int, tuple[str | None, str]] = {CURRENT: (article.title, article.body)}
    for version, title, body in session.execute(
        select(ArticleVersion.version, ArticleVersion.title, ArticleVersion.body)
        .where(ArticleVersion.article_id == article_id)
    ):
        texts[int(version)] = (title, body)
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
    texts: dict[int, tuple[str | None, str]]  # {version: (title, body)}; empty without versions
    related_in: list[dict[str, Any]]


def article_page(session: Session, article_id: int, *, depth: int = 2) -> ArticlePage:
    """Everything the web view's article page shows, each thing read once: the view's own
    links are the graph's first level, its raw pages the list of raw pages (ten statements
    for an article without versions or an original; one more for each). Raises NotFound."""
    article = resolve_article(session, article_id)
    first = links_from(session, [article.id])
    raw = raw_pages_of(session, article.id)
    view = article_view(session, article, first, [
        {"url": r.url, "fetched_at": r.fetched_at, "status": r.status} for r in raw])
    return ArticlePage(
        view=view, graph=graph_of(session, article, depth=depth, first=first), raw=raw,
        texts=version_texts(session, article.id) if view.version_count else {},
        related_in=related_in(session, article.id))
