"""A synthetic news site for ``arsip bench crawl``, and a fast server for it.

``SyntheticSite(pages, seed)`` builds, deterministically and cheaply, a news site of
``pages`` article pages in the shape of an Indonesian news portal: about 60 KB of HTML a page
(head with meta tags, inline CSS and scripts, JSON-LD on some pages; a header with a
navigation and a mobile menu; a body of several hundred words of Indonesian-like text with
inline "Baca Juga" links; tags; an "Artikel Terkait" block; sidebars "Terpopuler" (links with
tracking parameters), "Terbaru" and "Pilihan Editor"; a footer with static pages and social
links), about 90 links a page. Some articles are syndicated near-duplicates of earlier ones.
Around them: the home page, paginated section pages, tag pages, static pages, robots.txt, a
sitemap index and its sitemaps.

``render(base)`` pre-renders every page as complete HTTP/1.1 responses (bytes), served by
``serve()``: a small asyncio HTTP/1.1 server (keep-alive) meant to run in a process of its
own, so that it does not compete with the crawl for the GIL. ``measure_server`` is a quick
concurrent keep-alive client that measures what the server alone delivers.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape

SECTIONS = ["nasional", "internasional", "ekonomi", "olahraga", "teknologi", "hiburan",
            "sains", "gaya-hidup"]
TAGS = ["pemilu", "kazakhstan", "rusia", "inflasi", "sepak-bola", "kecerdasan-buatan",
        "banjir", "kesehatan", "pendidikan", "wisata"]
STATIC = ["tentang-kami", "redaksi", "pedoman-media-siber", "kontak"]
SOCIAL = ["https://www.facebook.com/beritanusa", "https://twitter.com/beritanusa",
          "https://www.instagram.com/beritanusa", "https://www.youtube.com/@beritanusa",
          "https://www.tiktok.com/@beritanusa", "https://t.me/beritanusa"]
AUTHORS = [f"{a} {b}" for a in ("Afif", "Siti", "Budi", "Rina", "Dewi", "Agus")
           for b in ("Santoso", "Aminah", "Wibowo", "Lestari", "Saputra")]
FUNCTION_WORDS = (
    "yang dan di ini itu dengan untuk dari dalam tidak akan pada juga ke karena oleh ada "
    "saat bisa sudah telah lebih mereka kami kita tersebut sebagai atau hingga namun bahwa "
    "para menjadi masih seperti dapat setelah secara banyak hal tahun satu dua orang baru"
).split()
ONSETS = ["b", "c", "d", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "w", "y",
          "ng", "ny", "kh", "sy"]
VOWELS = ["a", "i", "u", "e", "o", "a", "a", "i"]
CODAS = ["", "", "", "n", "ng", "r", "k", "t", "s", "h", "l", "m"]
PREFIXES = ["", "", "", "me", "mem", "men", "meng", "ber", "di", "ter", "pe", "pen", "ke"]
SUFFIXES = ["", "", "", "", "kan", "an", "nya", "i", "lah"]
PER_PAGE = 25  # stories on a section page
SITEMAP_CHUNK = 1000
SYNDICATED_EVERY = 33  # one article in this many is a syndicated copy of an earlier one
ARTICLE_PREFIX = "/read/"


@dataclass
class Story:
    id: int
    section: str
    title: str
    slug: str
    paragraphs: list[int]
    published: datetime
    author: str
    tags: list[str]
    inline: dict[int, int] = field(default_factory=dict)  # after paragraph i: a story id
    block: list[int] = field(default_factory=list)
    json_ld: bool = False
    syndicated_of: int | None = None

    @property
    def path(self) -> str:
        return f"{ARTICLE_PREFIX}{self.id}/{self.slug}"


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words = list(FUNCTION_WORDS)
    seen = set(words)
    while len(words) < size:
        word = (rng.choice(PREFIXES)
                + "".join(rng.choice(ONSETS) + rng.choice(VOWELS)
                          for _ in range(rng.randint(2, 3)))
                + rng.choice(CODAS) + rng.choice(SUFFIXES))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _sentence(rng: random.Random, vocab: list[str], weights: list[float]) -> str:
    words = rng.choices(vocab, cum_weights=weights, k=rng.randint(9, 18))
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


class SyntheticSite:
    """A deterministic news site of ``pages`` article pages (``seed`` picks the content)."""

    def __init__(self, pages: int = 2000, seed: int = 1) -> None:
        if pages < 1:
            raise ValueError("pages must be at least 1")
        self.pages = pages
        rng = random.Random(seed)
        self.vocab = _vocabulary(rng, 6000)
        total, cum = 0.0, []
        for rank in range(1, len(self.vocab) + 1):
            total += 1.0 / rank ** 1.05
            cum.append(total)
        paragraphs = []
        for _ in range(max(400, min(4000, pages * 2))):
            paragraphs.append(" ".join(_sentence(rng, self.vocab, cum)
                                       for _ in range(rng.randint(3, 5))))
        self.paragraphs = paragraphs
        start = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
        self.stories: list[Story] = []
        for i in range(1, pages + 1):
            title_words = rng.choices(self.vocab[60:], k=rng.randint(7, 11))
            title = " ".join(title_words).capitalize()
            slug = "-".join(title_words[:8])
            original = None
            if i >= SYNDICATED_EVERY and i % SYNDICATED_EVERY == 0:
                original = rng.randint(1, i - 1)
            if original is not None:
                paras = list(self.stories[original - 1].paragraphs)
                title = "Sindikasi: " + self.stories[original - 1].title
            else:
                paras = rng.sample(range(len(paragraphs)), rng.randint(8, 12))
            story = Story(
                id=i, section=SECTIONS[i % len(SECTIONS)], title=title, slug=slug,
                paragraphs=paras, published=start + timedelta(minutes=37 * i),
                author=AUTHORS[rng.randrange(len(AUTHORS))],
                tags=rng.sample(TAGS, 3), json_ld=i % 5 < 3, syndicated_of=original,
            )
            for k in rng.sample(range(1, len(paras) - 1), 3):
                story.inline[k] = rng.randint(1, pages)
            story.block = [rng.randint(1, pages) for _ in range(6)]
            self.stories.append(story)
        # the same "popular" and "editor's pick" lists on every page, as on real sites
        self.popular = [self.stories[rng.randrange(pages)] for _ in range(8)]
        self.picks = [self.stories[rng.randrange(pages)] for _ in range(6)]
        self.latest = sorted(self.stories, key=lambda s: s.published, reverse=True)
        self.css = self._css(rng)
        self.script = self._script(rng)

    # -- shared blobs --------------------------------------------------------------------
    @staticmethod
    def _css(rng: random.Random) -> str:
        rules = []
        for i in range(230):
            rules.append(
                f".c{i:03d}-{rng.choice(['card', 'nav', 'list', 'ad', 'read', 'foot'])}"
                f"{{margin:{rng.randint(0, 24)}px {rng.randint(0, 24)}px;"
                f"padding:{rng.randint(0, 16)}px;color:#{rng.randrange(16**6):06x};"
                f"font-size:{rng.randint(11, 22)}px;line-height:1.{rng.randint(2, 8)}}}")
        return "".join(rules)

    @staticmethod
    def _script(rng: random.Random) -> str:
        slots = [{"slot": f"/1234567/beritanusa/{s}/{p}", "sizes": [[300, 250], [728, 90]],
                  "targeting": {"pos": p, "kw": rng.sample(TAGS, 3)}}
                 for s in SECTIONS for p in ("top", "mid", "bottom")]
        config = json.dumps({"ads": slots, "gtm": "GTM-XXXXXX", "cdn": "/static/",
                             "experiments": {f"exp{i}": rng.random() for i in range(60)}})
        code = ";".join(
            f"function f{i}(a,b){{var c=a+b*{i};return c>{rng.randint(1, 999)}?c:"
            f"f{max(i - 1, 0)}(b,a)}}" for i in range(190))
        return f"window.__CONFIG__={config};{code};"

    # -- pages ---------------------------------------------------------------------------
    def _shell(self, base: str, title: str, main: str, head: str = "") -> str:
        nav = "".join(f'<li class="nav__item"><a class="nav__link" href="{base}/section/{s}">'
                      f"{s.replace('-', ' ').title()}</a></li>" for s in SECTIONS)
        topics = "".join(f'<li><a href="{base}/tag/{t}">#{t.replace("-", " ")}</a></li>'
                         for t in TAGS)
        popular = "".join(
            f'<li class="c012-list"><span class="rank">{i + 1}</span><a href="{base}{s.path}'
            f'?utm_source=terpopuler&amp;utm_medium=sidebar&amp;utm_campaign=pos{i + 1}">'
            f"{escape(s.title)}</a></li>" for i, s in enumerate(self.popular))
        latest = "".join(
            f'<div class="c020-card"><a href="{base}{s.path}"><img data-src="{base}/img/'
            f'{s.id}.jpg" alt="" width="120" height="80" loading="lazy"></a>'
            f'<h4><a href="{base}{s.path}">{escape(s.title)}</a></h4>'
            f'<time>{s.published:%d/%m/%Y %H:%M}</time></div>' for s in self.latest[:10])
        picks = "".join(f'<li><a href="{base}{s.path}">{escape(s.title)}</a></li>'
                        for s in self.picks)
        static = "".join(f'<li><a href="{base}/{p}">{p.replace("-", " ").title()}</a></li>'
                         for p in STATIC)
        social = "".join(f'<a class="social" href="{u}" rel="noopener" target="_blank">'
                         f'<svg viewBox="0 0 24 24" width="20" height="20"><path d="M12 2C6.5 '
                         f'2 2 6.5 2 12s4.5 10 10 10 10-4.5 10-10S17.5 2 12 2z"/></svg></a>'
                         for u in SOCIAL)
        return (
            '<!DOCTYPE html>\n<html lang="id"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="index, follow, max-image-preview:large">'
            f'<link rel="preconnect" href="https://cdn.beritanusa.example">{head}'
            f"<style>{self.css}</style><script>{self.script}</script></head><body>"
            f'<div class="c001-ad" id="div-gpt-ad-top" data-slot="top"></div>'
            f'<header class="header"><a class="logo" href="{base}/">BeritaNusa</a>'
            f'<nav class="nav"><ul><li><a href="{base}/">Home</a></li>{nav}</ul>'
            f'<ul class="topics">{topics}</ul></nav>'
            f'<div class="mobile-menu" hidden><ul>{nav}</ul></div></header>'
            f'<div class="container"><main class="main">{main}</main>'
            f'<aside class="sidebar"><section class="popular"><h3>Terpopuler</h3><ol>{popular}'
            f'</ol></section><section class="latest"><h3>Terbaru</h3>{latest}</section>'
            f'<section class="picks"><h3>Pilihan Editor</h3><ul>{picks}</ul></section>'
            f'<div class="c002-ad" id="div-gpt-ad-side" data-slot="side"></div></aside></div>'
            f'<footer class="footer"><ul>{static}</ul><ul>{nav}</ul>'
            f'<div class="socials">{social}</div>'
            "<p>Copyright © 2024 BeritaNusa. All Rights Reserved.</p></footer>"
            "<script>window.dataLayer=window.dataLayer||[];dataLayer.push({event:'pv'});"
            "</script></body></html>"
        )

    def _list(self, base: str, items: list[Story]) -> str:
        return "".join(
            f'<div class="article-list__item c030-card"><h2><a href="{base}{s.path}">'
            f'{escape(s.title)}</a></h2><span class="date">{s.published:%d/%m/%Y %H:%M}</span>'
            f"<p>{escape(self.paragraphs[s.paragraphs[0]][:140])}…</p></div>" for s in items)

    def home(self, base: str) -> str:
        main = "<h1>Berita Terbaru</h1>" + self._list(base, self.latest[:30])
        return self._shell(base, "BeritaNusa - Berita Terkini", main,
                           '<meta property="og:type" content="website">')

    def section_pages(self, base: str, name: str) -> dict[str, str]:
        listed = [s for s in self.latest if s.section == name]
        count = max(1, -(-len(listed) // PER_PAGE))
        out = {}
        for page in range(1, count + 1):
            paging = "".join(f'<a href="{base}/section/{name}?page={n}">{n}</a> '
                             for n in range(1, count + 1) if n != page)
            if page < count:
                paging += f'<a rel="next" href="{base}/section/{name}?page={page + 1}">»</a>'
            main = (f"<h1>{name.replace('-', ' ').title()}</h1>"
                    f"{self._list(base, listed[(page - 1) * PER_PAGE: page * PER_PAGE])}"
                    f'<div class="pagination">{paging}</div>')
            path = f"/section/{name}" + (f"?page={page}" if page > 1 else "")
            out[path] = self._shell(base, f"{name.title()} - BeritaNusa", main,
                                    '<meta property="og:type" content="website">')
        return out

    def tag(self, base: str, name: str) -> str:
        items = [s for s in self.latest if name in s.tags][:20]
        return self._shell(base, f"Tag {name} - BeritaNusa",
                           f"<h1>Tag: {escape(name)}</h1>{self._list(base, items)}")

    def static(self, base: str, name: str) -> str:
        main = (f"<h1>{name.replace('-', ' ').title()}</h1><p>BeritaNusa adalah media daring "
                "yang berkantor di Jakarta. Hubungi redaksi melalui surel.</p>")
        return self._shell(base, f"{name.title()} - BeritaNusa", main)

    def article(self, base: str, story: Story) -> str:
        url = f"{base}{story.path}"
        body = []
        for i, p in enumerate(story.paragraphs):
            body.append(f"<p>{escape(self.paragraphs[p])}</p>")
            if i in story.inline:
                r = self.stories[story.inline[i] - 1]
                tracking = "?utm_source=bacajuga" if r.id % 4 == 0 else ""
                body.append(f'<p><strong>Baca Juga: </strong><a href="{base}{r.path}'
                            f'{tracking}" class="inner-link-baca-juga">{escape(r.title)}</a></p>')
        if story.syndicated_of is not None:
            body.append("<p><em>Artikel ini telah tayang di media mitra dengan judul serupa."
                        "</em></p>")
        desc = escape(self.paragraphs[story.paragraphs[0]][:150])
        head = [
            f'<link rel="canonical" href="{url}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:title" content="{escape(story.title)}">',
            f'<meta property="og:url" content="{url}">',
            f'<meta property="og:image" content="{base}/img/{story.id}.jpg">',
            f'<meta name="description" content="{desc}">',
            f'<meta property="og:description" content="{desc}">',
            f'<meta property="article:published_time" content="{story.published.isoformat()}">',
            f'<meta property="article:section" content="{story.section.title()}">',
            f'<meta name="content_tag" content="{", ".join(story.tags)}">',
            f'<meta name="author" content="{story.author}">',
        ]
        if story.json_ld:
            ld = {"@context": "https://schema.org", "@type": "NewsArticle",
                  "mainEntityOfPage": {"@type": "WebPage", "@id": url},
                  "headline": story.title,
                  "image": {"@type": "ImageObject", "url": f"{base}/img/{story.id}.jpg"},
                  "datePublished": story.published.isoformat(),
                  "dateModified": story.published.isoformat(),
                  "author": {"@type": "Person", "name": story.author},
                  "publisher": {"@type": "Organization", "name": "BeritaNusa"},
                  "articleSection": story.section.title(), "inLanguage": "id"}
            head.append(f'<script type="application/ld+json">{json.dumps(ld)}</script>')
        related = "".join(
            f'<li><a href="{base}{self.stories[r - 1].path}">'
            f"{escape(self.stories[r - 1].title)}</a></li>" for r in story.block)
        tags = " ".join(f'<a href="{base}/tag/{t}">{t.replace("-", " ")}</a>'
                        for t in story.tags)
        main = (
            f'<div class="breadcrumb"><a href="{base}/">Home</a> › '
            f'<a href="{base}/section/{story.section}">{story.section.title()}</a></div>'
            f'<article class="read"><h1 class="read__title">{escape(story.title)}</h1>'
            f'<div class="read__info"><div class="read__author">Penulis: {story.author}</div>'
            f'<div class="read__time">{story.published:%d/%m/%Y, %H:%M} WIB</div></div>'
            f'<figure class="photo"><img src="{base}/img/{story.id}.jpg" alt="">'
            f"<figcaption>Ilustrasi. (BeritaNusa)</figcaption></figure>"
            f'<div class="read__content">{"".join(body)}</div>'
            f'<div class="c003-ad" id="div-gpt-ad-mid" data-slot="mid"></div>'
            f'<div class="read__tag">Tag: {tags}</div>'
            f'<div class="related-article"><h3 class="related__title">Artikel Terkait</h3>'
            f"<ul>{related}</ul></div></article>"
        )
        return self._shell(base, f"{story.title} - BeritaNusa", main, "".join(head))

    def robots(self, base: str) -> str:
        return f"User-agent: *\nDisallow: /private/\n\nSitemap: {base}/sitemap.xml\n"

    def sitemaps(self, base: str) -> dict[str, str]:
        chunks = [self.stories[i:i + SITEMAP_CHUNK]
                  for i in range(0, len(self.stories), SITEMAP_CHUNK)]
        out = {"/sitemap.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<sitemap><loc>{base}/sitemap-{n + 1}.xml</loc></sitemap>"
                      for n in range(len(chunks)))
            + "</sitemapindex>")}
        for n, chunk in enumerate(chunks):
            out[f"/sitemap-{n + 1}.xml"] = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<url><loc>{base}{s.path}</loc>"
                          f"<lastmod>{s.published.isoformat()}</lastmod></url>" for s in chunk)
                + "</urlset>")
        return out

    def render(self, base: str) -> dict[str, tuple[str, bytes]]:
        """Every page: path (with query) -> (content type, body)."""
        html_type = "text/html; charset=utf-8"
        xml_type = "application/xml; charset=utf-8"
        pages: dict[str, tuple[str, bytes]] = {
            "/robots.txt": ("text/plain; charset=utf-8", self.robots(base).encode()),
            "/": (html_type, self.home(base).encode()),
        }
        for path, text in self.sitemaps(base).items():
            pages[path] = (xml_type, text.encode())
        for name in SECTIONS:
            for path, text in self.section_pages(base, name).items():
                pages[path] = (html_type, text.encode())
        for name in TAGS:
            pages[f"/tag/{name}"] = (html_type, self.tag(base, name).encode())
        for name in STATIC:
            pages[f"/{name}"] = (html_type, self.static(base, name).encode())
        for story in self.stories:
            pages[story.path] = (html_type, self.article(base, story).encode())
        return pages


def http_responses(pages: dict[str, tuple[str, bytes]]) -> dict[bytes, bytes]:
    """Complete HTTP/1.1 responses (status line, headers, body) by request target."""
    out = {}
    for path, (ctype, body) in pages.items():
        out[path.encode()] = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Server: arsip-bench\r\n\r\n").encode() + body
    return out


NOT_FOUND = (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n"
             b"not found")


async def _serve(responses: dict[bytes, bytes], host: str, port: int,
                 ready: object) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    break
                line, _, rest = head.partition(b"\r\n")
                parts = line.split(b" ")
                target = parts[1] if len(parts) > 2 else b"/"
                response = responses.get(target)
                if response is None and b"?" in target:  # tracking parameters: same page
                    response = responses.get(target.split(b"?", 1)[0])
                writer.write(response or NOT_FOUND)
                await writer.drain()
                if b"connection: close" in rest.lower():
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=512)
    callback = ready  # called with the bound port
    callback(server.sockets[0].getsockname()[1])  # type: ignore[operator]
    async with server:
        await server.serve_forever()


def serve_main(argv: list[str] | None = None) -> None:
    """Child process entry: render the site for its port, print ``READY <port> <pages>
    <bytes>`` on stdout, serve until terminated."""
    import argparse
    import socket

    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    # bind first (the links in the pages hold the port), then render, then serve
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    started = time.perf_counter()
    pages = SyntheticSite(args.pages, args.seed).render(f"http://127.0.0.1:{port}")
    responses = http_responses(pages)
    articles = sum(1 for p in pages if p.startswith(ARTICLE_PREFIX))
    html_bytes = sum(len(b) for p, (_, b) in pages.items() if p.startswith(ARTICLE_PREFIX))
    links = pages[next(p for p in pages if p.startswith(ARTICLE_PREFIX))][1].count(b"<a ")

    def ready(bound: int) -> None:
        print(json.dumps({"port": bound, "pages": len(pages), "articles": articles,
                          "article_kb": round(html_bytes / max(articles, 1) / 1024, 1),
                          "links_per_article": links,
                          "render_s": round(time.perf_counter() - started, 2)}), flush=True)

    try:
        asyncio.run(_serve(responses, "127.0.0.1", port, ready))
    except KeyboardInterrupt:
        pass


async def _client(host: str, port: int, paths: list[bytes], connections: int,
                  seconds: float) -> tuple[int, int]:
    done = 0
    received = 0
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done, received
        reader, writer = await asyncio.open_connection(host, port)
        i = k
        try:
            while time.perf_counter() < deadline:
                path = paths[i % len(paths)]
                i += connections
                writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: bench\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                received += len(body)
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(connections)))
    return done, received


def measure_server(port: int, paths: list[str], *, connections: int = 16,
                   seconds: float = 2.0) -> dict[str, float]:
    """Pages/s (and MB/s) the server delivers to a keep-alive client: a lower bound, since
    this client is one Python process too."""
    targets = [p.encode() for p in paths]
    started = time.perf_counter()
    done, received = asyncio.run(_client("127.0.0.1", port, targets, connections, seconds))
    elapsed = time.perf_counter() - started
    return {"pages_per_s": round(done / elapsed, 1),
            "mb_per_s": round(received / elapsed / 1e6, 1)}


if __name__ == "__main__":  # pragma: no cover - `python -m arsip.bench.synthetic_site`
    serve_main(sys.argv[1:])
