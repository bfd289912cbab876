"""Is a page an article? URL shape and structured-data evidence."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

ARTICLE_TYPES = {
    "newsarticle", "article", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "report",
    "scholarlyarticle", "techarticle", "liveblogposting", "socialmediaposting",
}

# first path segments (or whole short paths) of pages that list or describe, not report
_LISTING_SEGMENTS = {
    "tag", "tags", "topic", "topics", "topik", "kategori", "category", "categories", "section",
    "sections", "rubrik", "kanal", "channel", "indeks", "index", "search", "cari", "pencarian",
    "about", "about-us", "tentang", "tentang-kami", "redaksi", "kontak", "contact",
    "contact-us", "hubungi-kami", "privacy", "privacy-policy", "kebijakan-privasi", "pedoman",
    "pedoman-media-siber", "disclaimer", "karir", "career", "careers", "author", "authors",
    "penulis", "profile", "profil", "archive", "arsip", "terms", "syarat-dan-ketentuan",
    "sitemap", "feed", "rss", "login", "register", "subscribe", "page", "label",
}
_ARTICLE_HINT = re.compile(r"\d{4,}|/\d{4}/\d{1,2}/|\.s?html?$|/read/|/berita/\d|/news/\d")
_WORDS = re.compile(r"[a-z0-9]+", re.I)


def url_kind(url: str) -> str:
    """'listing' (home, section, tag, about, paged listing), 'article' or 'unknown'."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "unknown"
    if parts.scheme not in ("http", "https"):
        return "unknown"
    path = parts.path or "/"
    segments = [s for s in path.split("/") if s]
    query = parse_qs(parts.query)
    if not segments:
        return "listing" if not query.get("p") and not query.get("id") else "unknown"
    last = re.sub(r"\.(s?html?|php|aspx?)$", "", segments[-1].lower())
    words = _WORDS.findall(last)
    lowered = [s.lower() for s in segments]
    if lowered[-1] in _LISTING_SEGMENTS or (len(segments) <= 2 and lowered[0] in _LISTING_SEGMENTS) or (
            len(segments) <= 3 and any(s in _LISTING_SEGMENTS for s in lowered[:-1])
            and len(words) < 4):
        return "listing"  # /about, /tag/x, /kategori/politik, /page/2
    if len(words) >= 4 or _ARTICLE_HINT.search(path):
        return "article"
    if any(s in _LISTING_SEGMENTS for s in lowered[:-1]):
        return "listing"
    if len(segments) <= 2 and len(words) <= 1 and not re.search(r"\d{3,}", path):
        # /politik, /news/politik: a section front (possibly ?page=N)
        return "listing"
    return "unknown"
