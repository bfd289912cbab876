"""SQLAlchemy 2 typed models of the archive.

The schema itself is made by the Alembic migrations in ``migrations/``; these models must
match them (``alembic check`` in CI, ``tests/test_migrations.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

URL_LEN = 2048


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (UTC).

    SQLite has no timezone type; storing naive UTC and re-attaching UTC on load keeps
    comparisons and ordering right on both backends.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    """A news site: a configured one (``arsip.toml``) or the host of an ad-hoc crawl."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrawlRun(Base):
    """One crawl of one site: started by the CLI, the daemon or a worker fleet."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    # running, finished, failed, timeout, interrupted, abandoned
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    trigger: Mapped[str] = mapped_column(String(20), default="cli")  # cli, daemon, worker
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    pid: Mapped[int | None]
    hostname: Mapped[str | None] = mapped_column(String(255))
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    site: Mapped[Site] = relationship()


class Article(Base):
    """One story: its current clean text and metadata. Unique by canonical URL."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    canonical_url: Mapped[str] = mapped_column(String(URL_LEN), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[Any]] = mapped_column(default=list)
    published: Mapped[datetime | None] = mapped_column(index=True)
    # the publication time as the page gave it, ISO 8601 with its own UTC offset
    published_local: Mapped[str | None] = mapped_column(String(40))
    modified: Mapped[datetime | None]
    modified_local: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(URL_LEN))
    section: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    # sha256 of the normalised clean body: exact-duplicate detection
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    # MinHash signature of the clean body's shingles (uint32 array bytes)
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    similarity: Mapped[float | None]  # estimated Jaccard to duplicate_of
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_checked: Mapped[datetime] = mapped_column(default=utcnow)
    etag: Mapped[str | None] = mapped_column(String(255))
    last_modified_header: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id", ondelete="SET NULL"))
    # the extraction that produced the fields: "<arsip version>+rules.<N>"
    # (crawler.extraction.version.EXTRACTOR_VERSION); NULL: stored before it was recorded
    extractor_version: Mapped[str | None] = mapped_column(String(40))

    site: Mapped[Site] = relationship()

    # per-site counts, near-duplicates and first/last publication off an index
    # (storage.queries.site_stats; migration 0004)
    # ... and the near-duplicates' ids alone (search leaves them out: migration 0006)
    # ... and the articles first archived per day and site (the sites page's chart,
    # storage.dashboard.articles_per_day: migration 0008; first_seen first, so that no
    # per-site count takes it for ix_articles_site_stats, which covers them)
    __table_args__ = (
        Index("ix_articles_site_stats", "site_id", "published", "duplicate_of_id"),
        Index("ix_articles_first_seen_site", "first_seen", "site_id"),
        Index("ix_articles_duplicates", "id",
              sqlite_where=text("duplicate_of_id IS NOT NULL"),
              postgresql_where=text("duplicate_of_id IS NOT NULL")),
    )


class ArticleURL(Base):
    """Every URL known for an article (its canonical URL included): the alias table."""

    __tablename__ = "article_urls"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(URL_LEN), unique=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    # canonical, fetched, redirect, amp, page, alias, copy (same body on another URL)
    kind: Mapped[str] = mapped_column(String(20), default="alias")
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleLink(Base):
    """A related-article link found in an article ("Baca Juga" inline or end block)."""

    __tablename__ = "article_links"
    __table_args__ = (UniqueConstraint("from_article_id", "to_url", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    from_article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    to_url: Mapped[str] = mapped_column(String(URL_LEN), index=True)  # canonical URL
    kind: Mapped[str] = mapped_column(String(10))  # inline, block
    anchor: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class RawDictionary(Base):
    """A compression dictionary trained on one site's stored raw pages (zstandard).

    Never deleted while a page uses it (``raw_pages.dictionary_id``): every page stays
    readable. ``pages``: how many pages it was trained on; ``ratio``: stored/raw bytes of
    those pages compressed with it (the mark that new pages are compared with)."""

    __tablename__ = "raw_dictionaries"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    codec: Mapped[str] = mapped_column(String(20), default="zstd")
    dictionary: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    ratio: Mapped[float | None] = mapped_column(Float)


class RawPage(Base):
    """The raw HTTP response of an archived page, compressed, for re-extraction and WARC.

    ``body_gz`` (the name is historical) holds the page compressed with ``codec``: ``gzip``
    (every page stored before revision 0003) or ``zstd`` (with the site dictionary
    ``dictionary_id``, or none); ``storage.raw_store.read_raw`` reads any of them."""

    __tablename__ = "raw_pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(URL_LEN))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[int] = mapped_column(Integer, default=200)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body_gz: Mapped[bytes] = mapped_column(LargeBinary)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    codec: Mapped[str] = mapped_column(String(10), default="gzip", server_default="gzip")
    dictionary_id: Mapped[int | None] = mapped_column(ForeignKey("raw_dictionaries.id"),
                                                      index=True)
    raw_size: Mapped[int | None] = mapped_column(BigInteger)  # uncompressed bytes
    # the n-th page (0: the first) of a multi-page article's pages fetched together
    part: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ArticleVersion(Base):
    """An earlier text of an article, kept when a re-check found the text changed."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    # why the text changed: "changed" (on the site) or "reextract" (a newer extraction)
    reason: Mapped[str] = mapped_column(String(20), default="changed", server_default="changed")


class MinHashBand(Base):
    """LSH index of the near-duplicate detector, kept in the database (not in memory)."""

    __tablename__ = "minhash_bands"
    __table_args__ = (Index("ix_minhash_bands_band_key", "band", "key"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    band: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger)


class RunRequest(Base):
    """`arsip schedule run SITE`: a run asked for through the database, picked up by the daemon."""

    __tablename__ = "run_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    picked_at: Mapped[datetime | None]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id", ondelete="SET NULL"))


class DaemonHeartbeat(Base):
    """The running daemon's liveness record, so the CLI can tell whether one is running."""

    __tablename__ = "daemon_heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
