"""`arsip show` and `arsip related`: lookups by id or any alias, duplicates, related links
(archived or not), versions with diffs, the related graph with cycles; SQLite and PostgreSQL.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from storage.article_pages import article_page, raw_pages_of, related_in, version_texts
from storage.errors import NotFound
from storage.models import ArticleURL, RawPage
from storage.queries import related_graph, resolve_article, show_article
from tests.archive_factory import ArchiveFactory, filler
from tests.sql_capture import statements


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


@pytest.fixture
def archive(engine: Any) -> dict[str, Any]:
    """A small graph: a -> b -> c -> a (a cycle), a -> missing, b -> d; e duplicates a."""
    with Session(engine) as s:
        f = ArchiveFactory(s)
        a = f.article(title="Rusia kirim pasukan", body="Pasukan Rusia tiba.\n\n" + filler(40),
                      url="https://intisari.example/read/1/rusia-kirim-pasukan",
                      aliases=("https://intisari.example/amp/read/1/rusia-kirim-pasukan",
                               "https://intisari.example/read/1/rusia-kirim-pasukan?page=all"),
                      published_local="2022-01-08T10:15:00+07:00",
                      published=datetime(2022, 1, 8, 3, 15, tzinfo=UTC),
                      authors=["Afif Khoirul M"], tags=["Rusia", "Kazakhstan"])
        b = f.article(title="Kazakhstan minta bantuan", body=filler(40, 1))
        c = f.article(title="Blinken berkomentar", body=filler(40, 2))
        d = f.article(title="Uni Soviet runtuh", body=filler(40, 3))
        e = f.article(title="Rusia kirim pasukan (salinan)", body=filler(41), duplicate_of=a,
                      site="grup")
        missing = "https://intisari.example/read/99/belum-diarsipkan"
        f.link(a, b.canonical_url, kind="inline", anchor="Kazakhstan minta bantuan",
               position=0)
        f.link(a, missing, kind="block", anchor="Belum diarsipkan", position=1)
        # linked through an alias of c, not its canonical URL
        s.add(ArticleURL(url="https://intisari.example/amp/read/3", article_id=c.id,
                         kind="amp"))
        f.link(b, "https://intisari.example/amp/read/3", kind="inline", anchor="Blinken")
        f.link(b, d.canonical_url, kind="block", position=1)
        f.link(c, a.canonical_url, kind="inline")  # back to the root: a cycle
        f.version(a, title="Rusia kirim tentara", body="Tentara Rusia tiba.\n\n" + filler(40),
                  version=1, first_seen=datetime(2022, 1, 8, tzinfo=UTC),
                  last_seen=datetime(2022, 1, 9, tzinfo=UTC))
        s.commit()
        return {"a": a.id, "b": b.id, "c": c.id, "d": d.id, "e": e.id, "missing": missing,
                "a_url": a.canonical_url,
                "a_amp": "https://intisari.example/amp/read/1/rusia-kirim-pasukan"}


def test_show_by_id_and_by_any_alias(engine: Any, archive: dict[str, Any]) -> None:
    with Session(engine) as s:
        by_id = show_article(s, archive["a"])
        assert resolve_article(s, archive["a_amp"]).id == archive["a"]
        assert resolve_article(s, str(archive["a"])).id == archive["a"]
        assert resolve_article(s, archive["a_url"] + "/").id == archive["a"]
        with pytest.raises(NotFound):
            resolve_article(s, 999999)
        with pytest.raises(NotFound):
            resolve_article(s, "https://nowhere.example/x")
    assert by_id.published == "2022-01-08T10:15:00+07:00"  # the page's own offset
    assert {a["url"] for a in by_id.aliases} == {
        archive["a_url"], archive["a_amp"], archive["a_url"] + "?page=all"}
    assert [d["id"] for d in by_id.duplicates] == [archive["e"]]
    assert by_id.duplicate_of is None
    related = {r.url: r for r in by_id.related}
    assert related[archive["missing"]].archived is False
    b_link = next(r for r in by_id.related if r.archived)
    assert b_link.id == archive["b"] and b_link.title == "Kazakhstan minta bantuan"
    assert by_id.version_count == 1


def test_show_duplicate_points_to_original(engine: Any, archive: dict[str, Any]) -> None:
    with Session(engine) as s:
        view = show_article(s, archive["e"])
    assert view.duplicate_of is not None and view.duplicate_of["id"] == archive["a"]
    assert view.site == "grup"


def test_show_versions_with_diff(engine: Any, archive: dict[str, Any]) -> None:
    with Session(engine) as s:
        view = show_article(s, archive["a"], versions=True)
    assert [v.version for v in view.versions] == [1]
    diff = view.versions[0].diff or ""
    assert "-Rusia kirim tentara" in diff and "+Rusia kirim pasukan" in diff
    assert "-Tentara Rusia tiba." in diff and "+Pasukan Rusia tiba." in diff


def test_related_graph_marks_missing_and_stops_at_cycles(engine: Any,
                                                         archive: dict[str, Any]) -> None:
    with Session(engine) as s:
        root = related_graph(s, archive["a"], depth=10)
        shallow = related_graph(s, archive["a"], depth=1)
    assert root.id == archive["a"]
    assert [(c.id, c.archived) for c in root.children] == [(archive["b"], True), (None, False)]
    assert root.children[1].url == archive["missing"]
    b = root.children[0]
    assert [c.id for c in b.children] == [archive["c"], archive["d"]]
    c = b.children[0]
    assert c.url.endswith("artikel-3")  # the canonical URL, though linked by an alias
    back = c.children[0]
    assert back.id == archive["a"] and back.repeated and back.children == []
    assert [n.children for n in shallow.children] == [[], []]


def test_article_page_reads_each_thing_once(engine: Any, archive: dict[str, Any]) -> None:
    """The web view's article page: the same view, graph, raw pages, versions and incoming
    links as the functions it stands for, in four statements (five with versions) instead of
    their fifteen (the view's links were read again as the graph's first level, the article
    again for the graph, the raw pages twice; the small lists each on its own)."""
    with Session(engine) as s, s.begin():  # a second raw page, fetched before the first
        s.add(RawPage(article_id=archive["b"], url="https://intisari.example/b?page=2",
                      fetched_at=datetime(2021, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
                      status=404, headers={"X-Cache": ["MISS", "HIT"]},
                      body_gz=gzip.compress(b"<html></html>"), raw_size=13,
                      content_hash="0" * 64))
    for key, with_versions in (("b", False), ("a", True)):
        article_id = archive[key]
        with Session(engine) as s:
            want = (show_article(s, article_id).as_dict(),
                    related_graph(s, article_id, depth=2).as_dict(),
                    raw_pages_of(s, article_id), related_in(s, article_id),
                    version_texts(s, article_id) if with_versions else {})
        with statements(engine, lambda sql: sql.lstrip().upper().startswith("SELECT")) \
                as seen, Session(engine) as s:
            got = article_page(s, article_id, depth=2)
        assert (got.view.as_dict(), got.graph.as_dict(), got.raw, got.related_in,
                got.texts) == want
        assert got.graph.children and got.view.related
        assert len(got.raw) == (2 if key == "b" else 1) and got.view.aliases
        assert len(seen) == (5 if with_versions else 4), [sql for sql, _ in seen]
    with Session(engine) as s, pytest.raises(NotFound):
        article_page(s, 999999)


def test_cli_show_text_json_and_errors(cli: Any, archive: dict[str, Any]) -> None:
    result = cli("show", archive["a_amp"])
    assert result.returncode == 0, result.stderr
    assert "Rusia kirim pasukan" in result.stdout
    assert "2022-01-08T10:15:00+07:00" in result.stdout
    assert "[not archived]" in result.stdout and archive["missing"] in result.stdout
    assert f"[{archive['e']}]" in result.stdout  # its near-duplicate
    result = cli("show", str(archive["a"]), "--format", "json", "--versions")
    data = json.loads(result.stdout)
    assert data["id"] == archive["a"]
    assert {r["url"]: r["archived"] for r in data["related"]}[archive["missing"]] is False
    assert data["versions"][0]["version"] == 1 and "+Pasukan Rusia tiba." in \
        data["versions"][0]["diff"]
    for ref in ("424242", "https://nowhere.example/x"):
        result = cli("show", ref)
        assert result.returncode == 1
        assert result.stderr.startswith("arsip: error: no article")
        assert len(result.stderr.strip().splitlines()) == 1


def test_cli_related_tree_and_json(cli: Any, archive: dict[str, Any]) -> None:
    result = cli("related", str(archive["a"]), "--depth", "5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"[{archive['a']}] Rusia kirim pasukan")
    assert any(line.startswith("  - (inline) [") and "Kazakhstan minta bantuan" in line
               for line in lines)
    assert any("[not archived]" in line and archive["missing"] in line for line in lines)
    assert any(line.startswith("      - (inline) [") and "(shown above)" in line
               for line in lines)
    data = json.loads(cli("related", archive["a_url"], "--format", "json").stdout)
    assert data["children"][0]["id"] == archive["b"]
    assert data["children"][1]["archived"] is False
    result = cli("related", "1", "--depth", "-1")
    assert result.returncode == 2


def test_show_and_related_on_the_fixture_site(cli: Any, database_url: str) -> None:
    """Crawl the sample site, then follow the seed article's Baca Juga links."""
    from arsip.sample_site.server import SiteServer

    with SiteServer() as site:
        crawl = cli("crawl", site.url + "/", "--quiet", "--workers", "1")
    if crawl.returncode != 0:
        pytest.fail(crawl.stdout + crawl.stderr)
    exported = [json.loads(line) for line in cli("export").stdout.splitlines()]
    seed = next(a for a in exported if a["title"].startswith("Rusia Marah Besar"))
    view = json.loads(cli("show", seed["url"], "--format", "json").stdout)
    assert view["id"] == seed["id"]
    assert view["related"], "the seed article has Baca Juga links"
    assert any(r["archived"] for r in view["related"])
    tree = json.loads(cli("related", str(seed["id"]), "--format", "json").stdout)
    titles = {c["title"] for c in tree["children"] if c["archived"]}
    assert titles and all(titles)
    assert len(tree["children"]) == len(view["related"])
    assert [c["archived"] for c in tree["children"]] == [r["archived"] for r in view["related"]]
