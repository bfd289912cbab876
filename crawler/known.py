"""What the archive already holds: URLs not to fetch again, and articles due for a re-check.

Re-check policy: an archived article younger than ``recheck_days`` (by publication date,
else first seen) is fetched again at most every ``recheck_hours``, with a conditional request
(If-None-Match / If-Modified-Since); older articles are not fetched again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select

from crawler.urls import url_variants
from storage.models import Article, ArticleURL, utcnow


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

    def lookup(self, canonical_url: str) -> Known | None:
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
