"""extract_page on saved pages in the style of intisari-online.com (built from the seed)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from crawler.extraction import ExtractedArticle, extract_page
from tests.extraction_helpers import ARTICLE_URL, SITE, page_bytes, seed_parts

ARTICLE_PAGES = ["intisari_article_jsonld.html", "intisari_article_plain.html"]


@pytest.fixture(scope="module", params=ARTICLE_PAGES)
def article(request: pytest.FixtureRequest) -> ExtractedArticle:
    return extract_page(page_bytes(request.param), ARTICLE_URL)


def test_every_seed_paragraph_is_in_the_body(article: ExtractedArticle, seed_text: str) -> None:
    _, paragraphs, _ = seed_parts(seed_text)
    assert article.is_article
    body_paragraphs = article.body.split("\n\n")
    for para in paragraphs:
        assert para in body_paragraphs, para[:60]
    # nothing else: the body is exactly the article's paragraphs, in order
    assert body_paragraphs == paragraphs


def test_body_has_no_inserts_byline_or_share_text(article: ExtractedArticle,
                                                  seed_text: str) -> None:
    _, _, baca = seed_parts(seed_text)
    body = article.body
    assert not re.search(r"baca juga", body, re.I)
    for title in baca:
        assert title not in body
    for text in ("Artikel Terkait", "Kazakhstan Minta Bantuan CSTO", "Penulis", "Afif Khoirul M",
                 "Bagikan ke Facebook", "Salin Link", "WhatsApp", "Tweet", "10:15 WIB",
                 "Tentang Kami", "Pasukan Rusia dikirimkan"):
        assert text not in body, text
    assert "\n\n\n" not in body and not body.startswith("\n")


def test_related_links_with_kinds_and_titles(article: ExtractedArticle, seed_text: str) -> None:
    _, _, baca = seed_parts(seed_text)
    inline = [r for r in article.related if r.kind == "inline"]
    block = [r for r in article.related if r.kind == "block"]
    assert [r.title for r in inline] == baca
    assert all(r.url.startswith(SITE + "/read/") for r in inline)
    assert [r.title for r in block] == [
        "Kazakhstan Minta Bantuan CSTO, Ini Negara-negara Anggotanya",
        "Sejarah Hubungan Rusia dan Kazakhstan Sejak Runtuhnya Uni Soviet",
        "Blinken dan Lavrov Bersiap Bertemu Bahas Krisis Ukraina",
    ]
    assert block[0].url == (SITE + "/read/033087400/kazakhstan-minta-bantuan-csto-ini-negara-"
                            "negara-anggotanya")
    assert len({r.url for r in article.related}) == len(article.related)


def test_metadata(article: ExtractedArticle, seed_text: str) -> None:
    title, _, _ = seed_parts(seed_text)
    assert article.title == title  # without " - Intisari-online.com"
    assert article.authors == ["Afif Khoirul M"]  # not the organisation in <meta name=author>
    assert article.published == "2022-01-08T10:15:00+07:00"
    assert article.language == "id"
    assert article.canonical_url == ARTICLE_URL
    assert article.description and article.description.startswith("Pasukan Rusia dikirimkan")


def test_structured_variant_fields() -> None:
    a = extract_page(page_bytes("intisari_article_jsonld.html"), ARTICLE_URL)
    assert a.modified == "2022-01-08T10:32:00+07:00"
    assert a.section == "Internasional"
    assert a.tags == ["Rusia", "Kazakhstan", "Antony Blinken", "CSTO"]
    assert a.image and a.image.endswith("/pasukan-rusia.jpg")
    assert a.amphtml_url == SITE + "/amp/033087521/rusia-marah-besar"
    assert a.page_all_url == ARTICLE_URL + "?page=all"
    assert a.next_page_url == ARTICLE_URL + "?page=2"


def test_plain_variant_has_no_paging() -> None:
    a = extract_page(page_bytes("intisari_article_plain.html"), ARTICLE_URL)
    assert a.page_all_url is None and a.next_page_url is None and a.amphtml_url is None
    assert a.modified is None


def test_links_are_absolute_unique_without_fragments() -> None:
    a = extract_page(page_bytes("intisari_article_jsonld.html"), ARTICLE_URL)
    assert a.links[0] == SITE + "/"
    assert SITE + "/section/internasional" in a.links
    assert SITE + "/tag/rusia" in a.links
    assert all(u.startswith(("http://", "https://")) and "#" not in u for u in a.links)
    assert len(a.links) == len(set(a.links))
    assert not any(u.startswith("mailto:") for u in a.links)
    # every related link is also a followable link
    assert {r.url for r in a.related} <= set(a.links)


def test_extract_page_is_picklable_and_result_round_trips() -> None:
    f = pickle.loads(pickle.dumps(extract_page))
    a = f(page_bytes("intisari_article_plain.html"), ARTICLE_URL)
    assert pickle.loads(pickle.dumps(a)) == a


def test_url_pattern_decides() -> None:
    html = page_bytes("intisari_article_jsonld.html")
    assert not extract_page(html, ARTICLE_URL, article_url_pattern=r"/berita/\d+").is_article
    a = extract_page(page_bytes("about.html"), SITE + "/read/1/x", article_url_pattern=r"/read/")
    assert a.is_article


@pytest.mark.parametrize("name,url", [
    ("home.html", SITE + "/"),
    ("section.html", SITE + "/section/internasional"),
    ("tag.html", SITE + "/tag/rusia"),
    ("about.html", SITE + "/tentang-kami"),
    ("home.html", "file:///tmp/home.html"),
    ("section.html", "file:///tmp/section.html"),
    ("about.html", "file:///tmp/about.html"),
])
def test_non_article_pages(name: str, url: str) -> None:
    a = extract_page(page_bytes(name), url)
    assert a.is_article is False
    assert a.body == "" and a.title is None and a.related == []
    if name != "about.html" and url.startswith("https:"):
        assert len(a.links) >= 5  # links are still there for the crawler
    if url.startswith("file:"):  # relative links have no http(s) base: only absolute ones
        assert all(u.startswith("https://intisari.grid.id/read/") for u in a.links)


def test_listing_next_page() -> None:
    a = extract_page(page_bytes("section.html"), SITE + "/section/internasional")
    assert a.next_page_url == SITE + "/section/internasional?page=2"


@pytest.mark.parametrize("data", [
    b"",
    b"   \n\t ",
    bytes(range(256)) * 200,
    b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 5000,
    b"just some plain text, no markup at all",
    b"<frameset cols='50%,50%'><frame src='a.html'><frame src='b.html'></frameset>",
    b"<html><body><p>unclosed <div><span>" * 3,
    "<html><body><p>\u00e9t\u00e9</p></body></html>",
    b'<html><head><script type="application/ld+json">{"@type": "NewsArticle", '
    b'"headline": [1, {"x": null}], "author": 5, "datePublished": {"a": []}</script>'
    b"</head><body><p>x</p></body></html>",
])
def test_bad_input_never_raises(data: bytes | str) -> None:
    a = extract_page(data, "https://example.com/read/123456/some-article-slug-words")
    assert isinstance(a, ExtractedArticle)
    assert a.url == "https://example.com/read/123456/some-article-slug-words"
    assert a.is_article is False


def test_windows_1252_served_as_utf8() -> None:
    html = ("<html><head><meta charset='utf-8'><title>Kopi \u201cCaf\u00e9\u201d</title></head>"
            "<body><h1>Kopi \u201cCaf\u00e9\u201d</h1>"
            + "<p>Di kafe itu, kopi na\u00efve disajikan \u2013 dan semua orang senang sekali "
              "karena rasanya enak dan harganya murah untuk semua kalangan.</p>" * 6
            + "</body></html>").encode("cp1252")
    a = extract_page(html, "https://example.com/read/123456/kopi-cafe-di-kota-tua",
                     encoding="utf-8")
    assert a.is_article
    assert a.title == "Kopi \u201cCaf\u00e9\u201d"
    assert "na\u00efve" in a.body and "\ufffd" not in a.body


def test_huge_page_does_not_raise() -> None:
    # 4 MB: long paragraphs plus a few thousand navigation links
    para = "<p>" + "kata yang panjang sekali " * 400 + "</p>"
    html = ("<html><body><div>" + "<div><a href='/x'>nav</a></div>" * 3000 + para * 400
            + "</div></body></html>")
    assert len(html) > 4_000_000
    a = extract_page(html, "https://example.com/read/123456/a-b-c-d")
    assert isinstance(a, ExtractedArticle)
    assert a.is_article and "kata yang panjang sekali" in a.body


def test_bad_jsonld_does_not_hide_the_rest() -> None:
    # the JSON-LD variant also carries a broken JSON-LD block: the good one still counts
    a = extract_page(page_bytes("intisari_article_jsonld.html"), "file:///tmp/page.html")
    assert a.is_article and a.section == "Internasional"


def test_seed_copy_is_in_the_repository_and_matches_the_shared_seed() -> None:
    """The seed tests read the repository's copy (tests/data/seeds), so they run on any clone;
    where the project's shared seed is present, the copy is that very text."""
    from tests.conftest import SEED, SHARED

    assert SEED.is_file() and SEED.is_relative_to(Path(__file__).resolve().parent)
    shared = SHARED / "seeds" / SEED.name
    if shared.is_file():
        assert SEED.read_bytes() == shared.read_bytes()


@pytest.mark.parametrize(("data", "want"), [
    # a BOM wins over a declaration, and is not part of the text
    (b"\xef\xbb\xbf<meta charset='iso-8859-1'><p>caf\xc3\xa9</p>", "<meta charset='iso-8859-1'><p>caf\u00e9</p>"),
    (b"\xff\xfe" + "<p>caf\u00e9</p>".encode("utf-16-le"), "<p>caf\u00e9</p>"),
    # a declaration, read as browsers do (ISO-8859-1 is windows-1252: the quotes survive)
    (b"<meta charset='iso-8859-1'><p>\x93caf\xe9\x94</p>", "<meta charset='iso-8859-1'><p>\u201ccaf\u00e9\u201d</p>"),
    (b"<meta http-equiv='Content-Type' content='text/html; charset=koi8-r'><p>\xcb\xcf\xc6\xc5</p>",
     "<meta http-equiv='Content-Type' content='text/html; charset=koi8-r'><p>\u043a\u043e\u0444\u0435</p>"),
    # nothing declared: UTF-8 when the bytes are, else windows-1252 (never a guess from the
    # bytes' statistics, which w3lib 2.6 makes when asked without a detector)
    (b"<p>caf\xc3\xa9</p>", "<p>caf\u00e9</p>"),
    (b"<p>\x93caf\xe9\x94 \xc0\xc1\xc2</p>", "<p>\u201ccaf\u00e9\u201d \u00c0\u00c1\u00c2</p>"),
    # declared UTF-8, but the bytes are windows-1252
    (b"<meta charset='utf-8'><p>caf\xe9</p>", "<meta charset='utf-8'><p>caf\u00e9</p>"),
])
def test_decode_reads_bom_then_declaration_then_utf8_else_windows_1252(data: bytes, want: str) -> None:
    import warnings

    from crawler.extraction.html import decode
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated w3lib call (w3lib 2.6 warns on one)
        assert decode(data) == want
