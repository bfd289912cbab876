"""Hostile input, fuzzed with hypothesis: the extractor and the URL canonicaliser.

- ``extract_page`` on random bytes and text and on mutated real pages of ``../shared/corpus/``
  never raises, returns a well-formed result, and never needs its last-resort catch-all
  (which would turn a crashing page into a silently lost article).
- ``canonicalize`` on random and mutated URLs never raises and is idempotent.

The budget is modest (see ``FUZZ``) so the file runs in well under a minute; failing examples
are printed by hypothesis and should be added below as explicit regression cases.
"""

from __future__ import annotations

import gzip
import json
import logging
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extraction import extract_page
from crawler.processing import process_page
from crawler.urls import canonicalize, identity_key
from tests.conftest import CORPUS

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_PAGES = settings(FUZZ, max_examples=60)
CORPUS_PAGES = 12  # real pages to mutate (a spread over the corpus folders)


class CatchAllUsed(logging.Handler):
    """Records the extractor's last-resort catch-all ("extraction failed for ...")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("extraction failed"):
            self.messages.append(message)


@pytest.fixture(scope="module")
def crashes():
    handler = CatchAllUsed()
    log = logging.getLogger("crawler.extraction")
    log.addHandler(handler)
    yield handler
    log.removeHandler(handler)


def check_extraction(body: bytes | str, url: str, crashes: CatchAllUsed) -> None:
    crashes.messages.clear()
    art = extract_page(body, url)
    assert art.url == url
    assert isinstance(art.is_article, bool)
    assert isinstance(art.body, str)
    assert art.title is None or isinstance(art.title, str)
    assert crashes.messages == [], crashes.messages[0]
    if isinstance(body, bytes):  # the crawl's own entry point (extraction + fingerprint)
        article, fp, _ = process_page(body, url, None, None)
        assert fp is None or fp.content_hash
        assert crashes.messages == [], crashes.messages[0]


# -- the extractor -------------------------------------------------------------------------

HTML_BITS = st.sampled_from([
    "<html>", "</html>", "<head>", "<body>", "<p>", "</p>", "<div>", "</div>", "<h1>",
    "<article>", "</article>", "<script>", "</script>", "<style>", "<!--", "-->", "<![CDATA[",
    "<title>", "</title>", '<meta charset="windows-1252">', '<meta charset="x-bogus">',
    '<meta property="og:title" content="', '<script type="application/ld+json">',
    '{"@type": "NewsArticle", "datePublished": "', '"headline": [1, {"a": null}]',
    '<time datetime="', "9999-99-99", "2022-01-08T10:15:00+07:00", "Baca Juga: ", "<a href=\"",
    "javascript:alert(1)", "&amp;", "&#0;", "&#xD800;", "&nbsp;", "\x00", "\ufeff", "\u202e",
    "<frameset>", "<frame src=x>", "<svg><", "<math>", "<table><tr><td>", "<br/>", ">", "<",
    "Penulis: ", "Rusia marah besar sampai ungkit intervensi AS di Irak. ",
])
HTML_SOUP = st.lists(st.one_of(HTML_BITS, st.text(max_size=40)), max_size=60).map("".join)
PAGE_URLS = st.sampled_from([
    "http://127.0.0.1:8000/read/033112345/rusia-marah-besar",
    "https://www.example.com/2022/01/08/news?page=2",
    "http://127.0.0.1/", "https://example.com/amp/story", "http://[::1]:8080/a?b=c#d",
])


@FUZZ
@given(body=st.binary(max_size=4000), url=PAGE_URLS)
def test_extractor_survives_random_bytes(body, url, crashes):
    check_extraction(body, url, crashes)


@FUZZ
@given(body=HTML_SOUP, url=PAGE_URLS, as_bytes=st.booleans(),
       codec=st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]))
def test_extractor_survives_html_soup(body, url, as_bytes, codec, crashes):
    data: bytes | str = body
    if as_bytes:
        data = body.encode(codec, errors="replace")
    check_extraction(data, url, crashes)


@cache
def corpus_pages() -> tuple[tuple[str, bytes], ...]:
    if not CORPUS.is_dir():
        return ()
    pages: list[tuple[str, bytes]] = []
    folders = sorted(p for p in CORPUS.iterdir() if p.is_dir())
    for folder in folders:
        truth_file = folder / "ground-truth.json"
        truth = json.loads(truth_file.read_text(encoding="utf-8")) if truth_file.exists() \
            else {}
        files = sorted(folder.glob("*.html.gz"))
        step = max(1, len(files) // max(1, CORPUS_PAGES // max(1, len(folders))))
        for path in files[::step][: CORPUS_PAGES // max(1, len(folders))]:
            key = path.name[: -len(".html.gz")]
            url = (truth.get(key) or {}).get("url") or f"https://example.com/{key}"
            pages.append((url, gzip.decompress(path.read_bytes())))
    return tuple(pages)


def _mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    for kind, a, b, blob in ops:
        n = len(data)
        if n == 0:
            return blob
        i, j = sorted((a % n, b % n))
        if kind == 0:  # truncate
            data = data[:i]
        elif kind == 1:  # delete a slice
            data = data[:i] + data[j:]
        elif kind == 2:  # insert bytes
            data = data[:i] + blob + data[i:]
        elif kind == 3:  # overwrite bytes
            data = data[:i] + blob + data[i + len(blob):]
        elif kind == 4:  # duplicate a slice (nesting, repeated blocks)
            data = data[:j] + data[i:j][:20000] + data[j:]
        else:  # swap two halves (tags out of order)
            data = data[i:] + data[:i]
    return data


MUTATIONS = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2**31), st.integers(0, 2**31),
              st.one_of(st.binary(max_size=64), HTML_BITS.map(str.encode))),
    min_size=1, max_size=6,
)


@FUZZ_PAGES
@given(index=st.integers(0, 10_000), ops=MUTATIONS)
def test_extractor_survives_mutated_real_pages(index, ops, crashes):
    pages = corpus_pages()
    if not pages:
        pytest.skip(f"corpus not found at {CORPUS} (../shared is missing)")
    url, page = pages[index % len(pages)]
    check_extraction(_mutate(page, ops), url, crashes)


def test_corpus_pages_are_found_when_the_corpus_is_there():
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (../shared is missing)")
    assert len(corpus_pages()) >= 3  # the mutation test above really mutates real pages


# -- the URL canonicaliser -----------------------------------------------------------------

URL_CHARS = st.lists(st.sampled_from(
    list("abcAZ019-._~:/?#[]@!$&'()*+,;=% ") + ["%2F", "%25", "%00", "%zz", "é", "ü", "\t",
                                                 "\n", "\x00", "\u3000", "..", "//"]),
    max_size=20).map("".join)
HOSTS = st.one_of(
    st.sampled_from(["example.com", "www.example.com", "m.example.com", "amp.example.com",
                     "EXAMPLE.COM.", "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "xn--bcher-kva.ch",
                     "bücher.ch", "a..b", "", "-", "[", "]", "[::1", "user:pw@example.com",
                     "example.com:80", "example.com:443", "example.com:0", "example.com:99999",
                     "example.com:-1", "example.com:abc", "www.amp.m.example.co.id"]),
    URL_CHARS,
)
SCHEMES = st.sampled_from(["http", "https", "HTTP", "hTtPs", "ftp", "file", "javascript",
                           "mailto", "", "http:", "data"])
PATHS = st.lists(st.one_of(
    st.sampled_from(["amp", "print", "read", "033112345", "page", "index.html", "", ".",
                     "..", "%2e%2e", "a b", "ä", "%C3%A4", "%"]),
    URL_CHARS), max_size=6).map(lambda parts: "/" + "/".join(parts))
QUERIES = st.lists(st.tuples(
    st.sampled_from(["utm_source", "page", "amp", "id", "fbclid", "a", "", "PAGE", "utm_"]),
    st.sampled_from(["1", "2", "all", "", "x y", "%26", "a=b", "é"]) | URL_CHARS,
), max_size=5)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(SCHEMES)
    host = draw(HOSTS)
    path = draw(PATHS)
    query = "&".join(f"{k}={v}" for k, v in draw(QUERIES))
    frag = draw(st.sampled_from(["", "#top", "#", "#a?b"]))
    sep = draw(st.sampled_from(["://", ":/", ":", "://", ":///"]))
    tail = draw(st.sampled_from(["", "/", "?", "/amp/", "?amp=1", "?page=all"]))
    return f"{scheme}{sep}{host}{path}{tail}{'?' + query if query else ''}{frag}"


def check_canonical(url: str) -> None:
    for article in (True, False):
        once = canonicalize(url, article=article)
        assert isinstance(once, str)
        twice = canonicalize(once, article=article)
        assert twice == once, f"not idempotent ({article=}): {url!r} -> {once!r} -> {twice!r}"
    identity_key(url)


@FUZZ
@given(url=urls())
def test_canonicalize_structured_urls(url):
    check_canonical(url)


@FUZZ
@given(url=st.text(max_size=80))
def test_canonicalize_random_text(url):
    check_canonical(url)


@cache
def corpus_urls() -> tuple[str, ...]:
    out: list[str] = []
    if CORPUS.is_dir():
        for truth_file in sorted(CORPUS.glob("*/ground-truth.json")):
            truth = json.loads(truth_file.read_text(encoding="utf-8"))
            out += [v["url"] for v in truth.values() if isinstance(v, dict) and v.get("url")]
    return tuple(out) or ("https://www.example.com/read/033112345/rusia?utm_source=x&page=2",)


@FUZZ
@given(index=st.integers(0, 10_000), ops=st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 500), st.integers(0, 500),
              st.sampled_from([b"/amp", b"?page=2", b"%", b"#", b"..", b"//", b"@", b":",
                               b"[", b"utm_medium=x&", b"\xc3\xa4", b" ", b"?", b"&",
                               b"/print", b"HTTP://", b"m."])),
    min_size=1, max_size=5))
def test_canonicalize_mutated_real_urls(index, ops):
    base = corpus_urls()[index % len(corpus_urls())]
    mutated = _mutate(base.encode(), ops).decode("utf-8", errors="replace")
    check_canonical(mutated)


def test_canonicalize_known_forms():
    # the property tests above cannot tell "idempotent" from "does nothing": pin the basics
    assert canonicalize("HTTP://WWW.Example.com:80/a/?utm_source=x#f") == \
        "http://www.example.com/a"
    assert canonicalize("https://example.com/amp/story/?page=all") == \
        "https://example.com/story"
    assert canonicalize("https://example.com/s?page=2", article=False) == \
        "https://example.com/s?page=2"


@pytest.mark.parametrize("url", [
    "http://example.com/print/print",  # found by hypothesis: one pass left /print
    "http://example.com/x/;",  # found by hypothesis: / stripped before ';' went
    "HTTP://0//;",
    "http://example.com/amp/amp",
    "http://example.com/a/print/amp",
])
def test_canonicalize_fuzz_findings_are_idempotent(url):
    check_canonical(url)
