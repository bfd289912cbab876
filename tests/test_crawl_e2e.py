"""End to end: the real `arsip crawl` CLI against the sample news site on 127.0.0.1, checked
through what `arsip export` prints and the site's request log."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from arsip.sample_site.content import stories
from arsip.sample_site.server import SiteServer
from tests.conftest import run_cli

SEED_ID = "033112345"
ROSWELL_ID = "033100008"  # reachable only through a Baca Juga line of a Baca Juga article


@pytest.fixture
def site():
    with SiteServer() as server:
        yield server


def export(database_url: str) -> list[dict]:
    res = run_cli("export", "--format", "jsonl", env={"ARSIP_DATABASE_URL": database_url})
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def by_story(articles: list[dict]) -> dict[str, dict]:
    out = {}
    for art in articles:
        for story in stories():
            if f"/read/{story.id}/" in art["url"]:
                assert story.id not in out, f"story {story.id} archived twice"
                out[story.id] = art
    return out


def crawl(site_url: str, *args: str):
    res = run_cli("crawl", site_url + "/", "--quiet", "--workers", "1", *args)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def test_crawl_archives_every_story_once_with_clean_bodies(site, database_url, seed_text):
    res = crawl(site.url)
    assert "new articles" in res.stdout  # the summary line
    articles = export(database_url)
    found = by_story(articles)
    assert set(found) == {s.id for s in stories()}
    assert len(articles) == len(stories())  # no home, section, tag or about page

    seed = found[SEED_ID]
    assert seed["title"].startswith("Rusia Marah Besar Sampai Ungkit Intervensi AS di Irak")
    assert seed["authors"] == ["Afif Khoirul M"]
    assert seed["published"].startswith("2022-01-08T10:15:00+07:00")
    assert seed["language"] == "id"
    body = seed["body"]
    paragraphs = [p.strip() for p in seed_text.split("\n\n")[4:]
                  if p.strip() and not p.startswith("Baca Juga") and p.strip() != "Artikel Terkait"]
    for para in paragraphs:
        assert para in body, f"paragraph missing from body: {para[:60]}"
    for noise in ("Baca Juga", "Artikel Terkait", "Penulis", "Bagikan", "WhatsApp"):
        assert noise not in body
    # paragraphs separated by a blank line
    assert "\n\nHal ini membuat Kazakhstan meminta bantuan" in body

    # related links: the five inline Baca Juga targets and the Artikel Terkait block
    seed_story = next(s for s in stories() if s.id == SEED_ID)
    wanted = {rid for ids in seed_story.inline.values() for rid in ids} | set(seed_story.block)
    related_ids = {s.id for s in stories() for url in seed["related"] if f"/read/{s.id}/" in url}
    assert related_ids == wanted

    # the raw page as served (compressed by the extraction worker), byte for byte
    import urllib.request

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from storage.engine import normalise_url
    from storage.models import RawPage
    from storage.raw_store import read_raw

    engine = create_engine(normalise_url(database_url))
    with Session(engine) as session:
        page = session.execute(select(RawPage)
                               .where(RawPage.url.contains(f"/read/{SEED_ID}/"))).scalar_one()
        url, stored = page.url, read_raw(session, page)
    engine.dispose()
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the local site
        assert stored == resp.read()


def test_multi_page_articles_are_merged(site, database_url):
    crawl(site.url)
    found = by_story(export(database_url))
    for story in stories():
        if story.pages > 1:
            body = found[story.id]["body"]
            for para in story.paragraphs:
                assert para in body, (story.id, para[:50])
            assert "Lihat Semua" not in body and "Selanjutnya" not in body


def crawl_from_seed(site, database_url, related_depth: int, workers: int = 0) -> set[str]:
    """Crawl from the seed article's URL; the story ids archived."""
    seed = next(s for s in stories() if s.id == SEED_ID)
    res = run_cli("crawl", site.url + seed.path, "--quiet", "--workers", str(workers),
                  "--related-depth", str(related_depth))
    assert res.returncode == 0, res.stderr
    return set(by_story(export(database_url)))


def test_depth_two_related_article_is_reached(site, database_url):
    # start from the seed article alone: Roswell is two Baca Juga hops away
    ids = crawl_from_seed(site, database_url, related_depth=2)
    assert ROSWELL_ID in ids and "033100001" in ids and SEED_ID in ids


def test_related_depth_zero_follows_no_related_link(site, database_url):
    ids = crawl_from_seed(site, database_url, related_depth=0)
    # story 1 comes from the site's sitemap (found through robots.txt); Roswell is linked
    # from story 1's related block alone
    assert "033100001" in ids and ROSWELL_ID not in ids


def test_related_hops_count_from_the_nearest_listing_or_sitemap(site, database_url):
    # story 1 is both in the seed's related block (1 hop) and in the sitemap (0 hops):
    # Roswell, 1 hop from story 1, is archived whichever way reaches story 1 first (it
    # used to depend on that order, tests/test_spider_hops.py)
    ids = crawl_from_seed(site, database_url, related_depth=1, workers=1)
    assert "033100001" in ids and ROSWELL_ID in ids


def test_robots_obeyed_and_user_agent_names_arsip(site, database_url):
    crawl(site.url)
    paths = site.paths()
    assert "/robots.txt" in paths
    assert not any(p.startswith("/private/") for p in paths)
    agents = {r.user_agent for r in site.requests}
    assert agents and all("arsip" in a for a in agents)


def test_second_crawl_fetches_no_known_article(site, database_url):
    crawl(site.url)
    first = len(export(database_url))
    before = len(site.requests)
    res = crawl(site.url)
    assert "0 new articles" in res.stdout
    again = [r.path for r in site.requests[before:]]
    story_paths = {s.path for s in stories()}
    refetched = [p for p in again if p.split("?")[0] in story_paths]
    assert refetched == []
    assert len(export(database_url)) == first


def test_sitemap_and_feed_discovery(site, database_url, tmp_path: Path):
    config = tmp_path / "arsip.toml"
    config.write_text(
        f"""
[[sites]]
name = "bysitemap"
sitemap_urls = ["{site.url}/sitemap.xml"]
allowed_domains = ["127.0.0.1"]
related_depth = 0

[[sites]]
name = "byfeed"
feed_urls = ["{site.url}/feed"]
allowed_domains = ["127.0.0.1"]
related_depth = 0
""",
        encoding="utf-8",
    )
    res = run_cli("crawl", "bysitemap", "--quiet", env={"ARSIP_CONFIG": str(config)})
    assert res.returncode == 0, res.stderr
    listed = {s.id for s in stories() if s.listed}
    assert set(by_story(export(database_url))) == listed
    res = run_cli("crawl", "byfeed", "--quiet", env={"ARSIP_CONFIG": str(config)})
    assert res.returncode == 0, res.stderr
    # the feed names the same stories: nothing new, nothing archived twice
    assert set(by_story(export(database_url))) == listed


def test_max_pages_stops_the_crawl(site, database_url):
    crawl(site.url, "--max-pages", "3")
    fetched = [p for p in site.paths() if p != "/robots.txt"]
    assert len(fetched) <= 3 + 2  # a merged multi-page article may add its parts


def test_bad_targets_are_one_line_usage_errors(database_url):
    for target in ("ftp://example.com/", "nosuchsite", "http://"):
        res = run_cli("crawl", target)
        assert res.returncode == 2, (target, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("arsip: error:"), res.stderr
        assert "Traceback" not in res.stderr


def test_unreachable_database_is_a_one_line_failure(site, tmp_path: Path):
    bad = f"sqlite:///{tmp_path}/no/such/folder/arsip.db"
    res = run_cli("crawl", site.url + "/", env={"ARSIP_DATABASE_URL": bad})
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert site.requests == []  # it did not crawl without an archive to write to


def test_dead_server_finishes_with_failures_recorded(database_url):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nothing listens on that port now
    res = run_cli("crawl", f"http://127.0.0.1:{port}/", "--quiet", "--workers", "0")
    assert res.returncode == 0, res.stderr
    assert "1 failed" in res.stdout or "failed:" in res.stdout
    runs = run_cli("runs", "--format", "json")
    if runs.returncode == 0 and runs.stdout.strip().startswith("["):
        data = json.loads(runs.stdout)
        assert data[0]["status"] == "finished"
        assert data[0]["stats"]["failures"]
