"""Which article a fetched page is: its canonical URL and every other URL seen for it."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from crawler.extraction.article import ExtractedArticle
from crawler.urls import canonicalize, same_site


def article_identity(
    article: ExtractedArticle, fetched_url: str, seen_urls: Iterable[str]
) -> tuple[str, list[str]]:
    """The canonical URL of the article on a page, and its aliases (canonical excluded).

    rel=canonical / og:url are trusted only when they point on-site (a syndicating portal
    that names the original as canonical must not claim the original's URL as its own), and
    not when they name the site's home page (a theme that gives every page the same
    canonical would fold the whole site into one article). A page without one (a print
    view) is its own fetched URL; that it is a copy is found from its text.
    """
    declared = article.canonical_url or ""
    trusted = declared.startswith(("http://", "https://")) and \
        same_site(declared, fetched_url) and not _is_home(declared)
    base = declared if trusted else fetched_url
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


def _is_home(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    return parts.path in ("", "/") and not parts.query
