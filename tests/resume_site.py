"""A fixture news site for resumed and scheduled crawls: stories that only related links reach.

Built on the sample site (``SampleSite`` with a story list of its own), on 127.0.0.1:
  L1..L4  listed (home page, section pages, sitemap); L1's related block also names L2
  R1..R4  unlisted: only Li's related block links Ri (1 hop from a listing)
  S1..S4  unlisted: only Ri's inline "Baca Juga" links Si (2 hops)
  T1..T4  unlisted: only Si links Ti (3 hops: never archived with ``related_depth = 2``)
Each story's text is its own (random words of its own seed), so none is a near-copy of another.

``GatedSite`` wraps the renderer: while ``hold`` names paths, requests for them wait (the
page is "in flight") until ``release()``; ``failing`` paths answer 500; every answered
``/read/`` request is counted in ``served``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime

from arsip.sample_site.content import WIB, Story
from arsip.sample_site.server import RawResponse
from arsip.sample_site.site import Page, SampleSite

VOCABULARY = (
    "pemerintah daerah mengumumkan rencana pembangunan jembatan baru menghubungkan dua "
    "kecamatan tepi sungai besar warga menyambut baik kabar tersebut karena selama mereka "
    "harus memutar sejauh puluhan kilometer mencapai pasar kota anggaran proyek berasal "
    "dana provinsi pusat serta ditargetkan selesai tahun para insinyur sudah melakukan survei "
    "tanah menilai arus musim hujan kepala dinas pekerjaan umum menyebut desain dibuat tahan "
    "gempa sesuai standar nasional petani nelayan pedagang sekolah rumah sakit bandara "
    "pelabuhan listrik air bersih jalan tol kereta bus angkutan harga beras cabai minyak"
).split()
LAYERS = "LRST"
COUNT = 4


def story_id(layer: str, n: int) -> str:
    return f"77{LAYERS.index(layer)}{n:03d}"


def _story(layer: str, n: int) -> Story:
    sid = story_id(layer, n)
    rng = random.Random(sid)
    paragraphs = [f"Laporan {layer}{n} bagian {p}: "
                  + " ".join(rng.choice(VOCABULARY) for _ in range(45)).capitalize() + "."
                  for p in range(5)]
    inline: dict[int, list[str]] = {}
    block: list[str] = []
    if layer == "L":
        block = [story_id("R", n)] + ([story_id("L", 2)] if n == 1 else [])
    elif layer in "RS":
        inline = {2: [story_id(LAYERS[LAYERS.index(layer) + 1], n)]}
    return Story(id=sid, slug=f"kabar-{layer.lower()}{n}-dari-daerah", section="daerah",
                 title=f"Kabar {layer}{n} dari Daerah: Rencana Baru Warga",
                 author="Redaksi Uji", published=datetime(2021, 3, 1 + n, LAYERS.index(layer) + 8,
                                                            tzinfo=WIB),
                 paragraphs=paragraphs, inline=inline, block=block, listed=layer == "L")


def resume_stories() -> list[Story]:
    return [_story(layer, n) for layer in LAYERS for n in range(1, COUNT + 1)]


def path_of(layer: str, n: int) -> str:
    return _story(layer, n).path


class GatedSite:
    def __init__(self) -> None:
        self.site = SampleSite(resume_stories())
        self.hold: set[str] = set()
        self.failing: set[str] = set()
        self.served: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._open = threading.Event()

    def release(self) -> None:
        """Let held requests go on (and hold nothing from now on)."""
        self.hold = set()
        self._open.set()

    def render(self, target: str, base: str) -> Page | RawResponse:
        path = target.split("?")[0]
        if path in self.hold:
            self._open.wait(120)
        if path in self.failing:
            return Page(500, b"Internal Server Error", {"Content-Type": "text/plain"})
        page = self.site.render(target, base)
        if path.startswith("/read/"):
            with self.lock:
                self.served[path] += 1
        return page
