"""`arsip bench crawl`'s report: each crawl's figures, the ratios against the baselines and
the goals, the CPU ceilings, where arsip's CPU goes, and the table printed."""

from __future__ import annotations

import os
from typing import Any

GOALS = {"ratio_arsip_bare": 0.75, "ratio_arsip_naive": 2.0, "peak_rss_mb_10k": 500.0}
COLUMNS = ["run", "pages", "articles", "seconds", "pages_per_s", "articles_per_s",
           "cpu_s_per_page", "peak_rss_mb", "cpu_ceiling_pages_per_s"]


def figures(r: dict[str, Any]) -> dict[str, Any]:
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


def build_report(args: Any, site: dict[str, Any], rate: dict[str, float],
            results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    import platform

    import scrapy

    report: dict[str, Any] = {"pages": args.pages, "concurrency": args.concurrency,
                              "writer": args.writer}
    for kind, r in results.items():
        report[kind] = figures(r)
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


def print_report(report: dict[str, Any], runs: list[str]) -> None:
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
