"""Run crawls in this process: the library API behind ``arsip crawl``, ``arsip demo`` and the
daemon's child processes.

One ``CrawlerProcess`` runs every target's crawl (the Twisted reactor runs once per process);
each target gets its own crawl-run record, its own settings and its own summary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crawler.options import CrawlOptions
from crawler.settings import crawl_settings

logger = logging.getLogger(__name__)


@dataclass
class CrawlJob:
    options: CrawlOptions
    run_id: int | None = None  # an existing run record (the daemon makes one)
    trigger: str = "cli"


@dataclass
class CrawlOutcome:
    site: str
    run_id: int
    status: str
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def prepare_runs(engine: Any, jobs: list[CrawlJob]) -> list[tuple[CrawlJob, int, int]]:
    """Create (or adopt) the run record of each job; returns (job, run_id, site_id)."""
    from sqlalchemy import select

    from storage.models import CrawlRun
    from storage.runs import create_run, ensure_site, mark_dead_local_runs

    out = []
    with Session(engine) as session, session.begin():
        # runs left "running" by a crawl process of this host that is gone (killed)
        mark_dead_local_runs(session)
        for job in jobs:
            site_id = ensure_site(session, job.options.name)
            if job.run_id is None:
                run_id = create_run(session, job.options.name, trigger=job.trigger)
            else:
                run = session.execute(select(CrawlRun).where(CrawlRun.id == job.run_id)
                                      ).scalar_one_or_none()
                if run is None:
                    raise LookupError(f"no crawl run {job.run_id}")
                import os

                run.pid = os.getpid()
                run_id = run.id
            out.append((job, run_id, site_id))
    return out


def run_crawls(
    jobs: list[CrawlJob],
    *,
    database_url: str | None,
    contact_url: str | None = None,
    extract_workers: int | None = None,
    progress_interval: float = 10.0,
    extra_settings: dict[str, Any] | None = None,
) -> list[CrawlOutcome]:
    """Crawl every job to the end (or until SIGINT/SIGTERM) and return their outcomes."""
    from scrapy.crawler import Crawler, CrawlerProcess
    from sqlalchemy import select

    from crawler.spiders.news import NewsSpider
    from storage.engine import open_archive
    from storage.models import CrawlRun
    from storage.runs import finish_run

    engine = open_archive(database_url)
    url = engine.url.render_as_string(hide_password=False)
    prepared = prepare_runs(engine, jobs)
    root_level = logging.getLogger().level
    process = CrawlerProcess(settings={"LOG_LEVEL": "WARNING", "LOG_INSTALL_ROOT_HANDLER": False})
    crawlers: list[tuple[Any, CrawlJob, int]] = []
    for i, (job, run_id, site_id) in enumerate(prepared):
        settings = crawl_settings(job.options, database_url=url, run_id=run_id,
                                  site_id=site_id, contact_url=contact_url,
                                  extract_workers=extract_workers)
        settings["ARSIP_PROGRESS_INTERVAL"] = progress_interval
        settings.update(extra_settings or {})
        # the first crawler installs the (asyncio) reactor, as CrawlerProcess would
        crawler = Crawler(NewsSpider, settings, init_reactor=i == 0)
        process.crawl(crawler, options=job.options)
        crawlers.append((crawler, job, run_id))
    # Scrapy's logging config sets its own loggers to DEBUG: keep the CLI's choice
    logging.getLogger().setLevel(root_level)
    logging.getLogger("scrapy").setLevel(root_level or logging.WARNING)
    try:
        process.start()
    finally:
        outcomes = []
        try:
            with Session(engine) as session, session.begin():
                for _crawler, job, run_id in crawlers:
                    # a crawl that never opened (or died before closing) is not left "running"
                    finish_run(session, run_id, "failed", only_if_running=True,
                               error="the crawl stopped before it finished")
                    run = session.execute(select(CrawlRun).where(CrawlRun.id == run_id)
                                          ).scalar_one()
                    outcomes.append(CrawlOutcome(job.options.name, run_id, run.status,
                                                 dict(run.stats or {}), run.error))
        except SQLAlchemyError as exc:
            # the database went away: report the crawls from memory, as failed, in one line
            outcomes = [_unrecorded_outcome(crawler, job, run_id, exc, url)
                        for crawler, job, run_id in crawlers]
        finally:
            engine.dispose()
    return outcomes


def _unrecorded_outcome(crawler: Any, job: CrawlJob, run_id: int, exc: BaseException,
                        url: str) -> CrawlOutcome:
    """The outcome of a crawl whose run record cannot be read or written (database gone)."""
    from crawler.extensions import run_stats
    from storage.engine import error_line

    raw = crawler.stats.get_stats() if crawler.stats is not None else {}
    stats = run_stats(raw, time.monotonic())
    stats["duration_s"] = float(raw.get("elapsed_time_seconds", 0) or 0)
    reason = error_line(exc, url)
    return CrawlOutcome(job.options.name, run_id, "failed", stats,
                        f"the archive database became unavailable ({reason}); "
                        f"run {run_id} could not be recorded")


def summary_line(outcome: CrawlOutcome) -> str:
    s = outcome.stats
    return (
        f"{outcome.site}: {outcome.status} in {s.get('duration_s', 0):.1f} s (run {outcome.run_id}):"
        f" {s.get('pages', 0)} pages, {s.get('articles_new', 0)} new articles,"
        f" {s.get('aliases', 0)} aliases, {s.get('near_duplicates', 0)} near-duplicates,"
        f" {s.get('versions', 0)} versions, {s.get('unchanged', 0) + s.get('not_modified', 0)}"
        f" unchanged, {s.get('skipped_known', 0)} known URLs skipped, {s.get('errors', 0)} failed"
    )
