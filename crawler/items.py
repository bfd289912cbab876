"""What the spider yields: one article (all its pages merged), ready for the archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crawler.dedup import Fingerprint
from crawler.extraction.article import ExtractedArticle, RelatedLink
from storage.models import utcnow
from storage.raw_codec import Compressed


@dataclass
class ArticleItem:
    url: str  # the URL fetched (after redirects)
    canonical_url: str
    alias_urls: list[str]
    article: ExtractedArticle
    related: list[RelatedLink]  # with canonical URLs
    fingerprint: Fingerprint | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes = b""
    # the raw page compressed by the extraction worker (the writer then needs no raw_body)
    raw_gz: Compressed | None = None
    # a multi-page article's pages after the first (url, body): stored with it
    raw_parts: list[tuple[str, bytes]] = field(default_factory=list)
    fetched_at: datetime = field(default_factory=utcnow)
    etag: str | None = None
    last_modified: str | None = None
    # a re-check answered 304 Not Modified: only the check time moves
    not_modified: bool = False
