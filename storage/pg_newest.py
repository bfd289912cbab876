"""The newest ``k`` matches of a full-text query on PostgreSQL, at a bounded cost.

Search ranks the newest matches (:func:`storage.search.rank`'s candidates) and the web view
lists them newest first (:func:`storage.browse.newest_ids`). A GIN index finds matches but
knows no order, so there are three ways to the newest ``k``, and the planner, left to
itself, picks badly at a million articles (it walked the primary key for a word found in no
article: 6 s; for a word in 4 % of them it tested 50,000 rows: 280 ms):

- **walk**: down the primary key from the newest, testing each row (its vector read out of
  TOAST) until ``k`` match: about ``k / share`` rows. Best for common terms.
- **slice**: a bitmap of the term's GIN postings AND a bitmap of the newest ids (a range
  of the primary key sized to hold about ``SLICE_MATCHES * k`` matches), then only those
  rows visited. Best for most terms: the postings are cheap, the rows visited few.
- **bitmap**: every match visited (the slice when it would span the whole archive).

The choice weighs the costs below by the planner's own estimate of the term's share
(tsvector statistics). A slice that holds fewer than ``k`` matches (the estimate was high,
or filters keep few of them) is followed by the whole bitmap, so the result never depends
on the estimate, only the time does. Index scans are switched off for a bitmap (else the
planner turns the slice's id range back into a walk); a walk keeps the filters first and
the match outside (``OFFSET 0``), so it never tests the vector of a row a filter rejects.

With the search index's recency column (migration 0009: ``id / BUCKET_IDS``, a GIN column
through the ``btree_gin`` extension) there is a fourth, the best for most terms:

- **recent**: one GIN scan for "matches AND in the newest buckets": GIN intersects the
  two keys by skipping along the term's posting tree to the recent rows, so neither the
  term's postings nor its rows' vectors are read beyond the slice (a word in half of a
  million articles: 2 ms for its newest 1,000 matches, 11 ms by a walk). A prefix term
  is the exception: its postings are all collected first, as in a bitmap. A recent slice
  that holds fewer than ``k`` matches (filters: a site's articles are a fifth of the
  archive) is followed by a wider one, sized by the share of matches it held, at most
  ``SLICE_TRIES`` in all; then the rest comes from below it by a walk or a bitmap,
  whichever the plan found cheaper.

Every search statement runs without parallel workers: starting two cost 4-5 ms of a
statement that needs 2, and the web view's requests are parallel already.
"""

from __future__ import annotations

import json
import time
import weakref
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.engine import connection_settings

# microseconds, measured at a million articles (bench query's archive, this machine's two
# cores): only their ratios matter
WALK_ROW_US = 4.0  # a row tested by the walk
POSTING_US = 0.16  # a GIN posting in the term's bitmap
RANGE_ROW_US = 0.04  # a primary-key entry in the slice's bitmap
VISIT_US = 5.0  # a row visited from a bitmap (and the match rechecked)
SLICE_MATCHES = 2  # a slice is sized to hold about twice the matches wanted
# a recent slice, 1.5 times: the planner's estimate of a word among its statistics' common
# elements is within a few percent (the bench's archive: 16 queries within 5 %); what the
# slice holds beyond ``k`` is visited and sorted for nothing (at a million articles, 1.5
# instead of 2: "perdamaian" 11.7 -> 9.7 ms, "pasukan" 4.1 -> 2.9). A slice that holds too
# few (a word rarer lately, many near-duplicates filtered out) is followed by a wider one.
RECENT_MATCHES = 1.5
RECENT_ROW_US = 0.03  # an id of a recent slice (its bucket's postings collected)
RECENT_VISIT_US = 1.0  # a row visited from a recent slice (the newest rows: in cache)
BUCKET_IDS = 256  # the search index's third column is id / BUCKET_IDS (migration 0009)
SLICE_TRIES = 3  # recent slices, each sized by the matches the last one held, then below
INDEX = "ix_articles_search_vector"
# the words of a phrase stand side by side in only part of the articles holding them all
# (the statistics know no positions): a guess that keeps a phrase from walking the table
PHRASE_SHARE = 0.25
ESTIMATE_TTL = 300.0  # seconds a planner's estimate of a query's matches is reused
ESTIMATES_KEPT = 4096  # per database
# what a search's statements need beyond the server's defaults: no JIT compilation (the
# plans' costs grow with the archive past ``jit_above_cost``, and compiling took 30-40 ms of
# a search that needs a few) and no parallel workers (above). The web view's connections
# start with them (``web.app.PG_SETTINGS``); elsewhere a search sets them for its transaction
SEARCH_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0"}
_CUSTOM = {**SEARCH_SETTINGS, "plan_cache_mode": "force_custom_plan"}
# the same, transaction-local, as the columns of a SELECT
_CUSTOM_SQL = ", ".join(f"set_config('{k}', '{v}', true)" for k, v in _CUSTOM.items())
_CUSTOM_KEY = "arsip.pg_newest.custom_plans"  # Session.info: the transaction that has them
SCOPE_TTL = 2.0  # seconds a web view's search scope is used again (begin_search)
SCOPE_SQL = ("(SELECT reltuples FROM pg_class WHERE oid = 'articles'::regclass), "
             f"(SELECT indnatts FROM pg_index WHERE indexrelid = to_regclass('{INDEX}')), "
             "(SELECT coalesce(max(id), 0) + 1 FROM articles)")
_SCOPES: weakref.WeakKeyDictionary[Any, tuple[float, Scope]] = weakref.WeakKeyDictionary()
# engine -> {(vector, tsquery): (when, estimated rows)}
_ESTIMATES: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[float, float]]] = \
    weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Plan:
    walk: bool  # with ``recent``: how to go on below a slice that held too few
    slice_rows: int | None  # the newest this many ids; None: every match (no slice)
    recent: bool = False  # the slice through the index's recency column


@dataclass
class Rider:
    """More work over the rows found, done by the statement that finds them (a round trip
    and a second look-up of each row saved): each row's ``columns`` (of the articles) are
    selected with its id into the CTE ``r``, and ``sql`` continues ``WITH r AS
    MATERIALIZED (...)`` (``, more AS (...) SELECT ...``): it returns each id of ``r``
    (first column; any order) and rows of its own (first column NULL), with ``params``.

    ``rows`` is set to its own rows when one statement found the whole result, and left
    None when it did not (the result joined from two statements): the caller then does
    the work by the ids."""
    columns: tuple[str, ...]
    sql: str
    params: dict[str, Any]
    rows: list[tuple[Any, ...]] | None = None


class Scope(NamedTuple):
    """What a search's statements may count on: the planner's count of articles, whether
    the search index has its recency column (migration 0009), and the highest id + 1."""
    total: float
    recent: bool
    top: int = 1


def plan(share: float, total: float, k: int, *, phrase: bool = False, prefix: bool = False,
         recent: bool = False) -> Plan:
    """How to find the newest ``k`` of the matches of a term estimated in ``share`` of
    ``total`` articles (``recent``: the index has its recency column; ``prefix``: the
    term is a prefix, whose postings GIN collects whole)."""
    postings = share * total  # the GIN bitmap is of every article holding the words
    share = max(share * (PHRASE_SHARE if phrase else 1.0), 1.0 / max(total, 1.0))
    walk = min(k / share, total) * WALK_ROW_US
    every = postings * (POSTING_US + VISIT_US)
    rows = SLICE_MATCHES * k / share
    sliced = postings * POSTING_US + rows * RANGE_ROW_US + SLICE_MATCHES * k * VISIT_US
    recent_rows = RECENT_MATCHES * k / share
    if recent and recent_rows < total:
        # a phrase's slice visits every row holding its words, each rechecked
        visits = RECENT_MATCHES * k / (PHRASE_SHARE if phrase else 1.0)
        newest = recent_rows * RECENT_ROW_US \
            + visits * (VISIT_US if phrase else RECENT_VISIT_US) \
            + (postings * POSTING_US if prefix else 0.0)
        if newest < min(walk, every, sliced):
            return Plan(walk=walk < every, slice_rows=int(recent_rows), recent=True)
    if rows >= total or every <= sliced:
        return Plan(walk=walk < every, slice_rows=None)
    return Plan(walk=walk < sliced, slice_rows=int(rows))


def begin_search(session: Session) -> Scope:
    """The planner's count of articles, whether the index has its recency column and the
    highest id (the top of the newest slices), and the settings a search's statements need
    (:data:`SEARCH_SETTINGS`; custom plans: :func:`custom_plans`).

    On an engine whose connections start with those settings (the web view's), the scope
    read less than ``SCOPE_TTL`` seconds ago is used again, and nothing is sent: a search
    that plans a recent slice (most of them) then needs no statement but its own (a round
    trip, a planning and 0.5-0.8 ms less a search, measured at a million articles). A
    scope a few seconds old is safe: the counts only weigh the plans, and a ``top`` below
    the newest id only widens a slice (no slice has an upper bound on the id), so the
    newest articles are always among those found.

    Elsewhere (the CLI) one statement sets the settings and custom plans for the rest of
    the transaction and reads the scope."""
    engine = _engine(session)
    if SEARCH_SETTINGS.items() <= connection_settings(engine).items():
        now = time.monotonic()
        cached = _SCOPES.get(engine)
        if cached is not None and now - cached[0] < SCOPE_TTL:
            return cached[1]
        scope = _scope(session.execute(text(f"SELECT {SCOPE_SQL}")).one())
        _SCOPES[engine] = (now, scope)
        return scope
    row = session.execute(text(f"SELECT {SCOPE_SQL}, {_CUSTOM_SQL}")).one()
    session.info[_CUSTOM_KEY] = session.get_transaction()
    return _scope(row)


def custom_plans(session: Session, also: str = "") -> None:
    """Custom plans (and :data:`SEARCH_SETTINGS`) for the rest of the transaction, set once:
    for the statements whose best plan depends on how common the words are (a walk, a
    bitmap, the planner's estimate, the published order's walk). psycopg prepares a
    statement run five times, and PostgreSQL may then plan it once for every value (a
    generic plan); custom plans are planned again with each query's words. The recent
    slice and the hits are planned the same whatever the words (the search index is
    their one way in), so they may be planned once per connection. ``also``: more
    ``set_config(...)`` calls in the same statement."""
    done = session.info.get(_CUSTOM_KEY)
    if done is not None and done is session.get_transaction() and not also:
        return
    session.execute(text(f"SELECT {_CUSTOM_SQL}{', ' + also if also else ''}"))
    session.info[_CUSTOM_KEY] = session.get_transaction()


def _scope(row: Any) -> Scope:
    return Scope(total=max(float(row[0] or 0), 1.0), recent=row[1] == 3, top=int(row[2]))


def _engine(session: Session) -> Any:
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def share(session: Session, tsquery: str, total: float,
          vector: str = "a.search_vector") -> float:
    """The planner's estimate of the share of the ``total`` articles whose ``vector``
    matches ``tsquery`` (0..1+).

    The planner's row estimate is kept for ``ESTIMATE_TTL`` seconds per database, vector and
    query (it changes only when the statistics do: ANALYZE), which saves a search a round
    trip and a planning; an estimate a little old changes how fast the newest matches are
    found, never which they are (:func:`newest`)."""
    cache = _ESTIMATES.setdefault(_engine(session), {})
    key = (vector, tsquery)
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < ESTIMATE_TTL:
        return hit[1] / total
    custom_plans(session)  # the estimate for these words, not for any words
    plan_json = session.execute(
        text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM articles AS a "
             f"WHERE {vector} @@ to_tsquery('simple', :q)"), {"q": tsquery}
    ).scalar_one()
    if isinstance(plan_json, str):
        plan_json = json.loads(plan_json)
    rows = float(plan_json[0]["Plan"]["Plan Rows"])
    if len(cache) >= ESTIMATES_KEPT:
        cache.clear()
    cache[key] = (now, rows)
    return rows / total


def newest(session: Session, how: Plan, *, vector: str, tsquery: str, k: int,
           conditions: str, params: dict[str, Any], binds: list[Any],
           walk_extra: str = "", bitmap_extra: str = "",
           below: int | None = None, top: int | None = None,
           rider: Rider | None = None) -> list[int]:
    """Ids of the newest ``k`` articles whose ``vector`` matches ``tsquery`` and that pass
    ``conditions`` (" AND ..." over alias ``a``, with ``params``/``binds``), highest first;
    ``below``: only ids below it (the conditions must say so too). ``walk_extra`` /
    ``bitmap_extra``: more conditions on the match, over ``w.body_v`` (the walk) or alias
    ``a`` (the bitmaps). ``top``: the highest id + 1 (:attr:`Scope.top`; read when None).
    ``rider``: more work over the rows found (:class:`Rider`)."""
    values = {**params, "nq": tsquery, "nk": k}
    match = f"{vector} @@ to_tsquery('simple', :nq)"
    if how.recent and how.slice_rows is not None:
        return _recent(session, how, vector=vector, tsquery=tsquery, k=k,
                       conditions=conditions, params=params, binds=binds,
                       walk_extra=walk_extra, bitmap_extra=bitmap_extra, below=below,
                       top=top, rider=rider)
    if how.walk:
        inner = "".join(f", a.{c}" for c in rider.columns) if rider else ""
        outer = "".join(f", w.{c}" for c in rider.columns) if rider else ""
        sql = ("SELECT w.id" + outer + " FROM (SELECT a.id, " + vector + " AS v, "
               "a.search_vector AS body_v" + inner + " FROM articles AS a WHERE true"
               + conditions + " ORDER BY a.id DESC OFFSET 0) AS w "
               "WHERE w.v @@ to_tsquery('simple', :nq)" + walk_extra + " LIMIT :nk")
        custom_plans(session)
        return _ids(session, sql, values, binds, rider)
    bitmap = ("SELECT a.id" + _columns(rider) + " FROM articles AS a WHERE " + match
              + bitmap_extra + conditions + "{floor} ORDER BY a.id + 0 DESC LIMIT :nk")
    floor = 0
    if how.slice_rows is not None:
        floor = (below if below is not None else _top(session, top)) - how.slice_rows
    # back on for what the transaction does next; not in a `finally`: after an error the
    # transaction is aborted (a SET would only replace the error), and its end undoes it
    custom_plans(session, also="set_config('enable_indexscan', 'off', true)")
    found = _ids(session, bitmap.format(floor=" AND a.id >= :nfloor"),
                 {**values, "nfloor": floor}, binds, rider) if floor > 0 else []
    if len(found) < k:
        found = _ids(session, bitmap.format(floor=""), values, binds, rider)
    session.execute(text("SET LOCAL enable_indexscan = DEFAULT"))
    return found


def _recent(session: Session, how: Plan, *, vector: str, tsquery: str, k: int,
            conditions: str, params: dict[str, Any], binds: list[Any], walk_extra: str,
            bitmap_extra: str, below: int | None, top: int | None,
            rider: Rider | None) -> list[int]:
    """:func:`newest` by recent slices, each wider than the last, then below the last if
    it held fewer than ``k``."""
    assert how.slice_rows is not None
    # (no planner settings: the slice's subquery has no condition on the id nor an order,
    # so GIN is its one index; a sequential scan wins only in a small archive)
    top = below if below is not None else _top(session, top)
    rows = how.slice_rows
    for _ in range(SLICE_TRIES):
        bucket = max(top - rows, 0) // BUCKET_IDS
        found = _ids(session, recent_sql(vector, bitmap_extra, conditions, _columns(rider)),
                     {**params, "nq": tsquery, "nk": k, "nbucket": bucket}, binds, rider)
        if len(found) >= k or bucket == 0:
            break
        covered = top - bucket * BUCKET_IDS  # held len(found): size the next for 2k
        rows = max(4 * covered, SLICE_MATCHES * k * covered // max(len(found), 1))
    if len(found) >= k or bucket == 0:
        return found
    low = bucket * BUCKET_IDS  # every match from here up is found: go on below it
    if rider is not None:
        rider.rows = None  # its rows were of the slice alone
    return found + newest(
        session, Plan(walk=how.walk, slice_rows=None), vector=vector, tsquery=tsquery,
        k=k - len(found), conditions=conditions + " AND a.id < :nlow",
        params={**params, "nlow": low}, binds=binds, walk_extra=walk_extra,
        bitmap_extra=bitmap_extra, below=low)


def recent_sql(vector: str, match_extra: str, conditions: str, columns: str = "") -> str:
    """The recent slice's statement (parameters ``nq``, ``nbucket``, ``nk``; ``columns``:
    more of alias ``a`` after its id, ", a.x, ...").

    The bucket is cast to an integer, the index's type (bound as a smallint, ``int4 >=
    int2`` is not an operator of ``btree_gin``'s class, and GIN would read the term's every
    posting). The filters (``conditions``) are tested on the slice's rows, outside a
    subquery that the planner cannot merge (``OFFSET 0``): else it ANDs their own indexes'
    bitmaps in (a site's 200,000 articles at a million: 18 ms, and a bitmap too big for
    ``work_mem`` whose lossy pages have every vector rechecked: 130 ms)."""
    return (f"SELECT a.id{columns} FROM (SELECT * FROM articles AS a WHERE {vector} @@ "
            f"to_tsquery('simple', :nq){match_extra} AND (a.id / {BUCKET_IDS}) >= "
            f"CAST(:nbucket AS integer) OFFSET 0) AS a WHERE true{conditions} "
            "ORDER BY a.id + 0 DESC LIMIT :nk")


def _top(session: Session, top: int | None) -> int:
    if top is not None:
        return top
    return int(session.execute(text("SELECT coalesce(max(id), 0) + 1 FROM articles"))
               .scalar_one())


def _columns(rider: Rider | None) -> str:
    return "".join(f", a.{c}" for c in rider.columns) if rider else ""


def _ids(session: Session, sql: str, values: dict[str, Any], binds: list[Any],
         rider: Rider | None = None) -> list[int]:
    """The ids a statement returns, read off the driver's cursor: a thousand ids through
    SQLAlchemy's rows cost 0.85 ms of the server's CPU, 0.2 ms this way (psycopg gives
    them as ints already). With a ``rider``, the statement is its CTE ``r``, and the
    rider's own rows are kept in ``rider.rows``."""
    if rider is not None:
        sql = f"WITH r AS MATERIALIZED ({sql}){rider.sql}"
        values = {**values, **rider.params}
    result = session.execute(text(sql).bindparams(*binds), values)
    try:
        rows = result.cursor.fetchall()  # type: ignore[attr-defined]
    finally:
        result.close()
    if rider is None:
        return [row[0] for row in rows]
    rider.rows = [row[1:] for row in rows if row[0] is None]
    return sorted((row[0] for row in rows if row[0] is not None), reverse=True)
