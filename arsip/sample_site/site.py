"""The sample news site, in the style of intisari-online.com: rendered per request.

Routes (``render(path_with_query, base_url)``):
  /robots.txt                 disallows /private/, names the sitemap
  /                           home page: latest stories, sections, a disallowed link
  /section/NAME[?page=N]      section pages, 3 stories a page, paginated
  /tag/NAME, /tentang-kami    non-article pages
  /read/ID/SLUG[?page=N|all]  articles; multi-page ones split their paragraphs
  /private/...                behind robots.txt: must never be requested
  /sitemap.xml                sitemap index -> /sitemap-articles.xml
  /feed                       RSS 2.0 of the listed stories

With ``SampleSite(dedup=True)`` (the deduplication fixtures) the same routes plus:
  /                           also a "Pilihan" block of URL variants: tracking parameters,
                              AMP links, a print view, an old URL, a ``?page=all`` link
  /read/ID/SLUG/amp           the AMP page of an article (rel=canonical to the article);
                              article pages name it with ``<link rel=amphtml>``
  /cetak/ID                   the print view of an article: no canonical, no og:url
  /berita/ID                  an old article URL: 301 to /read/ID/SLUG
and, for requests whose Host is ``localhost:PORT`` (the original is ``127.0.0.1:PORT``), a
second portal that syndicates some stories (``content.portal_stories``): / and /news/ID/SLUG.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from arsip.sample_site.content import PortalStory, Story, dedup_stories, portal_stories, stories

HARI = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
BULAN = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
         "September", "Oktober", "November", "Desember"]
PER_PAGE = 3


@dataclass
class Page:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def e(text: str) -> str:
    return html.escape(text, quote=True)


def tanggal(story: Story) -> str:
    d = story.published
    return f"{HARI[d.weekday()]}, {d.day} {BULAN[d.month - 1]} {d.year} | {d:%H:%M} WIB"


class SampleSite:
    """Renders the site for a base URL such as ``http://127.0.0.1:8123``."""

    def __init__(self, story_list: list[Story] | None = None, *, dedup: bool = False) -> None:
        self.stories = story_list or stories()
        self.dedup = dedup
        if dedup:
            self.stories = [*self.stories, *dedup_stories()]
        self.by_id = {s.id: s for s in self.stories}
        self.sections = sorted({s.section for s in self.stories})
        self.portal = portal_stories(self.stories) if dedup else []
        self.portal_by_id = {s.id: s for s in self.portal}

    # -- pages -------------------------------------------------------------------------
    def render(self, target: str, base: str) -> Page:
        parts = urlsplit(target)
        path = parts.path
        query = parse_qs(parts.query)
        if self.dedup:
            routed = self._dedup_route(path, base)
            if routed is not None:
                return routed
        if path == "/robots.txt":
            return self._text(
                f"User-agent: *\nDisallow: /private/\n\nSitemap: {base}/sitemap.xml\n",
                "text/plain")
        if path == "/":
            return self._html(self.home(base))
        if path.startswith("/section/"):
            name = path[len("/section/"):].strip("/")
            if name in self.sections:
                page = _int(query.get("page", ["1"])[0])
                listed = [s for s in self._listed() if s.section == name]
                if 1 <= page <= max(1, -(-len(listed) // PER_PAGE)):
                    return self._html(self.section(base, name, page, listed))
        if path.startswith("/tag/"):
            return self._html(self.tag(base, path[len("/tag/"):].strip("/")))
        if path in ("/tentang-kami", "/tentang-kami/"):
            return self._html(self.about(base))
        if path.startswith("/private/"):
            return self._html(self.shell(base, "Rahasia", "<p>Halaman ini tidak boleh dirayapi.</p>"))
        if path == "/sitemap.xml":
            return self._xml(self.sitemap_index(base))
        if path == "/sitemap-articles.xml":
            return self._xml(self.sitemap(base))
        if path in ("/feed", "/feed/", "/rss"):
            return self._xml(self.feed(base), "application/rss+xml; charset=utf-8")
        if path.startswith("/read/"):
            bits = path.split("/")
            story = self.by_id.get(bits[2]) if len(bits) > 2 else None
            if story and path.rstrip("/") == story.path:
                part = query.get("page", ["1"])[0]
                if part == "all" or 1 <= _int(part) <= story.pages:
                    return self._html(self.article(base, story, part))
        return Page(404, self.shell(base, "Halaman tidak ditemukan", "<p>404</p>").encode(),
                    {"Content-Type": "text/html; charset=utf-8"})

    def _listed(self) -> list[Story]:
        return sorted((s for s in self.stories if s.listed), key=lambda s: s.published,
                      reverse=True)

    def shell(self, base: str, title: str, main: str, head: str = "",
              aside: bool = True) -> str:
        nav = " ".join(
            f'<li><a href="{base}/section/{n}">{n.title()}</a></li>' for n in self.sections
        )
        popular = ""
        if aside:
            items = "".join(
                f'<li><a href="{base}{s.path}?utm_source=terpopuler&amp;utm_medium=sidebar">'
                f"{e(s.title)}</a></li>"
                for s in self._listed()[:4]
            )
            popular = f'<aside class="popular"><h3>Terpopuler</h3><ol>{items}</ol></aside>'
        return (
            '<!DOCTYPE html>\n<html lang="id"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"{head}</head><body>"
            f'<header class="header"><a class="logo" href="{base}/">Intisari</a>'
            f'<nav><ul><li><a href="{base}/">Home</a></li>{nav}'
            f'<li><a href="{base}/tentang-kami">Tentang Kami</a></li></ul></nav></header>'
            f'<main class="main">{main}</main>{popular}'
            '<footer class="footer"><p>Copyright © 2022 Intisari. All Rights Reserved.</p>'
            f'<a href="{base}/tentang-kami">Tentang Kami</a> · <a href="{base}/feed">RSS</a>'
            "</footer></body></html>"
        )

    def _list_items(self, base: str, items: list[Story]) -> str:
        return "".join(
            f'<div class="article-list__item"><h2><a href="{base}{s.path}">{e(s.title)}</a></h2>'
            f'<span class="date">{tanggal(s)}</span>'
            f"<p>{e(s.paragraphs[0][:140])}…</p></div>"
            for s in items
        )

    def home(self, base: str) -> str:
        main = (
            "<h1>Berita Terbaru</h1>"
            + self._list_items(base, self._listed()[:4])
            + f'<p><a href="{base}/private/draft-laporan-khusus">Laporan khusus (segera)</a></p>'
            + (self._variant_links(base) if self.dedup else "")
        )
        return self.shell(base, "Intisari - Berita Sejarah dan Dunia", main,
                          head='<meta property="og:type" content="website">')

    def section(self, base: str, name: str, page: int, listed: list[Story]) -> str:
        items = listed[(page - 1) * PER_PAGE: page * PER_PAGE]
        pages = -(-len(listed) // PER_PAGE)
        paging = "".join(
            f'<a href="{base}/section/{name}?page={n}">{n}</a> ' for n in range(1, pages + 1)
            if n != page
        )
        nxt = (f'<a rel="next" href="{base}/section/{name}?page={page + 1}">Berikutnya</a>'
               if page < pages else "")
        main = (f"<h1>{e(name.title())}</h1>{self._list_items(base, items)}"
                f'<div class="pagination">{paging}{nxt}</div>')
        return self.shell(base, f"{name.title()} - Intisari", main,
                          head='<meta property="og:type" content="website">')

    def tag(self, base: str, name: str) -> str:
        items = [s for s in self._listed() if name.lower() in s.title.lower()]
        main = f"<h1>Tag: {e(name)}</h1>{self._list_items(base, items)}"
        return self.shell(base, f"Tag {name} - Intisari", main)

    def about(self, base: str) -> str:
        main = (
            "<h1>Tentang Kami</h1><p>Intisari adalah majalah yang terbit sejak 1963 dan kini "
            "hadir dalam versi daring. Redaksi kami berkantor di Jakarta.</p>"
            "<p>Hubungi redaksi melalui surel atau telepon pada jam kerja.</p>"
        )
        return self.shell(base, "Tentang Kami - Intisari", main, aside=False)

    def article(self, base: str, story: Story, page: str) -> str:
        url = f"{base}{story.path}"
        paras = list(enumerate(story.paragraphs))
        if story.pages > 1 and page != "all":
            n = int(page)
            size = -(-len(paras) // story.pages)
            paras = paras[(n - 1) * size: n * size]
        body = []
        for i, text in paras:
            body.append(f"<p>{e(text)}</p>")
            for rid in story.inline.get(i, []):
                r = self.by_id[rid]
                body.append(
                    f'<p><strong>Baca Juga: </strong><a href="{base}{r.path}" '
                    f'class="inner-link-baca-juga">{e(r.title)}</a></p>'
                )
        paging = ""
        if story.pages > 1 and page != "all":
            n = int(page)
            links = "".join(
                f'<a href="{url}?page={k}">{k}</a> ' for k in range(1, story.pages + 1) if k != n
            )
            if n < story.pages:
                links += f'<a class="next" href="{url}?page={n + 1}">Selanjutnya</a> '
            if story.page_all:
                links += f'<a class="paging__all" href="{url}?page=all">Lihat Semua</a>'
            paging = f'<div class="paging">{links}</div>'
        head = [
            f'<link rel="canonical" href="{url}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:title" content="{e(story.title)}">',
            f'<meta property="og:url" content="{url}">',
            f'<meta property="og:image" content="{base}/img/{story.id}.jpg">',
            f'<meta name="description" content="{e(story.paragraphs[0][:150])}">',
            f'<meta property="og:description" content="{e(story.paragraphs[0][:150])}">',
            f'<meta property="article:published_time" content="{story.published.isoformat()}">',
            f'<meta property="article:section" content="{e(story.section.title())}">',
            '<meta name="content_tag" content="Kazakhstan, Rusia">',
        ]
        if self.dedup:
            head.append(f'<link rel="amphtml" href="{url}/amp">')
        if story.pages > 1 and page != "all":
            n = int(page)
            if n < story.pages:
                head.append(f'<link rel="next" href="{url}?page={n + 1}">')
            if n > 1:
                head.append(f'<link rel="prev" href="{url}?page={n - 1}">')
        if story.json_ld:
            ld = {
                "@context": "https://schema.org",
                "@type": "NewsArticle",
                "mainEntityOfPage": {"@type": "WebPage", "@id": url},
                "headline": story.title,
                "image": {"@type": "ImageObject", "url": f"{base}/img/{story.id}.jpg"},
                "datePublished": story.published.isoformat(),
                "dateModified": story.published.isoformat(),
                "author": {"@type": "Person", "name": story.author},
                "publisher": {"@type": "Organization", "name": "Intisari"},
                "articleSection": story.section.title(),
                "inLanguage": "id",
            }
            head.append(f'<script type="application/ld+json">{json.dumps(ld)}</script>')
        related = ""
        if story.block:
            items = "".join(
                f'<li><a href="{base}{self.by_id[r].path}">{e(self.by_id[r].title)}</a></li>'
                for r in story.block
            )
            related = (f'<div class="related-article"><h3 class="related__title">Artikel Terkait'
                       f"</h3><ul>{items}</ul></div>")
        caption = (f'<figure class="photo"><img src="{base}/img/{story.id}.jpg" alt="">'
                   f"<figcaption>{e(story.caption)}</figcaption></figure>"
                   if story.caption else "")
        main = (
            f'<div class="breadcrumb"><a href="{base}/">Home</a> › '
            f'<a href="{base}/section/{story.section}">{story.section.title()}</a></div>'
            f'<article class="read"><h1 class="read__title">{e(story.title)}</h1>'
            f'<div class="read__info"><div class="read__author">Penulis: '
            f'<a href="{base}/author/{story.author.lower().replace(" ", "-")}">'
            f"{e(story.author)}</a></div>"
            f'<div class="read__time">{tanggal(story)}</div></div>{caption}'
            '<div class="share"><span>Bagikan:</span> <a href="#fb">Facebook</a> '
            '<a href="#tw">Twitter</a> <a href="#wa">WhatsApp</a></div>'
            f'<div class="read__content">{"".join(body)}{paging}</div>'
            f'<div class="read__tag">Tag: <a href="{base}/tag/kazakhstan">Kazakhstan</a> '
            f'<a href="{base}/tag/rusia">Rusia</a></div>{related}</article>'
        )
        return self.shell(base, f"{story.title} - Intisari", main, head="".join(head))

    def sitemap_index(self, base: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{base}/sitemap-articles.xml</loc></sitemap></sitemapindex>"
        )

    def sitemap(self, base: str) -> str:
        urls = "".join(
            f"<url><loc>{base}{s.path}</loc><lastmod>{s.published.isoformat()}</lastmod></url>"
            for s in self._listed()
        )
        return ('<?xml version="1.0" encoding="UTF-8"?>'
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')

    def feed(self, base: str) -> str:
        items = "".join(
            f"<item><title>{e(s.title)}</title><link>{base}{s.path}</link>"
            f"<pubDate>{s.published.strftime('%a, %d %b %Y %H:%M:%S %z')}</pubDate></item>"
            for s in self._listed()
        )
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                f"<title>Intisari</title><link>{base}/</link>{items}</channel></rss>")

    # -- dedup fixtures ------------------------------------------------------------------
    def _dedup_route(self, path: str, base: str) -> Page | None:
        if urlsplit(base).hostname == "localhost":
            return self._portal(path, base)
        bits = path.strip("/").split("/")
        if path.startswith("/read/") and len(bits) == 4 and bits[3] == "amp":
            story = self.by_id.get(bits[1])
            if story and bits[2] == story.slug:
                return self._html(self.amp_article(base, story))
        if path.startswith("/cetak/") and len(bits) == 2 and bits[1] in self.by_id:
            return self._html(self.print_view(base, self.by_id[bits[1]]))
        if path.startswith("/berita/") and len(bits) == 2 and bits[1] in self.by_id:
            location = f"{base}{self.by_id[bits[1]].path}"
            return Page(301, b"", {"Location": location, "Content-Type": "text/html"})
        return None

    def _variant_links(self, base: str) -> str:
        s = self.by_id
        links = [
            (f"{s['033200001'].path}?utm_source=newsletter&utm_campaign=januari&fbclid=IwAR0x",
             s["033200001"].title),
            (f"{s['033200001'].path}?utm_source=twitter#komentar", "Komentar pembaca"),
            (f"{s['033200002'].path}/amp", s["033200002"].title),
            (f"{s['033200002'].path}?amp=1", "Versi ringan"),
            ("/cetak/033200003", "Cetak: " + s["033200003"].title),
            (s["033200003"].path, s["033200003"].title),
            ("/berita/033200004", s["033200004"].title),
            (f"{s['033100006'].path}?page=all", s["033100006"].title),
        ]
        items = "".join(f'<li><a href="{base}{e(href)}">{e(text)}</a></li>'
                        for href, text in links)
        return f'<div class="pilihan"><h2>Pilihan Editor</h2><ul>{items}</ul></div>'

    def amp_article(self, base: str, story: Story) -> str:
        paras = "".join(f"<p>{e(p)}</p>" for p in story.paragraphs)
        return (
            '<!DOCTYPE html>\n<html amp lang="id"><head><meta charset="utf-8">'
            f"<title>{e(story.title)}</title>"
            f'<link rel="canonical" href="{base}{story.path}">'
            '<meta property="og:type" content="article">'
            f'<meta property="article:published_time" content="{story.published.isoformat()}">'
            f'</head><body><article><h1 class="read__title">{e(story.title)}</h1>'
            f'<div class="read__time">{tanggal(story)}</div>'
            f'<div class="read__content">{paras}</div></article></body></html>'
        )

    def print_view(self, base: str, story: Story) -> str:
        paras = "".join(f"<p>{e(p)}</p>" for p in story.paragraphs)
        return (
            '<!DOCTYPE html>\n<html lang="id"><head><meta charset="utf-8">'
            f"<title>{e(story.title)}</title>"
            '<meta property="og:type" content="article">'
            f'<meta property="article:published_time" content="{story.published.isoformat()}">'
            f'</head><body onload="window.print()"><article><h1>{e(story.title)}</h1>'
            f"<p class=\"date\">{tanggal(story)}</p><div class=\"content\">{paras}</div>"
            "</article></body></html>"
        )

    def _portal(self, path: str, base: str) -> Page:
        if path == "/robots.txt":
            return self._text("User-agent: *\nDisallow:\n", "text/plain")
        if path == "/":
            items = "".join(
                f'<div class="item"><h2><a href="{base}{p.path}">{e(p.title)}</a></h2>'
                f"<p>{e(p.paragraphs[0][:120])}…</p></div>" for p in self.portal
            )
            return self._html(self._portal_shell(
                base, "NusantaraNews - Berita Terkini", f"<h1>Terkini</h1>{items}",
                '<meta property="og:type" content="website">'))
        bits = path.strip("/").split("/")
        if len(bits) == 3 and bits[0] == "news" and bits[1] in self.portal_by_id:
            story = self.portal_by_id[bits[1]]
            if bits[2] == story.slug:
                return self._html(self.portal_article(base, story))
        return Page(404, b"<h1>404</h1>", {"Content-Type": "text/html; charset=utf-8"})

    def _portal_shell(self, base: str, title: str, main: str, head: str) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="id"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title>{head}</head><body>"
            f'<header><a class="logo" href="{base}/">NusantaraNews</a></header>'
            f'<main class="main">{main}</main>'
            "<footer><p>© 2022 NusantaraNews.id</p></footer></body></html>"
        )

    def portal_article(self, base: str, story: PortalStory) -> str:
        url = f"{base}{story.path}"
        canonical = url
        if story.canonical_to_source and story.source:
            # the original's address on the other host (127.0.0.1): off-site, to be ignored
            port = urlsplit(base).port
            canonical = f"http://127.0.0.1:{port}{self.by_id[story.source].path}"
        body = []
        for i, text in enumerate(story.paragraphs):
            body.append(f"<p>{e(text)}</p>")
            for rid in story.inline.get(i, []):
                r = self.portal_by_id[rid]
                body.append(f'<p><strong>Baca Juga: </strong><a href="{base}{r.path}">'
                            f"{e(r.title)}</a></p>")
        ld = {
            "@context": "https://schema.org", "@type": "NewsArticle",
            "mainEntityOfPage": {"@type": "WebPage", "@id": canonical},
            "headline": story.title, "datePublished": story.published.isoformat(),
            "author": {"@type": "Person", "name": "Tim Redaksi"},
            "publisher": {"@type": "Organization", "name": "NusantaraNews"},
            "inLanguage": "id",
        }
        head = (
            f'<link rel="canonical" href="{canonical}">'
            '<meta property="og:type" content="article">'
            f'<meta property="og:title" content="{e(story.title)}">'
            f'<meta property="article:published_time" content="{story.published.isoformat()}">'
            f'<script type="application/ld+json">{json.dumps(ld)}</script>'
        )
        d = story.published
        when = f"{HARI[d.weekday()]}, {d.day} {BULAN[d.month - 1]} {d.year} | {d:%H:%M} WIB"
        main = (
            f'<article class="read"><h1 class="read__title">{e(story.title)}</h1>'
            f'<div class="read__time">{when}</div>'
            f'<div class="read__content">{"".join(body)}</div></article>'
        )
        return self._portal_shell(base, f"{story.title} - NusantaraNews", main, head)

    # -- helpers -----------------------------------------------------------------------
    @staticmethod
    def _html(text: str) -> Page:
        return Page(200, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    @staticmethod
    def _xml(text: str, ctype: str = "application/xml; charset=utf-8") -> Page:
        return Page(200, text.encode("utf-8"), {"Content-Type": ctype})

    @staticmethod
    def _text(text: str, ctype: str) -> Page:
        return Page(200, text.encode("utf-8"), {"Content-Type": f"{ctype}; charset=utf-8"})


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
