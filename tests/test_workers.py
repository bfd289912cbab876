"""`arsip worker`: several real worker processes, one Redis queue, one archive.

Redis: ``ARSIP_TEST_REDIS_URL`` (CI; the test database is flushed), else a private
``redis-server`` on a free loopback port (skipped with a reason when it is not installed).
The archive is the ``database_url`` fixture (SQLite, or PostgreSQL with
``ARSIP_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from arsip.sample_site.server import SiteServer

WORKER_TIMEOUT = 45


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(path: Path, site_url: str, **extra: object) -> None:
    lines = ["[[sites]]", 'name = "sample"', f'start_urls = ["{site_url}/"]', 'every = "1h"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _seed(redis_url: str, database_url: str) -> int:
    from config.loading import load_config
    from crawler.distributed import seed_run

    cfg = load_config()
    site = cfg.site("sample")
    assert site is not None
    return seed_run(redis_url, database_url, site)


def _worker(name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arsip", "worker", "--exit-when-idle", "--workers", "0",
         "--quiet", "--worker-id", name, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _wait(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append((p.returncode, stdout, stderr))
    return out


def _pathq(url: str) -> str:
    parts = urlsplit(url)
    host = "" if parts.hostname == "127.0.0.1" else parts.hostname or ""
    return host + parts.path + (f"?{parts.query}" if parts.query else "")


def _archive(database_url: str) -> dict[str, list[tuple[str, str]]]:
    """canonical path -> sorted (path, kind) of every URL stored for the article."""
    from sqlalchemy import create_engine, select

    from storage.engine import normalise_url
    from storage.models import Article, ArticleURL

    engine = create_engine(normalise_url(database_url))
    out: dict[str, list[tuple[str, str]]] = {}
    with engine.connect() as conn:
        rows = conn.execute(select(Article.canonical_url, ArticleURL.url, ArticleURL.kind)
                            .join(ArticleURL, ArticleURL.article_id == Article.id)).all()
        count = conn.execute(select(Article.id)).all()
    engine.dispose()
    for canonical, url, kind in rows:
        out.setdefault(_pathq(canonical), []).append((_pathq(url), kind))
    assert len(count) == len(out)
    return {k: sorted(v) for k, v in out.items()}


def _groups(database_url: str) -> tuple[set[frozenset[str]], set[frozenset[str]]]:
    """(the URLs of each article, the near-duplicate pairs), order-free: which of two copies
    a crawl stores first depends on timing, what belongs together does not."""
    from sqlalchemy import create_engine, select

    from storage.engine import normalise_url
    from storage.models import Article, ArticleURL

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        urls = conn.execute(select(ArticleURL.article_id, ArticleURL.url)).all()
        dups = conn.execute(select(Article.id, Article.duplicate_of_id)
                            .where(Article.duplicate_of_id.is_not(None))).all()
        canon = dict(conn.execute(select(Article.id, Article.canonical_url)).all())
    engine.dispose()
    groups: dict[int, set[str]] = {}
    for article_id, url in urls:
        groups.setdefault(article_id, set()).add(_pathq(url))
    pairs = {frozenset((_pathq(canon[a]), _pathq(canon[b]))) for a, b in dups}
    return {frozenset(g) for g in groups.values()}, pairs


def _runs(database_url: str) -> list[tuple[int, str, dict]]:
    from sqlalchemy import create_engine, select

    from storage.engine import normalise_url
    from storage.models import CrawlRun

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        rows = conn.execute(select(CrawlRun.id, CrawlRun.status, CrawlRun.stats)).all()
    engine.dispose()
    return [(r[0], r[1], dict(r[2] or {})) for r in rows]


def _fetched(server: SiteServer) -> Counter[str]:
    # robots.txt is read by every worker's robots.txt middleware: the one page fetched per
    # worker rather than per fleet
    return Counter(p for p in server.paths() if p != "/robots.txt")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What a one-machine ``arsip crawl`` fetches and archives from the sample site."""
    tmp = tmp_path_factory.mktemp("reference")
    db = f"sqlite:///{tmp / 'ref.db'}"
    (tmp / "arsip.toml").write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSIP_")}
    env.update(ARSIP_DATABASE_URL=db, ARSIP_CONFIG=str(tmp / "arsip.toml"))
    with SiteServer() as server:
        proc = subprocess.run([sys.executable, "-m", "arsip", "crawl", server.url + "/",
                               "--workers", "0", "--quiet"], env=env, cwd=tmp,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        fetched = _fetched(server)
    return {"fetched": fetched, "archive": _archive(db), "stats": _runs(db)[0][2]}


@pytest.mark.redis
@pytest.mark.slow
def test_three_workers_fetch_each_page_once_and_archive_each_article_once(
        tmp_path: Path, database_url: str, redis_url: str, reference: dict) -> None:
    with SiteServer(delay=0.4) as server:
        _config(tmp_path / "arsip.toml", server.url, concurrency=3)
        run_id = _seed(redis_url, database_url)
        procs = [_worker(f"w{i}") for i in range(3)]
        results = _wait(procs)
        fetched = _fetched(server)
        robots = server.paths().count("/robots.txt")
    for code, _, stderr in results:
        assert code == 0, stderr
    # every page once across the fleet, and the same pages as one machine crawls
    assert max(fetched.values()) == 1, [p for p, n in fetched.items() if n > 1]
    assert set(fetched) == set(reference["fetched"])
    assert robots <= 3 + 1
    # the same articles, each once, with the same aliases
    assert _archive(database_url) == reference["archive"]
    runs = _runs(database_url)
    assert [(r[0], r[1]) for r in runs] == [(run_id, "finished")]
    stats = runs[0][2]
    for key in ("pages", "articles_new", "aliases", "near_duplicates", "errors"):
        assert stats[key] == reference["stats"][key], key
    workers = stats["workers"]
    assert set(workers) <= {"w0", "w1", "w2"}
    assert sum(w["pages"] for w in workers.values()) == stats["pages"] > 0
    assert sum(w["articles_new"] for w in workers.values()) == stats["articles_new"] \
        == len(reference["archive"])
    assert len([w for w in workers.values() if w["pages"]]) >= 2  # the work was shared
    from crawler.distributed import RUNS_KEY, connect

    assert not connect(redis_url).smembers(RUNS_KEY)  # the run left the queue


def _host_paths(server: SiteServer) -> Counter[str]:
    return Counter(f"{r.host.split(':')[0]}{r.path}" for r in server.requests
                   if r.path != "/robots.txt")


def _dedup_config(path: Path, port: int) -> None:
    path.write_text("\n".join([
        "[[sites]]", 'name = "grup"',
        f'start_urls = ["http://127.0.0.1:{port}/", "http://localhost:{port}/"]',
        'allowed_domains = ["127.0.0.1", "localhost"]', 'every = "1h"']) + "\n",
        encoding="utf-8")


@pytest.mark.redis
@pytest.mark.slow
def test_workers_keep_aliases_and_near_duplicates_right(
        tmp_path: Path, database_url: str, redis_url: str) -> None:
    """The dedup fixtures (URL variants, copies, a syndicating portal): two workers group
    URLs into articles and mark near-duplicates as one machine does."""
    from arsip.sample_site.site import SampleSite
    from config.loading import load_config
    from crawler.distributed import seed_run

    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref_db = f"sqlite:///{ref_dir / 'ref.db'}"
    with SiteServer(SampleSite(dedup=True).render) as server:
        _dedup_config(ref_dir / "arsip.toml", server.port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARSIP_")}
        env.update(ARSIP_DATABASE_URL=ref_db, ARSIP_CONFIG=str(ref_dir / "arsip.toml"))
        ref = subprocess.run([sys.executable, "-m", "arsip", "crawl", "grup", "--workers", "0",
                              "--quiet"], env=env, cwd=ref_dir, capture_output=True, text=True,
                             timeout=120)
        assert ref.returncode == 0, ref.stderr
        ref_fetched = _host_paths(server)
    with SiteServer(SampleSite(dedup=True).render, delay=0.05) as server:
        _dedup_config(tmp_path / "arsip.toml", server.port)
        site = load_config().site("grup")
        assert site is not None
        seed_run(redis_url, database_url, site)
        results = _wait([_worker("d1"), _worker("d2")])
        fetched = _host_paths(server)
    for code, _, stderr in results:
        assert code == 0, stderr
    # what one machine fetches, each URL once across the fleet (NewsSpider fetches a
    # "?page=all" view once as a link and once as the page-all view of its article)
    assert max(fetched.values()) == 1, [p for p, n in fetched.items() if n > 1]
    # The one timing-dependent difference, either way: an article's plain URL, found while
    # its "?page=all" view is being fetched. Whoever has archived the view's article by then
    # skips the plain URL (an alias of it); one machine or one worker may meet the plain URL
    # first and fetch it. The archive is the same (the groups below).
    extra = set(fetched) - set(ref_fetched)
    assert all(f"{p}?page=all" in fetched for p in extra), extra
    missing = set(ref_fetched) - set(fetched)
    assert all(f"{p}?page=all" in fetched for p in missing), missing
    groups, pairs = _groups(database_url)
    ref_groups, ref_pairs = _groups(ref_db)
    assert len(ref_groups) > 5 and ref_pairs  # the fixture has copies and near-duplicates
    assert groups == ref_groups
    assert pairs == ref_pairs


@pytest.mark.redis
@pytest.mark.slow
def test_killed_worker_loses_no_request(tmp_path: Path, database_url: str, redis_url: str,
                                        reference: dict) -> None:
    from crawler.distributed import RunKeys, connect

    server_conn = connect(redis_url)
    with SiteServer(delay=1.0) as server:
        _config(tmp_path / "arsip.toml", server.url, concurrency=4)
        run_id = _seed(redis_url, database_url)
        doomed = _worker("doomed", "--lease", "2")
        keys = RunKeys(run_id)
        deadline = time.monotonic() + 30
        # kill it while it holds leases (requests it is fetching) of article pages
        while time.monotonic() < deadline:
            if server_conn.zcard(keys.inflight) >= 3 and any(
                    p.startswith("/read/") for p in server.paths()):
                break
            time.sleep(0.05)
        else:
            doomed.kill()
            pytest.fail("the first worker never started fetching")
        held = server_conn.zcard(keys.inflight)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        survivors = [_worker("a"), _worker("b")]
        results = _wait(survivors)
        fetched = _fetched(server)
    for code, _, stderr in results:
        assert code == 0, stderr
    assert held >= 3
    assert set(fetched) == set(reference["fetched"])  # nothing lost
    assert _archive(database_url) == reference["archive"]
    runs = _runs(database_url)
    assert [(r[0], r[1]) for r in runs] == [(run_id, "finished")]
    assert runs[0][2]["requeued"] >= 1
    assert server_conn.zcard(keys.inflight) == 0 and server_conn.zcard(keys.queue) == 0


@pytest.mark.redis
@pytest.mark.slow
def test_sigterm_returns_in_flight_requests(tmp_path: Path, database_url: str,
                                            redis_url: str, reference: dict) -> None:
    from crawler.distributed import RunKeys, connect

    conn = connect(redis_url)
    with SiteServer(delay=0.6) as server:
        _config(tmp_path / "arsip.toml", server.url, concurrency=4)
        run_id = _seed(redis_url, database_url)
        keys = RunKeys(run_id)
        first = _worker("first", "--lease", "60")
        deadline = time.monotonic() + 30
        # stop it in the middle: robots.txt read, articles being fetched
        while time.monotonic() < deadline and not (
                conn.zcard(keys.inflight) >= 2
                and any(p.startswith("/read/") for p in server.paths())):
            time.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        code, _, stderr = _wait([first])[0]
        assert code == 0, stderr
        # graceful: nothing is left leased by the stopped worker (finished or given back)
        assert conn.zcard(keys.inflight) == 0
        assert not conn.exists(keys.finished)
        runs = _runs(database_url)
        assert runs[0][1] == "running"
        assert runs[0][2]["workers"]["first"]["status"] == "interrupted"
        # another worker finishes the run; a lease of 60 s would otherwise stall it
        results = _wait([_worker("second")])
        fetched = _fetched(server)
    assert results[0][0] == 0, results[0][2]
    assert set(fetched) == set(reference["fetched"])
    assert _archive(database_url) == reference["archive"]
    assert [(r[0], r[1]) for r in _runs(database_url)] == [(run_id, "finished")]


@pytest.mark.redis
@pytest.mark.slow
def test_site_rate_holds_across_workers(tmp_path: Path, database_url: str,
                                        redis_url: str) -> None:
    delay = 0.3
    with SiteServer() as server:
        _config(tmp_path / "arsip.toml", server.url, download_delay=delay, max_pages=0)
        _seed(redis_url, database_url)
        results = _wait([_worker("p1"), _worker("p2")])
        times = sorted(r.time for r in server.requests)
    for code, _, stderr in results:
        assert code == 0, stderr
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) > 10
    # two workers, one site: the site's rate, not twice it. Each request leaves at its
    # reserved slot, give or take the event loop's wake-up lag on a busy machine
    assert sum(gaps) / len(gaps) >= delay * 0.95, gaps
    assert min(gaps) >= delay / 3, sorted(gaps)[:5]


def test_concurrent_writers_store_one_story_once(engine: object) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from crawler.dedup import fingerprint
    from storage.archive import ArchivedPage, store_page
    from storage.models import Article, ArticleURL
    from storage.runs import ensure_site

    with Session(engine) as session, session.begin():  # type: ignore[arg-type]
        site_id = ensure_site(session, "s")
    body = "Kisah sebuah desa di tepi sungai yang bertahan dari banjir tahunan. " * 30
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def store(alias: str) -> None:
        page = ArchivedPage(url=alias, canonical_url="https://example.org/read/1/kisah",
                            alias_urls=[alias], title="Kisah", body=body,
                            fingerprint=fingerprint(body))
        try:
            with Session(engine) as session, session.begin():  # type: ignore[arg-type]
                barrier.wait(5)
                outcomes.append(store_page(session, site_id, page).outcome)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=store, args=(f"https://example.org/read/1/kisah?v={i}",))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(outcomes) in (["alias", "new"], ["new", "unchanged"])
    with Session(engine) as session:  # type: ignore[arg-type]
        assert session.execute(select(func.count(Article.id))).scalar_one() == 1
        urls = session.execute(select(ArticleURL.url)).scalars().all()
    assert len(urls) == 3  # the canonical URL and both aliases, on the one article


def test_worker_needs_redis(cli, tmp_path: Path, database_url: str) -> None:
    (tmp_path / "arsip.toml").write_text("", encoding="utf-8")
    r = cli("worker")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("arsip: error: no Redis server")
    port = _free_port()  # nothing listens there
    r = cli("worker", env={"ARSIP_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    assert r.returncode == 1
    assert "cannot reach Redis" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.redis
@pytest.mark.slow
def test_bench_workers_json(cli, tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "arsip.toml").write_text("", encoding="utf-8")
    r = cli("bench", "workers", "--pages", "8", "--delay", "0.05", "--counts", "1", "2",
            "--format", "json", timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {"pages", "delay_s", "results", "scaling_4_vs_1", "baseline_workers"} <= set(data)
    assert [row["workers"] for row in data["results"]] == [1, 2]
    for row in data["results"]:
        assert row["articles"] == 8
        assert row["articles_per_s"] > 0
        assert row["fetched_once"] is True


@pytest.mark.redis
@pytest.mark.slow
def test_daemon_seeds_runs_into_the_queue_and_workers_serve_them(
        tmp_path: Path, database_url: str, redis_url: str) -> None:
    """With a Redis server configured, the daemon seeds each scheduled run into the shared
    queue instead of crawling itself; a worker then serves it to the end."""
    from tests.daemon_helpers import DaemonProcess, runs_of, wait_until, write_config

    with SiteServer() as server:
        config = write_config(tmp_path / "arsip.toml", [
            {"name": "sample", "start_urls": [server.url + "/"],
             "allowed_domains": ["127.0.0.1"], "every": "1h"}], redis_url=redis_url)
        with DaemonProcess(tmp_path, config, database_url) as daemon:
            daemon.wait_for("the daemon's heartbeat", lambda: "daemon started" in daemon.log())
            asked = subprocess.run([sys.executable, "-m", "arsip", "schedule", "run", "sample"],
                                   capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "ARSIP_CONFIG": str(config)})
            assert asked.returncode == 0, asked.stderr
            daemon.wait_for("a seeded run", lambda: runs_of(database_url, "sample"), 30)
            # the daemon fetched nothing itself: the run waits in the queue for workers
            assert not any(p.startswith("/read/") for p in server.paths())
            run = runs_of(database_url, "sample")[0]
            assert run["hostname"].startswith("workers@")
            worker = _worker("w1")
            [(code, _out, err)] = _wait([worker])
            assert code == 0, err
            wait_until("the run to finish", lambda: runs_of(database_url, "sample",
                                                            "finished"), 30)
            assert "seeded into the worker queue" in daemon.log()
        assert any(p.startswith("/read/") for p in server.paths())
