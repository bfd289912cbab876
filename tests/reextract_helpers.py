"""Archives for the re-extraction and raw page store tests: articles stored through the
crawl's own write path (``store_page``), whose stored fields may differ from what their raw
pages give today (as after an extraction rule changed)."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crawler.dedup import fingerprint
from crawler.reextract import extract_stored
from storage.archive import ArchivedPage, LinkRecord, store_page
from storage.models import Site

WORDS = ("pemerintah daerah warga kota rencana pembangunan jalan baru tahun depan menurut "
         "keterangan pejabat setempat kegiatan berlangsung lancar masyarakat menyambut baik "
         "program tersebut presiden menteri rapat gedung sekolah rumah sakit pasar harga beras "
         "minyak banjir hujan musim panas laut pantai gunung desa petani nelayan").split()


def story(seed: int, paragraphs: int = 6) -> str:
    rng = random.Random(seed)
    return "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + "."
                       for _ in range(paragraphs))


def news_page(title: str, body: str, *, author: str = "Rina Wijaya",
              published: str = "2024-03-01T08:00:00+07:00",
              related: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A news page in a common template (the same navigation and footer on every page)."""
    paras = "".join(f"<p>{p}</p>" for p in body.split("\n\n") if p.strip())
    links = "".join(f'<li><a href="{u}">{t}</a></li>' for u, t in related)
    block = f'<div class="baca-juga"><h3>Baca Juga</h3><ul>{links}</ul></div>' if links else ""
    nav = "".join(f'<li><a href="/section/{w}">{w.title()}</a></li>' for w in WORDS[:20])
    return (
        '<!doctype html><html lang="id"><head><meta charset="utf-8">'
        f"<title>{title} - Kabar Kota</title>"
        '<meta property="og:type" content="article">'
        f'<meta property="article:published_time" content="{published}">'
        f'<meta name="author" content="{author}">'
        "<style>body{font-family:sans-serif}.nav li{display:inline}</style></head><body>"
        f'<header><ul class="nav">{nav}</ul></header>'
        f"<main><article><h1>{title}</h1><div class=\"byline\">Oleh {author}</div>"
        f'<div class="content">{paras}</div>{block}</article></main>'
        '<footer><p>Kabar Kota &copy; 2024. Semua hak dilindungi. Redaksi, Pedoman Media '
        "Siber, Kebijakan Privasi, Kontak.</p></footer></body></html>"
    ).encode()


def site_id(session: Session, name: str = "kabar") -> int:
    found = session.execute(select(Site.id).where(Site.name == name)).scalar()
    if found is None:
        session.add(Site(name=name))
        session.flush()
        found = session.execute(select(Site.id).where(Site.name == name)).scalar_one()
    return found


def store(session: Session, url: str, html: bytes, *, title: str | None = None,
          body: str | None = None, authors: list[str] | None = None,
          site: str = "kabar", extractor_version: str | None = None) -> int:
    """Store ``html`` as the crawl would, but with the given (stale) fields instead of what
    the page gives today; without them, what the page gives (the same as a crawl)."""
    article, _ = extract_stored(html, url, "utf-8")
    assert article.is_article, url
    text_ = body if body is not None else article.body
    page = ArchivedPage(
        url=url, canonical_url=url, title=title if title is not None else article.title,
        authors=authors if authors is not None else list(article.authors),
        published_local=article.published, language=article.language,
        description=article.description, image=article.image, section=article.section,
        tags=list(article.tags), body=text_,
        related=[LinkRecord(r.url, r.title, r.kind) for r in article.related]
        if body is None else [],
        fingerprint=fingerprint(text_), raw_body=html,
        headers={"Content-Type": "text/html; charset=utf-8"},
        extractor_version=extractor_version,
    )
    from crawler.pipelines import _parse_dt

    page.published = _parse_dt(article.published)
    return store_page(session, site_id(session, site), page, near_threshold=0.6).article_id


URL = "http://kabar.test/read/{}/berita-{}"


def url(n: int) -> str:
    return URL.format(n, n)


def run(engine: Any, **kwargs: Any) -> Any:
    """``reextract`` on ``engine``'s archive (without worker processes unless asked)."""
    from crawler.reextract import Options, reextract

    kwargs.setdefault("workers", 0)
    return reextract(lambda: Session(engine), Options(**kwargs))


TABLES = ("articles", "article_versions", "article_links", "minhash_bands", "raw_pages",
          "raw_dictionaries", "article_urls")


def snapshot(engine: Any) -> dict[str, list[Any]]:
    """Every row of the archive's tables (to prove that nothing was written)."""
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
                for t in TABLES}
