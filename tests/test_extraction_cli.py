"""`arsip extract FILE...` on saved pages."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from tests.conftest import run_cli
from tests.extraction_helpers import ARTICLE_URL, PAGES

KEYS = {"url", "canonical_url", "title", "authors", "published", "modified", "language",
        "description", "image", "section", "tags", "body", "related", "is_article"}


def test_one_file_gives_one_json_object() -> None:
    r = run_cli("extract", str(PAGES / "intisari_article_jsonld.html"))
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert set(obj) == KEYS
    assert obj["url"] == ARTICLE_URL  # no --url: the page's canonical URL
    assert obj["is_article"] is True
    assert obj["authors"] == ["Afif Khoirul M"]
    assert obj["published"] == "2022-01-08T10:15:00+07:00"
    assert {r["kind"] for r in obj["related"]} == {"inline", "block"}
    assert "Baca Juga" not in obj["body"]


def test_url_option_and_file_url_default(tmp_path: Path) -> None:
    page = tmp_path / "home.html"
    shutil.copy(PAGES / "home.html", page)
    r = run_cli("extract", str(page))
    obj = json.loads(r.stdout)
    assert obj["url"] == page.resolve().as_uri() and obj["is_article"] is False
    r = run_cli("extract", str(PAGES / "about.html"), "--url", "https://intisari.grid.id/tentang-kami")
    assert r.returncode == 0
    assert json.loads(r.stdout)["url"] == "https://intisari.grid.id/tentang-kami"


def test_several_files_json_lines_with_gzip_and_a_missing_one(tmp_path: Path) -> None:
    gz = tmp_path / "artikel.html.gz"
    gz.write_bytes(gzip.compress((PAGES / "intisari_article_plain.html").read_bytes()))
    broken = tmp_path / "broken.html.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    missing = tmp_path / "missing.html"
    files = [str(PAGES / "tag.html"), str(missing), str(gz), str(broken)]
    r = run_cli("extract", *files)
    assert r.returncode == 1  # some failed, but every file got its line
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["file"] for o in lines] == files
    assert lines[0]["is_article"] is False and set(lines[0]) == KEYS | {"file"}
    assert set(lines[1]) == {"file", "error"} and "missing.html" in lines[1]["error"]
    assert lines[2]["is_article"] is True and lines[2]["title"].startswith("Rusia Marah Besar")
    assert set(lines[3]) == {"file", "error"}
    assert "Traceback" not in r.stderr


def test_all_files_fine_exit_zero(tmp_path: Path) -> None:
    r = run_cli("extract", str(PAGES / "home.html"), str(PAGES / "section.html"))
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 2


def test_unreadable_file_is_an_error_object(tmp_path: Path) -> None:
    r = run_cli("extract", str(tmp_path))  # a directory cannot be read as a page
    assert r.returncode == 1
    assert "error" in json.loads(r.stdout)
