"""Shared bits of the extraction tests: the saved test pages and the seed's paragraphs."""

from __future__ import annotations

from pathlib import Path

PAGES = Path(__file__).resolve().parent / "data" / "pages"
ARTICLE_URL = ("https://intisari.grid.id/read/033087521/rusia-marah-besar-sampai-ungkit-"
               "intervensi-as-di-irak-gara-gara-amerika-sebut-kazakhstan-bisa-mengalami-"
               "masalah-besar")
SITE = "https://intisari.grid.id"


def page_bytes(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def seed_parts(seed_text: str) -> tuple[str, list[str], list[str]]:
    """(title, real paragraphs, "Baca Juga" titles) of the seed article."""
    blocks = [b.strip() for b in seed_text.split("\n\n") if b.strip()]
    title = blocks[0]
    start = next(i for i, b in enumerate(blocks) if b.startswith("Intisari-online.com"))
    end = blocks.index("Artikel Terkait") if "Artikel Terkait" in blocks else len(blocks)
    paragraphs = [b for b in blocks[start:end] if not b.startswith("Baca Juga:")]
    baca = [b.split(":", 1)[1].strip() for b in blocks[start:end] if b.startswith("Baca Juga:")]
    return title, paragraphs, baca
