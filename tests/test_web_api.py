"""The web view and its JSON API through Starlette's TestClient (SQLite and PostgreSQL):
every endpoint, pagination tokens, errors, escaping, security headers, write actions."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from storage.models import Article, DaemonHeartbeat, RawPage, RunRequest
from storage.queries import show_article
from storage.raw_codec import compress
from storage.raw_store import read_raw
from storage.schedule import heartbeat_start
from tests.daemon_helpers import site, write_config
from tests.web_archive import HOSTILE_AUTHOR, STORIES, build
from web.app import create_app
from web.security import APP_CSP, RAW_CSP

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def archive(engine: Any, tmp_path: Path) -> dict[str, Any]:
    write_config(tmp_path / "arsip.toml", [site("intisari", every="30m"), site("kompas")])
    with Session(engine) as s, s.begin():
        ids = build(s)
    return ids


def make_client(database_url: str, **kwargs: Any) -> TestClient:
    return TestClient(create_app(database_url, **kwargs), raise_server_exceptions=False)


@pytest.fixture
def client(archive: dict[str, Any], database_url: str) -> Any:
    with make_client(database_url) as c:
        yield c


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


# --- search ---------------------------------------------------------------------------------

def test_search_json_has_the_cli_keys_and_folds_copies(client: TestClient,
                                                       archive: dict[str, Any]) -> None:
    r = client.get("/api/search", params={"q": "kazakhstan", "limit": 50})
    assert r.status_code == 200
    data = r.json()
    results = data["results"]
    ids = [h["id"] for h in results]
    assert set(archive["stories"]) <= set(ids)
    assert archive["copy"] not in ids  # the near-duplicate is folded under its original
    main = next(h for h in results if h["id"] == archive["main"])
    assert main["copies"] == 1
    assert {"id", "url", "title", "published", "published_utc", "site", "snippet",
            "score"} <= set(main)
    assert "**Kazakhstan**" in main["snippet"]
    assert ids == sorted(ids, reverse=True)  # newest archived first
    assert data["next"] is None
    sites = dict((f["value"], f["count"]) for f in data["facets"]["site"])
    assert sites["intisari"] == STORIES and sites["jahat"] == 1
    facets = {name: {f["value"]: f["count"] for f in values}
              for name, values in data["facets"].items()}
    assert facets["author"]["Afif Khoirul"] == STORIES
    assert facets["author"][HOSTILE_AUTHOR] == 1
    assert facets["language"] == {"id": STORIES + 1}
    assert facets["section"]["Internasional"] == STORIES
    assert facets["year"]["2024"] == STORIES
    assert data["matches"] == STORIES + 1 and data["matches_capped"] is False
    # the HTML page: highlights marked, the copy count shown
    html = client.get("/", params={"q": "kazakhstan"}).text
    assert "<mark>Kazakhstan</mark>" in html
    assert "+1 copy" in html
    # with near-duplicates: the copy is a result of its own
    dup = client.get("/api/search", params={"q": "kazakhstan", "duplicates": "1",
                                            "limit": 50}).json()
    assert archive["copy"] in [h["id"] for h in dup["results"]]


def test_search_filters_and_facet_links(client: TestClient, archive: dict[str, Any]) -> None:
    def ids(**params: str) -> set[int]:
        r = client.get("/api/search", params={"q": "kazakhstan", "limit": "100", **params})
        assert r.status_code == 200, r.text
        return {h["id"] for h in r.json()["results"]}

    assert ids(site="intisari") == set(archive["stories"])
    assert ids(author="afif") == set(archive["stories"])
    assert ids(section="internasional") == set(archive["stories"])
    assert ids(language="en") == set()
    assert ids(until="2000-01-01") == set()
    assert archive["hostile"] in ids(since=(datetime.now(UTC) - timedelta(days=3)).date()
                                     .isoformat())
    html = client.get("/", params={"q": "kazakhstan"}).text
    assert "site=intisari" in html  # a facet value links to its filter
    assert client.get("/api/search", params={"q": "x", "site": "nope"}).status_code == 404


def test_keyset_pages_cover_every_match_once(client: TestClient,
                                             archive: dict[str, Any]) -> None:
    for order in ("newest", "published", "relevance"):
        seen: list[int] = []
        params: dict[str, str] = {"q": "kazakhstan", "limit": "2", "order": order}
        pages = 0
        while True:
            data = client.get("/api/search", params=params).json()
            seen += [h["id"] for h in data["results"]]
            pages += 1
            if not data["next"]:
                break
            params["next"] = data["next"]
        everything = client.get("/api/search", params={"q": "kazakhstan", "limit": "100",
                                                       "order": order}).json()
        assert seen == [h["id"] for h in everything["results"]], order
        assert len(seen) == len(set(seen)) == STORIES + 1 and pages == 4
        if order == "published":
            dates = [h["published_utc"] for h in everything["results"]]
            assert dates == sorted(dates, reverse=True) and len(set(dates)) == len(dates)
    # the HTML page links to the next page and it works
    html = client.get("/", params={"q": "kazakhstan", "limit": "3"}).text
    nxt = re.search(r'rel="next" class="next" href="([^"]+)"', html)
    assert nxt is not None
    assert client.get("/" + nxt.group(1).replace("&amp;", "&")).status_code == 200


def test_forged_and_foreign_tokens_are_refused(client: TestClient, database_url: str) -> None:
    first = client.get("/api/search", params={"q": "kazakhstan", "limit": "2"}).json()
    token = first["next"]
    payload, mac = token.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    for bad in (forged, "garbage", token + "x", "a.b.c", "x" * 5000):
        r = client.get("/api/search", params={"q": "kazakhstan", "next": bad})
        assert r.status_code in (400, 414), bad
    r = client.get("/api/search", params={"q": "kazakhstan", "next": forged})
    assert r.status_code == 400 and "token" in r.json()["error"]
    # a token of another search
    r = client.get("/api/search", params={"q": "rusia", "next": token})
    assert r.status_code == 400 and "another search" in r.json()["error"]
    # a token of an earlier server (another key)
    with make_client(database_url) as other:
        r = other.get("/api/search", params={"q": "kazakhstan", "next": token})
    assert r.status_code == 400


def test_bad_queries_and_parameters(client: TestClient) -> None:
    r = client.get("/api/search", params={"q": '"unbalanced'})
    assert r.status_code == 400
    assert r.json()["error"] == "bad search query: unbalanced double quote in search query"
    r = client.get("/", params={"q": "a OR"})
    assert r.status_code == 400 and "OR needs a term on each side" in r.text
    assert "text/html" in r.headers["content-type"]
    for params in ({"q": "x", "limit": "0"}, {"q": "x", "limit": "-5"},
                   {"q": "x", "limit": "99999999999999999999"}, {"q": "x", "order": "best"},
                   {"q": "x", "since": "yesterday"}, {"q": "x" * 1001}, {}):
        r = client.get("/api/search", params=params)
        assert r.status_code == 400, params
        assert "error" in r.json()
    r = client.get("/?q=" + "a" * 5000)
    assert r.status_code == 414
    # an empty form is the search page, not an error
    assert client.get("/").status_code == 200


# --- articles -------------------------------------------------------------------------------

def test_article_json_keys_and_page(client: TestClient, archive: dict[str, Any],
                                    engine: Any) -> None:
    main = archive["main"]
    data = client.get(f"/api/articles/{main}").json()
    with Session(engine) as s:
        cli_keys = set(show_article(s, main).as_dict())
    assert cli_keys <= set(data)
    assert data["id"] == main and data["duplicates"][0]["id"] == archive["copy"]
    related = {r["anchor"]: r for r in data["related"]}
    assert related["Belum diarsip"]["archived"] is False
    assert related["Baca Juga: bagian 5"]["archived"] is True
    assert [r["id"] for r in data["related_in"]] == [archive["hostile"], archive["stories"][0]]
    assert data["graph"]["children"][0]["children"]  # two hops out
    assert [v["version"] for v in data["versions"]] == [2, 1]
    # which replacement was a re-extraction and which a change on the site, with when each
    # text was seen
    assert [v["reason"] for v in data["versions"]] == ["reextract", "changed"]
    assert data["versions"][1]["first_seen"].startswith("2024-03-01T08:00")
    assert data["diff"]["from"] == 2 and data["diff"]["to"] == 0
    html = client.get(f"/articles/{main}").text
    history = {m["v"]: m["why"] for m in re.finditer(
        r'<li id="version-(?P<v>\d+)"[^>]*>.*?<span class="why">(?P<why>[^<]*)</span>', html)}
    assert history == {"2": "replaced by a re-extraction", "1": "changed on the site"}
    assert "not archived yet" in html
    assert f'href="/articles/{archive["stories"][-2]}"' in html  # related link
    assert f'href="/articles/{archive["copy"]}"' in html  # its copy
    assert "<svg" in html and html.count("<circle") >= 4
    assert 'href="/raw/' in html
    assert re.search(r'<iframe[^>]*\bsandbox(?!=)[^>]*src="/raw/\d+"', html)
    assert "allow-scripts" not in html and "allow-same-origin" not in html


def test_word_diff_between_any_two_versions(client: TestClient, archive: dict[str, Any]) -> None:
    main = archive["main"]
    r = client.get(f"/articles/{main}", params={"from": "1", "to": "2"})
    assert r.status_code == 200
    diff = re.search(r'<div class="diff">(.*?)</div>', r.text, re.S)
    assert diff is not None
    assert "<del>awal</del>" in diff.group(1).replace("\n", " ") or "<del>" in diff.group(1)
    assert "<ins>" in diff.group(1) and "Rusia" in diff.group(1)
    data = client.get(f"/api/articles/{main}", params={"from": "1", "to": "2"}).json()
    assert data["diff"]["removed"] > 0 and data["diff"]["added"] > 0
    assert client.get(f"/articles/{main}", params={"from": "7"}).status_code == 404
    assert client.get(f"/articles/{main}", params={"from": "-1"}).status_code == 400


def test_unknown_and_bad_ids(client: TestClient) -> None:
    for path in ("/articles/999999", "/api/articles/999999", "/raw/999999", "/runs/999999",
                 "/api/runs/999999", "/no/such/page"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Traceback" not in r.text
    for path in ("/articles/-1", "/articles/abc", "/articles/99999999999999999999",
                 "/raw/0", "/api/runs/1e9", "/runs?limit=100000", "/runs?before=-3"):
        r = client.get(path)
        assert r.status_code == 400, path
    assert client.get("/api/articles/abc").json()["status"] == 400
    # JSON when asked by the Accept header
    r = client.get("/articles/999999", headers={"Accept": "application/json"})
    assert r.json() == {"error": "no article with id 999999", "status": 404}


def test_archive_url_redirects_any_known_variant(client: TestClient,
                                                 archive: dict[str, Any]) -> None:
    first = archive["first_url"]
    target = f"/articles/{archive['stories'][0]}"
    variants = [first, first + "?utm_source=twitter&fbclid=abc", archive["amp_alias"],
                first.replace("https://", "http://"), first + "/print",
                first.replace("https://", "https://www."), first + "/"]
    for url in variants:
        r = client.get("/archive/" + url, follow_redirects=False)
        assert r.status_code == 302, url
        assert r.headers["location"] == target, url
    r = client.get("/api/archive/" + first, follow_redirects=False)
    assert r.headers["location"] == "/api" + target
    r = client.get("/archive/https://nowhere.example/x")
    assert r.status_code == 404
    assert 'name="q"' in r.text and "not in the archive" in r.text  # offers the search


def test_raw_page_is_served_inert(client: TestClient, archive: dict[str, Any],
                                  engine: Any) -> None:
    with Session(engine) as s:
        page_id = s.execute(select(RawPage.id).where(
            RawPage.article_id == archive["hostile"])).scalar_one()
        stored = read_raw(s, s.get_one(RawPage, page_id))
    r = client.get(f"/raw/{page_id}")
    assert r.status_code == 200
    assert r.content == stored == archive["hostile_raw"]
    assert r.headers["content-security-policy"] == RAW_CSP
    assert r.headers["content-security-policy"].startswith("sandbox;")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["content-type"] == "text/html; charset=utf-8"  # as it was fetched
    # recompressed with zstd (as `arsip db compact` does): the same bytes
    packed = compress(stored)
    with Session(engine) as s, s.begin():
        s.execute(update(RawPage).where(RawPage.id == page_id).values(
            codec=packed.codec, body_gz=packed.data))
    assert client.get(f"/raw/{page_id}").content == stored
    # an unreadable one: an error page, no traceback
    with Session(engine) as s, s.begin():
        s.execute(update(RawPage).where(RawPage.id == page_id).values(codec="brotli"))
    bad = client.get(f"/raw/{page_id}")
    assert bad.status_code == 500 and "cannot be read" in bad.text and "Traceback" not in bad.text
    with Session(engine) as s, s.begin():
        s.execute(update(RawPage).where(RawPage.id == page_id).values(codec=packed.codec))
    # a page stored without a Content-Type: HTML without a charset (its <meta> decides)
    with Session(engine) as s, s.begin():
        s.execute(update(RawPage).where(RawPage.id == page_id).values(headers={}))
    assert client.get(f"/raw/{page_id}").headers["content-type"] == "text/html"


# --- everything from the archive is escaped -------------------------------------------------

def test_hostile_archive_text_is_escaped_everywhere(client: TestClient,
                                                    archive: dict[str, Any]) -> None:
    hostile = archive["hostile"]
    pages = [f"/articles/{hostile}", f"/articles/{archive['main']}", "/?q=penyusup",
             "/?q=kazakhstan", "/sites", "/runs", f"/runs/{archive['failed_run']}"]
    for path in pages:
        html = client.get(path).text
        assert "<script" not in html.lower(), path
        for tag in re.findall(r"<[a-zA-Z][^>]*>", html):  # real tags: no event handler
            assert not re.search(r"\son\w+\s*=", tag), (path, tag)
        for href in hrefs(html):
            assert not href.strip().lower().startswith(("javascript:", "data:")), (path, href)
    html = client.get(f"/articles/{hostile}").text
    assert "&lt;script&gt;window.pwnedTitle=1" in html
    assert "&lt;b onmouseover=" in html  # the author, shown as text
    assert "javascript:alert(&#39;alias&#39;)" in html  # shown, not linked
    assert "&lt;b&gt;klik&lt;/b&gt;" in html  # the related link's anchor
    data = client.get(f"/api/articles/{hostile}").json()
    assert data["authors"] == [HOSTILE_AUTHOR]  # JSON keeps the text as archived


def test_security_headers_on_every_page(client: TestClient, archive: dict[str, Any]) -> None:
    for path in ("/", "/?q=kazakhstan", f"/articles/{archive['main']}", "/sites", "/runs",
                 "/healthz", "/api/search?q=x", "/articles/999999", "/static/style.css"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == APP_CSP, path
        assert "script-src" not in APP_CSP and "'unsafe-inline'" not in APP_CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"


# --- sites, runs, operations ----------------------------------------------------------------

def test_sites_page(client: TestClient, archive: dict[str, Any]) -> None:
    data = client.get("/api/sites").json()
    by = {s["site"]: s for s in data["sites"]}
    assert by["intisari"]["articles"] == STORIES
    assert by["intisari"]["last_run"]["status"] == "finished"
    assert by["intisari"]["schedule"] == "every 30m" or by["intisari"]["schedule"]
    assert by["intisari"]["next_run"] is not None
    assert by["kompas"]["failures"][0]["id"] == archive["failed_run"]
    assert sum(by["jahat"]["articles_per_day"].values()) == 1
    assert data["daemon"] == {"running": False}
    html = client.get("/sites").text
    assert html.count('class="bar"') >= 1 and "articles archived per day" in html
    (day, count), = by["jahat"]["articles_per_day"].items()  # its chart's one bar
    assert f"<title>{day}: {count}</title></rect>" in html
    assert f'href="/runs/{archive["failed_run"]}"' in html


def test_sites_page_reads_on_the_requests_one_connection(
        client: TestClient, archive: dict[str, Any], engine: Any, tmp_path: Path) -> None:
    """The sites page's schedule comes from the daemon's job store read on the request's own
    connection (an Inspector and a connection of their own were two more pool checkouts, and
    pings, at every view), and each site's latest run is the newest of its recent runs, not
    read again."""
    import pickle

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from sqlalchemy import event, text

    from daemon.jobs import job_id, job_name
    from storage.schedule import JOBS_TABLE
    from tests.sql_capture import statements

    assert client.get("/api/sites").json()["sites"][0]["next_run_source"].startswith(
        "computed")  # no job store yet
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
    store.start(None, "default")  # type: ignore[arg-type]  # makes the table
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    state = client.app.state.arsip  # type: ignore[attr-defined]
    intisari = next(s for s in state.config().sites if s.name == "intisari")
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {JOBS_TABLE} (id, next_run_time, job_state) "
                          "VALUES (:id, :t, :state)"),
                     {"id": job_id("intisari"), "t": when.timestamp(),
                      "state": pickle.dumps({"name": job_name(intisari)})})
    app_engine = state.engine
    checkouts: list[int] = []

    def checkout(*_: Any) -> None:
        checkouts.append(1)

    event.listen(app_engine.pool, "checkout", checkout)
    try:
        with statements(app_engine, lambda sql: True) as seen:
            data = client.get("/api/sites").json()
    finally:
        event.remove(app_engine.pool, "checkout", checkout)
    by = {row["site"]: row for row in data["sites"]}
    assert by["intisari"]["next_run_source"] == "job store"
    assert datetime.fromisoformat(by["intisari"]["next_run"]) == when
    assert by["intisari"]["last_run"]["id"] == archive["finished_run"]
    assert by["kompas"]["last_run"]["id"] == archive["failed_run"]
    assert len(checkouts) == 1
    latest = [sql for sql, _ in seen if "max(crawl_runs.id)" in sql.lower()]
    assert latest == [], latest  # storage.schedule.last_runs: read off the recent runs


def test_runs_pages(client: TestClient, archive: dict[str, Any], engine: Any) -> None:
    runs = client.get("/api/runs").json()["runs"]
    assert [r["id"] for r in runs] == sorted([archive["finished_run"],
                                              archive["failed_run"]], reverse=True)
    failed = client.get("/api/runs", params={"status": "failed"}).json()["runs"]
    assert [r["id"] for r in failed] == [archive["failed_run"]]
    assert client.get("/api/runs", params={"site": "intisari"}).json()["runs"][0]["id"] \
        == archive["finished_run"]
    page = client.get("/api/runs", params={"limit": "1"}).json()
    assert page["next_before"] == archive["failed_run"]
    older = client.get("/api/runs", params={"limit": "1", "before": page["next_before"]})
    assert [r["id"] for r in older.json()["runs"]] == [archive["finished_run"]]
    assert client.get("/api/runs", params={"status": "bogus"}).status_code == 400
    run = client.get(f"/api/runs/{archive['failed_run']}").json()
    assert run["status"] == "failed" and run["stats"]["errors"] == 2
    html = client.get(f"/runs/{archive['failed_run']}").text
    assert "HTTP 503" in html and "https://kompas.example/read/2/&lt;b&gt;x&lt;/b&gt;" in html
    # the daemon's heartbeat
    with Session(engine) as s, s.begin():
        heartbeat_start(s, pid=os.getpid())
    data = client.get("/api/runs").json()
    assert data["daemon"]["running"] is True and data["daemon"]["heartbeat"]["age_s"] < 60
    assert "Daemon: running" in client.get("/runs").text
    assert {p["site"] for p in data["schedule"]} == {"intisari", "kompas"}


def test_healthz_and_metrics(client: TestClient, archive: dict[str, Any], engine: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["database"] == "ok"
    assert r.json()["daemon_heartbeat_age_s"] is None
    with Session(engine) as s, s.begin():
        beat = heartbeat_start(s, pid=os.getpid())
        s.execute(update(DaemonHeartbeat).where(DaemonHeartbeat.id == beat).values(
            seen_at=datetime.now(UTC) - timedelta(seconds=30)))
    age = client.get("/healthz").json()["daemon_heartbeat_age_s"]
    assert 29 <= age < 120
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, s.labels.get("site"), s.labels.get("le")): s.value
               for f in families.values() for s in f.samples}
    assert families["arsip_articles"].type == "gauge"
    assert families["arsip_pages_fetched"].type == "counter"
    assert families["arsip_run_duration_seconds"].type == "histogram"
    assert samples[("arsip_articles", "intisari", None)] == STORIES
    assert samples[("arsip_near_duplicates", "tribun", None)] == 1
    assert samples[("arsip_pages_fetched_total", "kompas", None)] == 4
    assert samples[("arsip_fetch_failures_total", "kompas", None)] == 2
    assert samples[("arsip_runs_failed_total", "kompas", None)] == 1
    assert samples[("arsip_run_duration_seconds_count", "intisari", None)] == 1
    assert ("arsip_last_success_timestamp_seconds", "intisari", None) in samples
    assert ("arsip_last_success_timestamp_seconds", "kompas", None) not in samples
    # the figures are read per scrape
    with Session(engine) as s, s.begin():
        s.execute(update(Article).where(Article.id == archive["copy"])
                  .values(duplicate_of_id=None))
    again = {(s.name, s.labels.get("site")): s.value
             for f in text_string_to_metric_families(client.get("/metrics").text)
             for s in f.samples}
    assert again[("arsip_near_duplicates", "tribun")] == 0


def test_healthz_when_the_database_is_gone() -> None:
    from storage.engine import make_engine

    # a database server that does not answer (nothing listens on the discard port)
    app = create_app(engine=make_engine("postgresql://arsip@127.0.0.1:9/gone", readonly=True))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["database"] == "unreachable"
        r = c.get("/sites")
        assert r.status_code == 503 and "Traceback" not in r.text


# --- write actions --------------------------------------------------------------------------

def test_run_action_needs_the_token(archive: dict[str, Any], database_url: str,
                                    engine: Any) -> None:
    with make_client(database_url) as c:  # no token configured: no write actions
        r = c.post("/api/sites/intisari/run", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 403 and "disabled" in r.json()["error"]
        assert c.get("/api/sites/intisari/run").status_code == 405
    with make_client(database_url, token=TOKEN) as c:
        assert c.post("/api/sites/intisari/run").status_code == 401
        assert c.post("/api/sites/intisari/run").headers["www-authenticate"].startswith("Bearer")
        r = c.post("/api/sites/intisari/run", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 403
        r = c.post("/api/sites/intisari/run", headers={"Authorization": f"Basic {TOKEN}"})
        assert r.status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert c.post("/api/sites/nope/run", headers=auth).status_code == 404
        r = c.post("/api/sites/intisari/run", headers=auth)
        assert r.status_code == 409 and "no daemon is running" in r.json()["error"]
        with Session(engine) as s:
            assert s.execute(select(func.count()).select_from(RunRequest)).scalar_one() == 0
        with Session(engine) as s, s.begin():
            heartbeat_start(s, pid=os.getpid())
        r = c.post("/api/sites/intisari/run", headers=auth)
        assert r.status_code == 202
        with Session(engine) as s:
            req = s.get(RunRequest, r.json()["request_id"])
            assert req is not None and req.site == "intisari" and req.picked_at is None


def test_token_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    from web.state import token_from

    path = tmp_path / "token"
    path.write_text("abc\n")
    assert token_from(str(path)) == "abc"
    monkeypatch.setenv("ARSIP_API_TOKEN", "fromenv")
    assert token_from(None) == "fromenv"
    path.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        token_from(str(path))


def test_serve_cli_refuses_bad_options(cli: Any, tmp_path: Path, database_url: str) -> None:
    res = cli("serve", "--port", "70000")
    assert res.returncode == 2 and "65535" in res.stderr
    res = cli("serve", "--token-file", str(tmp_path / "missing"))
    assert res.returncode == 2 and "cannot read token file" in res.stderr
    assert "Traceback" not in res.stderr


def test_demo_ends_with_how_to_browse_it(cli: Any, database_url: str, tmp_path: Path) -> None:
    (tmp_path / "arsip.toml").touch()
    res = cli("demo", "--workers", "1")
    assert res.returncode == 0, res.stderr
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("browse it: arsip") and "serve" in last
    assert "http://127.0.0.1:8080/" in last
    with make_client(database_url) as c:  # what it archived, in the web view
        hits = c.get("/api/search", params={"q": "kazakhstan"}).json()["results"]
        assert hits and c.get(f"/articles/{hits[0]['id']}").status_code == 200


def test_loopback_server_refuses_foreign_host_names(archive: dict[str, Any],
                                                    database_url: str) -> None:
    from arsip.commands.serve import LOOPBACK

    app = create_app(database_url, allowed_hosts=list(LOOPBACK))
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "localhost:8080"}).status_code == 200
        r = c.get("/api/search?q=kazakhstan", headers={"Host": "rebound.example"})
        assert r.status_code == 400 and "kazakhstan" not in r.text.lower()


def test_serve_without_an_archive_is_one_line(cli: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARSIP_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    res = cli("serve", "--port", "0", timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("arsip: error: ")
    assert "none.db" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_word_diff_escapes_before_marking() -> None:
    from web.diff import word_diff

    html, removed, added = word_diff("kata <b>lama</b> tetap", 'kata <img src=x onerror=a()> tetap')
    assert (removed, added) == (1, 3)
    assert "<del>&lt;b&gt;lama&lt;/b&gt;</del>" in html
    assert "<ins>&lt;img src=x onerror=a()&gt;</ins>" in html
    assert "<img" not in html and "<b>" not in html


def test_facets_are_counted_over_a_capped_sample(archive: dict[str, Any], engine: Any) -> None:
    from storage.browse import facets
    from storage.filters import ArticleFilter
    from storage.query_parser import parse

    with Session(engine) as s:
        counts, matches, capped = facets(s, parse("kazakhstan"), ArticleFilter(), cap=3)
        assert (matches, capped) == (3, True)
        assert sum(c for _, c in counts["site"]) == 3
        counts, matches, capped = facets(s, parse("kazakhstan"), ArticleFilter(), cap=100)
        assert (matches, capped) == (STORIES + 1, False)


def test_an_author_facet_counts_each_article_once(engine: Any) -> None:
    """An author counts the articles naming them, once each: a name given twice in one
    article's list counts once, and articles sharing a list each count."""
    from storage.browse import facets, search_page
    from storage.filters import ArticleFilter
    from storage.query_parser import parse
    from tests.archive_factory import ArchiveFactory

    lists = [["Ani", "Budi"], ["Ani", "Budi"], ["Budi", "Budi"], ["Citra"], [], ["Ani"]]
    with Session(engine) as s, s.begin():
        f = ArchiveFactory(s)
        for n, authors in enumerate(lists):
            f.article(title=f"Banjir {n}", body=f"banjir bandang {n}", authors=authors)
    want = [("Budi", 3), ("Ani", 3), ("Citra", 1)]
    with Session(engine) as s:
        counts, matches, _ = facets(s, parse("banjir"), ArticleFilter())
        assert matches == len(lists)
        assert sorted(counts["author"], key=lambda kv: (-kv[1], kv[0])) == \
            sorted(want, key=lambda kv: (-kv[1], kv[0]))
        page = search_page(s, parse("banjir"), ArticleFilter(), limit=2)
        assert page.facets["author"] == counts["author"]


def test_authors_tied_at_the_cut_are_kept_by_name(engine: Any) -> None:
    """The database keeps the commonest ``4 * FACET_VALUES`` authors, ties broken by name as
    they are shown: with sixty authors of one article each, the facet shows the author of
    two, then the first eleven names in order (not eleven of whichever the cut kept)."""
    from storage.browse import FACET_VALUES, search_page
    from storage.filters import ArticleFilter
    from storage.query_parser import parse
    from tests.archive_factory import ArchiveFactory

    names = [f"Penulis {n:02d}" for n in range(60)]
    with Session(engine) as s, s.begin():
        f = ArchiveFactory(s)
        for n, name in enumerate(reversed(names)):
            f.article(title=f"Banjir {n}", body=f"banjir bandang {n}",
                      authors=[name, "Zaki"] if n < 2 else [name])
    with Session(engine) as s:
        page = search_page(s, parse("banjir"), ArticleFilter(), limit=2)
    assert page.facets["author"] == [("Zaki", 2)] + [(name, 1) for name in
                                                      names[:FACET_VALUES - 1]]


def test_postgresql_counts_the_facets_in_the_statement_finding_the_matches(
        archive: dict[str, Any], engine: Any) -> None:
    """On PostgreSQL the first page's facets are counted by the statement that finds the
    newest matches (its rows read once): the same counts as by the matches' ids, capped
    the same way, with no statement of their own."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the facets' rider is PostgreSQL's (ARSIP_TEST_DATABASE_URL)")
    from sqlalchemy import event

    from storage.browse import facets, facets_rider, newest_ids, search_page
    from storage.filters import ArticleFilter
    from storage.query_parser import parse

    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    query = parse("kazakhstan")
    with Session(engine) as s:
        by_ids = facets(s, query, ArticleFilter())
        assert by_ids[0]["author"] and by_ids[0]["site"]
        event.listen(engine, "before_cursor_execute", seen)
        try:
            page = search_page(s, query, ArticleFilter(), limit=2)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert (page.facets, page.matches, page.facets_capped) == by_ids
        assert not [x for x in statements if x.startswith("WITH m AS")], statements
        rider = facets_rider(cap=3)
        found = newest_ids(s, query, ArticleFilter(), before=None, limit=4, rider=rider)
        assert rider.rows is not None
        assert facets(s, query, ArticleFilter(), cap=3, newest=found, rows=rider.rows) \
            == facets(s, query, ArticleFilter(), cap=3)


def test_published_order_pages_through_equal_dates(engine: Any) -> None:
    from storage.browse import search_page
    from storage.filters import ArticleFilter
    from storage.query_parser import parse
    from tests.archive_factory import ArchiveFactory

    same = datetime(2024, 5, 1, 7, 30, 0, 123456, tzinfo=UTC)
    with Session(engine) as s, s.begin():
        f = ArchiveFactory(s)
        made = [f.article(title=f"Gempa {i}", body=f"gempa bumi {i}", published=same).id
                for i in range(5)]
        f.article(title="Gempa tanpa tanggal", body="gempa", published=None)
        s.execute(update(Article).where(Article.title == "Gempa tanpa tanggal")
                  .values(published=None))
    seen: list[int] = []
    after = None
    with Session(engine) as s:
        while True:
            page = search_page(s, parse("gempa"), ArticleFilter(), order="published",
                               after=after, limit=2, with_facets=False)
            seen += [h.id for h in page.hits]
            if page.next_after is None:
                break
            after = page.next_after
    assert seen == sorted(made, reverse=True)  # ties by id; the undated one left out


def test_web_view_connections_start_no_parallel_workers(client: TestClient,
                                                         engine: Any) -> None:
    """PostgreSQL: the web view's connections plan without parallel workers (each a process
    started for one statement, whose core the concurrent requests need) and stay read-only;
    other readers keep the server's setting."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's parallel query")
    from sqlalchemy import text

    from storage.engine import open_reader

    with client.app.state.arsip.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == "0"
        assert conn.execute(text("SHOW transaction_read_only")).scalar() == "on"
    other = open_reader(str(engine.url.render_as_string(hide_password=False)))
    try:
        with other.connect() as conn:
            assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() != "0"
    finally:
        other.dispose()
