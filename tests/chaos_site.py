"""A chaos fixture site: every fault a news site can throw at the crawler, next to a few good
articles that must all be archived. Served by ``SiteServer(ChaosSite().render)``."""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
from collections import Counter
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from arsip.sample_site.content import WIB, Story
from arsip.sample_site.server import RawResponse
from arsip.sample_site.site import Page, SampleSite

WORDS = (
    "pemerintah daerah mengumumkan rencana pembangunan jembatan baru yang menghubungkan dua "
    "kecamatan di tepi sungai besar warga menyambut baik kabar tersebut karena selama ini mereka "
    "harus memutar sejauh puluhan kilometer untuk mencapai pasar kota anggaran proyek berasal "
    "dari dana provinsi dan pusat serta ditargetkan selesai dalam dua tahun para insinyur sudah "
    "melakukan survei tanah dan menilai arus sungai pada musim hujan kepala dinas pekerjaan umum "
    "menyebut desain jembatan dibuat tahan gempa sesuai standar nasional"
).split()


def _story(num: int, slug: str, title: str) -> Story:
    # distinct texts: each story's sentences rotate the vocabulary differently
    paras = []
    for p in range(5):
        words = [WORDS[(num * 7 + p * 11 + i * (num + 3)) % len(WORDS)] for i in range(40)]
        paras.append(f"Kalimat {num}-{p}: " + " ".join(words).capitalize() + ".")
    return Story(id=f"9000{num:02d}", slug=slug, section="chaos", title=title,
                 author="Redaksi Uji", published=datetime(2022, 2, num, 9, 0, tzinfo=WIB),
                 paragraphs=paras)


GOOD = [
    _story(1, "berita-yang-awalnya-gagal-503", "Berita yang Awalnya Gagal dengan Kode 503"),
    _story(2, "berita-yang-datang-pelan-pelan", "Berita yang Datang Pelan-pelan dari Server"),
    _story(3, "berita-windows-1252-disebut-utf-8", "Berita “Windows-1252” yang Disebut UTF-8"),
    _story(4, "berita-utf-8-disebut-latin-1", "Berita Café UTF-8 yang Disebut Latin-1"),
    _story(5, "berita-tanpa-charset", "Berita Tanpa Charset Sama Sekali"),
]
FAULTS = [
    "/err500", "/reset", "/truncated", "/hang", "/loop-a", "/huge", "/huge-chunked", "/bomb",
    "/binary", "/binary-as-html", "/empty", "/frames", "/calendar/2022/01",
]
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>'
)
HUGE_BYTES = 50 * 1024 * 1024


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~200 KB of gzip that inflates to 256 MB of zeros."""
    chunk = b"\0" * (1024 * 1024)
    import io

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as f:
        for _ in range(256):
            f.write(chunk)
    return buf.getvalue()


def _reset(handler) -> None:  # type: ignore[no-untyped-def]
    # SO_LINGER 0: close() sends a TCP RST instead of a FIN
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()


def _truncated(handler) -> None:  # type: ignore[no-untyped-def]
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                        b"Content-Length: 100000\r\n\r\n<html><body><p>Awal berita yang ")
    handler.wfile.flush()


def _hang(handler) -> None:  # type: ignore[no-untyped-def]
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        b"Content-Length: 5000\r\n\r\n<html><body>")
    handler.wfile.flush()
    stop = threading.Event()
    stop.wait(60)  # never finishes (the server thread is a daemon)


def _stream_huge(chunked: bool):  # type: ignore[no-untyped-def]
    def action(handler) -> None:  # type: ignore[no-untyped-def]
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        head += b"Connection: close\r\n\r\n" if chunked else \
            f"Content-Length: {HUGE_BYTES}\r\n\r\n".encode()
        handler.wfile.write(head + b"<html><body>")
        block = b"<p>" + b"isi " * 2000 + b"</p>\n"
        sent = 0
        while sent < HUGE_BYTES:
            handler.wfile.write(block)
            sent += len(block)
    return action


class ChaosSite:
    def __init__(self) -> None:
        self.sample = SampleSite(list(GOOD))
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    def good_paths(self) -> list[str]:
        return [s.path for s in GOOD]

    def render(self, target: str, base: str) -> Page | RawResponse:
        parts = urlsplit(target)
        path = parts.path
        with self.lock:
            self.hits[path] += 1
            hits = self.hits[path]
        if path == "/robots.txt":
            return Page(200, (
                "User-agent: *\nDisallow: /private/\n"
                f"Sitemap: {base}/sitemap.xml\nSitemap: {base}/bad-sitemap.xml\n"
                f"Sitemap: {base}/bomb-sitemap.xml\n").encode(), {"Content-Type": "text/plain"})
        if path == "/":
            links = "".join(f'<li><a href="{base}{p}">{p}</a></li>'
                            for p in [*FAULTS, *self.good_paths()])
            return Page(200, (f"<html><head><title>Kacau</title></head><body><h1>Beranda</h1>"
                              f"<ul>{links}</ul></body></html>").encode(),
                        {"Content-Type": "text/html; charset=utf-8"})
        if path == "/sitemap.xml":
            return self.sample.render(target.replace("/sitemap.xml", "/sitemap-articles.xml"),
                                      base)
        if path == "/bad-sitemap.xml":
            return Page(200, b'<?xml version="1.0"?><urlset><url><loc>http://', {
                "Content-Type": "application/xml"})
        if path == "/bomb-sitemap.xml":
            body = BILLION_LAUGHS + (
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{base}/lol/&lol9;</loc></url></urlset>")
            return Page(200, body.encode(), {"Content-Type": "application/xml"})
        if path == "/bad-feed":
            return Page(200, b"\x00\x01 this is not a feed <rss", {"Content-Type": "application/rss+xml"})
        if path == "/bomb-feed":
            body = BILLION_LAUGHS + (f"<rss><channel><item><link>{base}/lol/&lol9;</link>"
                                     "</item></channel></rss>")
            return Page(200, body.encode(), {"Content-Type": "application/rss+xml"})
        if path == "/err500":
            return Page(500, b"Internal Server Error", {"Content-Type": "text/plain"})
        if path == "/reset":
            return RawResponse(_reset)
        if path == "/truncated":
            return RawResponse(_truncated)
        if path == "/hang":
            return RawResponse(_hang)
        if path == "/loop-a":
            return Page(302, b"", {"Location": f"{base}/loop-b"})
        if path == "/loop-b":
            return Page(302, b"", {"Location": f"{base}/loop-a"})
        if path == "/huge":
            return RawResponse(_stream_huge(chunked=False))
        if path == "/huge-chunked":
            return RawResponse(_stream_huge(chunked=True))
        if path == "/bomb":
            return Page(200, gzip_bomb(), {"Content-Type": "text/html; charset=utf-8",
                                           "Content-Encoding": "gzip"})
        if path == "/binary":
            return Page(200, bytes(range(256)) * 64, {"Content-Type": "application/octet-stream"})
        if path == "/binary-as-html":
            return Page(200, bytes(range(256)) * 64, {"Content-Type": "text/html"})
        if path == "/empty":
            return Page(200, b"", {"Content-Type": "text/html; charset=utf-8"})
        if path == "/frames":
            return Page(200, b'<html><frameset><frame src="/"></frameset></html>',
                        {"Content-Type": "text/html"})
        if path.startswith("/calendar/"):
            try:
                year, month = (int(x) for x in path.split("/")[2:4])
            except ValueError:
                return Page(404, b"", {})
            nxt = (year + month // 12, month % 12 + 1)
            prv = (year - (month == 1), (month - 2) % 12 + 1)
            body = (f"<html><body><h1>Arsip {year}-{month:02d}</h1>"
                    f'<a href="{base}/calendar/{nxt[0]}/{nxt[1]:02d}">berikutnya</a> '
                    f'<a href="{base}/calendar/{prv[0]}/{prv[1]:02d}">sebelumnya</a></body></html>')
            return Page(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})
        story = next((s for s in GOOD if path == s.path), None)
        if story is not None:
            page = self.sample.render(target, base)
            if story.id == "900001" and hits == 1:
                return Page(503, b"Service Unavailable", {"Retry-After": "1",
                                                          "Content-Type": "text/plain"})
            if story.id == "900002":
                time.sleep(1.5)
            if story.id == "900003":
                text = page.body.decode("utf-8").replace('charset="utf-8"', "") \
                    .replace("<meta charset=\"utf-8\">", "")
                return Page(200, text.encode("cp1252", "replace"),
                            {"Content-Type": "text/html; charset=utf-8"})
            if story.id == "900004":
                text = page.body.decode("utf-8").replace('<meta charset="utf-8">', "")
                return Page(200, text.encode("utf-8"),
                            {"Content-Type": "text/html; charset=iso-8859-1"})
            if story.id == "900005":
                text = page.body.decode("utf-8").replace('<meta charset="utf-8">', "")
                return Page(200, text.encode("utf-8"), {"Content-Type": "text/html"})
            return page
        return self.sample.render(target, base)
