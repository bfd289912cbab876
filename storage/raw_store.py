"""The stored raw pages and the per-site compression dictionaries, in the database.

Dictionaries (``raw_dictionaries``), per site:

- trained on the site's own stored pages once it has ``MIN_TRAIN_PAGES`` of them (the
  archive writer checks after its batches, ``maybe_train``), on at most
  ``MAX_TRAIN_PAGES`` of its latest pages;
- retrained when the site has ``GROWTH`` times the pages its dictionary was trained on, up
  up to ``MAX_TRAIN_PAGES`` when that at least doubles the sample (10 pages, then 50 to
  100: a dictionary from more pages knows more of the site's templates), every
  ``RETRAIN_EVERY`` pages stored since, and when the pages stored with it since it was
  made compress more than ``DEGRADED`` times worse than its training sample did (a new
  template), checked every ``CHECK_EVERY`` pages;
- never deleted while a page uses one: each page records its dictionary id.

``compact`` recompresses a site's pages with its current dictionary (gzip pages, and zstd
pages of an older dictionary or none), in batches of short transactions (resumable: a page
done is at the current dictionary and is not read again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from storage import raw_codec
from storage.models import Article, RawDictionary, RawPage, Site, utcnow
from storage.raw_codec import Dictionary

MIN_TRAIN_PAGES = 10
MAX_TRAIN_PAGES = 100
GROWTH = 5
RETRAIN_EVERY = 5000
CHECK_EVERY = 500
DEGRADED = 1.3
COMPACT_BATCH = 200
CHECK_PAGES = 200  # the crawl's writer asks needs_training every this many pages stored
RECOMPRESS_FEW = 500  # a new dictionary recompresses the site's older pages when this few


def current_dictionary(session: Session, site_id: int) -> Dictionary | None:
    """The site's newest dictionary, if it has one."""
    row = session.connection().execute(
        select(RawDictionary.id, RawDictionary.dictionary)
        .where(RawDictionary.site_id == site_id).order_by(RawDictionary.id.desc()).limit(1)
    ).first()
    return Dictionary(row.id, bytes(row.dictionary)) if row is not None else None


def dictionary(session: Session, dictionary_id: int) -> Dictionary:
    """A dictionary by id (cached per database: a dictionary never changes)."""
    url = str(session.get_bind().engine.url)

    def load() -> bytes:
        table = cast(Table, RawDictionary.__table__)  # Core: no ORM compile (5 ms, once)
        return bytes(session.connection().execute(
            select(table.c.dictionary).where(table.c.id == dictionary_id)).scalar_one())

    return _dictionary_by_id_cached(url, dictionary_id, load)


_CACHE: dict[tuple[str, int], Dictionary] = {}


def _dictionary_by_id_cached(url: str, dictionary_id: int,
                             load: Callable[[], bytes]) -> Dictionary:
    key = (url, dictionary_id)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        found = _CACHE[key] = Dictionary(dictionary_id, load())
    return found


def read_body(session: Session, codec: str, data: bytes, dictionary_id: int | None) -> bytes:
    """A stored page's raw bytes, whatever its codec."""
    zdict = dictionary(session, dictionary_id) if dictionary_id is not None else None
    return raw_codec.decompress(codec, bytes(data), zdict)


def read_raw(session: Session, page: RawPage) -> bytes:
    return read_body(session, page.codec, page.body_gz, page.dictionary_id)


# --- training ---------------------------------------------------------------------------

def _site_pages(session: Session, site_id: int) -> Any:
    return select(RawPage.id).join(Article, Article.id == RawPage.article_id) \
        .where(Article.site_id == site_id)


def _sample(session: Session, site_id: int, limit: int) -> list[bytes]:
    rows = session.connection().execute(
        select(RawPage.codec, RawPage.body_gz, RawPage.dictionary_id)
        .join(Article, Article.id == RawPage.article_id)
        .where(Article.site_id == site_id).order_by(RawPage.id.desc()).limit(limit)
    ).all()
    return [read_body(session, r.codec, r.body_gz, r.dictionary_id) for r in rows]


def train_dictionary(session: Session, site_id: int) -> Dictionary | None:
    """Train and store a new dictionary on the site's latest pages (None: too few pages,
    or pages zstd cannot train on)."""
    samples = _sample(session, site_id, MAX_TRAIN_PAGES)
    if len(samples) < MIN_TRAIN_PAGES:
        return None
    try:
        data = raw_codec.train(samples)
    except Exception:  # noqa: BLE001 - zstd found nothing to learn: stay without one
        return None
    candidate = Dictionary(-1, data)
    probe = samples[: min(len(samples), 20)]
    ratio = sum(len(raw_codec.compress(s, candidate).data) for s in probe) / \
        max(1, sum(len(s) for s in probe))
    new_id = session.connection().execute(
        insert(RawDictionary).returning(RawDictionary.id),
        {"site_id": site_id, "codec": raw_codec.ZSTD, "dictionary": data,
         "created_at": utcnow(), "pages": len(samples), "ratio": ratio},
    ).scalar_one()
    return Dictionary(new_id, data)


@dataclass
class TrainCheck:
    """What ``needs_training`` found (for the caller's log)."""

    train: bool
    reason: str = ""


def needs_training(session: Session, site_id: int) -> TrainCheck:
    conn = session.connection()
    current = conn.execute(
        select(RawDictionary.id, RawDictionary.pages, RawDictionary.ratio)
        .where(RawDictionary.site_id == site_id).order_by(RawDictionary.id.desc()).limit(1)
    ).first()
    if current is None:
        total = conn.execute(select(func.count()).select_from(
            _site_pages(session, site_id).limit(MIN_TRAIN_PAGES).subquery())).scalar_one()
        return TrainCheck(total >= MIN_TRAIN_PAGES, "first dictionary")
    since = conn.execute(
        select(func.count(), func.sum(func.length(RawPage.body_gz)), func.sum(RawPage.raw_size))
        .where(RawPage.dictionary_id == current.id)
    ).one()
    used = since[0] or 0
    # from a few pages to many: retrained once the sample would be GROWTH times larger (or
    # the largest one, when that is at least twice as large)
    sample = min(MAX_TRAIN_PAGES, used + current.pages)
    if sample >= min(GROWTH * current.pages, MAX_TRAIN_PAGES) and sample >= 2 * current.pages:
        return TrainCheck(True, f"grown from {current.pages} pages")
    if used >= RETRAIN_EVERY:
        return TrainCheck(True, f"{used} pages since the last one")
    if used >= CHECK_EVERY and current.ratio and since[2]:
        ratio = (since[1] or 0) / since[2]
        if ratio > current.ratio * DEGRADED:
            return TrainCheck(True, f"ratio {ratio:.3f} against {current.ratio:.3f}")
    return TrainCheck(False)


def recompress_few(session: Session, site_id: int, zdict: Dictionary) -> int:
    """After a site's first dictionary: its pages stored before it (a first crawl's first
    pages) recompressed with it, when there are at most ``RECOMPRESS_FEW`` of them (more:
    ``arsip db compact``). Returns how many."""
    stale = session.connection().execute(select(func.count()).select_from(
        select(RawPage.id).join(Article, Article.id == RawPage.article_id)
        .where(Article.site_id == site_id, RawPage.dictionary_id.is_(None))
        .limit(RECOMPRESS_FEW + 1).subquery())).scalar_one()
    if not stale or stale > RECOMPRESS_FEW:
        return 0
    pages, *_ = compact_batch(session, site_id, zdict, 0, RECOMPRESS_FEW + 1,
                              only_undictionaried=True)
    return pages


def maybe_train(session: Session, site_id: int) -> Dictionary | None:
    """A new dictionary for the site when the policy (module docstring) asks for one."""
    if not needs_training(session, site_id).train:
        return None
    return train_dictionary(session, site_id)


# --- compaction -------------------------------------------------------------------------

@dataclass
class CompactReport:
    site: str
    pages: int = 0  # recompressed
    bytes_before: int = 0
    bytes_after: int = 0
    dictionary_id: int | None = None
    trained: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"site": self.site, "pages": self.pages, "bytes_before": self.bytes_before,
                "bytes_after": self.bytes_after, "dictionary_id": self.dictionary_id,
                "trained": self.trained}


def site_ids(session: Session, site: str | None) -> list[tuple[int, str]]:
    from storage.errors import NotFound

    stmt = select(Site.id, Site.name).order_by(Site.name)
    if site is not None:
        stmt = stmt.where(Site.name == site)
    rows = [(r.id, r.name) for r in session.execute(stmt)]
    if site is not None and not rows:
        raise NotFound(f"no site named {site!r} in the archive")
    return rows


def prepare_site(session: Session, site_id: int) -> tuple[Dictionary | None, bool]:
    """The site's dictionary for compaction: the current one, or one trained now (the site
    has none, or the policy asks for a new one). Returns it and whether it was trained."""
    trained = maybe_train(session, site_id)
    if trained is not None:
        return trained, True
    return current_dictionary(session, site_id), False


def compact_batch(session: Session, site_id: int, zdict: Dictionary | None, after: int,
                  limit: int = COMPACT_BATCH, *, only_undictionaried: bool = False
                  ) -> tuple[int, int, int, int]:
    """Recompress up to ``limit`` of the site's pages (ids above ``after``) that are not at
    ``zdict`` yet (``only_undictionaried``: only those without a dictionary). Returns
    (pages, bytes before, bytes after, last id seen; 0: none left)."""
    target = zdict.id if zdict is not None else None
    stale: Any = RawPage.codec != raw_codec.ZSTD
    if only_undictionaried:
        stale = RawPage.dictionary_id.is_(None)
    elif target is not None:
        stale = stale | RawPage.dictionary_id.is_(None) | (RawPage.dictionary_id != target)
    else:
        stale = stale | RawPage.dictionary_id.is_not(None)
    rows = session.connection().execute(
        select(RawPage.id, RawPage.codec, RawPage.body_gz, RawPage.dictionary_id)
        .join(Article, Article.id == RawPage.article_id)
        .where(Article.site_id == site_id, RawPage.id > after, stale)
        .order_by(RawPage.id).limit(limit)
    ).all()
    if not rows:
        return 0, 0, 0, 0
    before = after_bytes = 0
    updates = []
    for row in rows:
        raw = read_body(session, row.codec, row.body_gz, row.dictionary_id)
        packed = raw_codec.compress(raw, zdict)
        before += len(row.body_gz)
        after_bytes += len(packed.data)
        updates.append({"i": row.id, "data": packed.data, "codec": packed.codec,
                        "dict": packed.dictionary_id, "size": packed.raw_size})
    session.connection().execute(
        update(RawPage).where(RawPage.id == bindparam("i"))
        .values(body_gz=bindparam("data"), codec=bindparam("codec"),
                dictionary_id=bindparam("dict"), raw_size=bindparam("size")),
        updates,
    )
    return len(rows), before, after_bytes, rows[-1].id


def compact_site(session_factory: Callable[[], Session], site_id: int, name: str, *,
                 batch: int = COMPACT_BATCH,
                 progress: Callable[[CompactReport], None] | None = None) -> CompactReport:
    """Recompress every page of the site with its current dictionary, one short transaction
    per batch (killed mid-way, the next run goes on with the pages not done)."""
    from storage.archive import lock_for_writing

    report = CompactReport(name)
    with session_factory() as session, session.begin():
        lock_for_writing(session)
        zdict, report.trained = prepare_site(session, site_id)
    report.dictionary_id = zdict.id if zdict else None
    after = 0
    while True:
        with session_factory() as session, session.begin():
            lock_for_writing(session)
            pages, before, now, last = compact_batch(session, site_id, zdict, after, batch)
        if not pages:
            return report
        report.pages += pages
        report.bytes_before += before
        report.bytes_after += now
        after = last
        if progress is not None:
            progress(report)


def raw_sizes(session: Session, site_ids_: Iterable[int] | None = None
              ) -> dict[int, tuple[int, int]]:
    """Per site: (raw bytes, stored bytes) of its raw pages."""
    stmt = (select(Article.site_id, func.coalesce(func.sum(RawPage.raw_size), 0),
                   func.coalesce(func.sum(func.length(RawPage.body_gz)), 0))
            .select_from(RawPage).join(Article, Article.id == RawPage.article_id)
            .group_by(Article.site_id))
    if site_ids_ is not None:
        stmt = stmt.where(Article.site_id.in_(list(site_ids_)))
    return {row[0]: (int(row[1]), int(row[2])) for row in session.execute(stmt)}


def dictionary_sizes(session: Session, site_ids_: Iterable[int] | None = None
                     ) -> dict[int, int]:
    """Per site: the bytes of its stored dictionaries."""
    stmt = (select(RawDictionary.site_id, func.sum(func.length(RawDictionary.dictionary)))
            .group_by(RawDictionary.site_id))
    if site_ids_ is not None:
        stmt = stmt.where(RawDictionary.site_id.in_(list(site_ids_)))
    return {row[0]: int(row[1] or 0) for row in session.execute(stmt)}
