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

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from arsip.argtypes import positive_int
from arsip.errors import CommandError, UsageError

RUNS = ("bare", "naive", "arsip")
GOALS = {"ratio_arsip_bare": 0.75, "ratio_arsip_naive": 2.0, "peak_rss_mb_10k": 500.0}
COLUMNS = ["run", "pages", "articles", "seconds", "pages_per_s", "articles_per_s",
           "cpu_s_per_page", "peak_rss_mb", "cpu_ceiling_pages_per_s"]
ARTICLE_OUTCOMES = ("arsip/articles_new", "arsip/aliases", "arsip/near_duplicates",
                    "arsip/versions", "arsip/unchanged")


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


# --- the child processes --------------------------------------------------------------------

def child_main(spec_json: str) -> None:
    """Entry point of a crawl's child process: run one crawl, write its figures as JSON."""
    import logging

    spec = json.loads(spec_json)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for name in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if spec["kind"] == "arsip":
        result = _run_arsip(spec)
    else:
        result = _run_baseline(spec)
    with open(spec["out"], "w") as f:
        json.dump(result, f)


def _options(spec: dict[str, Any]) -> Any:
    from crawler.options import from_url

    return from_url(spec["url"]).with_overrides(concurrency=spec["concurrency"])


def _run_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    from scrapy.crawler import CrawlerProcess

    from arsip.bench.baselines import BareSpider, NaiveSpider, baseline_settings
    from arsip.bench.measure import crawl_figures

    settings = baseline_settings(_options(spec))
    settings["STATS_CLASS"] = "arsip.bench.measure.ProbeStats"
    cls: type = BareSpider
    if spec["kind"] == "naive":
        cls = NaiveSpider
        settings["ITEM_PIPELINES"] = {"arsip.bench.baselines.NaivePipeline": 300}
        settings["BENCH_NAIVE_DATABASE_URL"] = spec["database"]
    process = CrawlerProcess(settings, install_root_handler=False)
    crawler = process.create_crawler(cls)
    process.crawl(crawler, start_url=spec["url"])
    process.start()
    figures = crawl_figures()
    stats = figures.pop("stats")
    if spec["kind"] == "naive":
        figures["articles"] = int(stats.get("item_scraped_count", 0))
    else:
        figures["articles"] = getattr(crawler.spider, "articles", 0)
    figures["errors"] = int(stats.get("log_count/ERROR", 0))
    return figures


def _run_arsip(spec: dict[str, Any]) -> dict[str, Any]:
    from arsip.bench.measure import (
        WORKER,
        WRITER,
        collect_worker_totals,
        crawl_figures,
        dump_totals,
        install_arsip_probes,
    )

    probed = install_arsip_probes(spec["worker_dir"]) if spec.get("probe", True) else []
    from crawler.runner import CrawlJob, run_crawls

    outcomes = run_crawls([CrawlJob(_options(spec))], database_url=spec["database"],
                          progress_interval=1e9,
                          extra_settings={"STATS_CLASS": "arsip.bench.measure.ProbeStats",
                                          "ARSIP_WRITER_PROCESS":
                                              spec.get("writer", "process") == "process"})
    figures = crawl_figures()
    stats = figures.pop("stats")
    figures["articles"] = sum(int(stats.get(k, 0) or 0) for k in ARTICLE_OUTCOMES)
    figures["outcomes"] = {k.split("/")[1]: int(stats.get(k, 0) or 0)
                           for k in (*ARTICLE_OUTCOMES, "arsip/non_articles", "arsip/errors")}
    figures["errors"] = int(stats.get("arsip/errors", 0) or 0)
    figures["status"] = outcomes[0].status if outcomes else "?"
    figures["write_wall_s"] = float(stats.get("arsip/write_seconds", 0) or 0)
    figures["probed"] = probed
    # the writer's totals: from its own process (through the directory) or this one's thread
    figures["writer_cpu"] = collect_worker_totals(spec["worker_dir"], "writer") \
        if spec.get("probe", True) else {}
    if not figures["writer_cpu"]:
        figures["writer_cpu"] = dict(WRITER.values)
    if WORKER.values and spec.get("probe", True):
        dump_totals(WORKER, "worker")  # pages extracted in this process (no pool)
    figures["worker_cpu"] = collect_worker_totals(spec["worker_dir"])
    return figures


# --- the harness ----------------------------------------------------------------------------

class _Server:
    """The synthetic site's server, in a child process."""

    def __init__(self, pages: int, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from arsip.bench.synthetic_site import serve_main; "
             "serve_main(sys.argv[1:])", "--pages", str(pages), "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise CommandError(f"the synthetic site did not start: {_last_line(err)}")
        self.info = json.loads(line)
        self.url = f"http://127.0.0.1:{self.info['port']}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _run_child(spec: dict[str, Any], workdir: str, timeout: float) -> dict[str, Any]:
    import resource

    from arsip.bench.measure import TreeSampler

    spec = {**spec, "out": os.path.join(workdir, f"{spec['kind']}.json")}
    errlog = os.path.join(workdir, f"{spec['kind']}.stderr")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(errlog, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from arsip.bench.crawl import child_main; child_main(sys.argv[1])",
             json.dumps(spec)], stdout=subprocess.DEVNULL, stderr=err)
        with TreeSampler(proc.pid) as sampler:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise CommandError(f"the {spec['kind']} crawl took over {timeout:.0f} s") \
                    from None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(errlog) as f:
        stderr = f.read()
    if code != 0 or not os.path.exists(spec["out"]):
        raise CommandError(f"the {spec['kind']} crawl failed (exit {code}): "
                           f"{_last_line(stderr)}")
    with open(spec["out"]) as f:
        result = json.load(f)
    result["process_wall_s"] = time.perf_counter() - started
    result["process_cpu_s"] = (after.ru_utime + after.ru_stime
                               - before.ru_utime - before.ru_stime)
    result["peak_rss_mb"] = round(sampler.peak_rss / 1e6, 1)
    result["peak_pss_mb"] = round(sampler.peak_pss / 1e6, 1) if sampler.peak_pss else None
    # kernel high-water marks: the crawl process itself, its largest child (a pool worker)
    main_peak = result.get("vm_hwm_mb") or result["maxrss_end_mb"][0]
    result["peak_rss_main_mb"] = round(main_peak, 1)
    result["peak_rss_worker_mb"] = round(result["maxrss_end_mb"][1], 1)
    result["stderr_tail"] = _last_line(stderr) if stderr.strip() else None
    return result


def _figures(r: dict[str, Any]) -> dict[str, Any]:
    wall = max(r["wall_s"], 1e-9)
    pages = max(r["responses"], 1)
    cpu = r["cpu_main_s"] + r["cpu_children_s"]
    return {
        "pages": r["responses"],
        "articles": r["articles"],
        "seconds": round(wall, 2),
        "pages_per_s": round(r["responses"] / wall, 2),
        "articles_per_s": round(r["articles"] / wall, 2),
        "cpu_s_per_page": round(cpu / pages, 5),
        "peak_rss_mb": r["peak_rss_mb"],
        "peak_rss_main_mb": r["peak_rss_main_mb"],
        "peak_rss_worker_mb": r["peak_rss_worker_mb"],
        "peak_pss_mb": r.get("peak_pss_mb"),
        "cpu_main_s": round(r["cpu_main_s"], 2),
        "cpu_children_s": round(r["cpu_children_s"], 2),
        "errors": r.get("errors", 0),
        "cpu_ceiling_pages_per_s": cpu_ceiling(r),
    }


def cpu_ceiling(r: dict[str, Any]) -> float | None:
    """Pages/s this crawl's CPU cost allows on an idle machine with these cores: the crawl
    process is bound to one core (the GIL), the whole tree to all of them. A figure that
    other load on the machine does not distort, unlike the measured rates."""
    pages = max(r["responses"], 1)
    main = r["cpu_main_s"] / pages
    total = (r["cpu_main_s"] + r["cpu_children_s"]) / pages
    # the archive writer, in a process of its own, is bound to one core as well
    writer = r.get("writer_cpu", {}).get("process_cpu", 0.0) / pages
    limits = [1 / main if main else None, (os.cpu_count() or 1) / total if total else None,
              1 / writer if writer else None]
    known = [x for x in limits if x]
    return round(min(known), 1) if known else None


def breakdown(r: dict[str, Any], bare: dict[str, Any] | None) -> dict[str, Any]:
    """Where arsip's CPU time went, in ms per page (and wall-clock for the writer)."""
    pages = max(r["responses"], 1)
    worker = r.get("worker_cpu", {})
    writer = r.get("writer_cpu", {})
    extract = worker.get("extract", 0.0)
    fp = worker.get("fingerprint", 0.0)
    compress = worker.get("compress", 0.0)  # storage work done in the workers
    in_worker = worker.get("process_page", extract + fp + compress)
    write = writer.get("write_batch", 0.0)
    dedup_db = writer.get("dedup_index", 0.0)
    # the writer in a process of its own: its CPU is in cpu_children_s, not cpu_main_s
    writer_proc = writer.get("process_cpu")
    in_main = write if writer_proc is None else 0.0
    workers_cpu = r["cpu_children_s"] - (writer_proc or 0.0)
    fetch = max(r["cpu_main_s"] - in_main, 0.0)
    parts = {
        "fetch": fetch,  # the reactor thread: Scrapy, the spider, handing pages to the pool
        "extraction": extract,
        "dedup": fp + dedup_db,  # MinHash in the workers + the LSH index in the writer
        "storage": max(write - dedup_db, 0.0) + compress,
        "pool_overhead": max(workers_cpu - in_worker, 0.0) + max(
            in_worker - extract - fp - compress, 0.0),  # worker start-up, (un)pickling
        # the writer process's start-up, unpickling the batches, engine and the rest
        "writer_overhead": max((writer_proc or 0.0) - write, 0.0),
    }
    total = r["cpu_main_s"] + r["cpu_children_s"]
    out: dict[str, Any] = {f"{k}_ms_per_page": round(v * 1000 / pages, 2)
                           for k, v in parts.items()}
    out["total_ms_per_page"] = round(total * 1000 / pages, 2)
    out["share"] = {k: round(v / total, 3) if total else 0.0 for k, v in parts.items()}
    out["writer_wall_s"] = round(r.get("write_wall_s", 0.0), 2)
    out["writer_process"] = writer_proc is not None
    out["writer_cpu_ms_per_page"] = round((writer_proc if writer_proc is not None else write)
                                          * 1000 / pages, 2)
    out["crawl_wall_s"] = round(r["wall_s"], 2)
    out["dedup_detail_ms_per_page"] = {"fingerprint": round(fp * 1000 / pages, 2),
                                       "index": round(dedup_db * 1000 / pages, 2)}
    if bare is not None:
        out["bare_fetch_ms_per_page"] = round(
            (bare["cpu_main_s"] + bare["cpu_children_s"]) * 1000 / max(bare["responses"], 1),
            2)
    out["probed"] = r.get("probed", [])
    return out


def _database(args: Any, workdir: str) -> tuple[str, Any]:
    """The arsip crawl's archive URL (fresh) and a clean-up function (or None)."""
    url = getattr(args, "database", None)
    if not url:
        return f"sqlite:///{os.path.join(workdir, 'arsip.db')}", None
    from storage.engine import normalise_url

    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        from arsip.bench.query import _temporary_pg_database

        fresh, drop = _temporary_pg_database(parsed)
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
        server = _Server(args.pages, args.seed)
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
                results[kind] = _run_child(spec, workdir, timeout)
                f = _figures(results[kind])
                log(f"{kind}: {f['pages']} pages in {f['seconds']} s, {f['pages_per_s']} "
                    f"pages/s, {f['articles_per_s']} articles/s")
        finally:
            server.stop()
            if cleanup:
                cleanup()
    report = _report(args, server.info, rate, results)
    if args.format == "json":
        from arsip.output import dumps

        print(dumps(report, indent=2))
    else:
        _print_table(report, runs)
    return 0


def _article_paths(base: str, limit: int) -> list[str]:
    """Paths of article pages, read from the site's first sitemap."""
    import re
    import urllib.request

    with urllib.request.urlopen(base + "/sitemap-1.xml", timeout=10) as resp:  # noqa: S310
        xml = resp.read().decode()
    paths = re.findall(r"<loc>https?://[^/<]+(/read/[^<]+)</loc>", xml)
    return paths[:limit] or ["/"]


def _report(args: Any, site: dict[str, Any], rate: dict[str, float],
            results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    import platform

    import scrapy

    report: dict[str, Any] = {"pages": args.pages, "concurrency": args.concurrency,
                              "writer": args.writer}
    for kind, r in results.items():
        report[kind] = _figures(r)
    report["server_pages_per_s"] = rate["pages_per_s"]
    report["server_mb_per_s"] = rate["mb_per_s"]
    report["site"] = {k: site[k] for k in ("pages", "articles", "article_kb",
                                           "links_per_article") if k in site}
    if "arsip" in report and "bare" in report:
        report["ratio_arsip_bare"] = round(
            report["arsip"]["pages_per_s"] / max(report["bare"]["pages_per_s"], 1e-9), 3)
        if report["arsip"]["cpu_ceiling_pages_per_s"] and report["bare"]["cpu_ceiling_pages_per_s"]:
            report["ratio_arsip_bare_cpu_ceiling"] = round(
                report["arsip"]["cpu_ceiling_pages_per_s"]
                / report["bare"]["cpu_ceiling_pages_per_s"], 3)
    if "arsip" in report and "naive" in report:
        report["ratio_arsip_naive"] = round(
            report["arsip"]["articles_per_s"] / max(report["naive"]["articles_per_s"], 1e-9), 3)
    if "arsip" in results:
        report["breakdown"] = breakdown(results["arsip"], results.get("bare"))
        report["arsip"]["outcomes"] = results["arsip"].get("outcomes", {})
        report["arsip"]["status"] = results["arsip"].get("status")
    fastest = max((report[k]["pages_per_s"] for k in results), default=0)
    report["server_headroom"] = round(rate["pages_per_s"] / fastest, 1) if fastest else None
    report["goals"] = {k: v for k, v in GOALS.items() if k != "peak_rss_mb_10k"}
    if "ratio_arsip_bare" in report and "ratio_arsip_naive" in report:
        report["meets_goals"] = (report["ratio_arsip_bare"] >= GOALS["ratio_arsip_bare"]
                                 and report["ratio_arsip_naive"] >= GOALS["ratio_arsip_naive"])
    report["machine"] = {
        "cpus": os.cpu_count(), "cpu_model": _cpu_model(),
        "python": platform.python_version(), "scrapy": scrapy.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
        else None,
    }
    return report


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _print_table(report: dict[str, Any], runs: list[str]) -> None:
    from arsip.output import print_rows

    rows = [{"run": k, **report[k]} for k in runs]
    print_rows(rows, COLUMNS, "table")
    print()
    site = report["site"]
    print(f"site: {site.get('articles')} articles of {site.get('article_kb')} KB, "
          f"{site.get('links_per_article')} links each; {report['pages']} requested")
    print(f"server alone: {report['server_pages_per_s']} pages/s "
          f"({report['server_mb_per_s']} MB/s), {report['server_headroom']}x the fastest crawl")
    if "ratio_arsip_bare" in report:
        print(f"arsip/bare pages/s: {report['ratio_arsip_bare']:.2f} "
              f"(goal >= {GOALS['ratio_arsip_bare']})")
    if "ratio_arsip_bare_cpu_ceiling" in report:
        print(f"arsip/bare by CPU cost (idle-machine ceilings): "
              f"{report['ratio_arsip_bare_cpu_ceiling']:.2f}")
    if "ratio_arsip_naive" in report:
        print(f"arsip/naive articles/s: {report['ratio_arsip_naive']:.2f} "
              f"(goal >= {GOALS['ratio_arsip_naive']})")
    b = report.get("breakdown")
    if b:
        print(f"arsip CPU per page: {b['total_ms_per_page']} ms = fetch "
              f"{b['fetch_ms_per_page']} + extraction {b['extraction_ms_per_page']} + dedup "
              f"{b['dedup_ms_per_page']} + storage {b['storage_ms_per_page']} + pool overhead "
              f"{b['pool_overhead_ms_per_page']} + writer overhead "
              f"{b['writer_overhead_ms_per_page']}"
              + (f" (bare Scrapy: {b['bare_fetch_ms_per_page']} ms)"
                 if "bare_fetch_ms_per_page" in b else ""))
        where = "process" if b.get("writer_process") else "thread"
        print(f"arsip writer {where}: {b['writer_wall_s']} s of {b['crawl_wall_s']} s wall, "
              f"{b['writer_cpu_ms_per_page']} ms CPU per page; "
              f"outcomes {report['arsip'].get('outcomes')}")
    m = report["machine"]
    print(f"machine: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
          f"Scrapy {m['scrapy']}, load {m['load_average']}")
