"""What a URL is fetched as: its in-run identity (``fetch_key``) and the URL requested.

Every URL is canonicalised before it is requested; article variants (AMP, print, tracking
parameters) fold into one fetch key, listing pages and paginated URLs stay apart.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from crawler.urls import canonicalize, identity_key

PAGINATION_KEYS = {"page", "halaman"}


@lru_cache(maxsize=16384)
def fetch_key(url: str) -> str:
    """The in-run identity of a URL to fetch: article variants fold, listing pages stay apart."""
    try:
        query = parse_qsl(urlsplit(url).query)
    except ValueError:
        return url
    if any(k.lower() in PAGINATION_KEYS for k, _ in query):
        return identity_key(url, article=False)
    return identity_key(url)


def request_url(url: str, kind: str) -> str:
    """The URL to request: the canonical form (tracking parameters and AMP/print variants
    gone); listing pages and paginated URLs keep their variants."""
    try:
        query = parse_qsl(urlsplit(url).query)
    except ValueError:
        return url
    paged = any(k.lower() in PAGINATION_KEYS for k, _ in query)
    return canonicalize(url, article=kind != "listing" and not paged)
