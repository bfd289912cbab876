"""Which article a fetched page is: its canonical URL and every other URL seen for it."""

from __future__ import annotations

from collections.abc import Iterable

from crawler.extraction.article import ExtractedArticle
from crawler.urls import canonicalize, same_site


def article_identity(
    article: ExtractedArticle, fetched_url: str, seen_urls: Iterable[str]
) -> tuple[str, list[str]]:
    """The canonical URL of the article on a page, and its aliases (canonical excluded).

    rel=canonical / og:url are trusted only when they point on-site (a syndicating portal
    that names the original as canonical must not claim the original's URL as its own).
    """
    declared = article.canonical_url
    base = declared if declared and same_site(declared, fetched_url) else fetched_url
    canonical = canonicalize(base)
    aliases: dict[str, None] = {}
    for url in [fetched_url, *seen_urls, *(u for u in [article.amphtml_url] if u)]:
        if not url or not url.startswith(("http://", "https://")):
            continue
        if url == article.amphtml_url and not same_site(url, fetched_url):
            continue
        for form in (canonicalize(url, article=False), canonicalize(url)):
            if form != canonical:
                aliases[form] = None
    return canonical, list(aliases)
