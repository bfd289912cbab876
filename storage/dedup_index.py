"""The near-duplicate index (MinHash LSH bands) kept in the database.

Each archived article has its MinHash signature in ``articles.minhash`` and one row per LSH
band in ``minhash_bands`` (``(band, key)`` indexed). A new article's candidates are the
articles sharing at least one band key (an index look-up per band: the cost does not grow
with the archive, and nothing is held in memory); each candidate is verified on its stored
signature (estimated Jaccard >= threshold) before anything is marked.

Groups: a near-duplicate points (``duplicate_of_id``) at its group's *original*: the earliest
published article of the group (published before unpublished; equal dates: the smaller
canonical URL), else the first seen. When a newly stored article is older than the group's
original, it becomes the original and the whole group is re-pointed at it, so groups never
chain (``duplicate_of`` always names an original) and the same pages stored in another order
give the same groups.

Default threshold ``DEFAULT_THRESHOLD = 0.6`` (estimated Jaccard of 3-word shingles), from
``arsip bench dedup`` on pairs built from the real texts of ``../shared/corpus``: different
articles on the same topic stay at or below 0.11, while copies with up to 10 % of their words
edited and the same story republished by another portal (new headline, rewritten lead,
different inserts) stay at or above 0.53 (2 % of them below 0.68). 0.6 sits well above every
negative (more than ten standard errors of the estimate) and catches 99.8 % of the copies;
0.8 would miss about one copy in ten, 0.5 would start to treat stories that merely quote half
of another as copies. Configurable per site (``near_duplicate_threshold``) and by the
``ARSIP_NEAR_DUPLICATE_THRESHOLD`` setting/environment variable.

Everything here is plain SQL through SQLAlchemy and works on SQLite and PostgreSQL; band rows
are written with insert-or-ignore on their primary key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, text, update
from sqlalchemy.orm import Session

from storage.fingerprint import Fingerprint, similarity
from storage.id_lists import ids_in, ids_value
from storage.models import Article, MinHashBand
from storage.upsert import dialect_name, execute_rows, insert_ignore_stmt, replace_stmt

# Jaccard similarity (estimated) at or above which a new article is a near-duplicate
DEFAULT_THRESHOLD = 0.6
# at most this many band-sharing candidates are verified (a pathological boilerplate text)
MAX_CANDIDATES = 500


def default_threshold() -> float:
    """``ARSIP_NEAR_DUPLICATE_THRESHOLD`` from the environment, else ``DEFAULT_THRESHOLD``."""
    value = os.environ.get("ARSIP_NEAR_DUPLICATE_THRESHOLD", "").strip()
    if value:
        try:
            number = float(value)
        except ValueError:
            return DEFAULT_THRESHOLD
        if 0 < number <= 1:
            return number
    return DEFAULT_THRESHOLD


BAND_COLUMNS = ("article_id", "band", "key")


@dataclass
class _Row:
    id: int
    canonical_url: str
    published: datetime | None
    first_seen: datetime
    minhash: bytes | None
    duplicate_of_id: int | None
    similarity: float | None = None


def order_key(row: Any) -> tuple[Any, ...]:
    """Which of two articles is the original: smaller key wins (see the module docstring)."""
    if row.published is not None:
        return (0, row.published, row.canonical_url, row.id)
    return (1, row.first_seen, row.canonical_url, row.id)


def _rows(session: Session, ids: list[int]) -> dict[int, _Row]:
    if not ids:
        return {}
    conn = session.connection()
    dialect = conn.dialect.name
    result = conn.execute(_rows_stmt(dialect), {"ids": ids_value(dialect, ids)})
    return {r.id: _Row(r.id, r.canonical_url, r.published, r.first_seen,
                       bytes(r.minhash) if r.minhash is not None else None,
                       r.duplicate_of_id, r.similarity) for r in result}


@lru_cache(maxsize=2)
def _rows_stmt(dialect: str) -> Any:
    """The articles' rows of a list of ids given as ONE parameter (``storage.id_lists``):
    compiled once, where an expanding IN list is rewritten for every call (that rewriting
    cost more than the look-up, once per stored article)."""
    return (select(Article.id, Article.canonical_url, Article.published, Article.first_seen,
                   Article.minhash, Article.duplicate_of_id, Article.similarity)
            .where(text(ids_in(dialect, "articles.id"))))


class Marks:
    """The articles' rows and near-duplicate marks the grouping reads and sets, read from
    and written to the database at each step (the crawl's case: an article at a time)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def rows(self, ids: list[int]) -> dict[int, _Row]:
        return _rows(self.session, ids)

    def members(self, root: int) -> list[int]:
        """The articles marked copies of ``root``."""
        return list(self.session.connection().execute(
            select(Article.id).where(Article.duplicate_of_id == root)).scalars())

    def point(self, marks: list[tuple[int, int | None, float | None]]) -> None:
        """Each (article, its original or None, similarity) set."""
        if marks:
            self.session.connection().execute(_statements()["point"], [
                {"aid": aid, "root": root, "sim": sim} for aid, root, sim in marks])


class MarkBook(Marks):
    """``Marks`` for a batch of groupings: each row read once and kept, the marks set in
    memory (every later step sees them) and written at the end, in one statement, for the
    rows whose mark ended up changed (``flush``). Nothing else may write marks meanwhile."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._rows: dict[int, _Row] = {}
        self._stored: dict[int, tuple[int | None, float | None]] = {}
        self._members_read: set[int] = set()

    def rows(self, ids: list[int]) -> dict[int, _Row]:
        missing = [i for i in ids if i not in self._rows]
        if missing:
            for aid, row in _rows(self.session, missing).items():
                self._rows[aid] = row
                self._stored[aid] = (row.duplicate_of_id, row.similarity)
        return {i: self._rows[i] for i in ids if i in self._rows}

    def members(self, root: int) -> list[int]:
        if root not in self._members_read:  # the stored ones, then as set here
            self.rows(super().members(root))
            self._members_read.add(root)
        return [r.id for r in self._rows.values() if r.duplicate_of_id == root]

    def point(self, marks: list[tuple[int, int | None, float | None]]) -> None:
        self.rows([aid for aid, _, _ in marks])
        for aid, root, sim in marks:
            row = self._rows[aid]
            row.duplicate_of_id, row.similarity = root, sim

    def revise(self, minhashes: dict[int, bytes | None], published: dict[int, datetime | None]
               ) -> None:
        """Rows read here as they are about to be written (new signatures, new dates)."""
        for aid, minhash in minhashes.items():
            if aid in self._rows:
                self._rows[aid].minhash = minhash
        for aid, when in published.items():
            if aid in self._rows:
                self._rows[aid].published = when.astimezone(UTC) if when else None

    def take(self, aid: int) -> tuple[int | None, float | None] | None:
        """Its mark (original, similarity) if it changed, for the caller to write (then
        left out of ``flush``); None if unchanged."""
        row = self._rows.get(aid)
        if row is None or (row.duplicate_of_id, row.similarity) == self._stored[aid]:
            return None
        self._stored[aid] = (row.duplicate_of_id, row.similarity)
        return row.duplicate_of_id, row.similarity

    def mark(self, aid: int) -> int | None:
        """Its original as set so far (an article read here)."""
        return self._rows[aid].duplicate_of_id

    def flush(self) -> None:
        """The changed marks written."""
        super().point([(aid, row.duplicate_of_id, row.similarity)
                       for aid, row in sorted(self._rows.items())
                       if (row.duplicate_of_id, row.similarity) != self._stored[aid]])
        self._stored.update((aid, (row.duplicate_of_id, row.similarity))
                            for aid, row in self._rows.items())


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """Statements built once (SQLAlchemy caches their compiled form): building one per call
    cost more than running it."""
    return {
        "point": update(Article).where(Article.id == bindparam("aid"))
        .values(duplicate_of_id=bindparam("root"), similarity=bindparam("sim")),
    }


def candidates(session: Session, fp: Fingerprint, exclude: int | None = None) -> list[int]:
    """Articles sharing at least one LSH band key with ``fp`` (unverified)."""
    if not fp.band_keys:
        return []
    params: dict[str, int] = {}
    for i, (band, key) in enumerate(fp.band_keys):
        params[f"b{i}"] = band
        params[f"k{i}"] = key
    stmt = _candidates_stmt(len(fp.band_keys))
    return [i for i in session.connection().execute(stmt, params).scalars() if i != exclude]


@lru_cache(maxsize=8)
def _candidates_stmt(bands: int) -> Any:
    """One index look-up per band: ``(band = ? AND key = ?) OR ...`` (SQLite plans a
    MULTI-INDEX OR, PostgreSQL a BitmapOr; a row-value IN list would make SQLite scan the
    table). Built once: the statement's compiled form is cached by SQLAlchemy."""
    match = or_(*(and_(MinHashBand.band == bindparam(f"b{i}"),
                       MinHashBand.key == bindparam(f"k{i}")) for i in range(bands)))
    return (select(MinHashBand.article_id).where(match)
            .distinct().order_by(MinHashBand.article_id).limit(MAX_CANDIDATES))


def is_near_duplicate(a: Fingerprint, b: Fingerprint, threshold: float) -> bool:
    """The pairwise decision the index makes: an exact copy, or a shared band and an
    estimated Jaccard >= threshold."""
    if a.content_hash and a.content_hash == b.content_hash:
        return True
    if not a.minhash or not b.minhash:
        return False
    if not set(a.band_keys) & set(b.band_keys):
        return False
    return similarity(a.minhash, b.minhash) >= threshold


def mark_near_duplicate(session: Session, article_id: int, fp: Fingerprint,
                        threshold: float, *, found: list[int] | None = None,
                        marks: Marks | None = None) -> bool:
    """Group the just-stored ``article_id`` with its near-duplicates, if it has any
    (``marks``: where rows are read and marks set; default: the database, at once).

    Returns True when an article was marked a near-duplicate: the new one (it joins a group
    as a copy) or, when the new article is older than the group's original, the former
    original (the new article becomes the original and the group is re-pointed).
    """
    if not fp.minhash or not fp.band_keys:
        return False
    if found is None:  # else: its candidates, looked up already (``candidates``' result)
        found = candidates(session, fp, exclude=article_id)
    if not found:
        return False
    if marks is None:
        marks = Marks(session)
    rows = marks.rows([*found, article_id])  # the new article's row too (below)
    new = rows.pop(article_id)
    matches: list[tuple[float, _Row]] = []
    for row in rows.values():
        if row.minhash is None:
            continue
        sim = similarity(fp.minhash, row.minhash)
        if sim >= threshold:
            matches.append((sim, row))
    if not matches:
        return False
    # the groups the matches belong to, by their originals
    root_ids = sorted({row.duplicate_of_id or row.id for _, row in matches})
    missing = [i for i in root_ids if i not in rows]
    rows.update(marks.rows(missing))
    best_sim = {rid: 0.0 for rid in root_ids}
    for sim, row in matches:
        rid = row.duplicate_of_id or row.id
        best_sim[rid] = max(best_sim[rid], sim)
    # join the group of the closest match (ties: the group whose original comes first)
    root = rows[min(root_ids, key=lambda rid: (-best_sim[rid], order_key(rows[rid])))]
    if order_key(new) < order_key(root):
        _make_original(marks, new, root)
    else:
        sim = similarity(fp.minhash, root.minhash) if root.minhash else best_sim[root.id]
        marks.point([(article_id, root.id, sim)])
    return True


def _make_original(marks: Marks, new: _Row, old_root: _Row) -> None:
    """``new`` replaces ``old_root`` as its group's original: every member re-pointed."""
    members = [old_root.id, *marks.members(old_root.id)]
    rows = marks.rows(members)
    was_copy = new.duplicate_of_id is not None
    points: list[tuple[int, int | None, float | None]] = []
    for member in members:
        theirs = rows[member].minhash
        points.append((member, new.id, similarity(new.minhash, theirs)
                       if new.minhash and theirs else None))
    marks.point(points)
    if was_copy:
        # (a row written again costs its whole record, the body's overflow pages included:
        # not when the mark is already clear, as for a just-stored article)
        marks.point([(new.id, None, None)])


def index_article(session: Session, article_id: int, fp: Fingerprint, *,
                  replace: bool = False) -> None:
    """Add the article's LSH band keys (``replace``: its old ones replaced: each band's row
    written only where its key changed, bands past the new signature's last deleted)."""
    conn = session.connection()
    dialect = dialect_name(session)
    if replace:
        conn.execute(delete(MinHashBand).where((MinHashBand.article_id == article_id)
                                               & (MinHashBand.band >= len(fp.band_keys))))
    if not fp.band_keys:
        return
    # one statement built once, executed for many rows (executemany)
    stmt = (replace_stmt(dialect, MinHashBand.__table__, ("article_id", "band"), ("key",))
            if replace else
            insert_ignore_stmt(dialect, MinHashBand.__table__, ("article_id", "band")))
    execute_rows(conn, stmt, BAND_COLUMNS, [(article_id, band, key) for band, key in fp.band_keys])
