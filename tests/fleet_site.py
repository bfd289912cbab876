"""A varied fixture site for fleet-versus-one-machine crawls: ``SiteServer(FleetSite().render)``.

The sample site with its deduplication fixtures (``SampleSite(dedup=True)``: robots.txt with
a Disallow, a sitemap index, AMP and print copies, tracking-parameter variants, an old URL
that answers 301 with the article's address, a multi-page article with a ``?page=all``
view, "Baca Juga" and related-block links at depth 1 and 2, a second portal on the
``localhost`` host name), plus on its home page:

- a direct link to the article that ``/berita/033200004`` redirects to (a redirect's target
  also linked directly: fetched once either way round);
- a page that always answers 500 (retried, then recorded as failed);
- a page that answers 404, and a page that redirects to a 404;
- links to another site (a share button) and a page that redirects there: never fetched
  (off-site), on loopback all the same (``127.0.0.3``, where nothing listens);
- a redirect loop (two pages that redirect to each other): followed until Scrapy's redirect
  limit, then recorded as failed.
"""

from __future__ import annotations

from arsip.sample_site.site import Page, SampleSite, e

REDIRECTED = "033200004"  # /berita/<id> answers 301 to this article's /read/ URL
BROKEN = "/rusak/server"  # always 500
MISSING = "/hilang/halaman"  # 404
MOVED_AWAY = "/berita/999999999"  # 301 to a 404 (no such story: SampleSite answers 404)
LEAVING = "/keluar"  # 301 to another site
OFFSITE = "http://127.0.0.3:9/bagikan"  # another site: off-site, never requested
LOOP = ("/putar/satu", "/putar/dua")  # each answers 301 to the other


class FleetSite(SampleSite):
    def __init__(self) -> None:
        super().__init__(dedup=True)

    def render(self, target: str, base: str) -> Page:
        path = target.split("?", 1)[0]
        if path == BROKEN:
            return Page(500, b"Internal Server Error", {"Content-Type": "text/plain"})
        if path == MOVED_AWAY:
            return Page(301, b"", {"Location": f"{base}{MISSING}"})
        if path == LEAVING:
            return Page(301, b"", {"Location": OFFSITE + "?dari=keluar"})
        if path in LOOP:
            return Page(301, b"", {"Location": f"{base}{LOOP[1 - LOOP.index(path)]}"})
        return super().render(target, base)

    def home(self, base: str) -> str:
        page = super().home(base)
        story = self.by_id[REDIRECTED]
        extra = (f'<div class="lainnya"><h2>Lainnya</h2><ul>'
                 f'<li><a href="{base}{story.path}">{e(story.title)}</a></li>'
                 f'<li><a href="{base}{BROKEN}">Server rusak</a></li>'
                 f'<li><a href="{base}{MISSING}">Halaman hilang</a></li>'
                 f'<li><a href="{base}{MOVED_AWAY}">Berita dipindah</a></li>'
                 f'<li><a href="{base}{LEAVING}">Ke situs lain</a></li>'
                 f'<li><a href="{base}{LOOP[0]}">Berputar</a></li>'
                 f'<li><a href="{OFFSITE}">Bagikan</a></li></ul></div>')
        return page.replace("</main>", extra + "</main>", 1)
