"""`arsip bench reextract`: re-extraction of an archive against extraction alone.

Builds a synthetic archive (``arsip.bench.synthetic_site``: N article pages, stored through
the crawl's write path with their raw pages, then compressed with a site dictionary as a
crawl leaves them), whose stored fields are those of an older extraction (every article
changes: the slow case, with a version, new links and a dedup regrouping each; ``--stale``
says what that older extraction kept of each body, below). Then, in
rounds (``--rounds``, default 5), each on the archive as built (a copy of the file; with
``--database``, a PostgreSQL database created from the one built):

1. ``extract``: the same pages through a new extraction worker pool, nothing else (what
   ``arsip bench extract`` measures, fed the same way);
2. ``reextract``: ``crawler.reextract.reextract`` over the archive (reading and
   decompressing the raw pages, extracting, comparing, writing in batches);
3. ``reextract`` again with ``force``: the same articles, none of which changes now;

and extraction alone once more at the end. Each ratio to extraction alone is taken against
the mean of the extraction measured just before and just after it (on a shared machine the
load changes within a run), and both are timed alike: from the start of a new worker pool
to its end, as ``reextract`` itself is. The figures printed are the median round's (the
lower median), with every round's ratio beside them.

The older extraction's bodies (``--stale``): ``lead`` (the default, as measured since the
bench began), the title and the first paragraph: the synthetic site draws its paragraphs from
a shared pool, so stories with the same first paragraph are near-duplicates in the stale
archive, a share that grows with N (a quarter of the articles at 500, four fifths at 20,000)
and whose groups fall apart during the run; ``cut``: the paragraphs before the body's first
"Baca Juga" line (an extractor that stopped there, the defect arsip's extraction removes),
where only syndicated copies are near-duplicates, as in an archive.

Prints articles/s of each and the ratios to extraction alone (goal: at least 0.8; the rest is
the database), the CPU an article takes (the main process's, and with the workers': on a
machine whose cores are all busy the ratio of rates comes to extraction's CPU over
re-extraction's, a figure the machine's other jobs move much less than the rates), and the
raw pages' stored size against their raw size.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

from arsip.argtypes import non_negative_int, positive_int

GOAL = 0.8
BASE = "http://synthetic.test"
STALE = ("lead", "cut")


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "reextract", parents=[common], help="re-extraction speed against extraction alone",
        description="Builds a synthetic archive and times re-extraction against extraction "
                    "alone. SQLite (a temporary file) by default; --database URL of a "
                    "PostgreSQL server benches temporary databases created (and dropped) "
                    "there.")
    p.add_argument("--pages", metavar="N", type=positive_int, default=500,
                   help="article pages in the synthetic archive (default 500)")
    p.add_argument("--workers", metavar="N", type=non_negative_int, default=None,
                   help="extraction worker processes (default: one per CPU)")
    # five: on a shared machine one round's ratio spreads by +-0.08 (0.72-0.89 in a day's
    # runs at 500 articles), the median of three still by about +-0.03
    p.add_argument("--rounds", metavar="R", type=positive_int, default=5,
                   help="rounds of extraction and re-extraction, each on the archive as "
                        "built; the median round is reported (default 5)")
    p.add_argument("--stale", choices=STALE, default="lead",
                   help="what the older extraction kept of each body: the first paragraph "
                        "(lead, default) or the paragraphs before the first 'Baca Juga' line "
                        "(cut)")
    p.add_argument("--seed", type=int, default=1, help="synthetic site seed (default 1)")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="output format (default table)")
    p.set_defaults(func=run)


def stale_body(site: Any, story: Any, stale: str) -> str:
    """The body an older extraction stored for ``story`` (``--stale``, module docstring)."""
    if stale == "lead":
        kept = story.paragraphs[:1]
    else:  # "cut": up to the first inline "Baca Juga" line (after paragraph min(inline))
        kept = story.paragraphs[:min(story.inline, default=len(story.paragraphs) - 1) + 1]
    return f"{story.title}. " + " ".join(site.paragraphs[p] for p in kept)


def build_archive(engine: Any, pages: int, seed: int, stale: str = "lead"
                  ) -> list[tuple[str, bytes]]:
    """The synthetic site's article pages stored as an older extraction left them;
    returns (url, raw page) of each."""
    from sqlalchemy.orm import Session

    from arsip.bench.synthetic_site import SyntheticSite
    from crawler.dedup import fingerprint
    from storage.archive import ArchivedPage, store_page
    from storage.models import Site
    from storage.raw_store import compact_site

    site = SyntheticSite(pages, seed)
    out = []
    with Session(engine) as session, session.begin():
        site_row = Site(name="synthetic")
        session.add(site_row)
        session.flush()
        site_id = site_row.id
        for story in site.stories:
            url = BASE + story.path
            html = site.article(BASE, story).encode()
            body = stale_body(site, story, stale)
            store_page(session, site_id, ArchivedPage(
                url=url, canonical_url=url, title=story.title.lower(), authors=[],
                body=body, fingerprint=fingerprint(body), raw_body=html,
                headers={"Content-Type": "text/html; charset=utf-8"}))
            out.append((url, html))
    compact_site(lambda: Session(engine), site_id, "synthetic")
    return out


async def _extract_all(pool: Any, pages: list[tuple[str, bytes]]) -> int:
    from crawler.reextract import extract_stored

    async def one(url: str, html: bytes) -> bool:
        if pool is None:
            article, _ = extract_stored(html, url, "utf-8")
        else:
            article, _ = await pool.run(extract_stored, html, url, "utf-8")
        return bool(article.is_article)

    results = await asyncio.gather(*(one(u, h) for u, h in pages))
    return sum(results)


def children_cpu() -> float:
    """CPU seconds of this process's ended and reaped children (the worker pools' processes,
    once closed)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_extract(pages: list[tuple[str, bytes]], workers: int
                    ) -> tuple[float, int, float, float]:
    """Seconds, articles, the CPU seconds of this (the main) process and of its workers: from
    the start of a new worker pool to its end, as ``reextract`` is timed (it starts its
    own)."""
    from crawler.extensions import _start_worker
    from crawler.processing import warm_up
    from crawler.worker_pool import WorkerPool

    warm_up()  # once per process, as reextract's (a no-op for it after this)
    started, cpu, workers_cpu = time.perf_counter(), time.process_time(), children_cpu()
    pool = None
    if workers > 0:
        pool = WorkerPool(workers, initializer=_start_worker, initargs=(0,))
        pool.start()
    try:
        articles = asyncio.run(_extract_all(pool, pages))
    finally:
        if pool is not None:
            pool.close()
    return (time.perf_counter() - started, articles, time.process_time() - cpu,
            children_cpu() - workers_cpu)


def _snapshot(engine: Any, path: str) -> None:
    """The archive's file as it is now, copied to ``path`` (its log checkpointed first)."""
    conn = engine.raw_connection()
    try:
        conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()
    engine.dispose()
    shutil.copyfile(engine.url.database, path)


def _restore(path: str, database: str) -> None:
    for suffix in ("-wal", "-shm"):
        if os.path.exists(database + suffix):
            os.remove(database + suffix)
    shutil.copyfile(path, database)


class _SQLiteArchives:
    """The archive in an SQLite file of a temporary folder; each round on a copy of the file
    as built."""

    backend = "sqlite"

    def __init__(self, workdir: str) -> None:
        from storage.engine import open_archive

        self.database = os.path.join(workdir, "archive.db")
        self.built = os.path.join(workdir, "built.db")
        self.where = self.database
        self.engine = open_archive(f"sqlite:///{self.database}")

    def built_as_is(self) -> None:
        _snapshot(self.engine, self.built)

    def for_round(self) -> Any:
        self.engine.dispose()
        _restore(self.built, self.database)
        return self.engine

    def round_done(self) -> None:
        self.engine.dispose()

    def close(self) -> None:
        self.engine.dispose()


class _PostgreSQLArchives:
    """``--database``: the archive built in a temporary database on that PostgreSQL server;
    each round in another, created from it (``CREATE DATABASE ... TEMPLATE``); all dropped
    at the end."""

    backend = "postgresql"

    def __init__(self, server: Any) -> None:
        from arsip.bench.database import temporary_pg_database
        from storage.engine import open_archive, redact

        self.server = server
        url, self._drop = temporary_pg_database(server)
        self.name = url.database
        self.where = redact(url)
        self._round: tuple[Any, Any] | None = None
        try:
            self.engine = open_archive(url.render_as_string(hide_password=False))
        except BaseException:
            self._drop()
            raise

    def _admin(self, sql: str) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(sql))
        finally:
            admin.dispose()

    def built_as_is(self) -> None:
        self.engine.dispose()  # a template has no connections

    def for_round(self) -> Any:
        from storage.engine import open_archive

        name = f"{self.name}_round"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        self._round = (None, name)  # dropped by round_done, even if opening it fails
        url = self.server.set(database=name)
        engine = open_archive(url.render_as_string(hide_password=False))
        self._round = (engine, name)
        return engine

    def round_done(self) -> None:
        if self._round is not None:
            engine, name = self._round
            self._round = None
            if engine is not None:
                engine.dispose()
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.round_done()
        self.engine.dispose()
        self._drop()


def _round(engine: Any, workers: int) -> dict[str, Any]:
    """``reextract`` over the archive as built, then again with ``force``: their summaries
    and the CPU seconds of each, the main process's and its workers'."""
    from sqlalchemy.orm import Session

    from crawler.reextract import Options, reextract

    cpu, workers_cpu = time.process_time(), children_cpu()
    summary = reextract(lambda: Session(engine), Options(workers=workers))
    changed_cpu = time.process_time() - cpu
    changed_workers = children_cpu() - workers_cpu
    # again with --force: every article extracted by the current version already, nothing
    # changes (the usual case of a re-extraction after a small rule change)
    cpu, workers_cpu = time.process_time(), children_cpu()
    again = reextract(lambda: Session(engine), Options(workers=workers, force=True))
    return {"summary": summary, "cpu": changed_cpu, "workers_cpu": changed_workers,
            "again": again, "again_cpu": time.process_time() - cpu,
            "again_workers_cpu": children_cpu() - workers_cpu}


def _rate(articles: int, seconds: float) -> float:
    return articles / seconds if seconds else 0.0


def run(args: Any) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from arsip.bench.database import pg_server
    from arsip.output import dumps
    from storage.models import Article
    from storage.raw_store import raw_sizes

    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    server = pg_server(args)
    with tempfile.TemporaryDirectory(prefix="arsip-bench-reextract-") as workdir:
        archives = (_SQLiteArchives(workdir) if server is None
                    else _PostgreSQLArchives(server))
        try:
            engine = archives.engine
            t0 = time.perf_counter()
            pages = build_archive(engine, args.pages, args.seed, args.stale)
            build_s = time.perf_counter() - t0
            with Session(engine) as session:
                raw, stored = next(iter(raw_sizes(session).values()), (0, 0))
                stale_copies = session.execute(select(func.count()).where(
                    Article.duplicate_of_id.is_not(None))).scalar_one()
            archives.built_as_is()
            extracts = [measure_extract(pages, workers)]
            rounds = []
            for _ in range(args.rounds):
                try:
                    rounds.append(_round(archives.for_round(), workers))
                finally:
                    archives.round_done()
                extracts.append(measure_extract(pages, workers))
        finally:
            archives.close()
    for number, one in enumerate(rounds):
        # the extraction measured just before this round and just after it
        seconds = (extracts[number][0] + extracts[number + 1][0]) / 2
        one["extract_s"] = seconds
        one["ratio"] = _rate(one["summary"].examined, one["summary"].seconds) / _rate(
            len(pages), seconds)
        one["ratio_unchanged"] = _rate(one["again"].examined, one["again"].seconds) / _rate(
            len(pages), seconds)
    ratios = [one["ratio"] for one in rounds]
    median = next(one for one in rounds if one["ratio"] == statistics.median_low(ratios))
    summary, again, extract_s = median["summary"], median["again"], median["extract_s"]
    extracted = extracts[0][1]
    extract_rate = len(pages) / extract_s
    reextract_rate = _rate(summary.examined, summary.seconds)
    unchanged_rate = _rate(again.examined, again.seconds)
    # CPU per article over every round, in ms: of the main process (the workers apart), what
    # competes with the extraction workers for the cores, the least load-dependent figure;
    # and with the workers' (in-process extraction, --workers 0, has none of its own): the
    # CPU an article costs in all, and extraction's share of re-extraction's, which is what
    # the ratio of rates comes to when every core is busy (the machine's other jobs move the
    # rates from run to run, much less the CPU an article takes). The database server's
    # (PostgreSQL) is not counted: not this process's child.
    articles = {"extract": len(pages) * len(extracts),
                "reextract": sum(r["summary"].examined for r in rounds),
                "reextract_unchanged": sum(r["again"].examined for r in rounds)}
    main_s = {"extract": sum(e[2] for e in extracts),
              "reextract": sum(r["cpu"] for r in rounds),
              "reextract_unchanged": sum(r["again_cpu"] for r in rounds)}
    workers_s = {"extract": sum(e[3] for e in extracts),
                 "reextract": sum(r["workers_cpu"] for r in rounds),
                 "reextract_unchanged": sum(r["again_workers_cpu"] for r in rounds)}
    cpu_ms = {k: round(1000 * main_s[k] / max(n, 1), 2) for k, n in articles.items()}
    all_cpu_ms = {k: round(1000 * (main_s[k] + workers_s[k]) / max(n, 1), 2)
                  for k, n in articles.items()}
    cpu_ratio = (round(all_cpu_ms["extract"] / all_cpu_ms["reextract"], 3)
                 if all_cpu_ms["reextract"] and server is None else None)
    report = {
        "backend": archives.backend, "database": archives.where,
        "pages": len(pages), "workers": workers, "build_s": round(build_s, 2),
        "rounds": len(rounds), "stale": args.stale,
        # articles marked near-duplicates in the archive as built (the older extraction's)
        "stale_near_duplicates": stale_copies,
        "extract": {"seconds": round(extract_s, 3), "articles": extracted,
                    "articles_per_s": round(extract_rate, 1)},
        "reextract": {"seconds": round(summary.seconds, 3), "examined": summary.examined,
                      "changed": summary.changed, "failed": len(summary.failed),
                      "articles_per_s": round(reextract_rate, 1)},
        "reextract_unchanged": {"seconds": round(again.seconds, 3), "examined": again.examined,
                                "changed": again.changed,
                                "articles_per_s": round(unchanged_rate, 1)},
        "ratio_reextract_extract": round(reextract_rate / extract_rate, 3),
        "ratio_unchanged_extract": round(unchanged_rate / extract_rate, 3),
        # every round's, in the order run (the figures above are the median round's)
        "ratios_reextract_extract": [round(r["ratio"], 3) for r in rounds],
        "ratios_unchanged_extract": [round(r["ratio_unchanged"], 3) for r in rounds],
        "changed_per_round": [r["summary"].changed for r in rounds],
        "goal": GOAL,
        "main_cpu_ms_per_article": cpu_ms,
        "cpu_ms_per_article": all_cpu_ms,
        "cpu_ratio_reextract_extract": cpu_ratio,
        "raw_bytes": raw, "raw_stored_bytes": stored,
        "raw_ratio": round(stored / raw, 4) if raw else None,
    }
    if args.format == "json":
        sys.stdout.write(dumps(report, indent=2) + "\n")
        return 0
    print(f"synthetic archive: {report['pages']} articles on {archives.backend} (built in "
          f"{build_s:.1f} s; older "
          f"extraction '{args.stale}': {stale_copies} marked near-duplicates), "
          f"{workers} worker(s), {len(rounds)} round(s); the median round:")
    print(f"extract:   {extract_rate:8.1f} articles/s  ({extract_s:.2f} s)")
    print(f"reextract: {reextract_rate:8.1f} articles/s  ({summary.seconds:.2f} s, "
          f"{summary.changed} changed, {len(summary.failed)} failed)")
    print(f"reextract, nothing changed (--force again): {unchanged_rate:8.1f} articles/s  "
          f"({again.seconds:.2f} s)")
    print(f"ratio reextract/extract: {report['ratio_reextract_extract']:.2f} every article "
          f"changed, {report['ratio_unchanged_extract']:.2f} none changed (goal >= {GOAL})")
    if len(rounds) > 1:
        print("every round, every article changed: " + ", ".join(
            f"{r:.2f}" for r in report["ratios_reextract_extract"]) + "; none changed: "
            + ", ".join(f"{r:.2f}" for r in report["ratios_unchanged_extract"]))
    print(f"main process CPU per article: extract {cpu_ms['extract']:.2f} ms, reextract "
          f"{cpu_ms['reextract']:.2f} ms, nothing changed {cpu_ms['reextract_unchanged']:.2f} ms")
    print(f"CPU per article, workers included: extract {all_cpu_ms['extract']:.2f} ms, "
          f"reextract {all_cpu_ms['reextract']:.2f} ms"
          + (f" (extraction's share: {cpu_ratio:.2f}, the ratio with every core busy)"
             if cpu_ratio is not None else " (the database server's not counted)"))
    if raw:
        print(f"raw pages: {stored} of {raw} bytes stored ({100 * stored / raw:.1f} %)")
    return 0
