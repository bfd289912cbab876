"""`arsip export`: JSONL and CSV records read back, WARC read back with warcio (and checked
by its `warcio check`), filters, duplicates, --output written atomically."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.export import EXPORT_COLUMNS, header_pairs, iter_articles
from storage.filters import ArticleFilter
from storage.models import RawPage
from tests.archive_factory import ArchiveFactory, filler


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


@pytest.fixture
def archive(engine: Any) -> dict[str, Any]:
    with Session(engine) as s:
        f = ArchiveFactory(s)
        a = f.article(title="Kazakhstan minta bantuan", body="Pasukan Rusia tiba.\n\n"
                      + filler(50), site="intisari",
                      url="https://intisari.example/read/1/kazakhstan",
                      aliases=("https://intisari.example/amp/read/1/kazakhstan",),
                      published=datetime(2022, 1, 8, 3, 15, tzinfo=UTC),
                      published_local="2022-01-08T10:15:00+07:00",
                      authors=["Afif Khoirul M"], tags=["Rusia"],
                      raw_html="<html><body>Kazakhstan “ü” bytes</body></html>".encode(),
                      headers={"Content-Type": "text/html; charset=utf-8",
                               "Content-Encoding": "br", "Transfer-Encoding": "chunked",
                               "Content-Length": "7", "Set-Cookie": ["a=1", "b=2"]},
                      fetched_at=datetime(2022, 1, 9, 1, 2, 3, tzinfo=UTC))
        b = f.article(title="Kabar tempo", body=filler(40, 1), site="tempo",
                      published=datetime(2023, 5, 1, tzinfo=UTC))
        dup = f.article(title="Salinan", body=filler(51), site="grup", duplicate_of=a,
                        published=datetime(2023, 6, 1, tzinfo=UTC))
        f.link(a, b.canonical_url, kind="inline", anchor="Kabar tempo")
        f.link(a, "https://intisari.example/read/99/missing", kind="block", position=1)
        f.version(a, title="lama", body="teks lama", version=1,
                  first_seen=datetime(2022, 1, 8, tzinfo=UTC),
                  last_seen=datetime(2022, 1, 9, tzinfo=UTC))
        s.commit()
        pages = {p.url: (p.body_gz, p.fetched_at) for p in s.execute(select(RawPage)).scalars()}
        return {"a": a.id, "b": b.id, "dup": dup.id, "a_url": a.canonical_url,
                "b_url": b.canonical_url, "pages": pages}


def jsonl(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_jsonl_records(cli: Any, archive: dict[str, Any]) -> None:
    result = cli("export")  # jsonl is the default
    assert result.returncode == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["id"] for r in records] == [archive["a"], archive["b"]]  # duplicate hidden
    a = records[0]
    assert set(EXPORT_COLUMNS) <= set(a)
    assert a["url"] == archive["a_url"]
    assert set(a["urls"]) == {archive["a_url"], "https://intisari.example/amp/read/1/kazakhstan"}
    assert a["site"] == "intisari" and a["authors"] == ["Afif Khoirul M"]
    assert a["published"] == "2022-01-08T10:15:00+07:00"
    assert a["related"] == [archive["b_url"], "https://intisari.example/read/99/missing"]
    assert a["duplicate_of"] is None
    assert a["versions"] == [{"version": 1, "first_seen": "2022-01-08T00:00:00+00:00",
                              "last_seen": "2022-01-09T00:00:00+00:00"}]
    assert a["body"].startswith("Pasukan Rusia tiba.")
    everything = jsonl(cli("export", "--include-duplicates").stdout)
    dup = next(r for r in everything if r["id"] == archive["dup"])
    assert dup["duplicate_of"] == archive["a_url"]


def test_filters(cli: Any, archive: dict[str, Any]) -> None:
    assert [r["id"] for r in jsonl(cli("export", "--site", "tempo").stdout)] == [archive["b"]]
    assert [r["id"] for r in jsonl(cli("export", "--since", "2023-01-01").stdout)] \
        == [archive["b"]]
    assert [r["id"] for r in jsonl(cli("export", "--since", "2023-01-01",
                                       "--include-duplicates").stdout)] \
        == [archive["b"], archive["dup"]]
    bad = cli("export", "--since", "soon")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    unknown = cli("export", "--site", "nowhere")
    assert unknown.returncode == 1 and "no site named" in unknown.stderr


def test_csv_reads_back(cli: Any, archive: dict[str, Any]) -> None:
    result = cli("export", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == EXPORT_COLUMNS
    assert [int(r["id"]) for r in rows] == [archive["a"], archive["b"]]
    assert json.loads(rows[0]["authors"]) == ["Afif Khoirul M"]
    assert json.loads(rows[0]["related"])[0] == archive["b_url"]
    assert rows[0]["body"].startswith("Pasukan Rusia tiba.\n\n")  # newlines survive
    assert rows[1]["duplicate_of"] == ""


def read_warc(data: bytes) -> list[Any]:
    from warcio.archiveiterator import ArchiveIterator

    records = []
    for record in ArchiveIterator(io.BytesIO(data)):
        body = record.content_stream().read()
        records.append((record.rec_type, record.rec_headers, record.http_headers, body))
    return records


def test_warc_to_file_reads_back(cli: Any, archive: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "arsip.warc.gz"
    result = cli("export", "--format", "warc", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    data = out.read_bytes()
    assert data[:2] == b"\x1f\x8b"  # gzip
    records = read_warc(data)
    assert records[0][0] == "warcinfo"
    responses = [r for r in records if r[0] == "response"]
    assert len(responses) == 2  # the duplicate's page is left out
    for _, warc_headers, http_headers, body in responses:
        url = warc_headers.get_header("WARC-Target-URI")
        body_gz, fetched = archive["pages"][url]
        assert body == gzip.decompress(body_gz)
        assert warc_headers.get_header("WARC-Date") == fetched.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert http_headers.get_statuscode() == "200"
        assert http_headers.get_header("Content-Length") == str(len(body))
        assert http_headers.get_header("Content-Encoding") is None
        assert http_headers.get_header("Transfer-Encoding") is None
    first = next(r for r in responses
                 if r[1].get_header("WARC-Target-URI").endswith("amp/read/1/kazakhstan"))
    assert first[1].get_header("WARC-Date") == "2022-01-09T01:02:03Z"
    assert [v for k, v in first[2].headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    # warcio's own checker (payload and block digests)
    check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(tmp_path.glob(".arsip.warc.gz.*"))  # no temp file left behind


def test_warc_to_stdout(archive: dict[str, Any], database_url: str) -> None:
    result = subprocess.run([sys.executable, "-m", "arsip", "export", "--format", "warc",
                             "--include-duplicates"], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert len([r for r in read_warc(result.stdout) if r[0] == "response"]) == 3


def test_output_file_is_atomic(cli: Any, archive: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "articles.jsonl"
    out.write_text("old content\n")
    result = cli("export", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in jsonl(out.read_text())] == [archive["a"], archive["b"]]
    # a failing export leaves the previous file alone
    failed = cli("export", "--output", str(out), "--site", "nowhere")
    assert failed.returncode == 1
    assert [r["id"] for r in jsonl(out.read_text())] == [archive["a"], archive["b"]]
    missing = cli("export", "--output", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert missing.returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_iter_articles_pages_through_the_archive(engine: Any) -> None:
    with Session(engine) as s:
        f = ArchiveFactory(s)
        made = [f.article(title=f"T{i}", body=filler(10, i)).id for i in range(23)]
        s.commit()
        got = [r["id"] for r in iter_articles(s, ArticleFilter(), page=5)]
    assert got == made


def test_header_pairs_shapes() -> None:
    assert header_pairs({"A": "1", "B": ["2", "3"]}) == [("A", "1"), ("B", "2"), ("B", "3")]
    assert header_pairs([["A", "1"], ("B", b"2")]) == [("A", "1"), ("B", "2")]
    assert header_pairs({"A": "x\r\n y"}) == [("A", "x y")]  # no header injection
    assert header_pairs(None) == []


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002], ids=oct)
def test_output_file_gets_the_umask_mode_or_keeps_the_replaced_files(
        archive: dict[str, Any], tmp_path: Path, umask: int) -> None:
    """--output writes through a 0600 temp file: a new file still gets ``0666 & ~umask``
    (what any new file gets), and a file it replaces keeps its own mode."""
    def export(out: Path, fmt: str = "jsonl") -> None:
        result = subprocess.run(
            [sys.executable, "-m", "arsip", "export", "--format", fmt, "--output", str(out)],
            capture_output=True, text=True, umask=umask)
        assert result.returncode == 0, result.stderr

    new, new_warc = tmp_path / "new.jsonl", tmp_path / "new.warc.gz"
    export(new)
    export(new_warc, "warc")
    assert jsonl(new.read_text())  # the export itself is there
    for path in (new, new_warc):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, oct(path.stat().st_mode)
    kept = tmp_path / "kept.jsonl"
    kept.write_text("old\n")
    kept.chmod(0o640)
    export(kept)
    assert kept.stat().st_mode & 0o777 == 0o640
    assert jsonl(kept.read_text())
