"""The web view in a real browser: Playwright drives Debian's Chromium against `arsip serve`
running as a subprocess on a free loopback port.

A person searches, pages through results, opens an article, follows a related link and opens
the raw page; and a hostile archived page (scripts, handlers, a javascript: link, a meta
refresh, a script reaching parent, top, cookies and storage, loads from a loopback beacon)
is viewed in every view of the app without any of it running: no dialog, no global set, no
title changed, no navigation, and the beacon server records no request. The hostile page is
archived twice: through the archive's write path (``store_page``), and by a real crawl of a
127.0.0.1 fixture site (the sample site with the payloads planted in an article).

Skipped with a reason where /usr/bin/chromium or the playwright package is missing (never
`playwright install`). With ``ARSIP_TEST_SCREENSHOTS=DIR`` the screenshots of the search page
and of an article's related graph are also written to DIR (the README's docs/img).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from arsip.sample_site.content import WIB, Story
from arsip.sample_site.server import SiteServer
from arsip.sample_site.site import Page, SampleSite
from storage.models import ArticleURL, RawPage
from storage.raw_store import read_raw
from tests.conftest import serve_process
from tests.daemon_helpers import site, write_config
from tests.web_archive import STORIES, Beacon, build, hostile_html

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture
def served(engine: Any, tmp_path: Path, database_url: str) -> Iterator[dict[str, Any]]:
    """The test archive (its hostile page aimed at a beacon) served by `arsip serve`."""
    write_config(tmp_path / "arsip.toml", [site("intisari", every="30m")])
    with Beacon() as beacon:
        with Session(engine) as s, s.begin():
            ids = build(s, beacon=beacon.url)
        with Session(engine) as s:
            ids["hostile_page"] = s.execute(select(RawPage.id).where(
                RawPage.article_id == ids["hostile"])).scalar_one()
            ids["main_page"] = s.execute(select(RawPage.id).where(
                RawPage.article_id == ids["main"])).scalar_one()
        with serve_process(database_url, tmp_path) as (_, base, _):
            yield {**ids, "base": base, "beacon": beacon}


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page whose dialogs and requests outside the app are recorded."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.page.on("dialog", self._dialog)
        # requests that reached a server outside the app (CSP-blocked ones never finish)
        self.context.on("requestfinished", lambda req: None if req.url.startswith(base)
                        else self.foreign.append(req.url))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def test_a_reader_searches_pages_reads_and_follows(served: dict[str, Any], browser: Any,
                                                  tmp_path: Path) -> None:
    base = served["base"]
    w = Watched(browser, base)
    page = w.page
    page.goto(base + "/")
    page.fill("input[name=q]", "kazakhstan")
    page.click("form.search button")
    page.wait_for_selector("ol.hits")
    assert page.locator("mark").first.inner_text().lower() == "kazakhstan"
    assert "+1 copy" in page.inner_text("ol.hits")
    assert page.locator("aside.facets").inner_text().count("intisari") == 1
    page.fill("input[name=q]", "pasukan Rusia")
    page.click("form.search button")
    page.wait_for_selector("ol.hits")
    assert page.locator("ol.hits a.title").count() == STORIES
    _screenshot(page, tmp_path, "search.png")
    # paging through three results at a time
    page.goto(base + "/?q=kazakhstan&limit=3")
    titles: list[str] = []
    while True:
        titles += page.locator("ol.hits a.title").all_inner_texts()
        nxt = page.locator("a.next")
        if nxt.count() == 0:
            break
        nxt.click()
        page.wait_for_load_state()
    assert len(titles) == len(set(titles)) == STORIES + 1
    # an article, its related graph, a related link, the raw page
    page.goto(base + f"/?q=%22bagian%20{STORIES - 1}%22")
    page.locator("ol.hits a.title").first.click()
    assert page.url.endswith(f"/articles/{served['main']}")
    assert page.inner_text("h1").startswith(f"Kazakhstan bagian {STORIES - 1}")
    assert "not archived yet" in page.inner_text("section.related")
    assert page.locator("figure.graph svg circle").count() >= 4
    assert page.locator("div.diff ins").count() > 0
    # its versions, each saying why the next text replaced it
    assert page.locator("ul.version-list li").all_inner_texts() == [
        "version 2 · seen 2024-03-01 09:00 UTC – 2024-03-01 10:00 UTC · replaced by a re-extraction",
        "version 1 · seen 2024-03-01 08:00 UTC – 2024-03-01 09:00 UTC · changed on the site"]
    related = page.locator("section.related")
    _screenshot(related, tmp_path, "article-related.png")
    page.locator("ul.related-out a.related-link").first.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/articles/{served['stories'][-2]}")
    assert page.inner_text("h1").startswith(f"Kazakhstan bagian {STORIES - 2}")
    page.locator("a.raw-link").first.click()
    page.wait_for_load_state()
    assert "/raw/" in page.url
    assert page.inner_text("h1").startswith(f"Kazakhstan bagian {STORIES - 2}")
    # a URL variant leads to the article; an unknown one offers the search
    page.goto(base + "/archive/" + served["amp_alias"])
    assert page.url.endswith(f"/articles/{served['stories'][0]}")
    page.goto(base + "/archive/https://nowhere.example/x")
    assert "not in the archive" in page.inner_text("main")
    assert page.locator("input[name=q]").count() == 1
    assert w.dialogs == [] and w.foreign == []
    w.context.close()


NOTHING_RAN = """() => {
    let stored = null;
    try { stored = window.localStorage.getItem("pwned"); } catch (e) {}
    return {pwned: typeof window.pwned, pwnedTitle: typeof window.pwnedTitle,
            title: document.title, stored: stored};
}"""


def test_a_hostile_archived_page_never_runs(served: dict[str, Any], browser: Any) -> None:
    base = served["base"]
    beacon = served["beacon"]
    w = Watched(browser, base)
    page = w.page
    hostile = served["hostile"]
    views = [f"/articles/{hostile}", f"/raw/{served['hostile_page']}",
             "/?q=penyusup", "/?q=kazakhstan&order=relevance",
             f"/articles/{served['main']}", "/sites", "/runs", f"/api/articles/{hostile}",
             "/archive/https://jahat.example/read/1/penyusup"]
    for view in views:
        page.goto(base + view)
        page.wait_for_timeout(400)  # time for a refresh, a handler or a beacon to fire
        expected = page.url
        state = page.evaluate(NOTHING_RAN)
        assert state["pwned"] == "undefined" and state["pwnedTitle"] == "undefined", view
        assert "PWNED" not in state["title"] and state["stored"] is None, view
        page.wait_for_timeout(300)
        assert page.url == expected, view  # no refresh, no top navigation
        for frame in page.frames[1:]:
            # the raw page's frame stays on it; the hostile page's own frame is blocked
            assert "/raw/" in frame.url or frame.url.startswith("chrome-error:"), frame.url
    # the article page shows the hostile text as text, and frames the raw page sandboxed
    page.goto(base + f"/articles/{hostile}")
    assert "<script>window.pwnedTitle=1" in page.inner_text("h1")
    assert page.title().startswith("Berita <script>")
    frame = page.locator("iframe.raw-frame")
    assert frame.get_attribute("sandbox") == ""
    inner = page.frame_locator("iframe.raw-frame")
    assert inner.locator("h1").inner_text() == "Penyusup di Astana"
    # the javascript: link, clicked in the frame and on the raw page itself
    inner.locator("#jslink").click()
    page.goto(base + f"/raw/{served['hostile_page']}")
    page.click("#jslink")
    page.wait_for_timeout(500)
    assert page.evaluate(NOTHING_RAN)["pwned"] == "undefined"
    # the app's origin was never touched: its storage is clean
    page.goto(base + "/")
    assert page.evaluate(NOTHING_RAN)["stored"] is None
    assert w.dialogs == []
    assert beacon.hits == []
    assert w.foreign == []
    w.context.close()


def _screenshot(target: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    target.screenshot(path=str(path))
    assert path.stat().st_size > 1000
    out = os.environ.get("ARSIP_TEST_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / name)


def test_a_crawled_hostile_page_never_runs(engine: Any, tmp_path: Path, database_url: str,
                                           browser: Any, cli: Any) -> None:
    """The hostile page archived by a real crawl of a 127.0.0.1 fixture site, then viewed."""

    story = Story(id="666001", slug="penyusup-di-astana", section="internasional",
                  title="Penyusup di Astana <script>alert('judul')</script>",
                  author="Redaksi <b onmouseover=alert(1)>Uji</b>",
                  published=datetime(2022, 3, 1, 9, 0, tzinfo=WIB),
                  paragraphs=[f"Kalimat {i}: laporan penyusup kazakhstan di perbatasan kota "
                              "menurut warga setempat yang menyaksikan kejadian itu." * 3
                              for i in range(6)])
    sample = SampleSite([story])
    (tmp_path / "arsip.toml").touch()
    with Beacon() as beacon:
        planted = hostile_html(beacon.url).decode()
        head = planted[planted.index("<meta http-equiv"):planted.index("</head>")]
        body = planted[planted.index("<img"):planted.index("</body>")]

        def render(target: str, base: str) -> Any:
            page = sample.render(target, base)
            if isinstance(page, Page) and target.split("?")[0].endswith(story.path):
                html = page.body.decode()
                html = html.replace("</head>", head + "</head>", 1)
                html = html.replace("</body>", body + "</body>", 1)
                return Page(page.status, html.encode(), page.headers)
            return page

        with SiteServer(render) as site:
            res = cli("crawl", site.url + "/", "--max-pages", "30", "--workers", "1",
                      "--quiet", timeout=300)
            assert res.returncode == 0, res.stderr
            article_url = site.url + story.path
            hits_before = list(beacon.hits)
        with Session(engine) as s:
            article_id = s.execute(select(ArticleURL.article_id).where(
                ArticleURL.url == article_url)).scalar_one()
            page_id = s.execute(select(RawPage.id).where(
                RawPage.article_id == article_id)).scalars().first()
            stored = s.get(RawPage, page_id)
            assert stored is not None
            assert b"window.pwned = 1" in read_raw(s, stored)  # archived as fetched
        assert hits_before == []  # the crawler fetched the page, it ran nothing either
        with serve_process(database_url, tmp_path) as (_, base, _):
            w = Watched(browser, base)
            for view in (f"/articles/{article_id}", f"/raw/{page_id}", "/?q=penyusup",
                         "/archive/" + article_url, "/sites", "/runs"):
                w.page.goto(base + view)
                w.page.wait_for_timeout(400)
                state = w.page.evaluate(NOTHING_RAN)
                assert state["pwned"] == "undefined" and "PWNED" not in state["title"], view
            w.page.goto(base + f"/articles/{article_id}")
            assert "<script>alert('judul')</script>" in w.page.inner_text("h1")
            assert w.page.frame_locator("iframe.raw-frame").locator("#jslink").count() == 1
            assert w.dialogs == [] and w.foreign == [] and beacon.hits == []
            w.context.close()

