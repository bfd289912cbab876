"""Full-text search over articles(title, body): ranked hits with a highlighted snippet.

SQLite uses the FTS5 table ``articles_fts`` (BM25, title weighted 10x the body); PostgreSQL
the ``search_vector`` tsvector (ts_rank, title weight A, body B, GIN index). Both are made
and kept in step by migration 0002.

Speed. Ranking every match of a term found in half of the archive costs hundreds of
milliseconds (BM25 or ts_rank must look at every matching row), so ranking runs over a
bounded candidate set: the ``CANDIDATES`` most recently archived matches (highest ids,
read straight off the index in id order and cheap whatever the term), plus the
``CANDIDATES`` most recent matches whose *title* holds the query (on SQLite from the
title-only FTS5 index ``articles_title_fts`` of migration 0004). When a query has fewer
matches than that, which is most queries, the ranking is exact; for very common terms it
ranks the newest matches and the title hits, which is what a reader of a news archive wants
first (and BM25 gives a term found in half the documents almost no weight anyway).
``candidates=`` raises the bound for callers who want exhaustive ranking.

On SQLite the candidates are scored in one scan of the query's words bounded below by the
oldest candidate id, never by looking rows up one at a time in FTS5 (each such lookup
restarts the full-text query: milliseconds apiece). On PostgreSQL the newest matches come
from a GIN bitmap for a rare term and from walking the primary key backwards for a common
one (chosen from the planner's own estimate), planned for the query's words where the
way depends on them (``storage.pg_newest.custom_plans``). Snippets are cut in
Python from the hits' bodies, the same way on both engines.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from storage import pg_newest
from storage.filters import ArticleFilter
from storage.id_lists import ids_in, ids_value
from storage.models import UTCDateTime
from storage.query_parser import (
    Query,
    QueryError,
    parse,
    to_fts5,
    to_fts5_words,
    to_tsquery,
)
from storage.upsert import dialect_name

__all__ = ["CANDIDATES", "QueryError", "SearchHit", "TITLE_WEIGHT", "parse", "rank", "search",
           "snippet"]

CANDIDATES = 500
TITLE_WEIGHT = 10.0  # FTS5 bm25 column weight of the title (the body has 1.0)
HIGHLIGHT = ("**", "**")
SNIPPET_CHARS = 200
# must be the expression of the second column of ix_articles_search_vector (migration 0002)
PG_TITLE_VECTOR = "to_tsvector('simple'::regconfig, coalesce(a.title, ''))"

_WORD = re.compile(r"[^\W_]+")


@dataclass
class SearchHit:
    id: int
    url: str
    title: str | None
    published: datetime | None  # UTC
    published_local: str | None  # as the page gave it, with its own offset
    site: str
    snippet: str
    score: float  # higher is better; comparable within one search only

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "published": self.published_local or (
                self.published.isoformat() if self.published else None),
            "published_utc": self.published.isoformat() if self.published else None,
            "site": self.site,
            "snippet": self.snippet,
            "score": round(self.score, 6),
        }


def search(
    session: Session,
    query: str | Query,
    *,
    filters: ArticleFilter | None = None,
    limit: int = 20,
    candidates: int = CANDIDATES,
) -> list[SearchHit]:
    """The best ``limit`` articles for ``query`` (see :mod:`storage.query_parser`).

    Raises :class:`QueryError` for a query that cannot be parsed, ``NotFound`` for an
    unknown site filter.
    """
    parsed = parse(query) if isinstance(query, str) else query
    filters = filters or ArticleFilter()
    if limit <= 0:
        return []
    scores = rank(session, parsed, filters, limit, max(candidates, limit))
    if not scores:
        return []
    hits = hits_of(session, parsed, scores)
    hits.sort(key=lambda h: (-h.score, -h.id))
    return hits


def hits_of(session: Session, query: Query, scores: dict[int, float], *,
            highlight: tuple[str, str] | None = None,
            copies: dict[int, int] | None = None) -> list[SearchHit]:
    """The hits (title, site, snippet) of ``scores``' ids, in no particular order. Snippets
    are highlighted with :data:`HIGHLIGHT` (the CLI's), or with the caller's own
    ``highlight`` marks, which are then taken out of the bodies first so that only the
    snippet's marks are marks (the web view escapes the text, then turns them into HTML).
    ``copies``, when given, gets each hit's number of near-duplicates (those it has),
    counted in the same statement (off the ``duplicate_of_id`` index)."""
    if not scores:
        return []
    count = (", (SELECT count(*) FROM articles AS d WHERE d.duplicate_of_id = a.id) AS copies"
             if copies is not None else "")
    dialect = dialect_name(session)
    details = text(  # the ids as one parameter: an expanding list re-renders the statement
        "SELECT a.id, a.canonical_url, a.title, a.published, a.published_local, a.body, "
        f"s.name AS site{count} FROM articles AS a JOIN sites AS s ON s.id = a.site_id "
        f"WHERE {ids_in(dialect, 'a.id')}"
    ).columns(published=UTCDateTime())
    hits = []
    for row in session.execute(details, {"ids": ids_value(dialect, scores)}):
        body = row.body or ""
        for mark in highlight or ():
            body = body.replace(mark, "")
        hits.append(SearchHit(id=row.id, url=row.canonical_url, title=row.title,
                              published=row.published, published_local=row.published_local,
                              site=row.site,
                              snippet=snippet(body, query, highlight=highlight or HIGHLIGHT),
                              score=scores[row.id]))
        if copies is not None and row.copies:
            copies[row.id] = int(row.copies)
    return hits


def rank(session: Session, query: Query, filters: ArticleFilter, limit: int,
         candidates: int = CANDIDATES) -> dict[int, float]:
    """{article id: score} of the best ``limit`` matches among the bounded candidates."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _rank_sqlite(session, query, filters, limit, max(candidates, limit))
    if dialect == "postgresql":
        return _rank_postgresql(session, query, filters, limit, max(candidates, limit))
    raise NotImplementedError(f"no full-text search on {dialect}")


# --- SQLite FTS5 --------------------------------------------------------------------------

def _rank_sqlite(session: Session, query: Query, filters: ArticleFilter, limit: int,
                 candidates: int) -> dict[int, float]:
    ids: set[int] = set()
    # the newest matches, then the newest title matches from the title-only index (a
    # "title :" column filter in articles_fts would walk every row holding the words:
    # all of them for "dengan yang"). The title index sees the positive part only;
    # exclusions are tested by the ranking below.
    for table, match in (("articles_fts", to_fts5(query)),
                         ("articles_title_fts", to_fts5(query, negatives=False))):
        where, params, binds = filters.sql(session, id_column=f"+{table}.rowid")
        join = f" JOIN articles AS a ON a.id = {table}.rowid" if filters.needs_row() else ""
        conditions = "".join(f" AND {w}" for w in where)
        candidate_sql = text(
            f"SELECT {table}.rowid AS id FROM {table}{join} "
            f"WHERE {table} MATCH :match{conditions} "
            f"ORDER BY {table}.rowid DESC LIMIT :k"
        ).bindparams(*binds)
        ids.update(session.execute(candidate_sql, {**params, "match": match,
                                                   "k": candidates}).scalars())
    if not ids:
        return {}
    words = to_fts5_words(query)
    if query.excluded:
        words = f"({words}) NOT ({to_fts5(Query(clauses=[query.excluded]))})"
    # one scan of the query's words from the oldest candidate up; "+" keeps the id test
    # away from FTS5 (as a constraint it would restart the query for every candidate).
    # The candidate ids travel as ONE parameter (a JSON array read by json_each into an
    # ephemeral index), never one bound variable per id: SQLite allows 32766 variables,
    # and exhaustive ranking (``candidates=`` huge) of a common word has a million ids.
    ranked = session.execute(
        text(
            f"SELECT articles_fts.rowid AS id, bm25(articles_fts, {TITLE_WEIGHT}, 1.0) "
            "AS rank FROM articles_fts WHERE articles_fts MATCH :words "
            "AND articles_fts.rowid >= :low "
            f"AND {ids_in('sqlite', '+articles_fts.rowid')} "
            "ORDER BY rank, articles_fts.rowid DESC LIMIT :n"
        ),
        {"words": words, "low": min(ids),
         "ids": ids_value("sqlite", sorted(ids)), "n": limit},
    ).all()
    return {row.id: -float(row.rank) for row in ranked}


# --- PostgreSQL ---------------------------------------------------------------------------

def _rank_postgresql(session: Session, query: Query, filters: ArticleFilter, limit: int,
                     candidates: int) -> dict[int, float]:
    scope = pg_newest.begin_search(session)
    where, params, binds = filters.sql(session)
    conditions = "".join(f" AND {w}" for w in where)
    q, qt = to_tsquery(query), to_tsquery(Query(clauses=query.clauses))
    # the newest matches of the query, and the newest whose title holds its positive part
    # (storage.pg_newest: walk, slice or bitmap by the planner's estimate of their share;
    # a prefix such as "ber*" is in half the titles). The title candidates' exclusions, if
    # any, are tested on those few rows; every candidate then matches the whole query.
    body = pg_newest.newest(
        session, pg_plan_newest(session, query, q, candidates, scope=scope),
        vector="a.search_vector",
        tsquery=q, k=candidates, conditions=conditions, params=params, binds=binds,
        top=scope.top)
    excluded = " AND {v} @@ to_tsquery('simple', :q)" if query.excluded else ""
    titles = pg_newest.newest(
        session, pg_plan_newest(session, query, qt, candidates, PG_TITLE_VECTOR, scope=scope),
        vector=PG_TITLE_VECTOR, tsquery=qt, k=candidates, conditions=conditions,
        params={**params, "q": q}, binds=binds, walk_extra=excluded.format(v="w.body_v"),
        bitmap_extra=excluded.format(v="a.search_vector"), top=scope.top)
    ids = sorted(set(body) | set(titles))
    if not ids:
        return {}
    ranked = session.execute(
        text("SELECT a.id, ts_rank(a.search_vector, to_tsquery('simple', :q), 1) AS rank "
             f"FROM articles AS a WHERE {ids_in('postgresql', 'a.id')} "
             "ORDER BY rank DESC, a.id DESC LIMIT :n"),
        {"q": q, "ids": ids_value("postgresql", ids), "n": limit}).all()
    return {row.id: float(row.rank) for row in ranked}


def pg_plan_newest(session: Session, query: Query, tsquery: str, k: int,
                   vector: str = "a.search_vector", *,
                   scope: pg_newest.Scope) -> pg_newest.Plan:
    """How to find the newest ``k`` articles whose ``vector`` matches ``query`` (as
    ``tsquery``), from the planner's estimate of their share: for :func:`rank`'s candidates
    and for callers listing matches newest first (``scope``: from
    :func:`storage.pg_newest.begin_search`)."""
    terms = query.positive_terms()
    return pg_newest.plan(pg_newest.share(session, tsquery, scope.total, vector),
                          scope.total, k, phrase=any(len(t.words) > 1 for t in terms),
                          prefix=any(t.prefix for t in terms), recent=scope.recent)


# --- snippets -----------------------------------------------------------------------------

def _fold(text: str) -> str:
    """Lowercase without diacritics, keeping the length (so offsets stay valid)."""
    if text.isascii():
        return text.lower()
    out = []
    for ch in text:
        base = unicodedata.normalize("NFKD", ch)[:1].lower()[:1]
        out.append(base if base else ch)
    return "".join(out)


def _whole_words(text: str, alternatives: list[str]) -> list[tuple[int, int]]:
    """Spans of ``text`` matching one of the regular expressions ``alternatives`` as whole
    words (no letter or digit just before or after).

    The alternation alone is searched (longest first) and each match's edges tested here:
    about four times faster than a look-behind tried at every position of the text.
    """
    pattern = _alternation(tuple(alternatives))
    hits = []
    for m in pattern.finditer(text):
        start, end = m.span()
        if (start == 0 or not text[start - 1].isalnum()) and \
                (end == len(text) or not text[end].isalnum()):
            hits.append((start, end))
    return hits


@lru_cache(maxsize=256)
def _alternation(alternatives: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(sorted(alternatives, key=len, reverse=True)))


def snippet(body: str, query: Query, *, chars: int = SNIPPET_CHARS,
            highlight: tuple[str, str] = HIGHLIGHT) -> str:
    """About ``chars`` characters of ``body`` around its densest cluster of query words,
    those highlighted (whole words; a prefix term highlights the words it starts)."""
    alternatives = []
    for term in query.positive_terms():
        for i, word in enumerate(term.words):
            piece = re.escape(_fold(word))
            if term.prefix and i == len(term.words) - 1:
                piece += r"[^\W_]*"
            alternatives.append(piece)
    folded = _fold(body)
    hits = _whole_words(folded, alternatives)
    if hits:
        starts = [h[0] for h in hits]
        best = max(range(len(hits)),
                   key=lambda i: (bisect.bisect_left(starts, starts[i] + chars * 2 // 3) - i, -i))
        begin = max(0, starts[best] - chars // 4)
    else:
        begin = 0
    if begin > 0:  # start on a word boundary
        space = body.find(" ", begin)
        begin = space + 1 if 0 <= space < (starts[best] if hits else len(body)) else begin
    end = min(len(body), begin + chars)
    if end < len(body):
        space = body.rfind(" ", begin, end)
        end = space if space > begin else end
    pieces = []
    cursor = begin
    for hit_start, hit_end in hits:
        if hit_start < begin or hit_end > end:
            continue
        pieces.append(body[cursor:hit_start])
        pieces.append(f"{highlight[0]}{body[hit_start:hit_end]}{highlight[1]}")
        cursor = hit_end
    pieces.append(body[cursor:end])
    result = " ".join("".join(pieces).split())
    if begin > 0:
        result = "…" + result
    if end < len(body):
        result += "…"
    return result
