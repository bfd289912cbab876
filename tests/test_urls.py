"""URL identity: canonicalize, identity_key, url_variants, article_identity."""

from __future__ import annotations

import pytest

from crawler.extraction.article import ExtractedArticle
from crawler.identity import article_identity
from crawler.urls import canonicalize, identity_key, same_site, url_variants

ART = "https://www.example.com/read/2022/01/08/123/judul-berita"

VARIANTS = [
    # tracking parameters and fragments
    ART + "?utm_source=facebook&utm_medium=social&utm_campaign=x",
    ART + "?fbclid=IwAR0abc&gclid=xyz",
    ART + "?mc_cid=1&mc_eid=2#comments",
    ART + "#read-more",
    ART + "/",
    "HTTPS://WWW.Example.COM:443/read/2022/01/08/123/judul-berita",
    # AMP
    ART + "/amp",
    ART + "/amp/",
    ART + "?amp=1",
    ART + "?amp",
    "https://www.example.com/amp/read/2022/01/08/123/judul-berita",
    "https://amp.example.com/read/2022/01/08/123/judul-berita",
    # pagination and print
    ART + "?page=2",
    ART + "?page=all",
    ART + "?page=all&utm_source=x",
    ART + "/print",
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_map_to_the_article(variant: str) -> None:
    assert identity_key(variant) == identity_key(ART)


@pytest.mark.parametrize("variant", VARIANTS[:6])
def test_canonical_keeps_scheme_and_www(variant: str) -> None:
    # the canonical URL stays fetchable as given: scheme and www. are not rewritten
    assert canonicalize(variant) == ART


def test_amp_host_maps_to_bare_host() -> None:
    assert canonicalize("https://amp.example.com/news/1/a") == "https://example.com/news/1/a"
    assert canonicalize("https://m.example.com/news/1/a") == "https://example.com/news/1/a"


def test_http_https_and_www_are_one_identity() -> None:
    a = "http://example.com/news/1/a"
    b = "https://www.example.com/news/1/a"
    assert identity_key(a) == identity_key(b)
    assert canonicalize(a) != canonicalize(b)  # both stay fetchable as they are
    variants = url_variants(canonicalize(b))
    assert canonicalize(a) in variants and variants[0] == canonicalize(b)


@pytest.mark.parametrize(
    "a,b",
    [
        ("https://example.com/index.php?p=123", "https://example.com/index.php?p=124"),
        ("https://example.com/berita?id=5", "https://example.com/berita?id=6"),
        ("https://example.com/index.php?page=article&id=5",
         "https://example.com/index.php?page=article&id=6"),
        ("https://example.com/news/1/a", "https://example.com/news/2/a"),
        ("https://example.com/print/123", "https://example.com/print/124"),
        ("https://example.com/news/1/a", "https://other.example.org/news/1/a"),
    ],
)
def test_different_articles_stay_different(a: str, b: str) -> None:
    assert identity_key(a) != identity_key(b)
    assert canonicalize(a) != canonicalize(b)


@pytest.mark.parametrize(
    "url,kept",
    [
        ("https://example.com/index.php?p=123&utm_source=x", "p=123"),
        ("https://example.com/berita?id=5&fbclid=1", "id=5"),
        ("https://example.com/index.php?page=article", "page=article"),
    ],
)
def test_content_parameters_are_kept(url: str, kept: str) -> None:
    out = canonicalize(url)
    assert kept in out and "utm_" not in out and "fbclid" not in out


def test_print_segment_in_the_middle_is_not_stripped() -> None:
    # /print/123 is not the article /123: only a trailing print segment is a variant
    assert canonicalize("https://example.com/print/123") == "https://example.com/print/123"


@pytest.mark.parametrize("url", [*VARIANTS, "http://127.0.0.1:8080/read/1/a?page=2",
                                 "https://example.com/a%20b/c?q=%C3%A9&x=1",
                                 "https://example.com/s?b=2&a=1"])
def test_idempotent(url: str) -> None:
    once = canonicalize(url)
    assert canonicalize(once) == once
    listing = canonicalize(url, article=False)
    assert canonicalize(listing, article=False) == listing


def test_listing_pages_keep_pagination() -> None:
    a = canonicalize("https://example.com/section/news?page=2", article=False)
    b = canonicalize("https://example.com/section/news?page=3", article=False)
    assert a != b and "page=2" in a


def test_percent_encoding_and_query_order_normalised() -> None:
    assert canonicalize("https://example.com/s?b=2&a=1") == canonicalize(
        "https://example.com/s?a=1&b=2")
    assert canonicalize("https://example.com/caf%c3%a9") == canonicalize(
        "https://example.com/caf%C3%A9")


def test_non_http_urls_untouched() -> None:
    assert canonicalize("mailto:redaksi@example.com") == "mailto:redaksi@example.com"
    assert url_variants("mailto:x@example.com") == ["mailto:x@example.com"]


def test_same_site_ignores_www_amp_m() -> None:
    assert same_site("https://www.example.com/a", "https://amp.example.com/b")
    assert same_site("https://m.example.com/a", "https://example.com/b")
    assert not same_site("http://127.0.0.1:1/a", "http://localhost:1/a")


def _article(**kw: object) -> ExtractedArticle:
    return ExtractedArticle(url=kw.pop("url", ART), **kw)  # type: ignore[arg-type]


def test_identity_trusts_on_site_canonical() -> None:
    fetched = ART + "/amp?utm_source=x"
    canonical, aliases = article_identity(_article(canonical_url=ART), fetched, [])
    assert canonical == ART
    assert ART + "/amp" in aliases
    assert all("utm_" not in a for a in aliases)


def test_identity_ignores_off_site_canonical() -> None:
    portal = "https://portal.example.org/news/9/judul-lain"
    canonical, aliases = article_identity(_article(canonical_url=ART), portal, [])
    assert canonical == portal
    assert ART not in aliases


def test_identity_ignores_canonical_naming_the_home_page() -> None:
    canonical, _ = article_identity(_article(canonical_url="https://www.example.com/"), ART, [])
    assert canonical == ART


def test_identity_keeps_redirects_and_amphtml_as_aliases() -> None:
    old = "https://www.example.com/berita/123"
    amp = "https://www.example.com/amp/read/2022/01/08/123/judul-berita"
    canonical, aliases = article_identity(
        _article(canonical_url=ART, amphtml_url=amp), ART, [old])
    assert canonical == ART
    assert old in aliases and amp in aliases
    # an amphtml link to another site is not an alias
    _, aliases = article_identity(
        _article(canonical_url=ART, amphtml_url="https://cdn.ampproject.org/c/x"), ART, [])
    assert not any("ampproject" in a for a in aliases)


def test_print_view_without_canonical_is_its_own_url() -> None:
    view = "https://www.example.com/cetak/123"
    canonical, _ = article_identity(_article(canonical_url=None, url=view), view, [])
    assert canonical == view  # that it is a copy is found from its text (content hash)


def test_the_plain_url_shortcut_agrees_with_the_full_canonicalisation() -> None:
    import random

    from crawler.urls import _canonicalize_fully as full
    from crawler.urls import _plainly_canonical

    rng = random.Random(7)
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
    hosts = ["example.com", "www.example.com", "m.example.com", "amp.example.co.id",
             "127.0.0.1", "localhost", "m.co", "Example.com", "a-.b"]
    segments = ["amp", "print", "cetak", "amp.html", "x.amp", ".", "..", "AMP", "Print", "read"]
    shortcut = 0
    for _ in range(20000):
        path = "".join(
            "/" + (rng.choice(segments) if rng.random() < 0.3
                   else "".join(rng.choice(chars) for _ in range(rng.randint(1, 8))))
            for _ in range(rng.randint(0, 4)))
        path += "/" if rng.random() < 0.1 else ""
        url = (f"{rng.choice(['http', 'https'])}://{rng.choice(hosts)}"
               f"{rng.choice(['', ':80', ':443', ':8000'])}{path or rng.choice(['', '/'])}")
        for article in (True, False):
            if _plainly_canonical(url, article):
                shortcut += 1
                assert full(url, article) == url, (url, article)
            assert canonicalize(url, article=article) == full(url, article), (url, article)
    assert shortcut > 5000  # the shortcut is taken for most such URLs
