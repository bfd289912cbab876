"""Pieces of the extractor: dates, titles, related inserts, URL shapes, the metric."""

from __future__ import annotations

import pytest

from crawler.extraction import extract_page
from crawler.extraction.classify import url_kind
from crawler.extraction.dates import WIB, parse_date
from crawler.extraction.evaluate import author_f1, page_scores, shingles, title_match
from crawler.extraction.metadata import strip_site


@pytest.mark.parametrize("text,expected", [
    ("Sabtu, 8 Januari 2022 | 10:15 WIB", "2022-01-08T10:15:00+07:00"),
    ("Selasa, 16 Februari 2016 14:38 WITA", "2016-02-16T14:38:00+08:00"),
    ("Kamis, 05 November 2015 11:52 WIT", "2015-11-05T11:52:00+09:00"),
    ("Jum'at, 19 Juni 2015 - 11:58 wib", "2015-06-19T11:58:00+07:00"),
    ("2015-11-05T14:56:43+0700", "2015-11-05T14:56:43+07:00"),
    ("2023-12-22T10:00:00Z", "2023-12-22T10:00:00+00:00"),
    ("2016-02-23 15:06:00", "2016-02-23T15:06:00+07:00"),
])
def test_parse_date(text: str, expected: str) -> None:
    assert parse_date(text, default_tz=WIB) == expected


@pytest.mark.parametrize("text", ["", "tidak ada tanggal", "99/99/9999", "Januari"])
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text, default_tz=WIB) is None


@pytest.mark.parametrize("title,words,expected", [
    ("Merek China Serbu Indonesia - Kompas.com", {"kompas"}, "Merek China Serbu Indonesia"),
    ("KapanLagi.com: FOTO: Dian Saat Berusia 13", {"kapanlagi"}, "FOTO: Dian Saat Berusia 13"),
    ("Judul Berita | Intisari Online", {"intisari online"}, "Judul Berita"),
    ("Hati-Hati Diabetes! - Health :: Okezone Lifestyle", {"okezone"},
     "Hati-Hati Diabetes! - Health"),
    ("Tri Indonesia: Broadband Dorong Ekosistem", {"liputan6"},
     "Tri Indonesia: Broadband Dorong Ekosistem"),
])
def test_strip_site(title: str, words: set[str], expected: str) -> None:
    assert strip_site(title, words) == expected


@pytest.mark.parametrize("url,kind", [
    ("https://intisari.grid.id/", "listing"),
    ("https://intisari.grid.id/tag/rusia", "listing"),
    ("https://intisari.grid.id/tentang-kami", "listing"),
    ("https://intisari.grid.id/internasional?page=3", "listing"),
    ("https://intisari.grid.id/read/033087521/rusia-marah-besar", "article"),
    ("https://www.theatlantic.com/ideas/archive/2023/12/dont-read-the-ruling/676920/", "article"),
    ("https://example.com/blog/brexit-deal", "unknown"),
])
def test_url_kind(url: str, kind: str) -> None:
    assert url_kind(url) == kind


def _page(inner: str) -> str:
    para = ("<p>Paragraf {} berisi kalimat yang cukup panjang tentang kejadian penting di kota "
            "itu dan tanggapan para pejabat setempat.</p>")
    paras = "".join(para.format(i) for i in range(6))
    return (f"<html lang='id'><head><title>Judul Berita - Contoh.com</title></head><body>"
            f"<h1>Judul Berita</h1><div class='content'>{paras}{inner}{paras}</div></body></html>")


@pytest.mark.parametrize("insert", [
    "<p>Baca juga: <a href='/read/1/satu'>Judul Satu</a></p>",
    "<p>Baca Juga :<a href='/read/1/satu'>Judul Satu</a></p>",
    "<p><strong>Lihat juga:</strong> <a href='/read/1/satu'>Judul Satu</a></p>",
    "<p>Simak juga: <a href='/read/1/satu'>Judul Satu</a></p>",
    "<div>Read also: <ul><li><a href='/read/1/satu'>Judul Satu</a></li></ul></div>",
    "<p>Baca Juga</p><div class='baca-juga'><ul><li><a href='/read/1/satu'>Judul Satu</a></li>"
    "<li><a href='/read/2/dua'>Judul Dua</a></li></ul></div>",
    "<h2>Jangan Lewatkan</h2><a href='/read/1/satu'>Judul Satu</a><br/>"
    "<a href='/read/2/dua'>Judul Dua</a><br/>",
])
def test_inline_inserts_are_removed_and_recorded(insert: str) -> None:
    a = extract_page(_page(insert), "https://contoh.com/read/999/judul-berita-yang-panjang")
    assert a.is_article
    assert "Judul Satu" not in a.body and "juga" not in a.body.lower()
    assert "Jangan Lewatkan" not in a.body
    assert a.related[0].url == "https://contoh.com/read/1/satu"
    assert a.related[0].title == "Judul Satu" and a.related[0].kind == "inline"
    assert a.body.count("Paragraf 0 berisi") == 2  # the paragraphs on both sides stay


def test_related_block_kind() -> None:
    block = ("<div class='related'><h3>Berita Terkait</h3><ul><li><a href='/read/5/lima'>Lima"
             "</a></li><li><a href='/read/6/enam'>Enam</a></li></ul></div>")
    a = extract_page(_page("") .replace("</div></body>", block + "</div></body>"),
                     "https://contoh.com/read/999/judul-berita-yang-panjang")
    assert [(r.title, r.kind) for r in a.related] == [("Lima", "block"), ("Enam", "block")]
    assert "Berita Terkait" not in a.body and "Lima" not in a.body


def test_paragraph_starting_with_baca_is_kept() -> None:
    text = ("Baca juga buku sejarah itu, kata sang guru kepada murid-muridnya yang sedang "
            "belajar di perpustakaan sekolah pada siang hari.")
    a = extract_page(_page(f"<p>{text}</p>"), "https://contoh.com/read/999/judul-berita-panjang")
    assert text in a.body


def test_metric_matches_its_definition() -> None:
    assert shingles("a b c") == {"a b c": 1}
    assert shingles("") == {}
    assert page_scores("a b c d e", "a b c d e") == (1.0, 0.0, 0.0)
    tp, fp, fn = page_scores("a b c d e", "a b c d x")  # shingles: abcd, bcde vs abcd, bcdx
    assert (tp, fp, fn) == (1 / 3, 1 / 3, 1 / 3)
    assert title_match("Merek China \u201cSerbu\u201d", 'merek  china "serbu"')
    assert author_f1("Budisantoso Budiman dan Agus S", ["Budisantoso Budiman", "Agus S"]) == 1.0
    assert author_f1("Nur Imansyah", []) == 0.0
