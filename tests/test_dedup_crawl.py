"""End to end: URL variants, copies, near-duplicates and versions through the real
`arsip crawl` CLI, against the sample site with its dedup fixtures (``SampleSite(dedup=True)``:
tracking-parameter links, AMP pages with rel=amphtml, a print view without a canonical tag,
a ``?page=all`` link, an old URL that redirects, and a second portal on the ``localhost``
host name that syndicates near-copies of some stories)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from arsip.sample_site.server import SiteServer
from arsip.sample_site.site import SampleSite
from storage.engine import make_engine
from storage.models import Article, ArticleURL, ArticleVersion
from tests.conftest import run_cli

SUMMARY_RE = re.compile(
    r"(\d+) pages, (\d+) new articles, (\d+) aliases, (\d+) near-duplicates, (\d+) versions")
ARTICLE_PATHS = ("/read/", "/news/", "/cetak/", "/berita/")


def summary(stdout: str) -> dict[str, int]:
    m = SUMMARY_RE.search(stdout)
    assert m, stdout
    keys = ("pages", "new", "aliases", "near_duplicates", "versions")
    return dict(zip(keys, map(int, m.groups()), strict=True))


def write_config(path: Path, port: int, **extra: Any) -> None:
    lines = [
        "[[sites]]",
        'name = "grup"',
        f'start_urls = ["http://127.0.0.1:{port}/", "http://localhost:{port}/"]',
        'allowed_domains = ["127.0.0.1", "localhost"]',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def crawl(name: str = "grup") -> dict[str, int]:
    res = run_cli("crawl", name, "--quiet", "--workers", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    print(res.stdout, res.stderr)
    return summary(res.stdout)


def archive(database_url: str) -> tuple[dict[int, Any], dict[str, tuple[int, str]]]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            arts = {a.id: a for a in session.execute(select(Article)).scalars()}
            for a in arts.values():
                session.expunge(a)
            urls = {u.url: (u.article_id, u.kind)
                    for u in session.execute(select(ArticleURL)).scalars()}
    finally:
        engine.dispose()
    return arts, urls


@pytest.fixture
def group_site():
    site = SampleSite(dedup=True)
    with SiteServer(site.render) as server:
        yield site, server


def test_each_story_once_with_its_aliases_and_duplicates(group_site, database_url, tmp_path):
    site, server = group_site
    write_config(tmp_path / "arsip.toml", server.port)
    orig = f"http://127.0.0.1:{server.port}"
    portal = f"http://localhost:{server.port}"

    first = crawl()
    arts, urls = archive(database_url)
    by_url = {a.canonical_url: a for a in arts.values()}

    def article_of(url: str) -> Any:
        assert url in urls, f"{url} is not a known URL"
        return arts[urls[url][0]]

    # every story of both sites once: the original site's stories, the portal's own story,
    # and its near-copies (stored, marked); the exact copy is only an alias
    story_urls = [f"{orig}{s.path}" for s in site.stories]
    assert len({article_of(u).id for u in story_urls}) == len(site.stories)
    portal_urls = {p.id: f"{portal}{p.path}" for p in site.portal}
    assert len(arts) == len(site.stories) + len(site.portal) - 1
    assert first["new"] + first["near_duplicates"] == len(arts)
    assert first["near_duplicates"] == 3 and first["aliases"] >= 2

    # tracking parameters: one article, no tracking parameter stored anywhere
    museum = article_of(f"{orig}{site.by_id['033200001'].path}")
    assert museum.canonical_url == f"{orig}{site.by_id['033200001'].path}"
    assert not [u for u in urls if "utm_" in u or "fbclid" in u]

    # AMP: the article under its own URL, the AMP URL (linked and rel=amphtml) an alias
    kapal = site.by_id["033200002"]
    assert by_url[f"{orig}{kapal.path}"].id == article_of(f"{orig}{kapal.path}/amp").id
    assert not any("amp=1" in u for u in urls)

    # print view without a canonical tag: the same text, so an alias ("copy")
    rempah = site.by_id["033200003"]
    assert article_of(f"{orig}/cetak/033200003").id == article_of(f"{orig}{rempah.path}").id
    assert urls[f"{orig}/cetak/033200003"][1] == "copy"

    # the old URL that redirects is an alias of the article it redirects to
    candi = site.by_id["033200004"]
    assert article_of(f"{orig}/berita/033200004").canonical_url == f"{orig}{candi.path}"

    # ?page=all: one article with every paragraph, the show-all URL an alias
    soviet = site.by_id["033100006"]
    merged = article_of(f"{orig}{soviet.path}?page=all")
    assert merged.canonical_url == f"{orig}{soviet.path}"
    assert all(p in merged.body for p in soviet.paragraphs)

    # the portal: near-copies point at the original (earliest published), with similarity
    seed = article_of(f"{orig}{site.by_id['033112345'].path}")
    copy = by_url[portal_urls["8801"]]
    assert copy.duplicate_of_id == seed.id and seed.duplicate_of_id is None
    assert copy.similarity >= 0.6
    # rel=canonical naming the original's URL from another host is not trusted
    kazakh = article_of(f"{orig}{site.by_id['033100003'].path}")
    assert by_url[portal_urls["8802"]].duplicate_of_id == kazakh.id
    # the exact copy is an alias of the original story
    assert article_of(portal_urls["8803"]).id == \
        article_of(f"{orig}{site.by_id['033100004'].path}").id
    assert urls[portal_urls["8803"]][1] == "copy" or \
        urls[f"{orig}{site.by_id['033100004'].path}"][1] == "copy"
    # published five hours before the original site's story: the portal's is the original
    oil = article_of(f"{orig}{site.by_id['033100009'].path}")
    assert oil.duplicate_of_id == by_url[portal_urls["8804"]].id
    assert by_url[portal_urls["8804"]].duplicate_of_id is None
    # a different story on the same topic is not a duplicate of anything
    assert by_url[portal_urls["8805"]].duplicate_of_id is None
    # groups never chain
    for a in arts.values():
        if a.duplicate_of_id is not None:
            assert arts[a.duplicate_of_id].duplicate_of_id is None

    # a second crawl adds nothing and fetches no known article again
    before = len(server.requests)
    second = crawl()
    assert second["new"] == second["near_duplicates"] == second["versions"] == 0
    assert second["aliases"] == 0
    again = [r.path for r in server.requests[before:]]
    assert "/" in again  # it did crawl
    assert not [p for p in again if p.startswith(ARTICLE_PATHS)], again
    arts2, urls2 = archive(database_url)
    assert set(arts2) == set(arts) and urls2 == urls


def test_first_crawl_fetches_each_article_url_once(group_site, database_url, tmp_path):
    site, server = group_site
    write_config(tmp_path / "arsip.toml", server.port)
    crawl()
    fetched = [(r.host, r.path) for r in server.requests if r.path.startswith(ARTICLE_PATHS)]
    assert len(fetched) == len(set(fetched)), sorted(fetched)
    # tracking parameters and AMP variants are canonicalised before the request
    assert not [p for _, p in fetched if "utm_" in p or p.endswith("/amp") or "amp=" in p]


def test_recheck_keeps_the_old_text_as_a_version(database_url, tmp_path):
    site = SampleSite()
    story = site.by_id["033100002"]
    old_body = list(story.paragraphs)
    with SiteServer(site.render) as server:
        config = tmp_path / "arsip.toml"
        (config).write_text(
            f'[[sites]]\nname = "intisari"\nstart_urls = ["{server.url}/"]\n'
            "recheck_days = 100000\nrecheck_hours = 0\n", encoding="utf-8")
        first = crawl("intisari")
        assert first["versions"] == 0
        story.paragraphs.append("Pembaruan: Kremlin kemudian merilis video latihan tersebut.")
        before = len(server.requests)
        second = crawl("intisari")
        refetched = [r.path for r in server.requests[before:]]
        assert story.path in refetched  # due for a re-check: fetched again
    assert second["versions"] == 1 and second["new"] == 0
    arts, urls = archive(database_url)
    art = arts[urls[f"{server.url}{story.path}"][0]]
    assert "Kremlin kemudian merilis video" in art.body
    engine = make_engine(database_url)
    with Session(engine) as session:
        versions = session.execute(select(ArticleVersion)).scalars().all()
    engine.dispose()
    assert len(versions) == 1
    v = versions[0]
    assert v.article_id == art.id and v.version == 1
    assert v.body == "\n\n".join(old_body)
    assert v.first_seen <= v.last_seen <= art.last_seen


def test_recheck_of_an_unchanged_article_is_a_conditional_request_answered_304(
        database_url, tmp_path):
    """A due re-check sends the ETag the article was archived with; a server that answers
    304 Not Modified gets no new version, nothing re-stored, only a later check time."""
    from storage.models import CrawlRun

    site = SampleSite()
    paths = {s.path for s in site.stories}
    with SiteServer(site.render, etags=True) as server:
        (tmp_path / "arsip.toml").write_text(
            f'[[sites]]\nname = "intisari"\nstart_urls = ["{server.url}/"]\n'
            "recheck_days = 100000\nrecheck_hours = 0\n", encoding="utf-8")
        first = crawl("intisari")
        before_arts, _ = archive(database_url)
        assert first["new"] == len(before_arts) > 5 and server.not_modified == 0
        before = len(server.requests)
        second = crawl("intisari")
        rechecks = [r for r in server.requests[before:] if r.path in paths]
        answered_304 = server.not_modified
    # every article met again was asked for conditionally, with a tag the server had sent
    assert rechecks and all(r.headers.get("If-None-Match", "").startswith('"')
                            for r in rechecks), [(r.path, r.headers) for r in rechecks]
    assert answered_304 >= len(before_arts) // 2
    assert second["new"] == 0 and second["versions"] == 0
    engine = make_engine(database_url)
    with Session(engine) as session:
        runs = session.execute(select(CrawlRun).order_by(CrawlRun.id)).scalars().all()
        stats = [dict(r.stats) for r in runs]
    engine.dispose()
    assert stats[-1]["not_modified"] == answered_304
    after_arts, _ = archive(database_url)
    assert set(after_arts) == set(before_arts)
    checked_again = [i for i, a in after_arts.items()
                     if a.last_checked > before_arts[i].last_checked]
    assert len(checked_again) >= answered_304
    for i, art in after_arts.items():
        assert art.body == before_arts[i].body and art.content_hash == before_arts[i].content_hash
