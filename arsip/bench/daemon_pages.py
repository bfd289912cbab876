"""The small news site the daemon benchmarks crawl: a home page and two articles, served from
memory on a loopback address (one server per site in the schedule bench); and the daemon
they run, started on a config in a work folder."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PAGES = {
    "/": b"""<!doctype html><html lang="id"><head><meta charset="utf-8"><title>Beranda</title>
</head><body><h1>Berita</h1><ul><li><a href="/berita/1">Satu</a></li>
<li><a href="/berita/2">Dua</a></li></ul></body></html>""",
    "/berita/1": b"""<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Berita satu</title></head><body><article><h1>Berita satu</h1>
<p>Isi berita pertama untuk uji memori daemon arsip, cukup panjang untuk dibaca.</p>
</article></body></html>""",
    "/berita/2": b"""<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Berita dua</title></head><body><article><h1>Berita dua</h1>
<p>Isi berita kedua untuk uji memori daemon arsip, juga cukup panjang untuk dibaca.</p>
</article></body></html>""",
}



class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = PAGES.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def start_daemon(work: Path, config: str, db_url: str
                 ) -> tuple[subprocess.Popen[bytes], Path]:
    """``arsip daemon`` on ``config`` (written to ``work/arsip.toml``) and the archive
    ``db_url``: (the process, its log file)."""
    (work / "arsip.toml").write_text(config, encoding="utf-8")
    env = dict(os.environ, ARSIP_CONFIG=str(work / "arsip.toml"), ARSIP_DATABASE_URL=db_url)
    log_path = work / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arsip", "daemon", "--log-level", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=work)
    return proc, log_path
