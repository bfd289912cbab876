"""The related-link graph as a crawl reads it: the stored outgoing links of archived articles.

A crawl does not fetch an archived article again (unless it is due for a re-check), but the
article's related links ("Baca Juga", related blocks; ``article_links``) still continue the
hop count as if its page had been fetched: this is how the crawl gets them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storage.models import ArticleLink

CHUNK = 500  # article ids per statement (well under every driver's parameter limit)


def outgoing_links(session: Session, article_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each article's stored related links (canonical target URLs), in page order, each
    URL once; an article without any maps to an empty list."""
    ids = sorted(set(article_ids))
    found: dict[int, dict[str, None]] = {i: {} for i in ids}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(_links_stmt(), {"ids": ids[start:start + CHUNK]})
        for article_id, url in rows:
            found[article_id][url] = None
    return {i: list(urls) for i, urls in found.items()}


@lru_cache(maxsize=1)
def _links_stmt() -> Any:
    # built once (an expanding IN); ``from_article_id`` is indexed
    return (
        select(ArticleLink.from_article_id, ArticleLink.to_url)
        .where(ArticleLink.from_article_id.in_(bindparam("ids", expanding=True)))
        .order_by(ArticleLink.from_article_id, ArticleLink.position, ArticleLink.id)
    )
