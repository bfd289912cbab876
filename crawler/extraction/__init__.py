"""Extraction: a saved or fetched news page becomes a clean article.

``extract_page(html, url)`` parses the page once with lxml and returns an
:class:`ExtractedArticle`: links, canonical/amphtml/paging URLs for every page; for an
article also title, authors, dates, language, description, image, section, tags, the body
(trafilatura on a tree from which "Baca Juga" lines, related blocks and bylines were removed
first) and the related links it found. It never raises on bad HTML input.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from crawler.extraction.article import ExtractedArticle, RelatedLink

if TYPE_CHECKING:
    from crawler.extraction.scope import BodyScopes

__all__ = ["ExtractedArticle", "RelatedLink", "extract_page"]

log = logging.getLogger(__name__)

_ARTICLE_OG_TYPES = {"article", "news", "news:article", "blog", "blogpost", "og:article"}
MIN_BODY_CHARS = 500  # below this an unproven page (no article markup/URL) is no article
MIN_BODY_CHARS_ARTICLE_URL = 150
MIN_LONGEST_PARAGRAPH = 120  # a listing's teasers are short; an article has real paragraphs
_NOT_ARTICLE_TITLE = re.compile(
    r"^(?:tentang\s+kami|tentang|about(?:\s+us)?|redaksi|kontak(?:\s+kami)?|hubungi\s+kami"
    r"|contact(?:\s+us)?|kebijakan\s+privasi|privacy\s+policy|pedoman\s+media\s+siber"
    r"|disclaimer|karir|careers?|syarat\s+(?:dan|&)\s+ketentuan|terms(?:\s+of\s+\w+)?)\W*$",
    re.I,
)


def _looks_like_article(body: str, title: str | None, url_says_article: bool) -> bool:
    """Evidence from the text, for a page whose markup says nothing (an article-shaped URL
    needs only some text; any other URL needs real paragraphs)."""
    if title and _NOT_ARTICLE_TITLE.match(re.split(r"\s+[-|–—:]\s+|\s*\|\s*", title)[0]):
        return False  # "Tentang Kami - Intisari Online"
    if url_says_article:
        return len(body) >= MIN_BODY_CHARS_ARTICLE_URL
    if len(body) < MIN_BODY_CHARS:
        return False
    return max((len(p) for p in body.split("\n\n")), default=0) >= MIN_LONGEST_PARAGRAPH


def extract_page(html: bytes | str, url: str, *, encoding: str | None = None,
                 article_url_pattern: str | None = None,
                 scopes: BodyScopes | None = None) -> ExtractedArticle:
    """Extract one page. Never raises for HTML content: bad input gives ``is_article=False``.

    ``scopes`` (a crawl's :class:`~crawler.extraction.scope.BodyScopes`) lets the body come
    from a container that has proved, on earlier pages of the site, to give the same text."""
    try:
        return _extract(html, url, encoding=encoding, article_url_pattern=article_url_pattern,
                        scopes=scopes)
    except Exception as exc:  # noqa: BLE001 - one bad page must not stop a crawl
        log.warning("extraction failed for %s: %s: %s", url, type(exc).__name__, exc)
        return ExtractedArticle(url=url, is_article=False)


def _decide(url: str, pattern: str | None, structured) -> bool | None:  # type: ignore[no-untyped-def]
    """True/False when the evidence decides before the body is extracted; None: let the body."""
    from crawler.extraction.classify import url_kind

    if pattern:
        try:
            return re.search(pattern, url) is not None
        except re.error:
            pass
    kind = url_kind(url)
    if kind == "listing":
        return False
    og_type = (structured.first("og:type") or "").lower()
    if structured.article is not None or og_type in _ARTICLE_OG_TYPES:
        return True
    return None if kind in ("article", "unknown") else False


def _extract(html: bytes | str, url: str, *, encoding: str | None,
             article_url_pattern: str | None, scopes: BodyScopes | None) -> ExtractedArticle:
    from crawler.extraction import body as body_mod
    from crawler.extraction import links as links_mod
    from crawler.extraction import metadata as meta
    from crawler.extraction.classify import url_kind
    from crawler.extraction.html import paragraphize, parse
    from crawler.extraction.inserts import InsertFinder
    from crawler.extraction.structured import read_structured

    result = ExtractedArticle(url=url, is_article=False)
    tree = parse(html, encoding)
    if tree is None:
        return result
    base = links_mod.base_url(tree, url)
    result.links = links_mod.all_links(tree, base)
    structured = read_structured(tree)
    rels = links_mod.RelLinks(tree)
    result.canonical_url = links_mod.canonical(tree, base, structured.first("og:url"), rels)
    result.amphtml_url = links_mod.amphtml(tree, base, rels)
    result.page_all_url, result.next_page_url = links_mod.paging(tree, url, base, result.links,
                                                                 rels)

    shape_url = url if url.startswith(("http://", "https://")) else (result.canonical_url or url)
    decided = _decide(shape_url, article_url_pattern, structured)
    if decided is False:
        return result

    words = meta.site_words(shape_url, structured)
    title = meta.choose_title(tree, structured, words)
    finder = InsertFinder(base)
    finder.remove_related(tree)
    bylines = finder.remove_bylines(tree)
    paragraphize(tree)
    body_url = url if url.startswith("http") else None
    if scopes is None:
        text = body_mod.run_trafilatura(tree, body_url)
    else:
        text = scopes.body_text(tree, body_url)
    body = body_mod.clean_body(text, title)
    if decided is None and not _looks_like_article(body, title,
                                                   url_kind(shape_url) == "article"):
        return result

    result.is_article = True
    result.title = title
    result.body = body
    result.related = finder.related
    result.authors = meta.choose_authors(tree, structured, bylines, words)
    result.language = meta.choose_language(tree, structured, body)
    tz = meta.default_timezone(shape_url, result.language, structured)
    result.published, result.modified = meta.choose_dates(tree, structured, tz, shape_url)
    result.description = meta.description(structured)
    result.image = meta.image(structured, base)
    result.section = meta.section(structured)
    result.tags = meta.keywords(structured)
    return result
