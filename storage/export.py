"""Streaming export of the archive: JSONL / CSV records of articles, WARC of raw responses.

Constant memory for any archive size: articles are read in keyset pages (``id > last``,
``PAGE`` rows at a time, never ``.all()`` of the archive) and each page's aliases, links and
versions come from one query each, so the cost per article stays flat.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from http import HTTPStatus
from typing import Any, BinaryIO, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from storage.filters import ArticleFilter
from storage.models import Article, ArticleLink, ArticleURL, ArticleVersion, RawPage, Site
from storage.raw_store import read_raw

PAGE = 500

EXPORT_COLUMNS = [
    "id", "url", "urls", "site", "title", "authors", "published", "published_utc",
    "modified", "language", "description", "section", "tags", "image", "body", "related",
    "duplicate_of", "versions", "first_seen", "last_seen",
]

# stored bodies are decoded; these headers would describe the wire form, not the record
DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def iter_articles(session: Session, filters: ArticleFilter | None = None, *,
                  page: int = PAGE) -> Iterator[dict[str, Any]]:
    """One dict per article (JSON-ready), in id order, streamed page by page."""
    filters = filters or ArticleFilter()
    a = aliased(Article, name="a")
    orig = aliased(Article, name="orig")
    condition = filters.clause(session)
    after = 0
    while True:
        stmt = (
            select(a.id, a.canonical_url, a.title, a.authors, a.published,
                   a.published_local, a.modified, a.modified_local, a.language,
                   a.description, a.section, a.tags, a.image, a.body, a.first_seen,
                   a.last_seen, Site.name.label("site"),
                   orig.canonical_url.label("duplicate_of"))
            .join(Site, Site.id == a.site_id)
            .outerjoin(orig, orig.id == a.duplicate_of_id)
            .where(a.id > after)
            .order_by(a.id)
            .limit(page)
        )
        if condition is not None:
            stmt = stmt.where(condition)
        rows = session.execute(stmt).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        urls = _grouped(session, select(ArticleURL.article_id, ArticleURL.url)
                        .where(ArticleURL.article_id.in_(ids))
                        .order_by(ArticleURL.article_id, ArticleURL.id))
        target = aliased(Article, name="target")
        related = _grouped(session, select(
            ArticleLink.from_article_id, func.coalesce(target.canonical_url, ArticleLink.to_url))
            .outerjoin(ArticleURL, ArticleURL.url == ArticleLink.to_url)
            .outerjoin(target, target.id == ArticleURL.article_id)
            .where(ArticleLink.from_article_id.in_(ids))
            .order_by(ArticleLink.from_article_id, ArticleLink.position, ArticleLink.id))
        versions = _grouped(session, select(
            ArticleVersion.article_id, ArticleVersion.version, ArticleVersion.first_seen,
            ArticleVersion.last_seen)
            .where(ArticleVersion.article_id.in_(ids))
            .order_by(ArticleVersion.article_id, ArticleVersion.version))
        for article in rows:
            yield {
                "id": article.id,
                "url": article.canonical_url,
                "urls": urls.get(article.id, []),
                "site": article.site,
                "title": article.title,
                "authors": list(article.authors or []),
                "published": article.published_local or _iso(article.published),
                "published_utc": _iso(article.published),
                "modified": article.modified_local or _iso(article.modified),
                "language": article.language,
                "description": article.description,
                "section": article.section,
                "tags": list(article.tags or []),
                "image": article.image,
                "body": article.body,
                "related": list(dict.fromkeys(related.get(article.id, []))),
                "duplicate_of": article.duplicate_of,
                "versions": [
                    {"version": v, "first_seen": _iso(f), "last_seen": _iso(last)}
                    for v, f, last in versions.get(article.id, [])
                ],
                "first_seen": _iso(article.first_seen),
                "last_seen": _iso(article.last_seen),
            }
        after = ids[-1]


def _grouped(session: Session, stmt: Any) -> dict[int, list[Any]]:
    result: dict[int, list[Any]] = {}
    for row in session.execute(stmt):
        rest = row[1:]
        result.setdefault(row[0], []).append(rest[0] if len(rest) == 1 else tuple(rest))
    return result


def write_jsonl(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    """CSV with the JSONL fields as columns; lists and objects as JSON text."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for record in records:
        writer.writerow([_csv_cell(record.get(c)) for c in EXPORT_COLUMNS])
        count += 1
    return count


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


# --- WARC ---------------------------------------------------------------------------------

def iter_raw_pages(session: Session, filters: ArticleFilter | None = None, *,
                   page: int = PAGE) -> Iterator[RawPage]:
    """The stored raw responses of the selected articles, in fetch order per id."""
    filters = filters or ArticleFilter()
    a = aliased(Article, name="a")
    condition = filters.clause(session)
    after = 0
    while True:
        stmt = (select(RawPage).join(a, a.id == RawPage.article_id)
                .where(RawPage.id > after).order_by(RawPage.id).limit(page))
        if condition is not None:
            stmt = stmt.where(condition)
        rows = session.execute(stmt).scalars().all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
        session.expunge_all()


def header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Stored headers (a dict of str or list values, or a list of pairs) as (name, value)."""
    pairs: list[tuple[str, str]] = []
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, bytes):
                v = v.decode("latin-1")
            pairs.append((str(name), " ".join(str(v).split())))
    return pairs


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def write_warc(session: Session, out: BinaryIO, filters: ArticleFilter | None = None,
               *, filename: str = "arsip.warc.gz") -> int:
    """Write the raw responses as gzip-per-record WARC/1.0 ``response`` records.

    WARC-Target-URI is the URL the page was fetched from and WARC-Date its fetch time; the
    HTTP header block is rebuilt from the stored status and headers, without
    Content-Encoding / Transfer-Encoding (the stored body is decoded) and with the body's
    real Content-Length. Returns the number of response records.
    """
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.timeutils import datetime_to_iso_date
    from warcio.warcwriter import WARCWriter

    from config import __version__

    writer = WARCWriter(out, gzip=True, warc_version="WARC/1.0")
    info = writer.create_warcinfo_record(filename, {
        "software": f"arsip {__version__} (warcio)",
        "format": "WARC File Format 1.0",
    })
    writer.write_record(info)
    count = 0
    for raw in iter_raw_pages(session, filters):
        # decompressed whatever the store's codec (gzip, zstd with a site dictionary): the
        # records are ordinary gzip WARC records
        body = read_raw(session, raw)
        headers = [(k, v) for k, v in header_pairs(raw.headers)
                   if k.lower() not in DROPPED_HEADERS]
        headers.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(_status_line(raw.status), headers,
                                        protocol="HTTP/1.1")
        fetched = raw.fetched_at
        record = writer.create_warc_record(
            raw.url, "response", payload=io.BytesIO(body), length=len(body),
            http_headers=http_headers,
            warc_headers_dict={"WARC-Date": datetime_to_iso_date(fetched.replace(tzinfo=None))},
        )
        writer.write_record(record)
        count += 1
    return count
