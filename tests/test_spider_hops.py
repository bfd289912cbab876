"""Related links are followed ``related_depth`` hops from the articles that listings,
sitemaps and feeds give, whatever the order in which the pages arrive.

The sample site's story 8 is linked only from story 1's related block; story 1 is on a
listing and in another story's related block. With ``related_depth=1``, a crawl that met
story 1 first as a related link (1 hop) cut its related links, and story 8 was archived in
some crawls and not in others. These tests drive the spider's routing directly, in both
orders, on saved responses. (And how a sitemap's entries become requests: capped, and an
index's entries are sitemaps.)
"""

from __future__ import annotations

from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.extraction.article import ExtractedArticle, RelatedLink
from crawler.options import from_url
from crawler.spiders.news import NewsSpider
from tests.spider_helpers import parse

SITE = "http://127.0.0.1:9"
ONE = SITE + "/read/1/satu"  # on a listing, and a related link of another story
EIGHT = SITE + "/read/8/delapan"  # only a related link of ONE


def spider(related_depth: int = 1) -> NewsSpider:
    options = from_url(SITE + "/").with_overrides(related_depth=related_depth)
    crawler = get_crawler(NewsSpider, {})
    return NewsSpider.from_crawler(crawler, options=options)  # type: ignore[no-any-return]


def story_one(req: Request) -> tuple[ExtractedArticle, HtmlResponse]:
    article = ExtractedArticle(url=ONE, is_article=True, title="Satu", body="Isi berita. " * 40,
                               related=[RelatedLink(url=EIGHT, title="Delapan", kind="block")])
    return article, HtmlResponse(ONE, body=b"<html></html>", request=req)


def requests(out: list[object]) -> list[Request]:
    return [o for o in out if isinstance(o, Request)]


def test_a_page_processed_at_the_limit_follows_its_links_once_a_listing_gives_it() -> None:
    s = spider()
    req = s._follow(ONE, kind="related", depth=1, hop=1)  # met first as a related link
    assert req is not None
    article, response = story_one(req)
    out = list(s._emit(article, None, response, req.meta["arsip"], aliases=[]))
    assert requests(out) == []  # 1 hop already: its own related links are cut here
    # then a listing gives the same story: 0 hops, so its related links are 1 hop away
    later = list(s._follow_all([ONE], kind="candidate", depth=1))
    assert [r.url for r in later] == [EIGHT]
    assert later[0].meta["arsip"]["hop"] == 1
    # and only once
    assert list(s._follow_all([ONE], kind="candidate", depth=1)) == []


def test_a_page_in_flight_when_a_listing_gives_it_follows_its_links() -> None:
    s = spider()
    req = s._follow(ONE, kind="related", depth=1, hop=1)
    assert req is not None
    assert list(s._follow_all([ONE], kind="candidate", depth=1)) == []  # fetched once
    article, response = story_one(req)  # the response to the first request arrives
    out = list(s._emit(article, None, response, req.meta["arsip"], aliases=[]))
    assert [r.url for r in requests(out)] == [EIGHT]


def test_a_longer_way_found_later_changes_nothing() -> None:
    s = spider()
    req = s._follow(ONE, kind="candidate", depth=1)  # from a listing: 0 hops
    assert req is not None
    assert list(s._follow_all([ONE], kind="related", depth=1, hop=1)) == []
    article, response = story_one(req)
    out = list(s._emit(article, None, response, req.meta["arsip"], aliases=[]))
    assert [r.url for r in requests(out)] == [EIGHT]


def test_related_depth_zero_follows_no_related_link_whatever_the_order() -> None:
    s = spider(related_depth=0)
    req = s._follow(ONE, kind="candidate", depth=1)
    assert req is not None
    article, response = story_one(req)
    assert requests(list(s._emit(article, None, response, req.meta["arsip"], aliases=[]))) == []
    assert list(s._follow_all([ONE], kind="candidate", depth=1)) == []


def test_a_sitemap_gives_at_most_the_entry_cap_and_an_index_gives_sitemaps(monkeypatch) -> None:
    import crawler.spiders.discovery as news

    monkeypatch.setattr(news, "MAX_SITEMAP_ENTRIES", 3)
    s = spider()
    urlset = ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              + "<url><loc></loc></url>"  # no location: skipped, not counted
              + "".join(f"<url><loc>{SITE}/read/{i}/berita</loc></url>" for i in range(5))
              + "</urlset>")
    out = list(s.parse_sitemap(HtmlResponse(SITE + "/sitemap.xml", body=urlset.encode())))
    assert [r.url for r in out] == [f"{SITE}/read/{i}/berita" for i in range(3)]
    assert all(r.callback == s.parse_page for r in out)
    index = ('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             + "".join(f"<sitemap><loc>{SITE}/sitemap-{i}.xml</loc></sitemap>" for i in range(2))
             + "</sitemapindex>")
    out = list(s.parse_sitemap(HtmlResponse(SITE + "/sitemap.xml", body=index.encode())))
    assert [r.url for r in out] == [f"{SITE}/sitemap-{i}.xml" for i in range(2)]
    assert all(r.callback == s.parse_sitemap for r in out)


# -- listing hops (``depth``): the same, for the links of pages that are not articles ------
SECTION = SITE + "/section/dunia"  # a listing: its links are followed below ``depth``
PAGE_TWO = SECTION + "?page=2"


def section() -> ExtractedArticle:
    return ExtractedArticle(url=SECTION, is_article=False, links=[PAGE_TWO, ONE])


def test_a_listing_met_first_at_the_depth_limit_follows_its_links_once_met_nearer() -> None:
    s = spider()  # depth 2
    req = s._follow(SECTION, kind="candidate", depth=2)  # e.g. from another section's page 2
    assert req is not None
    assert requests(parse(s, req, section())) == []  # at the limit: links not followed
    later = list(s._follow_all([SECTION], kind="candidate", depth=1))  # from the home page
    assert sorted(r.url for r in later) == sorted([PAGE_TWO, ONE])
    assert {r.meta["arsip"]["depth"] for r in later} == {2}
    assert list(s._follow_all([SECTION], kind="listing", depth=0)) == []  # once


def test_a_listing_met_first_as_a_related_link_follows_its_links_once_a_listing_gives_it(
) -> None:
    s = spider()
    req = s._follow(SECTION, kind="related", depth=1, hop=1)  # a related block links it
    assert req is not None
    assert requests(parse(s, req, section())) == []  # related links' pages: not listings
    later = list(s._follow_all([SECTION], kind="candidate", depth=1))
    assert sorted(r.url for r in later) == sorted([PAGE_TWO, ONE])


def test_a_listing_in_flight_when_met_nearer_follows_its_links() -> None:
    s = spider()
    req = s._follow(SECTION, kind="candidate", depth=2)
    assert req is not None
    assert list(s._follow_all([SECTION], kind="candidate", depth=1)) == []  # fetched once
    out = requests(parse(s, req, section()))
    assert sorted(r.url for r in out) == sorted([PAGE_TWO, ONE])
    assert {r.meta["arsip"]["depth"] for r in out} == {2}


def test_a_listing_met_farther_later_changes_nothing() -> None:
    s = spider()
    req = s._follow(SECTION, kind="candidate", depth=1)
    assert req is not None
    assert list(s._follow_all([SECTION], kind="candidate", depth=2)) == []
    assert sorted(r.url for r in requests(parse(s, req, section()))) == sorted([PAGE_TWO, ONE])


def test_a_cut_listing_keeps_only_the_links_a_nearer_way_could_still_bring_nearer() -> None:
    s = spider()
    home_links = list(s._follow_all([ONE], kind="candidate", depth=1))  # 0 hops, depth 1
    assert home_links
    req = s._follow(SECTION, kind="candidate", depth=2)
    assert req is not None
    page = ExtractedArticle(url=SECTION, is_article=False,
                            links=[PAGE_TWO, ONE, "mailto:redaksi@example.com"])
    assert requests(parse(s, req, page)) == []
    # ONE can come no nearer (0 hops, depth 1); a mail link is never followed
    assert s._cut_links[req.meta["arsip"]["key"]] == [PAGE_TWO]
    later = list(s._follow_all([SECTION], kind="candidate", depth=1))
    assert [r.url for r in later] == [PAGE_TWO]
