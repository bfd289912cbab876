"""Test data: fill an archive through the ORM (sites, articles, aliases, links, raw pages,
versions, near-duplicates), as the crawler would leave it."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import (
    Article,
    ArticleLink,
    ArticleURL,
    ArticleVersion,
    CrawlRun,
    RawPage,
    Site,
)

BASE_TIME = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def html_page(title: str, body: str) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n") if p.strip())
    return (f"<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\"><title>{title}"
            f"</title></head><body><h1>{title}</h1>{paragraphs}</body></html>").encode()


@dataclass
class ArchiveFactory:
    session: Session
    sites: dict[str, int] = field(default_factory=dict)
    counter: int = 0

    def site(self, name: str) -> int:
        if name not in self.sites:
            existing = self.session.execute(select(Site.id).where(Site.name == name)).scalar()
            if existing is None:
                site = Site(name=name)
                self.session.add(site)
                self.session.flush()
                existing = site.id
            self.sites[name] = existing
        return self.sites[name]

    def article(
        self,
        *,
        title: str,
        body: str,
        site: str = "intisari",
        url: str | None = None,
        aliases: tuple[str, ...] = (),
        published: datetime | None = None,
        published_local: str | None = None,
        authors: list[str] | None = None,
        language: str | None = "id",
        section: str | None = "News",
        tags: list[str] | None = None,
        duplicate_of: Article | None = None,
        raw_html: bytes | None = None,
        headers: dict[str, Any] | None = None,
        fetched_at: datetime | None = None,
        **extra: Any,
    ) -> Article:
        self.counter += 1
        n = self.counter
        url = url or f"https://{site}.example/read/{n:05d}/artikel-{n}"
        published = published if published is not None else BASE_TIME + timedelta(days=n)
        article = Article(
            site_id=self.site(site),
            canonical_url=url,
            title=title,
            authors=authors if authors is not None else ["Tim Redaksi"],
            published=published,
            published_local=published_local,
            language=language,
            section=section,
            tags=tags or [],
            body=body,
            content_hash=hashlib.sha256(body.encode()).hexdigest(),
            duplicate_of_id=duplicate_of.id if duplicate_of is not None else None,
            similarity=0.9 if duplicate_of is not None else None,
            **{"first_seen": BASE_TIME + timedelta(days=n, hours=1),
               "last_seen": BASE_TIME + timedelta(days=n, hours=2), **extra},
        )
        self.session.add(article)
        self.session.flush()
        self.session.add(ArticleURL(url=url, article_id=article.id, kind="canonical"))
        for alias in aliases:
            self.session.add(ArticleURL(url=alias, article_id=article.id, kind="alias"))
        fetched = fetched_at or BASE_TIME + timedelta(days=n, hours=1)
        html = raw_html if raw_html is not None else html_page(title, body)
        self.session.add(RawPage(
            article_id=article.id,
            url=aliases[0] if aliases else url,
            fetched_at=fetched,
            status=200,
            headers=headers if headers is not None else {
                "Content-Type": "text/html; charset=utf-8",
                "Content-Encoding": "gzip",
                "Content-Length": "123",
                "ETag": f'"etag-{n}"',
            },
            body_gz=gzip.compress(html),
            raw_size=len(html),
            content_hash=hashlib.sha256(html).hexdigest(),
        ))
        self.session.flush()
        return article

    def link(self, source: Article, to_url: str, *, kind: str = "inline",
             anchor: str | None = None, position: int = 0) -> None:
        self.session.add(ArticleLink(from_article_id=source.id, to_url=to_url, kind=kind,
                                     anchor=anchor, position=position))
        self.session.flush()

    def version(self, article: Article, *, title: str | None, body: str, version: int,
                first_seen: datetime, last_seen: datetime, reason: str = "changed") -> None:
        self.session.add(ArticleVersion(
            article_id=article.id, version=version, title=title, body=body,
            content_hash=hashlib.sha256(body.encode()).hexdigest(),
            first_seen=first_seen, last_seen=last_seen, reason=reason,
        ))
        self.session.flush()

    def run(self, site: str, status: str = "finished",
            finished_at: datetime | None = None) -> None:
        self.session.add(CrawlRun(
            site_id=self.site(site), status=status, trigger="cli",
            started_at=BASE_TIME, finished_at=finished_at or BASE_TIME + timedelta(hours=1),
            stats={},
        ))
        self.session.flush()


def filler(words: int, seed: int = 0) -> str:
    """Neutral Indonesian-looking text that matches none of the tests' query words."""
    vocab = ("pemerintah daerah warga kota rencana pembangunan jalan baru tahun depan "
             "menurut keterangan pejabat setempat kegiatan berlangsung lancar masyarakat "
             "menyambut baik program tersebut").split()
    return " ".join(vocab[(i * 7 + seed) % len(vocab)] for i in range(words))
