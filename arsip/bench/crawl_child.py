"""`arsip bench crawl`'s child process: one crawl (``bare``, ``naive`` or ``arsip``) in a
fresh reactor, its figures written as JSON for the harness (``arsip.bench.crawl_processes``)."""

from __future__ import annotations

import json
import sys
from typing import Any

ARTICLE_OUTCOMES = ("arsip/articles_new", "arsip/aliases", "arsip/near_duplicates",
                    "arsip/versions", "arsip/unchanged")


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
