"""An archived article that is not fetched again still continues the related-hop count: its
stored related links (``article_links``) are followed as its page's would be, within
``related_depth``, counted from the nearest listing, sitemap or feed, transitively through
other archived articles (``NewsSpider._known_links``, ``storage.link_graph``).

The spider is driven directly with a stand-in for the archive's answers (what ``KnownUrls``
gives); the storage query against a real archive (SQLite or PostgreSQL) at the end.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from sqlalchemy.orm import Session

from crawler.known import Known, KnownUrls
from crawler.options import from_url
from crawler.spiders.news import NewsSpider
from storage.archive import ArchivedPage, LinkRecord, store_page
from storage.link_graph import outgoing_links
from storage.runs import ensure_site
from tests.spider_helpers import parse

SITE = "http://127.0.0.1:9"
A = SITE + "/read/1/satu"  # archived
B = SITE + "/read/2/dua"  # archived
NEW = SITE + "/read/3/tiga"  # not archived
FAR = SITE + "/read/4/empat"  # not archived


class Archive:
    """What the archive answers: URL -> (article id, stored related links)."""

    def __init__(self, articles: dict[str, tuple[int, list[str]]], due: bool = False) -> None:
        self.articles = articles
        self.due = due
        self.link_queries: list[list[int]] = []

    def lookup(self, url: str) -> Known | None:
        hit = self.articles.get(url)
        return None if hit is None else Known(hit[0], self.due, '"v1"' if self.due else None,
                                              None)

    def links(self, article_ids: list[int]) -> dict[int, list[str]]:
        self.link_queries.append(list(article_ids))
        by_id = {i: links for i, links in self.articles.values()}
        return {i: list(by_id.get(i, [])) for i in article_ids}


def spider(archive: Archive, related_depth: int = 2) -> NewsSpider:
    options = from_url(SITE + "/").with_overrides(related_depth=related_depth)
    s: NewsSpider = NewsSpider.from_crawler(get_crawler(NewsSpider, {}), options=options)
    s._known = archive
    return s


def hops(requests: list[Request]) -> dict[str, int]:
    return {r.url: r.meta["arsip"]["hop"] for r in requests}


def test_an_archived_article_on_a_listing_gives_its_stored_links_one_hop_on() -> None:
    archive = Archive({A: (1, [NEW])})
    s = spider(archive)
    out = list(s._follow_all([A], kind="candidate", depth=1))
    assert hops(out) == {NEW: 1}  # A itself is not fetched again
    assert out[0].meta["arsip"]["kind"] == "related" and out[0].meta["arsip"]["depth"] == 1
    assert archive.link_queries == [[1]]
    assert list(s._follow_all([A], kind="candidate", depth=1)) == []  # once


def test_stored_links_are_followed_through_archived_articles_to_related_depth() -> None:
    # A (listing, 0 hops) -> B (archived, 1 hop) -> NEW (2 hops) -> FAR (3 hops: cut)
    archive = Archive({A: (1, [B]), B: (2, [NEW])})
    s = spider(archive, related_depth=2)
    out = list(s._follow_all([A], kind="candidate", depth=1))
    assert hops(out) == {NEW: 2}
    # with one hop fewer allowed, B's stored links are cut, and never read
    archive = Archive({A: (1, [B]), B: (2, [NEW])})
    assert list(spider(archive, related_depth=1)._follow_all([A], kind="candidate",
                                                            depth=1)) == []
    assert archive.link_queries == [[1]]


def test_an_archived_article_met_first_at_the_limit_gives_its_links_once_met_nearer() -> None:
    archive = Archive({B: (2, [NEW])})
    s = spider(archive, related_depth=2)
    assert list(s._follow_all([B], kind="related", depth=1, hop=2)) == []
    assert archive.link_queries == []  # cut at the limit: nothing asked yet
    later = list(s._follow_all([B], kind="related", depth=1, hop=1))  # a shorter way
    assert hops(later) == {NEW: 2}
    assert list(s._follow_all([B], kind="candidate", depth=1)) == []  # NEW is requested
    assert archive.link_queries == [[2]]


def test_a_story_met_nearer_through_an_archived_article_is_counted_that_way() -> None:
    # NEW is fetched first at the limit (2 hops); then the archive's A, on a listing, links
    # it at 1 hop: NEW's own related links are followed when its page comes
    archive = Archive({A: (1, [NEW])})
    s = spider(archive, related_depth=2)
    req = s._follow(NEW, kind="related", depth=1, hop=2)
    assert req is not None
    assert list(s._follow_all([A], kind="candidate", depth=1)) == []  # NEW: in flight
    from crawler.extraction.article import ExtractedArticle, RelatedLink

    article = ExtractedArticle(url=NEW, is_article=True, title="Tiga", body="Isi. " * 80,
                               related=[RelatedLink(url=FAR, title="Empat", kind="block")])
    response = HtmlResponse(NEW, body=b"<html></html>", request=req)
    out = [o for o in s._emit(article, None, response, req.meta["arsip"], aliases=[])
           if isinstance(o, Request)]
    assert hops(out) == {FAR: 2}


def not_modified(s: NewsSpider, req: Request) -> list[Request]:
    """What ``parse_page`` yields (requests) for a 304 answer to ``req``."""
    import asyncio

    response = HtmlResponse(req.url, status=304, body=b"", request=req)

    async def run() -> list[object]:
        return [o async for o in s.parse_page(response)]

    return [o for o in asyncio.run(run()) if isinstance(o, Request)]


def test_an_unchanged_article_answered_304_continues_with_its_stored_links() -> None:
    archive = Archive({A: (1, [NEW])}, due=True)
    s = spider(archive)
    req = s._follow(A, kind="candidate", depth=1)
    assert req is not None and req.headers.get("If-None-Match") == b'"v1"'
    assert hops(not_modified(s, req)) == {NEW: 1}


def test_an_article_answered_304_at_the_limit_gives_its_links_once_met_nearer() -> None:
    archive = Archive({A: (1, [NEW])}, due=True)
    s = spider(archive, related_depth=1)
    req = s._follow(A, kind="related", depth=1, hop=1)
    assert req is not None
    assert not_modified(s, req) == []  # at the limit: kept where a fetched page's cut is
    later = list(s._follow_all([A], kind="candidate", depth=1))
    assert hops(later) == {NEW: 1}


def test_a_changed_article_follows_its_page_links_not_the_stored_ones() -> None:
    from crawler.extraction.article import ExtractedArticle, RelatedLink

    archive = Archive({A: (1, [NEW])}, due=True)
    s = spider(archive)
    req = s._follow(A, kind="candidate", depth=1)
    assert req is not None
    article = ExtractedArticle(url=A, is_article=True, title="Satu", body="Isi baru. " * 60,
                               related=[RelatedLink(url=FAR, title="Empat", kind="block")])
    out = [o for o in parse(s, req, article) if isinstance(o, Request)]
    assert hops(out) == {FAR: 1}
    assert archive.link_queries == []


# -- the storage query ------------------------------------------------------------------
BODY = ("Kalimat pertama berita ini cukup panjang untuk sebuah paragraf. " * 12).strip()


def test_outgoing_links_in_page_order_once_each_batched(engine: Any) -> None:
    from crawler.dedup import fingerprint

    links = [LinkRecord(NEW, "Tiga", "inline"), LinkRecord(FAR, "Empat", "inline"),
             LinkRecord(NEW, "Tiga", "block")]
    ids = []
    with Session(engine) as session, session.begin():
        site_id = ensure_site(session, "t")
        for n, (url, related) in enumerate([(A, links), (B, [])]):
            body = f"{BODY} {n}"
            ids.append(store_page(session, site_id, ArchivedPage(
                url=url, canonical_url=url, title="Judul", body=body,
                fingerprint=fingerprint(body), related=related)).article_id)
    with Session(engine) as session:
        assert outgoing_links(session, [ids[0], ids[1], 999999]) == {
            ids[0]: [NEW, FAR], ids[1]: [], 999999: []}
        assert outgoing_links(session, []) == {}
    known = KnownUrls(engine, recheck_days=7, recheck_hours=24)
    assert known.links([ids[0]]) == {ids[0]: [NEW, FAR]}


def test_the_fleet_spider_claims_what_stored_links_give_with_their_hops() -> None:
    from crawler.spiders.worker import WorkerSpider

    archive = Archive({A: (1, [B]), B: (2, [NEW])})
    options = from_url(SITE + "/").with_overrides(related_depth=2)
    s = WorkerSpider.from_crawler(get_crawler(WorkerSpider, {}), options=options, run_id=1)
    s._known = archive
    out = list(s._follow_all([A], kind="candidate", depth=1))
    assert hops(out) == {NEW: 2}
    # claimed fleet-wide as the scheduler needs: its fetch key, its hop and (none) depth
    assert out[0].meta["arsip_claim"] and out[0].meta["arsip_reach"] == (2, "")
