"""Visible bylines on templates of many portals (tests/data/bylines, no structured data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.extraction import extract_page
from crawler.extraction.byline import credits, spaced_text, tokens, tokens_of_text
from crawler.extraction.html import parse

BYLINES = Path(__file__).resolve().parent / "data" / "bylines"
EXPECTED = json.loads((BYLINES / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_authors(name: str) -> None:
    case = EXPECTED[name]
    html = (BYLINES / f"{name}.html").read_bytes()
    # the page itself names no author in structured data: only the visible byline can
    assert b"application/ld+json" not in html and b'name="author"' not in html
    article = extract_page(html, case["url"])
    assert article.is_article
    assert article.authors == case["authors"]


def test_fixture_set_is_large_and_a_third_held_out() -> None:
    assert len(EXPECTED) >= 20
    held = [n for n, c in EXPECTED.items() if c["held_out"]]
    assert 3 * len(held) >= len(EXPECTED)
    assert all((BYLINES / f"{n}.html").is_file() for n in EXPECTED)


@pytest.mark.parametrize("text,expected", [
    ("Penulis: Budi Santoso", [("author", "Budi Santoso")]),
    ("penulis Budi Santoso", [("author", "Budi Santoso")]),
    ("Budi Santoso - Penulis", [("author", "Budi Santoso")]),
    ("Oleh Budi Santoso | Editor Sri Wahyuni", [("author", "Budi Santoso"),
                                                ("editor", "Sri Wahyuni")]),
    ("Reporter: Arif Wicaksono, Rina Marlina", [("author", "Arif Wicaksono"),
                                              ("author", "Rina Marlina")]),
    ("Reporter : Arif Wicaksono | Editor : Dedi", [("author", "Arif Wicaksono"),
                                                 ("editor", "Dedi")]),
    ("Penulis\nBudi Santoso\nEditor\nSri Wahyuni", [("author", "Budi Santoso"),
                                                   ("editor", "Sri Wahyuni")]),
    ("Budi Santoso\nPenulis\nSri Wahyuni\nEditor", [("author", "Budi Santoso"),
                                                   ("editor", "Sri Wahyuni")]),
    ("By Jane Doe and John Smith", [("author", "Jane Doe"), ("author", "John Smith")]),
    ("Reporting by Jane Doe; Editing by John Smith", [("author", "Jane Doe"),
                                                      ("editor", "John Smith")]),
    ("Wartawan: Sri Wahyuni / Fotografer: Agus Salim", [("author", "Sri Wahyuni"),
                                                       ("photo", "Agus Salim")]),
    ("Kontributor Lhokseumawe, Rahmadani", [("author", "Rahmadani")]),
    ("Writer: Jane Doe", [("author", "Jane Doe")]),
    ("AUTHOR Jane Doe", [("author", "Jane Doe")]),
    ("Powered by WordPress", []),
])
def test_labels_and_names_in_text(text: str, expected: list[tuple[str, str]]) -> None:
    assert credits(tokens_of_text(text)) == expected


def _credits(fragment: str) -> list[tuple[str, str]]:
    tree = parse(f"<html><body>{fragment}</body></html>")
    assert tree is not None
    return credits(tokens(tree.find(".//div")))


def test_name_and_label_in_sibling_elements_are_not_glued() -> None:
    html = '<div class="x"><a>Moh. Rizal Fahmi</a><div>Penulis</div></div>'
    assert _credits(html) == [("author", "Moh. Rizal Fahmi")]
    tree = parse(f"<html><body>{html}</body></html>")
    assert tree is not None
    assert spaced_text(tree.find(".//div"), 100) == "Moh. Rizal Fahmi Penulis"


def test_label_elements_before_name_elements_in_rows() -> None:
    html = ('<div><div><h6>Penulis</h6></div><div><a>Kusumawati</a></div>'
            '<div><h6>Editor</h6></div><div><a>Hendra Gunawan</a></div></div>')
    assert _credits(html) == [("author", "Kusumawati"), ("editor", "Hendra Gunawan")]


def test_label_cells_take_the_nearer_name() -> None:
    # each name sits with its role in a card: the nearer one in the tree, not the next one
    html = ('<div><div><a>Fajar Hidayat</a><span>Penulis</span></div>'
            '<div><a>Laras Wulandari</a><span>Editor</span></div></div>')
    assert _credits(html) == [("author", "Fajar Hidayat"), ("editor", "Laras Wulandari")]


def test_job_titles_are_not_editors() -> None:
    assert _credits("<div><span>Harriet Cole</span><div>Technology editor</div></div>") == [
        ("author", "Harriet Cole")]


def test_photo_credit_is_no_author() -> None:
    html = ('<html><head><title>Judul Berita Panjang Sekali</title></head><body><article>'
            '<h1>Judul Berita Panjang Sekali</h1><figure><img src="a.jpg"><figcaption>'
            '<span class="credit">Foto: Agus Salim</span></figcaption></figure>'
            '<div class="penulis">Penulis: <a>Sri Wahyuni</a></div>'
            + "<p>" + "Isi berita yang cukup panjang untuk sebuah artikel. " * 20 + "</p>"
            '</article></body></html>')
    article = extract_page(html, "https://example.co.id/read/2023/06/06/judul-berita-panjang")
    assert article.authors == ["Sri Wahyuni"]
