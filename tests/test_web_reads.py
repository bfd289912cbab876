"""How the web view reads a PostgreSQL archive: its statements stay prepared from one
request to the next, and a search sends no statement but its own (``web.state.WebState.read``,
``storage.pg_newest.begin_search``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from storage.article_pages import article_page
from storage.browse import search_page
from storage.filters import ArticleFilter
from storage.models import Article
from storage.query_parser import parse
from tests.archive_factory import ArchiveFactory, filler
from web.state import WebState


@pytest.fixture
def web(engine: Any, database_url: str) -> Any:
    """The web view's read state on the test archive: its engine as ``create_app`` makes it,
    one connection (so that what one request leaves on it, the next finds)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements and plans (ARSIP_TEST_DATABASE_URL)")
    from storage.engine import open_reader
    from web.app import PG_SETTINGS

    reader = open_reader(database_url, pg_settings=PG_SETTINGS, pool_size=1, max_overflow=0)
    yield WebState(engine=reader, database_url=database_url)
    reader.dispose()


def test_the_statements_stay_prepared_between_requests(engine: Any, web: WebState) -> None:
    """psycopg prepares a statement run five times, and forgets them all at a ROLLBACK: a
    request's read ends with a COMMIT, so the article page's statements are prepared (parsed
    and planned once) and stay so; what a read returns is not expired by it."""
    with Session(engine) as s:
        f = ArchiveFactory(s)
        one = f.article(title="Satu", body=filler(30, 1))
        two = f.article(title="Dua", body=filler(30, 2))
        f.link(one, two.canonical_url)
        s.commit()
        first, second = one.id, two.id
    for n in range(7):
        page = web.read(lambda s, n=n: article_page(s, first if n % 2 else second))
        assert page.view.title == ("Satu" if n % 2 else "Dua")
    prepared = web.read(lambda s: list(s.execute(text(
        "SELECT statement FROM pg_prepared_statements")).scalars()))
    assert any("FROM articles" in sql for sql in prepared), prepared
    # an ORM object read is usable after its read's COMMIT (not expired, detached)
    article = web.read(lambda s: s.get(Article, first))
    assert article is not None and article.title == "Satu"


def test_a_search_sends_only_its_own_statements(engine: Any, web: WebState,
                                                 monkeypatch: Any) -> None:
    """On the web view's connections (the search settings set when they open), a search
    within ``SCOPE_TTL`` of the last reads no scope and sets nothing: its slice and its hits
    only. A scope a little old still finds the newest matches: an article stored after it
    was read is the first hit. The same hits and facets as a search that sets its own."""
    import storage.browse as browse
    from storage import pg_newest

    monkeypatch.setattr(browse, "FACET_CAP", 3)  # a recent slice, in an archive of 40
    with Session(engine) as s:
        f = ArchiveFactory(s)
        for n in range(40):
            f.article(title=f"Judul {n}", site="kompas" if n % 3 else "intisari",
                      body=f"{'langka' if n % 2 else 'biasa'} {filler(20, n)}")
        s.commit()
        s.execute(text("ANALYZE articles"))
        s.commit()
    sent: list[str] = []
    event.listen(web.engine, "before_cursor_execute",
                 lambda conn, cur, stmt, *rest: sent.append(stmt))

    def page(s: Session) -> Any:
        return search_page(s, parse("langka"), ArticleFilter(), limit=2)

    web.read(page)  # the scope and the estimate read once
    del sent[:]
    got = web.read(page)
    assert not [sql for sql in sent if "set_config" in sql or "pg_class" in sql
                or "EXPLAIN" in sql], sent
    assert len(sent) == 2, sent  # the slice (with the facets) and the hits
    with Session(engine) as s:  # as the CLI searches: settings and scope in the transaction
        alone = page(s)
    assert [h.id for h in got.hits] == [h.id for h in alone.hits]
    assert got.facets == alone.facets and got.matches == alone.matches
    # a newer match, stored after the scope was read (its top below the new id)
    with Session(engine) as s:
        newer = ArchiveFactory(s).article(title="Baru", url="https://intisari.example/baru",
                                          body=f"langka {filler(20, 99)}")
        s.commit()
        newer_id = newer.id
    del sent[:]
    got = web.read(page)
    assert not [sql for sql in sent if "pg_class" in sql], sent  # the same scope
    assert got.hits[0].id == newer_id
    # a scope older than SCOPE_TTL is read again
    monkeypatch.setattr(pg_newest, "SCOPE_TTL", 0.0)
    del sent[:]
    web.read(page)
    assert [sql for sql in sent if "pg_class" in sql]


def test_statements_planned_by_the_words_get_custom_plans(engine: Any,
                                                          web: WebState) -> None:
    """On the web view's connections the recent slice and the hits may be planned once; a
    walk and a bitmap, whose best plan depends on how common the words are, are planned for
    their words (custom plans) in their transaction, with index scans off for a bitmap and
    back on after it."""
    from storage.pg_newest import Plan, newest

    with Session(engine) as s:
        f = ArchiveFactory(s)
        for n in range(12):
            f.article(title=f"Judul {n}", body=f"{'langka' if n % 2 else 'biasa'} "
                      f"{filler(20, n)}")
        s.commit()

    def run(plan: Plan) -> tuple[list[int], str, str]:
        def read(s: Session) -> tuple[list[int], str, str]:
            found = newest(s, plan, vector="a.search_vector", tsquery="langka", k=3,
                           conditions="", params={}, binds=[], top=10_000)
            return (found, s.execute(text("SHOW plan_cache_mode")).scalar_one(),
                    s.execute(text("SHOW enable_indexscan")).scalar_one())
        return web.read(read)

    recent = run(Plan(walk=False, slice_rows=10_000, recent=True))
    walk = run(Plan(walk=True, slice_rows=None))
    bitmap = run(Plan(walk=False, slice_rows=None))
    assert recent[0] == walk[0] == bitmap[0] and len(recent[0]) == 3
    assert recent[1:] == ("auto", "on")
    assert walk[1:] == ("force_custom_plan", "on")
    assert bitmap[1:] == ("force_custom_plan", "on")
