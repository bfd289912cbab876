"""The CPU-heavy work on one fetched page, run in the extraction worker processes.

``process_page`` is a top-level function so that a ProcessPoolExecutor can pickle it:
it parses the page once, extracts the article, and fingerprints its clean body.
"""

from __future__ import annotations

from crawler.dedup import Fingerprint, fingerprint
from crawler.extraction.article import ExtractedArticle


def process_page(
    body: bytes, url: str, encoding: str | None, article_url_pattern: str | None
) -> tuple[ExtractedArticle, Fingerprint | None]:
    from crawler.extraction import extract_page

    article = extract_page(body, url, encoding=encoding, article_url_pattern=article_url_pattern)
    fp = fingerprint(article.body) if article.is_article and article.body.strip() else None
    return article, fp


def warm_up() -> bool:
    """Import the extraction stack in a worker before the first page arrives."""
    import crawler.extraction  # noqa: F401

    return True
