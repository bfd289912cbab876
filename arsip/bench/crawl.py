"""`arsip bench crawl`: crawl throughput against a bare Scrapy spider and a naive pipeline.

Generates a synthetic news site (``arsip.bench.synthetic_site``) of N article pages, serves
it from 127.0.0.1 in a process of its own (and measures what that server alone delivers),
then crawls it three times, each crawl in a child process of its own (a fresh reactor):

1. ``bare``: a Scrapy spider that follows the same links and yields nothing (the ceiling);
2. ``naive``: the same spider with ``trafilatura.extract`` inline and one ORM session and
   commit per item into a fresh SQLite file;
3. ``arsip``: arsip's crawl (``crawler.runner.run_crawls``) into a fresh archive.

For each: pages/s and articles/s (over the crawl's wall time, spider open to close), CPU
seconds per page (the crawl process and its extraction workers, over the same span) and the
peak RSS of its process tree (summed, sampled). Then the ratios arsip/bare (pages/s) and
arsip/naive (articles/s), and where arsip's CPU goes (fetch, extraction, dedup, storage).
"""
# The command is here; the crawl's child process is in arsip.bench.crawl_child, the site's
# server and the child processes' measurement in arsip.bench.crawl_processes, the report in
# arsip.bench.crawl_report.

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from arsip.argtypes import positive_int
from arsip.bench.crawl_processes import SiteServer, run_child
from arsip.bench.crawl_report import build_report, figures, print_report
from arsip.errors import UsageError

RUNS = ("bare", "naive", "arsip")


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("crawl", parents=[common],
                       help="crawl throughput vs. bare Scrapy and a naive pipeline",
                       description=__doc__)
    p.add_argument("--pages", type=positive_int, default=2000, metavar="N",
                   help="article pages in the synthetic site (default 2000)")
    p.add_argument("--concurrency", type=positive_int, default=16, metavar="C",
                   help="concurrent requests to the site (default 16)")
    p.add_argument("--runs", default=",".join(RUNS), metavar="LIST",
                   help="which crawls to run, comma-separated (default bare,naive,arsip)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the site (default 1)")
    p.add_argument("--writer", choices=["process", "thread"], default="process",
                   help="arsip's archive writer: its own process (the default, as in a real "
                        "crawl) or a thread of the crawl process (ARSIP_WRITER_PROCESS)")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="output format (default table)")
    p.set_defaults(func=run)


def _database(args: Any, workdir: str) -> tuple[str, Any]:
    """The arsip crawl's archive URL (fresh) and a clean-up function (or None)."""
    url = getattr(args, "database", None)
    if not url:
        return f"sqlite:///{os.path.join(workdir, 'arsip.db')}", None
    from storage.engine import normalise_url

    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        from arsip.bench.database import temporary_pg_database

        fresh, drop = temporary_pg_database(parsed)
        return fresh.render_as_string(hide_password=False), drop
    from sqlalchemy import func, select

    from storage.engine import open_archive
    from storage.models import Article

    engine = open_archive(url)
    try:
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(Article)).scalar_one()
    finally:
        engine.dispose()
    if count:
        raise UsageError(f"--database must be an empty archive (it holds {count} articles)")
    return url, None


def run(args: Any) -> int:
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNS]
    if unknown or not runs:
        raise UsageError(f"--runs: unknown run {', '.join(unknown) or '(none)'} "
                         f"(choose from {', '.join(RUNS)})")
    log = (lambda msg: None) if args.format == "json" else \
        (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True))
    timeout = max(180.0, args.pages * 0.6)
    with tempfile.TemporaryDirectory(prefix="arsip-bench-crawl-") as workdir:
        database, cleanup = _database(args, workdir) if "arsip" in runs else (None, None)
        log(f"generating and serving a synthetic site of {args.pages} articles")
        server = SiteServer(args.pages, args.seed)
        results: dict[str, dict[str, Any]] = {}
        try:
            from arsip.bench.synthetic_site import measure_server

            paths = _article_paths(server.url, 200)
            rate = measure_server(server.info["port"], paths, connections=args.concurrency,
                                  seconds=2.0 if args.pages >= 500 else 1.0)
            log(f"server alone: {rate['pages_per_s']} pages/s ({rate['mb_per_s']} MB/s)")
            base = {"url": server.url + "/", "concurrency": args.concurrency}
            for kind in runs:
                log(f"crawling: {kind}")
                spec = {**base, "kind": kind}
                if kind == "naive":
                    spec["database"] = f"sqlite:///{os.path.join(workdir, 'naive.db')}"
                if kind == "arsip":
                    spec["database"] = database
                    spec["writer"] = args.writer
                    spec["worker_dir"] = os.path.join(workdir, "workers")
                    os.makedirs(spec["worker_dir"], exist_ok=True)
                results[kind] = run_child(spec, workdir, timeout)
                f = figures(results[kind])
                log(f"{kind}: {f['pages']} pages in {f['seconds']} s, {f['pages_per_s']} "
                    f"pages/s, {f['articles_per_s']} articles/s")
        finally:
            server.stop()
            if cleanup:
                cleanup()
    report = build_report(args, server.info, rate, results)
    if args.format == "json":
        from arsip.output import dumps

        print(dumps(report, indent=2))
    else:
        print_report(report, runs)
    return 0


def _article_paths(base: str, limit: int) -> list[str]:
    """Paths of article pages, read from the site's first sitemap."""
    import re
    import urllib.request

    with urllib.request.urlopen(base + "/sitemap-1.xml", timeout=10) as resp:  # noqa: S310
        xml = resp.read().decode()
    paths = re.findall(r"<loc>https?://[^/<]+(/read/[^<]+)</loc>", xml)
    return paths[:limit] or ["/"]
