"""The CPU-heavy work on one fetched page, run in the extraction worker processes.

``process_page`` is a top-level function so that a ProcessPoolExecutor can pickle it:
it parses the page once, extracts the article, and fingerprints its clean body. Each
process keeps the body containers it has learned (:mod:`crawler.extraction.scope`) for the
pages that follow.
"""

from __future__ import annotations

from crawler.dedup import Fingerprint, fingerprint
from crawler.extraction.article import ExtractedArticle
from crawler.extraction.scope import BodyScopes
from storage.archive import compress_raw
from storage.raw_codec import Compressed, Dictionary

_scopes: BodyScopes | None = None  # this process's learned containers
# the crawled site's current raw-page dictionary in this process (set_dictionary)
_dictionary: Dictionary | None = None


def set_dictionary(dictionary: Dictionary | None) -> bool:
    """Compress the raw pages that follow with ``dictionary`` (sent to every extraction
    worker once, when a crawl starts and when the site's dictionary is retrained)."""
    global _dictionary
    _dictionary = dictionary
    return True


def process_scopes() -> BodyScopes:
    global _scopes
    if _scopes is None:
        _scopes = BodyScopes()
    return _scopes


def process_page(
    body: bytes, url: str, encoding: str | None, article_url_pattern: str | None,
    learn_scopes: bool = True, for_crawl: bool = False,
) -> tuple[ExtractedArticle, Fingerprint | None, Compressed | None]:
    """The article, its fingerprint and (``for_crawl``, for an article) the raw page as the
    archive stores it: compressing it here, in parallel, keeps it out of the archive
    writer, the one stage of a crawl that works one page at a time. ``for_crawl`` also
    leaves out an article's links: the crawl follows its related links only, and the
    others would be pickled back to the crawl process for nothing."""
    from crawler.extraction import extract_page

    article = extract_page(body, url, encoding=encoding, article_url_pattern=article_url_pattern,
                           scopes=process_scopes() if learn_scopes else None)
    fp = fingerprint(article.body) if article.is_article and article.body.strip() else None
    raw_gz = None
    if for_crawl and article.is_article:
        raw_gz = compress_raw(body, _dictionary) if body else None
        article.links = []
    return article, fp, raw_gz


_WARM_UP_PAGE = (
    b"<html lang='id'><head><title>Judul berita - Situs</title>"
    b"<meta property='og:type' content='article'></head><body><article><h1>Judul berita</h1>"
    b"<p>" + b"Kalimat pembuka berita yang cukup panjang untuk sebuah paragraf. " * 8 + b"</p>"
    b"<p>Baca Juga: <a href='/read/2/lain'>Berita lain</a></p></article></body></html>"
)


_WARM: list[bool] = []  # warmed up in this process (and in the processes forked after)


def warm_up() -> bool:
    """Load the whole extraction stack in a worker before the first page arrives: what it
    imports lazily (trafilatura, the date parsers, numpy) loads now, while the crawl is still
    reading robots.txt and sitemaps, not on the first article. Once per process."""
    if not _WARM:
        process_page(_WARM_UP_PAGE, "http://warm-up.invalid/read/1/judul", "utf-8", None,
                     False)
        _WARM.append(True)
    return True
