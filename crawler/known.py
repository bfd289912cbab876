"""What the archive already holds: URLs not to fetch again, and articles due for a re-check.

Re-check policy: an archived article younger than ``recheck_days`` (by publication date,
else first seen) is fetched again at most every ``recheck_hours``, with a conditional request
(If-None-Match / If-Modified-Since); older articles are not fetched again.

A host the archive holds no URL of (the first crawl of a site) needs no look-up per URL: the
archive is asked once per host (again after ``HOST_RECHECK_S``), and what this crawl itself
archives the spider remembers. A copy stored meanwhile by another crawl of the same host is
at worst fetched once more, and stored as unchanged.

An archived article not fetched again still continues the related-hop count: ``links`` gives
its stored outgoing links (``article_links``), for the spider to follow as its page's would be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, bindparam, or_, select, text, union_all
from sqlalchemy.orm import Session

from crawler.urls import url_variants
from storage.link_graph import outgoing_links
from storage.models import Article, ArticleURL, utcnow

HOST_RECHECK_S = 300.0  # how long "the archive holds nothing of this host" is trusted


@dataclass
class Known:
    article_id: int
    due: bool  # should be re-checked now
    etag: str | None
    last_modified: str | None


class KnownUrls:
    """Look-ups against the archive through a read-only connection (SQLite: ``mode=ro``)."""

    def __init__(self, engine: Any, recheck_days: float, recheck_hours: float) -> None:
        self.engine = engine
        self.recheck_days = recheck_days
        self.recheck_hours = recheck_hours
        self._hosts: dict[tuple[str, ...], tuple[bool, float]] = {}

    def host_known(self, url: str) -> bool:
        """Whether the archive holds any URL on ``url``'s host (or its http/https,
        www/bare twins); asked once per host and ``HOST_RECHECK_S``."""
        prefixes = _host_prefixes(url)
        if not prefixes:
            return True
        now = time.monotonic()
        cached = self._hosts.get(prefixes)
        if cached is not None and now - cached[1] < HOST_RECHECK_S:
            return cached[0]
        stmt = _host_stmt(self.engine.dialect.name, len(prefixes))
        with self.engine.connect() as conn:
            known = conn.execute(stmt, _host_params(prefixes)).first() is not None
        if len(self._hosts) > 10000:
            self._hosts.clear()
        self._hosts[prefixes] = (known, now)
        return known

    def lookup(self, canonical_url: str) -> Known | None:
        if not self.host_known(canonical_url):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(_lookup_stmt(),
                               {"urls": sorted(url_variants(canonical_url))}).first()
        if row is None:
            return None
        now = utcnow()
        born = row.published or row.first_seen
        young = born is not None and now - born < timedelta(days=self.recheck_days)
        stale = row.last_checked is None or \
            now - row.last_checked >= timedelta(hours=self.recheck_hours)
        return Known(row.id, bool(young and stale), row.etag, row.last_modified_header)

    def links(self, article_ids: list[int]) -> dict[int, list[str]]:
        """The stored related links of archived articles (one query for all of them)."""
        with Session(self.engine) as session:
            return outgoing_links(session, article_ids)


@lru_cache(maxsize=1)
def _lookup_stmt() -> Any:
    # built once (an expanding IN): the crawl looks up every new URL it meets
    return (
        select(Article.id, Article.published, Article.first_seen, Article.last_checked,
               Article.etag, Article.last_modified_header)
        .join(ArticleURL, ArticleURL.article_id == Article.id)
        .where(ArticleURL.url.in_(bindparam("urls", expanding=True)))
        .limit(1)
    )


def _host_prefixes(url: str) -> tuple[str, ...]:
    """``scheme://netloc/`` of each form under which ``url`` may be stored."""
    out = set()
    for form in url_variants(url):
        try:
            parts = urlsplit(form)
        except ValueError:
            return ()
        if not parts.scheme or not parts.netloc:
            return ()
        out.add(f"{parts.scheme}://{parts.netloc}/")
    return tuple(sorted(out))


def _host_params(prefixes: tuple[str, ...]) -> dict[str, str]:
    """``_host_stmt``'s parameters: each prefix, and its bound with the last "/" raised."""
    params = {f"p{i}": p for i, p in enumerate(prefixes)}
    params.update({f"h{i}": p[:-1] + "0" for i, p in enumerate(prefixes)})
    return params


@lru_cache(maxsize=16)
def _host_stmt(dialect: str, count: int) -> Any:
    """Any stored URL that starts with one of the prefixes ``p0``.. (each ends in "/";
    ``h<i>`` is the prefix with that "/" raised to "0"), read from an index either way.

    SQLite compares text bytewise: each prefix is a range of the URLs' unique index.
    PostgreSQL's collation may not order text bytewise; its ``text_pattern_ops`` index
    (migration 0007) does, with the operators ``~>=~`` / ``~<~``. There each prefix is a
    seek: the first URL at or after it in that order, kept if it is below the bound. (A
    range under ``LIMIT 1`` lets the planner prefer a scan that "soon finds one" when it
    misjudges how many URLs match: for a host with none, the scan reads every URL.)"""
    if dialect == "sqlite":
        return select(ArticleURL.url).where(or_(*(
            and_(ArticleURL.url >= bindparam(f"p{i}"), ArticleURL.url < bindparam(f"h{i}"))
            for i in range(count)))).limit(1)
    parts = []
    for i in range(count):
        seek = (select(ArticleURL.url).where(ArticleURL.url.op("~>=~")(bindparam(f"p{i}")))
                .order_by(text("url USING ~<~")).limit(1).subquery(f"seek{i}"))
        parts.append(select(seek.c.url).where(seek.c.url.op("~<~")(bindparam(f"h{i}"))))
    return union_all(*parts).limit(1)
