"""The faster paths of extraction and dedup give exactly what the plain ones give.

Each test holds one shortcut (vectorised MinHash, early-exit text reads, cached URL joins,
one pass for rel links, the C class lookup of the parser, the UTF-8 bytes passed through,
the byline XPath, the reused trafilatura settings) equal to the obvious computation it
replaced, on the fixture pages, the sample site and awkward hand-made input.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from urllib.parse import urldefrag, urljoin

import numpy as np
import pytest
from lxml import etree
from lxml import html as lxml_html

from arsip.sample_site.content import stories
from arsip.sample_site.site import SampleSite
from crawler import dedup
from crawler.extraction import body as body_mod
from crawler.extraction import links
from crawler.extraction.byline import BYLINE_ELEMENTS
from crawler.extraction.html import decode, parse, text_of, text_starts_with, text_upto
from tests.extraction_helpers import PAGES

BASE = "http://127.0.0.1:8000"


def fixture_pages() -> list[bytes]:
    site = SampleSite()
    pages = [p.read_bytes() for p in sorted(PAGES.glob("*.html"))]
    pages += [site.article(BASE, s, "all").encode("utf-8") for s in site.stories[:8]]
    return pages


def awkward_trees(count: int = 300) -> list[etree._Element]:
    """Markers and bylines split over inline tags, runs of blanks, non-breaking spaces."""
    rnd = random.Random(11)
    bits = ["<b>Ba</b>", "ca", " ", "\n\n", "\t", "<i> </i>", " juga", ":", "<span></span>",
            "\xa0", "x" * 50, "Penulis", "<a href='/r/1'>Judul</a>", "<p>", "</p>"]
    out = []
    for _ in range(count):
        inner = "".join(rnd.choice(bits) for _ in range(rnd.randrange(1, 60)))
        tree = parse(f"<html><body><div>{inner}</div></body></html>")
        assert tree is not None
        out.append(tree)
    return out


# -- dedup ---------------------------------------------------------------------------------
def _datasketch_signature(normalised: str) -> np.ndarray | None:
    from datasketch import MinHash

    items = dedup.shingles(normalised)
    if not items:
        return None
    m = MinHash(num_perm=dedup.NUM_PERM, seed=dedup.SEED, scheme=dedup.SCHEME,
                hashfunc=zlib.crc32)
    m.update_batch(items)
    return np.asarray(m.hashvalues, dtype="<u4")


def test_permutations_are_datasketchs() -> None:
    from datasketch import MinHash

    a, b = MinHash(num_perm=dedup.NUM_PERM, seed=dedup.SEED, scheme=dedup.SCHEME).permutations
    mine_a, mine_b = dedup._affine()
    assert mine_a.ravel().tolist() == [int(x) for x in a]
    assert mine_b.ravel().tolist() == [int(x) for x in b]


def test_signature_is_datasketchs_bit_for_bit() -> None:
    rnd = random.Random(5)
    texts = ["\n\n".join(s.paragraphs) for s in stories()[:20]]
    texts += ["", "a", "a b", "a b c", "a b c d", "x x x x x x", "Baca juga: x\nfoo bar baz qux",
              "ÅÆ ﬁ ① x y z w", "one two three one two three one two three", "  \n\t "]
    for _ in range(300):  # any text, normalised or not (signature() takes what it is given)
        texts.append("".join(chr(rnd.choice([32, 0x3000, 0xA0, 10, rnd.randrange(33, 0x250),
                                             rnd.randrange(0x250, 0x3000)]))
                             for _ in range(rnd.randrange(0, 60))))
    for text in texts:
        for value in (dedup.normalise_body(text), text):
            want, got = _datasketch_signature(value), dedup.signature(value)
            if want is None:
                assert got is None
            else:
                assert got is not None and got.dtype == want.dtype
                assert got.tobytes() == want.tobytes()
        # fingerprint() takes the words of the body once for the hash and the signature
        fp = dedup.fingerprint(text)
        normalised = dedup.normalise_body(text)
        assert fp.content_hash == hashlib.sha256(normalised.encode("utf-8")).hexdigest()
        want = _datasketch_signature(normalised)
        assert fp.minhash == (None if want is None else want.tobytes())
        assert fp.band_keys == ([] if want is None else dedup.band_keys(want))


def test_band_keys_hash_each_band() -> None:
    sig = dedup.signature(dedup.normalise_body("\n\n".join(stories()[0].paragraphs)))
    assert sig is not None
    want = [(band, int.from_bytes(hashlib.blake2b(
        sig[band * dedup.ROWS:(band + 1) * dedup.ROWS].tobytes(), digest_size=8,
        person=b"arsip-lsh").digest(), "little", signed=True)) for band in range(dedup.BANDS)]
    assert dedup.band_keys(sig) == want


# -- text reads that stop early ----------------------------------------------------------
def test_text_upto_and_starts_with_agree_with_text_of() -> None:
    trees = [parse(p) for p in fixture_pages()[:6]] + awkward_trees()
    checked = 0
    for tree in trees:
        assert tree is not None
        for el in tree.iter():
            if not isinstance(el.tag, str):
                continue
            full = text_of(el)
            for limit in (0, 5, 20, 100, 400):
                assert text_upto(el, limit) == (full if len(full) <= limit else None)
            for prefix in (full[:1], full[:9], full[:30], full[:30] + "x", "Baca juga", "",
                           full, full + " "):
                assert text_starts_with(el, prefix) is full.startswith(prefix)
            checked += 1
    assert checked > 1000


# -- links ---------------------------------------------------------------------------------
def _plain_absolute(base: str, href: str | None) -> str | None:
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    try:
        url = urldefrag(urljoin(base, href))[0]
    except ValueError:
        return None
    return url if url.startswith(("http://", "https://")) else None


def test_absolute_with_its_cache_is_urljoin() -> None:
    rnd = random.Random(3)
    bases = ["http://a.com/x/y", "https://A.com:8080/x/y/?q=1#f", "http://a.com",
             "HTTP://Host.Com/p;par?q", "ftp://x/y", "file:///tmp/x.html", "http://[::1]/x",
             "http://[bad/x", "http:/nohost/x", "http://a.com/a/b/../c/./d", "", "relative/x"]
    pieces = ["/", "//", "..", ".", "a", "?", "#", ";", ":", "x=1", "%20", " ", "\t", "\n",
              "@", "[", "ü", "http:", "https://", "\x01", "\\"]
    for _ in range(3000):
        href = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 7)))
        if rnd.random() < 0.6:
            href = "/" + href
        for base in bases:
            assert links.absolute(base, href) == _plain_absolute(base, href), (base, href)


def _plain_rel_href(tree: etree._Element, rel: str, base: str, tags: str) -> str | None:
    xp = (f"//{tags}[contains(concat(' ', normalize-space(translate(@rel, "
          f"'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')), ' '), ' {rel} ')]/@href")
    for href in tree.xpath(xp):
        url = _plain_absolute(base, href)
        if url:
            return url
    return None


def test_rel_links_find_what_the_rel_xpath_finds() -> None:
    rnd = random.Random(7)
    tokens = ["canonical", "Canonical", "AMPHTML", "next", "Next", "nofollow", " ", "\t", "\n",
              "\xa0", "canonicalx", "İ", ""]
    for _ in range(500):
        head, body = [], []
        for _ in range(rnd.randrange(0, 5)):
            rel = "".join(rnd.choice(tokens) for _ in range(rnd.randrange(0, 4)))
            href = rnd.choice(["/p/2", "http://x.com/a", "", "#", "page/3", None])
            attrs = (f' rel="{rel}"' if rnd.random() < 0.9 else "") + \
                (f' href="{href}"' if href is not None else "")
            head.append(f"<link{attrs}>")
            body.append(f"<a{attrs}>t</a>")
        tree = parse(f"<html><head>{''.join(head)}</head><body>{''.join(body)}</body></html>")
        assert tree is not None
        rels = links.RelLinks(tree)
        base = "http://x.com/a/b"
        for rel in ("canonical", "amphtml", "next"):
            for tags in ("link", "a"):
                assert links._rel_href(tree, rel, base, tags, rels) == \
                    _plain_rel_href(tree, rel, base, tags)


# -- parsing -------------------------------------------------------------------------------
def test_parser_makes_lxml_html_element_classes() -> None:
    tags = sorted(lxml_html.HtmlElementClassLookup()._element_classes) + ["p", "div", "a"]
    page = "<html><body>" + "".join(f"<{t}>x</{t}>" for t in tags) + "</body></html>"
    ours = parse(page)
    theirs = lxml_html.document_fromstring(page)
    assert ours is not None
    assert [(el.tag, type(el)) for el in ours.iter()] == \
        [(el.tag, type(el)) for el in theirs.iter()]
    assert {type(el).__name__ for el in ours.iter()} >= {"FormElement", "InputElement"}


@pytest.mark.parametrize("encoding", ["utf-8", "UTF8", "utf-8-sig", "cp1252", None])
def test_parse_of_utf8_bytes_is_parse_of_their_text(encoding: str | None) -> None:
    pages = fixture_pages() + [
        "<html><body>\x00<p>a\x00b ü é</p></body></html>".encode(),
        b"\xef\xbb\xbf<html><body><p>bom</p></body></html>",
        b"<html><body><p>\xff\xfe not utf-8</p></body></html>",
        b"\x00\x00", b"",
    ]
    for page in pages:
        tree = parse(page, encoding)
        want = parse(decode(page, encoding))  # a str: decoded text, encoded again, parsed
        assert (tree is None) is (want is None)
        if tree is not None:
            assert etree.tostring(tree) == etree.tostring(want)


# -- metadata and body -----------------------------------------------------------------------
def test_byline_xpath_finds_the_plain_condition_elements() -> None:
    words = ("author", "byline", "penulis", "reporter", "writer", "credit", "contributor",
             "kontributor", "wartawan", "pewarta")
    has = " or ".join(f"contains(@class, '{w}') or contains(@id, '{w}')" for w in words)
    data = " or ".join(f"contains(., '{w}')" for w in words)
    plain = etree.XPath(
        f"//*[@itemprop='author' or @rel='author' or {has}"
        f" or @*[starts-with(name(), 'data-')][{data}]"
        " or contains(translate(@aria-label, 'CA', 'ca'), 'contributor')"
        " or contains(translate(@aria-label, 'A', 'a'), 'author')]")
    extra = ('<html><body><div class="post-author x" id="byline-1"><a rel="author">A</a></div>'
             '<span itemprop="author">B</span><p class="Author">no</p><i id="authorbox">C</i>'
             '<b class="writer-name" itemprop="author">D</b><span data-qa-id="author-name">E'
             '</span><div class="read__credit">F</div><address aria-label="Contributor info">'
             'G</address><span data-x="nothing">no</span></body></html>')
    found = 0
    for page in [*fixture_pages(), extra.encode()]:
        tree = parse(page)
        assert tree is not None
        want = plain(tree)
        assert BYLINE_ELEMENTS(tree) == want
        found += len(want)
    assert found > 8


def test_trafilatura_settings_are_bare_extractions() -> None:
    from trafilatura.settings import DEFAULT_CONFIG, Extractor

    for url in (None, "http://x.com/a", "http://x.com/\udcff"):
        for options in (body_mod.OPTIONS, {**body_mod.OPTIONS, "fast": True}):
            ours = body_mod._extractor(url, options)
            theirs = Extractor(  # what bare_extraction builds from the arguments we gave it
                config=DEFAULT_CONFIG, output_format="python", fast=options["fast"],
                precision=options["favor_precision"], recall=options["favor_recall"],
                comments=False, formatting=None, links=False, images=False, tables=True,
                dedup=False, lang=None, url=url, with_metadata=False,
                only_with_metadata=False, author_blacklist=None, url_blacklist=None,
                date_params=None)
            for name in Extractor.__slots__:
                assert getattr(ours, name) == getattr(theirs, name), name
