"""Full-text search: ranking, Indonesian text, phrases, prefixes, filters, duplicates, bad
queries, and an index that follows every insert, update and delete (SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from storage.errors import NotFound
from storage.filters import ArticleFilter, parse_date
from storage.models import Article
from storage.query_parser import QueryError, parse, to_fts5, to_tsquery
from storage.search import search
from tests.archive_factory import ArchiveFactory, filler


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    """The CLI reads $ARSIP_CONFIG (set by conftest): an empty config, database from env."""
    (tmp_path / "arsip.toml").touch()


@pytest.fixture
def session(engine: Any) -> Any:
    with Session(engine) as s:
        yield s


@pytest.fixture
def factory(session: Session) -> ArchiveFactory:
    f = ArchiveFactory(session)
    # background documents, so that term statistics look like an archive's
    for i in range(25):
        f.article(title=f"Kabar daerah {i}", body=filler(120, seed=i))
    return f


def ids(hits: list[Any]) -> list[int]:
    return [h.id for h in hits]


def test_title_hit_beats_passing_mention(session: Session, factory: ArchiveFactory) -> None:
    passing = factory.article(
        title="Rapat anggaran kota",
        body=filler(150, 1) + " delegasi dari Kazakhstan hadir. " + filler(150, 2))
    titled = factory.article(title="Kazakhstan minta bantuan tetangga",
                             body=filler(150, 3) + " Kazakhstan " + filler(100, 4))
    session.commit()
    hits = search(session, "kazakhstan")
    assert ids(hits) == [titled.id, passing.id]
    assert hits[0].score > hits[1].score
    assert "**Kazakhstan**" in hits[1].snippet


def test_seed_text_in_indonesian(session: Session, factory: ArchiveFactory,
                                 seed_text: str) -> None:
    title, _, body = seed_text.partition("\n")
    seed = factory.article(title=title, body=body)
    # "pasukan" and "Rusia" both occur, but never next to each other
    apart = factory.article(title="Latihan militer",
                            body="Rusia mengirim kapal. Pasukan lokal berjaga di pantai. "
                            + filler(80))
    other = factory.article(title="Jalan baru dibuka", body="Baca juga berita lainnya. "
                            + filler(80))
    session.commit()
    assert ids(search(session, "Kazakhstan")) == [seed.id]
    assert ids(search(session, "kazakhstan")) == [seed.id]  # case does not matter
    assert ids(search(session, '"pasukan Rusia"')) == [seed.id]
    assert set(ids(search(session, "pasukan Rusia"))) == {seed.id, apart.id}
    assert set(ids(search(session, "Baca Juga"))) == {seed.id, other.id}
    assert ids(search(session, '"Baca Juga" Blinken')) == [seed.id]
    assert ids(search(session, "Kazak*")) == [seed.id]
    assert ids(search(session, '"pasukan rus"*')) == [seed.id]
    assert ids(search(session, "Kazakh")) == []  # a word is a word, not a prefix
    hit = search(session, "Blinken")[0]
    assert "**Blinken**" in hit.snippet


def test_or_and_exclusion(session: Session, factory: ArchiveFactory) -> None:
    flood = factory.article(title="Banjir di Jakarta", body="Banjir melanda. " + filler(60))
    fire = factory.article(title="Kebakaran di Bandung", body="Kebakaran pasar. " + filler(60))
    both = factory.article(title="Banjir dan kebakaran", body=filler(60))
    session.commit()
    assert set(ids(search(session, "banjir OR kebakaran"))) == {flood.id, fire.id, both.id}
    assert ids(search(session, "banjir -kebakaran")) == [flood.id]
    assert set(ids(search(session, 'di -"dan kebakaran"'))) == {flood.id, fire.id}


def test_each_filter(session: Session, factory: ArchiveFactory) -> None:
    def make(**kw: Any) -> Article:
        return factory.article(title="Gempa bumi", body="Gempa terasa. " + filler(50), **kw)

    a = make(site="kompas", published=datetime(2023, 5, 1, 10, tzinfo=UTC),
             authors=["Siti Aminah"], language="id")
    b = make(site="tempo", published=datetime(2023, 6, 15, 23, tzinfo=UTC),
             authors=["Budi Santoso", "Rina"], language="id-ID")
    c = make(site="tempo", published=datetime(2023, 7, 1, 0, tzinfo=UTC),
             authors=[], language="en")
    session.commit()

    def found(**kw: Any) -> set[int]:
        return set(ids(search(session, "gempa", filters=ArticleFilter(**kw))))

    assert found() == {a.id, b.id, c.id}
    assert found(site="tempo") == {b.id, c.id}
    assert found(since=parse_date("2023-06-01")) == {b.id, c.id}
    # --until is a whole day: 23:00 on the 15th is still in
    assert found(until=parse_date("2023-06-15", end=True)) == {a.id, b.id}
    assert found(since=parse_date("2023-06-15"), until=parse_date("2023-06-30", end=True)) \
        == {b.id}
    assert found(until=parse_date("2023-07-01T00:00:00Z")) == {a.id, b.id}
    assert found(author="santoso") == {b.id}
    assert found(author="SITI") == {a.id}
    assert found(author="%") == set()  # LIKE wildcards are literal
    assert found(language="id") == {a.id, b.id}
    assert found(language="en") == {c.id}
    assert found(site="tempo", language="en") == {c.id}
    with pytest.raises(NotFound):
        found(site="no-such-site")


def test_duplicates_hidden_by_default(session: Session, factory: ArchiveFactory) -> None:
    original = factory.article(title="Harga beras naik", body="Harga beras naik lagi. "
                               + filler(60))
    copy = factory.article(title="Harga beras naik (salinan)", body="Harga beras naik lagi. "
                           + filler(61), duplicate_of=original)
    session.commit()
    assert ids(search(session, "beras")) == [original.id]
    shown = ids(search(session, "beras", filters=ArticleFilter(include_duplicates=True)))
    assert set(shown) == {original.id, copy.id}


def test_index_follows_insert_update_delete(session: Session, factory: ArchiveFactory) -> None:
    article = factory.article(title="Festival layang-layang", body="Ribuan layang-layang. "
                              + filler(40))
    session.commit()
    assert ids(search(session, "layang")) == [article.id]
    session.execute(update(Article).where(Article.id == article.id)
                    .values(title="Festival durian", body="Durian montong. " + filler(40)))
    session.commit()
    assert ids(search(session, "layang")) == []
    assert ids(search(session, "montong")) == [article.id]
    assert ids(search(session, "durian")) == [article.id]
    # an update of other columns leaves the index right
    session.execute(update(Article).where(Article.id == article.id)
                    .values(last_seen=datetime(2030, 1, 1, tzinfo=UTC)))
    session.commit()
    assert ids(search(session, "montong")) == [article.id]
    session.execute(delete(Article).where(Article.id == article.id))
    session.commit()
    assert search(session, "montong") == []
    assert search(session, "kabar")  # the other rows are still indexed


@pytest.mark.parametrize("query", ['"pasukan Rusia', "OR", "banjir OR", "-banjir", "*",
                                   "k*", "ban*jir", "   ", "---", '""'])
def test_unparseable_queries_raise_one_line_error(query: str) -> None:
    with pytest.raises(QueryError) as err:
        parse(query)
    assert "\n" not in str(err.value) and str(err.value)


def test_rendered_queries_hold_only_tokens_and_operators() -> None:
    parsed = parse("'); DROP TABLE articles; -- \"x'\\ y\" a' OR b")
    assert to_fts5(parsed) == '"drop" AND "table" AND "articles" AND "x y" AND ("a" OR "b")'
    assert to_tsquery(parsed) == ("'drop' & 'table' & 'articles' & ('x' <-> 'y') & "
                                  "('a' | 'b')")


def test_sql_looking_input_is_safe(session: Session, factory: ArchiveFactory) -> None:
    session.commit()
    before = session.execute(select(func.count()).select_from(Article)).scalar_one()
    for query in ["'); DROP TABLE articles; --", "x\" OR 1=1 --", "kabar' OR '1'='1",
                  "NEAR(kabar daerah)", "title:kabar", "kabar:*", "!kabar & daerah"]:
        try:
            search(session, query)
        except QueryError:
            pass
    after = session.execute(select(func.count()).select_from(Article)).scalar_one()
    assert after == before == 25
    # column filters and engine syntax are plain words here
    assert search(session, "title:kabar") == []
    assert len(search(session, "kabar:*", limit=100)) == 25


def test_limit(session: Session, factory: ArchiveFactory) -> None:
    session.commit()
    assert len(search(session, "kabar", limit=100)) == 25
    assert len(search(session, "kabar", limit=5)) == 5


def test_bounded_candidates_still_rank_title_hits(session: Session,
                                                  factory: ArchiveFactory) -> None:
    titled = factory.article(title="Pemilu serentak", body=filler(80) + " pemilu")
    for i in range(12):
        factory.article(title=f"Berita {i}", body=filler(80, i) + " pemilu " + filler(20))
    session.commit()
    # ranking only the 5 newest matches must still put the title hit first
    hits = search(session, "pemilu", candidates=5, limit=3)
    assert hits[0].id == titled.id


def test_cli_search_formats(cli: Any, engine: Any) -> None:
    with Session(engine) as s:
        f = ArchiveFactory(s)
        for i in range(10):
            f.article(title=f"Kabar {i}", body=filler(40, i))
        target = f.article(title="Gunung meletus", body="Gunung Merapi meletus pagi ini. "
                           + filler(40), published_local="2024-05-01T07:30:00+07:00")
        s.commit()
        target_id = target.id
    result = cli("search", "merapi", "--format", "json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert [h["id"] for h in hits] == [target_id]
    assert {"id", "url", "title", "published", "snippet", "score"} <= set(hits[0])
    assert hits[0]["published"] == "2024-05-01T07:30:00+07:00"
    assert "**Merapi**" in hits[0]["snippet"]
    result = cli("search", "gunung", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["id"]) for r in rows] == [target_id]
    result = cli("search", "gunung", "--format", "table")
    assert "Gunung meletus" in result.stdout


@pytest.mark.parametrize("args", [
    ['"unbalanced'], ["OR"], ["kabar", "--since", "2024-13-01"],
    ["kabar", "--until", "yesterday"], ["kabar", "--limit", "0"],
])
def test_cli_bad_input_is_one_line_usage_error(cli: Any, engine: Any, args: list[str]) -> None:
    result = cli("search", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("arsip: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_cli_sql_injection_attempt(cli: Any, engine: Any) -> None:
    with Session(engine) as s:
        ArchiveFactory(s).article(title="Kabar", body=filler(30))
        s.commit()
    result = cli("search", "'); DROP TABLE articles; --", "--format", "json")
    assert result.returncode in (0, 2)
    assert "Traceback" not in result.stderr
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Article)).scalar_one() == 1


def test_cli_unknown_site_fails(cli: Any, engine: Any) -> None:
    result = cli("search", "kabar", "--site", "nowhere")
    assert result.returncode == 1
    assert "no site named" in result.stderr


def _insert_as_at_revision(s: Session, *, title: str, body: str, url: str) -> int:
    """An article (and its canonical URL) written with the columns the database has at its
    current, older revision: the models describe the newest schema, later columns included."""
    import hashlib

    from sqlalchemy import MetaData, Table, insert

    meta = MetaData()
    articles = Table("articles", meta, autoload_with=s.connection())
    urls = Table("article_urls", meta, autoload_with=s.connection())
    when = datetime(2024, 3, 2, 8, tzinfo=UTC)
    site_id = s.execute(select(articles.c.site_id).limit(1)).scalar_one()
    values = dict(site_id=site_id, canonical_url=url, title=title, authors=["Tim Redaksi"],
                  published=when, language="id", section="News", tags=[], body=body,
                  content_hash=hashlib.sha256(body.encode()).hexdigest(),
                  first_seen=when, last_seen=when, last_checked=when)
    new_id = s.execute(insert(articles).values(
        **{k: v for k, v in values.items() if k in articles.c})).inserted_primary_key[0]
    s.execute(insert(urls).values(url=url, article_id=new_id, kind="canonical", first_seen=when))
    return int(new_id)


def test_migration_down_and_up_rebuilds_the_index(engine: Any) -> None:
    from sqlalchemy import inspect

    from storage.engine import downgrade, upgrade

    with Session(engine) as s:
        f = ArchiveFactory(s)
        for i in range(5):
            f.article(title=f"Kabar {i}", body=filler(30, i))
        kept = f.article(title="Panen raya", body="Petani memanen padi. " + filler(30)).id
        s.commit()
    downgrade(engine, "0001")
    inspector = inspect(engine)
    assert not [t for t in inspector.get_table_names() if t.startswith("articles_fts")]
    assert "search_vector" not in {c["name"] for c in inspector.get_columns("articles")}
    with Session(engine) as s:  # rows written while there is no index...
        later = _insert_as_at_revision(s, title="Panen jagung", body=filler(30, 9),
                                       url="https://intisari.example/read/panen-jagung")
        s.commit()
    upgrade(engine)
    with Session(engine) as s:  # ...are indexed by the upgrade
        assert set(ids(search(s, "panen"))) == {kept, later}


def test_postgresql_newest_matches_plan_by_estimated_cost() -> None:
    """How PostgreSQL finds a term's newest k matches (``storage.pg_newest.plan``): a walk
    down the primary key for a common term (it stops after about k / share rows); for a
    term in a few percent of a million articles, a slice of the newest ids (a walk would
    test tens of thousands of rows, a bitmap visit as many); every match for a rare term,
    and for any term when the slice would hold the whole archive; a phrase walks only when
    its words are very common (its estimate is its words', whose share is higher)."""
    from storage.pg_newest import plan

    assert plan(0.52, 1e6, 21).walk and plan(0.52, 1e6, 1001).walk  # "pemerintah"
    presiden = plan(0.045, 1e6, 1001)  # 45,000 matches
    assert not presiden.walk and presiden.slice_rows is not None
    assert 20_000 <= presiden.slice_rows <= 100_000  # about 2k matches' worth of ids
    assert plan(0.045, 1e6, 21).walk  # 21 of them: some 500 rows walked
    rare = plan(0.0001, 1e6, 21)
    assert not rare.walk and rare.slice_rows is None  # all 100 matches
    assert plan(0.045, 1e4, 500).slice_rows is None  # a small archive: every match
    assert plan(0.03, 1e6, 21).walk and not plan(0.03, 1e6, 21, phrase=True).walk
    assert plan(0.6, 1e6, 21, phrase=True).walk
    # the exhaustive baseline (every match a candidate): a bitmap of them all
    assert plan(0.045, 1e6, 10**9) == type(rare)(walk=False, slice_rows=None)


def test_postgresql_newest_matches_plan_with_the_recency_column() -> None:
    """With the index's recency column (migration 0009) a slice of the newest buckets costs
    what its ids and its matches cost, not the term's postings: taken for common and
    middling terms alike, sized for about twice k matches, the walk or the bitmap kept
    for going on below it. Not for a rare term (its few matches are cheaper than
    thousands of buckets), nor for a prefix (GIN collects its postings whole first), nor
    for a phrase whose rows must each be rechecked, nor without the column."""
    from storage.pg_newest import plan

    for share in (0.9985, 0.52, 0.045, 0.0064):  # "dengan", "pemerintah", "presiden"...
        got = plan(share, 1e6, 1001, recent=True)
        assert got.recent, share
        # sized with a margin over k matches, not the twice of the other slices
        assert got.slice_rows is not None
        assert 1.25 * 1001 / share <= got.slice_rows <= min(1.75 * 1001 / share, 1e6)
    assert plan(0.9985, 1e6, 1001, recent=True).walk  # below it: a walk
    assert not plan(0.0064, 1e6, 1001, recent=True).walk  # below it: every match
    assert not plan(0.52, 1e6, 1001).recent  # no column: the walk, as before
    assert not plan(0.0019, 1e6, 1001, recent=True).recent  # "blinken": every match
    assert plan(1.0, 1e6, 1001, recent=True, prefix=True).walk  # "meng*"
    assert not plan(1.0, 1e6, 1001, recent=True, prefix=True).recent
    assert not plan(1.0, 1e6, 1001, recent=True, phrase=True).recent  # '"dan di"'
    assert not plan(0.045, 1e4, 1001, recent=True).recent  # the slice is the archive


@pytest.mark.parametrize("how", ["walk", "slice", "bitmap", "recent-walk", "recent-bitmap",
                                 "recent-wider"])
def test_postgresql_newest_matches_are_the_same_every_way(engine: Any, how: str,
                                                         monkeypatch: Any) -> None:
    """Whatever the plan, the newest k matches that pass the filters, highest first; a
    slice holding too few falls back to every match; a recent slice holding too few is
    followed by wider ones, then (here after one) goes on below them by the walk or the
    bitmap. The recent slice is read through the search index, its bucket an index
    condition."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans (ARSIP_TEST_DATABASE_URL)")
    from storage import pg_newest
    from storage.pg_newest import BUCKET_IDS, Plan, Rider, newest

    sliced: list[str] = []
    real_ids = pg_newest._ids

    def ids_seen(session: Any, sql: str, values: Any, binds: Any,
                 rider: Any = None) -> list[int]:
        if f"/ {BUCKET_IDS})" in sql:
            sliced.append(sql)
        return real_ids(session, sql, values, binds, rider)

    monkeypatch.setattr(pg_newest, "_ids", ids_seen)
    if how in ("recent-walk", "recent-bitmap"):
        monkeypatch.setattr(pg_newest, "SLICE_TRIES", 1)
    with Session(engine) as s:
        f = ArchiveFactory(s)
        made = []
        for n in range(40):
            if n == 20:  # the newer half in buckets of their own, above the older half
                s.flush()
                s.execute(text("SELECT setval(pg_get_serial_sequence('articles', 'id'), "
                               f"{3 * BUCKET_IDS})"))
            word = "langka" if n % 7 == 0 else "biasa"
            made.append(f.article(title=f"Judul {n}", body=f"{word} {filler(20, n)}",
                                  site="tempo" if n % 2 else "kompas"))
        s.commit()
        ids = [a.id for a in made]
        assert ids[20] // BUCKET_IDS > ids[19] // BUCKET_IDS
        plans = {"walk": Plan(walk=True, slice_rows=None),
                 # a slice of the newest 10 ids holds 1 or 2 "langka": falls back
                 "slice": Plan(walk=False, slice_rows=10),
                 "bitmap": Plan(walk=False, slice_rows=None),
                 # the newest bucket holds the newer half: 1 "langka" of kompas, 2 short
                 "recent-walk": Plan(walk=True, slice_rows=10, recent=True),
                 "recent-bitmap": Plan(walk=False, slice_rows=10, recent=True),
                 "recent-wider": Plan(walk=False, slice_rows=10, recent=True)}
        where, params, binds = ArticleFilter(site="kompas").sql(s)
        got = newest(s, plans[how], vector="a.search_vector", tsquery="langka", k=3,
                     conditions="".join(f" AND {w}" for w in where), params=params,
                     binds=binds)
        below = newest(s, plans[how], vector="a.search_vector", tsquery="biasa", k=4,
                       conditions=" AND a.id < :b", params={"b": ids[30]}, binds=[],
                       below=ids[30])
        # a rider's statement runs over the rows found, when one statement found them all
        rider = Rider(columns=("site_id",), params={"one": 1},
                      sql=", c AS (SELECT count(DISTINCT r.site_id) AS sites, "
                          "count(*) AS n FROM r) SELECT r.id, NULL, NULL FROM r "
                          "UNION ALL SELECT NULL, sites * :one, n FROM c")
        sliced_before = len(sliced)
        ridden = newest(s, plans[how], vector="a.search_vector", tsquery="langka", k=3,
                        conditions="".join(f" AND {w}" for w in where), params=params,
                        binds=binds, rider=rider)
        del sliced[sliced_before:]
    langka_kompas = [i for n, i in enumerate(ids) if n % 7 == 0 and n % 2 == 0]
    assert got == sorted(langka_kompas, reverse=True)[:3]
    assert ridden == got
    # joined from a slice and the rows below it, the rider's rows would be the slice's
    assert rider.rows == (None if how in ("recent-walk", "recent-bitmap") else [(1, 3)])
    assert below == [i for n, i in reversed(list(enumerate(ids[:30]))) if n % 7][:4]
    assert len(sliced) == {"recent-walk": 2, "recent-bitmap": 2, "recent-wider": 4}.get(how, 0)
    with Session(engine) as s:  # the slice's bucket is the index's third column
        s.execute(text("SET LOCAL enable_seqscan = off"))
        s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        plan = "\n".join(s.execute(
            text("EXPLAIN " + pg_newest.recent_sql("a.search_vector", "", "")),
            {"nq": "langka", "nbucket": 1, "nk": 3}).scalars())
    assert "Index Scan on ix_articles_search_vector" in plan, plan
    assert f"AND ((id / {BUCKET_IDS}) >= 1))" in plan.split("Index Cond:")[1], plan


def test_postgresql_search_without_the_recency_column(engine: Any) -> None:
    """An archive whose search index has no recency column (migration 0009 could not
    create ``btree_gin``, or a downgrade): searches say so and find what they found."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans (ARSIP_TEST_DATABASE_URL)")
    from storage.engine import downgrade
    from storage.pg_newest import begin_search

    with Session(engine) as s:
        f = ArchiveFactory(s)
        made = [f.article(title=f"Judul {n}", body=f"{'langka' if n % 3 else 'biasa'} "
                          f"{filler(20, n)}") for n in range(12)]
        s.commit()
        langka = {a.id for n, a in enumerate(made) if n % 3}
        assert begin_search(s).recent
        s.rollback()
        with_column = ids(search(s, "langka", limit=5))
        s.rollback()
        downgrade(engine, "0008")
        assert not begin_search(s).recent
        s.rollback()
        assert ids(search(s, "langka", limit=5)) == with_column
    assert len(with_column) == 5 and set(with_column) <= langka


def test_postgresql_match_estimates_are_reused_for_a_while(engine: Any,
                                                          monkeypatch: Any) -> None:
    """The planner's estimate of a query's matches is asked once per ESTIMATE_TTL (a round
    trip and a planning less per search), per database and query; stale, it is asked
    again."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans (ARSIP_TEST_DATABASE_URL)")
    from sqlalchemy import event

    from storage import pg_newest

    asked: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cur, stmt, *rest: asked.append(stmt)
                 if stmt.startswith("EXPLAIN") else None)
    with Session(engine) as s:
        f = ArchiveFactory(s)
        for n in range(6):
            f.article(title=f"Judul {n}", body=f"{'langka' if n < 2 else 'biasa'} {filler(20, n)}")
        s.commit()
        s.execute(text("ANALYZE articles"))
        first = pg_newest.share(s, "langka", 6.0)
        assert len(asked) == 1 and 0 < first
        assert pg_newest.share(s, "langka", 3.0) == 2 * first  # the same estimate, reused
        assert len(asked) == 1
        pg_newest.share(s, "biasa", 6.0)  # another query: asked
        assert len(asked) == 2
        monkeypatch.setattr(pg_newest, "ESTIMATE_TTL", 0.0)
        assert pg_newest.share(s, "langka", 6.0) == first  # stale: asked again
        assert len(asked) == 3
        hits = ids(search(s, "langka"))
    assert len(hits) == 2


@pytest.mark.parametrize(("q", "body", "marked"), [
    # whole words only: not inside another word, whatever the case or diacritics
    ("rusia", "Perusiaan Rusia, rusia_baru dan RUSIA2 RUSIA.", ["Rusia", "rusia", "RUSIA"]),
    ("cafe", "Sebuah café, cafe-cafe dan cafetaria.", ["café", "cafe", "cafe"]),
    # a prefix term marks the whole words it starts
    ("memb*", "Ia membangun dan membeli; tidak memasak.", ["membangun", "membeli"]),
    # a phrase's words, and a word that is the start of another query word
    ('"pasukan perdamaian" pasuk*', "Pasukan perdamaian tiba. Pasukannya pulang.",
     ["Pasukan", "perdamaian", "Pasukannya"]),
    ("an ana", "ana an anak", ["ana", "an"]),
])
def test_snippet_marks_whole_words(q: str, body: str, marked: list[str]) -> None:
    import re

    from storage.search import snippet

    got = snippet(body, parse(q), highlight=("[", "]"))
    assert re.findall(r"\[([^\]]*)\]", got) == marked
    assert got.replace("[", "").replace("]", "") == body
