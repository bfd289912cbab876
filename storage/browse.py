"""Search results a page at a time (the web view): keyset pagination, facets, copies.

Three orders:

- ``newest``: the most recently archived matches first (article id descending). A page is
  the next ``limit`` matches below the last id shown, read straight off the full-text index
  in id order (FTS5 rowid / the primary key), so page 500 costs what page 1 costs: no
  OFFSET scan.
- ``published``: the latest publication date first (undated articles left out), pages
  keyed by (published, id) and read down the ``published`` index.
- ``relevance``: :func:`storage.search.rank` (BM25 / ts_rank over its bounded candidate
  set, the same ranking as ``arsip search``); a page is the next ``limit`` below the last
  (score, id) shown.

Facets (counts per site, language, section, author, year) are counted over the newest
``FACET_CAP`` matches at most, so that a term found in half of a large archive still
answers in milliseconds; ``facets_capped`` says when the counts are of that sample.
Near-duplicates are folded under their original: hidden from the results (as in
``arsip search``), each hit carrying the number of its copies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from storage import pg_newest
from storage.filters import ArticleFilter
from storage.id_lists import ids_in, ids_value
from storage.models import UTCDateTime
from storage.query_parser import Query, to_fts5, to_tsquery
from storage.search import CANDIDATES, SearchHit, hits_of, pg_plan_newest, rank
from storage.upsert import dialect_name

ORDERS = ("newest", "published", "relevance")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FACET_CAP = 1000
FACET_VALUES = 12  # values shown per facet
# snippet highlight markers: Unicode private-use characters, removed from the text first, so
# that a caller can escape the snippet and then turn them into markup
MARK = ("\ue000", "\ue001")


@dataclass
class SearchPage:
    hits: list[SearchHit]
    copies: dict[int, int]  # hit id -> number of near-duplicates folded under it
    next_after: tuple[float, int] | None  # (score, id) of the last hit when there is more
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    matches: int = 0  # matches counted (at most FACET_CAP)
    facets_capped: bool = False


def newest_ids(session: Session, query: Query, filters: ArticleFilter, *,
               before: int | None, limit: int,
               rider: pg_newest.Rider | None = None) -> list[int]:
    """Ids of the matches below ``before`` (any id when None), highest first (``rider``:
    more work over them in the same statement, PostgreSQL only: :class:`pg_newest.Rider`)."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        where, params, binds = filters.sql(session, id_column="+articles_fts.rowid")
        join = " JOIN articles AS a ON a.id = articles_fts.rowid" if filters.needs_row() else ""
        if before is not None:
            where.append("articles_fts.rowid < :before")
            params["before"] = before
        sql = (f"SELECT articles_fts.rowid FROM articles_fts{join} "
               "WHERE articles_fts MATCH :match"
               + "".join(f" AND {w}" for w in where)
               + " ORDER BY articles_fts.rowid DESC LIMIT :n")
        params.update(match=to_fts5(query), n=limit)
    elif dialect == "postgresql":
        scope = pg_newest.begin_search(session)
        where, params, binds = filters.sql(session)
        if before is not None:
            where.append("a.id < :before")
            params["before"] = before
        tsquery = to_tsquery(query)
        return pg_newest.newest(
            session, pg_plan_newest(session, query, tsquery, limit, scope=scope),
            vector="a.search_vector",
            tsquery=tsquery, k=limit, conditions="".join(f" AND {w}" for w in where),
            params=params, binds=binds, below=before, top=scope.top, rider=rider)
    else:
        raise NotImplementedError(f"no full-text search on {dialect}")
    return list(session.execute(text(sql).bindparams(*binds), params).scalars())


def facets(session: Session, query: Query, filters: ArticleFilter, *,
           cap: int = FACET_CAP, newest: list[int] | None = None,
           rows: list[tuple[Any, ...]] | None = None,
           ) -> tuple[dict[str, list[tuple[str, int]]], int, bool]:
    """({facet: [(value, count)]}, matches counted, capped) over the newest ``cap`` matches
    (``newest``: their ids and one more if there are, found already; ``rows``: their
    counts too, from :func:`facets_rider`'s statement).

    Counted by the database in one statement (the matches' rows read once, grouped by site,
    language, section and year, and by author), never row by row here.
    """
    ids = newest if newest is not None else \
        newest_ids(session, query, filters, before=None, limit=cap + 1)
    capped = len(ids) > cap
    ids = ids[:cap]
    if rows is None:
        rows = list(session.execute(
            _facets_sql(session), {"ids": ids_value(dialect_name(session), ids),
                                   "n": FACET_VALUES * 4})) if ids else []
    counters: dict[str, Counter[str]] = {k: Counter() for k in
                                          ("site", "language", "section", "author", "year")}
    for kind, value, language, section, when, count in rows:
        if kind == "author":
            if value:
                counters["author"][str(value)] += int(count)
            continue
        counters["site"][value] += count
        if language:
            counters["language"][language] += count
        if section:
            counters["section"][section] += count
        if when is not None:
            counters["year"][str(int(when))] += count
    result = {name: sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_VALUES]
              for name, counter in counters.items()}
    return result, len(ids), capped


# the facets' columns of each match, and their counts over the CTE "m" of those rows:
# (kind, value, language, section, year, count), kind "row" for each (site, language,
# section, year) group, "author" for the ``:n`` commonest authors
FACET_COLUMNS = ("site_id", "language", "section", "published", "authors")


def _counts_sql(dialect: str, lead: str = "", head: str = "") -> str:
    """``, au AS (...) SELECT ... UNION ALL SELECT ...`` over the CTE ``m`` (``lead``:
    columns before each row's own; ``head``: rows before them, "SELECT ... UNION ALL ").

    Each author counts an article once. PostgreSQL groups the articles by their list of
    authors first and reads each list once (the newest 1,000 articles of a site hold a few
    hundred lists at most): 0.5 ms instead of 1.3 for a thousand articles at a million,
    each parsed and counted per article; an author named twice in a list is counted once
    by one DISTINCT over every (list, author), not by one per list (at a million, the
    bench's twelve recent-slice queries interleaved 25 times: the slice's statement 5.13
    -> 4.98 ms median, of which the author facet about 0.7). The commonest ``:n`` are cut
    with ties broken by name, as they are shown (before, which of the authors tied at the
    cut were kept was the hash table's order)."""
    if dialect == "postgresql":
        year = "CAST(extract(year FROM m.published) AS integer)"
        authors = (
            ", g AS (SELECT CAST(m.authors AS text) AS list, count(*) AS n FROM m GROUP BY 1), "
            "au AS (SELECT d.value AS value, CAST(sum(d.n) AS bigint) AS n FROM ("
            "SELECT DISTINCT g.list, g.n, e.value FROM g, "
            "json_array_elements_text(CAST(g.list AS json)) AS e) AS d "
            "GROUP BY d.value ORDER BY sum(d.n) DESC, d.value LIMIT :n) ")
    else:
        year = "CAST(strftime('%Y', m.published) AS INTEGER)"
        authors = (
            ", au AS (SELECT au.value AS value, count(DISTINCT m.id) AS n FROM m, "
            "json_each(m.authors) AS au GROUP BY au.value "
            "ORDER BY count(DISTINCT m.id) DESC, au.value LIMIT :n) ")
    return (
        f"{authors}{head}SELECT {lead}'row' AS kind, s.name AS value, m.language, m.section, "
        f"{year} AS year, count(*) AS n FROM m JOIN sites AS s ON s.id = m.site_id "
        "GROUP BY s.name, m.language, m.section, year "
        f"UNION ALL SELECT {lead}'author', value, NULL, NULL, NULL, n FROM au")


def _facets_sql(session: Session) -> Any:
    """The facets' counts over the articles ``:ids`` (``storage.id_lists``)."""
    dialect = dialect_name(session)
    # PostgreSQL: read once, used by both counts (SQLite materializes a CTE used twice)
    materialized = "MATERIALIZED " if dialect == "postgresql" else ""
    return text(
        f"WITH m AS {materialized}(SELECT a.id, "
        + ", ".join(f"a.{c}" for c in FACET_COLUMNS)
        + f" FROM articles AS a WHERE {ids_in(dialect, 'a.id')})" + _counts_sql(dialect))


def facets_rider(cap: int = FACET_CAP) -> pg_newest.Rider:
    """The facets counted by the statement that finds the newest matches (PostgreSQL): the
    rows it visits anyway, not each looked up again by id (1,000 of them: 2-3 ms)."""
    return pg_newest.Rider(
        columns=FACET_COLUMNS,
        sql=", m AS MATERIALIZED (SELECT * FROM r ORDER BY r.id DESC LIMIT :fcap)"
            + _counts_sql("postgresql", lead="NULL, ", head="SELECT r.id, NULL, NULL, NULL, "
                          "NULL, NULL, NULL FROM r UNION ALL "),
        params={"fcap": cap, "n": FACET_VALUES * 4})


def published_ids(session: Session, query: Query, filters: ArticleFilter, *,
                  after: tuple[float, int] | None, limit: int) -> list[tuple[int, float]]:
    """(id, publication time in epoch microseconds) of the matches published before the
    (time, id) ``after``, latest first; undated articles are left out of this order.

    The matches' ids are collected once (from the full-text index) and the walk goes down
    the index on ``published``, so a page costs about the same at any depth.
    """
    dialect = session.get_bind().dialect.name
    where, params, binds = filters.sql(session)
    table = "articles AS a"
    if dialect == "sqlite":
        # down the published index, each entry tested against the matches' ids (collected
        # once); "+" keeps SQLite from looking every match's row up and sorting them all
        table = "articles AS a INDEXED BY ix_articles_published"
        match = ("+a.id IN (SELECT articles_fts.rowid FROM articles_fts "
                 "WHERE articles_fts MATCH :match)")
        params["match"] = to_fts5(query)
    elif dialect == "postgresql":
        pg_newest.custom_plans(session)  # down the published index or not: by the words
        match = "a.search_vector @@ to_tsquery('simple', :q)"
        params["q"] = to_tsquery(query)
    else:
        raise NotImplementedError(f"no full-text search on {dialect}")
    where = ["a.published IS NOT NULL", match, *where]
    if after is not None:
        where.append("a.published <= :p AND (a.published < :p OR a.id < :last)")
        binds.append(bindparam("p", _from_micros(after[0]), type_=UTCDateTime()))
        params["last"] = after[1]
    sql = text(f"SELECT a.id, a.published FROM {table} WHERE " + " AND ".join(where)
               + " ORDER BY a.published DESC, a.id DESC LIMIT :n"
               ).bindparams(*binds).columns(published=UTCDateTime())
    params["n"] = limit
    return [(row.id, _micros(row.published)) for row in session.execute(sql, params)]


def _micros(when: datetime) -> float:
    # whole microseconds since the epoch: exact in a float (below 2**53) and in JSON
    return float((when - EPOCH) // timedelta(microseconds=1))


def _from_micros(value: float) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


def search_page(session: Session, query: Query, filters: ArticleFilter, *,
                order: str = "newest", after: tuple[float, int] | None = None,
                limit: int = 20, with_facets: bool = True) -> SearchPage:
    """One page of results for ``query`` after the position ``after`` of the last page:
    (0, id) for ``newest``, (score, id) for ``relevance``, (publication time in epoch
    microseconds, id) for ``published``.

    Raises NotFound for an unknown site filter.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r} (one of {', '.join(ORDERS)})")
    positions: dict[int, float]
    newest: list[int] | None = None
    rider: pg_newest.Rider | None = None
    copies: dict[int, int] = {}  # each hit's near-duplicates, read with the hits
    if order == "newest":
        if after is None and with_facets:
            # the first page is the head of the facets' newest matches: one look-up for both
            if dialect_name(session) == "postgresql":
                rider = facets_rider()
            newest = newest_ids(session, query, filters, before=None,
                                limit=max(limit, FACET_CAP) + 1, rider=rider)
            ids = newest[:limit + 1]
            newest = newest[:FACET_CAP + 1]
        else:
            ids = newest_ids(session, query, filters, before=after[1] if after else None,
                             limit=limit + 1)
        more = len(ids) > limit
        positions = {i: 0.0 for i in ids[:limit]}
        hits = hits_of(session, query, positions, highlight=MARK, copies=copies)
        hits.sort(key=lambda h: -h.id)
    elif order == "published":
        rows = published_ids(session, query, filters, after=after, limit=limit + 1)
        more = len(rows) > limit
        positions = dict(rows[:limit])
        hits = hits_of(session, query, {i: 0.0 for i in positions}, highlight=MARK,
                       copies=copies)
        hits.sort(key=lambda h: (-positions[h.id], -h.id))
    else:
        scores = rank(session, query, filters, CANDIDATES, CANDIDATES)
        ordered = sorted(scores.items(), key=lambda kv: (-kv[1], -kv[0]))
        if after is not None:
            ordered = [(i, s) for i, s in ordered if (s, i) < after]
        more = len(ordered) > limit
        positions = dict(ordered[:limit])
        hits = hits_of(session, query, positions, highlight=MARK, copies=copies)
        hits.sort(key=lambda h: (-h.score, -h.id))
    next_after = (positions[hits[-1].id], hits[-1].id) if more and hits else None
    result = SearchPage(hits=hits, copies=copies, next_after=next_after)
    if with_facets:
        result.facets, result.matches, result.facets_capped = facets(
            session, query, filters, newest=newest, rows=rider.rows if rider else None)
    return result
