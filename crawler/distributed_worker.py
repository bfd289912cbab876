"""The worker process: serve the runs in the shared queue until told to stop.

One reactor, one Scrapy crawler per run being served (each with its site's settings and the
distributed components). The loop looks for runs every ``poll`` seconds; a run's crawler
closes when the run is drained. SIGTERM/SIGINT: every crawler closes gracefully (in-flight
downloads finish, their output is queued and written, anything still held goes back to the
queue); a second signal returns what is held at once and exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class WorkerConfig:
    redis_url: str
    database_url: str | None
    sites: list[str] = field(default_factory=list)  # empty: every site
    worker_id: str | None = None
    lease_seconds: float = 30.0
    poll_seconds: float = 0.25
    discover_seconds: float = 1.0
    extract_workers: int | None = None
    contact_url: str | None = None
    exit_when_idle: bool = False
    concurrency: int | None = None  # override the site's per-worker concurrency
    quiet: bool = False


@dataclass
class ServedRun:
    run_id: int
    site: str
    stats: dict[str, Any] = field(default_factory=dict)
    ended: bool = False


def worker_settings(cfg: WorkerConfig, options: Any, run_id: int, site_id: int,
                    database_url: str, worker_id: str) -> dict[str, Any]:
    from crawler.settings import crawl_settings

    s = crawl_settings(options, database_url=database_url, run_id=run_id, site_id=site_id,
                       contact_url=cfg.contact_url, extract_workers=cfg.extract_workers)
    if cfg.concurrency:
        s["CONCURRENT_REQUESTS"] = cfg.concurrency * 2
        s["CONCURRENT_REQUESTS_PER_DOMAIN"] = cfg.concurrency
    # the one-machine components, with the distributed ones in place of the local ones
    s["EXTENSIONS"] = {**s.get("EXTENSIONS", {}), "crawler.extensions.RunRecorder": None,
                       "crawler.distributed_archive.DistributedRunRecorder": 200}
    pipelines = {k: v for k, v in s.get("ITEM_PIPELINES", {}).items()
                 if k != "crawler.pipelines.ArchivePipeline"}
    s["ITEM_PIPELINES"] = {**pipelines, "crawler.distributed_archive.LeasedArchivePipeline": 300}
    s["SPIDER_MIDDLEWARES"] = {**s.get("SPIDER_MIDDLEWARES", {}),
                               "crawler.distributed_middlewares.LeaseMiddleware": 1}
    # after RobotsTxtMiddleware and PolitenessMiddleware: the host's delay (the site's, or
    # robots.txt's Crawl-delay when larger) is then known, and is kept fleet-wide
    s["DOWNLOADER_MIDDLEWARES"] = {**s.get("DOWNLOADER_MIDDLEWARES", {}),
                                   "crawler.robots_gate.RobotsGate": 95,
                                   "crawler.distributed_middlewares.SharedRateLimit": 950}
    s.update({
        "SCHEDULER": "crawler.distributed_scrapy.DistributedScheduler",
        # the site's delay is kept fleet-wide by SharedRateLimit, at the moment a request
        # leaves; a local delay on top would only shift requests off their reserved slots
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "ARSIP_POLITENESS_DELAY": 0,  # PolitenessMiddleware then only knows Crawl-delay
        "ARSIP_SHARED_DELAY": options.download_delay,
        "ARSIP_REDIS_URL": cfg.redis_url,
        "ARSIP_WORKER_ID": worker_id,
        "ARSIP_LEASE_SECONDS": cfg.lease_seconds,
        "ARSIP_POLL_SECONDS": cfg.poll_seconds,
        # articles written sooner: a request is acknowledged once its articles are written
        "ARSIP_WRITE_INTERVAL": 0.5,
        "ARSIP_WRITE_BATCH": 10,
        "ARSIP_PROGRESS_INTERVAL": 1e9 if cfg.quiet else 10.0,
    })
    return s


class Worker:
    def __init__(self, cfg: WorkerConfig) -> None:
        from crawler.distributed import worker_id

        self.cfg = cfg
        self.worker_id = cfg.worker_id or worker_id()
        self.stopping = False
        self.served: dict[int, ServedRun] = {}
        self.crawlers: dict[int, Any] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.done: set[int] = set()
        self.error: str | None = None

    # -- signals ----------------------------------------------------------------------
    def on_signal(self, signum: int, frame: Any) -> None:
        loop = self._loop
        if self.stopping:
            loop.call_soon_threadsafe(self._force_exit)
            return
        self.stopping = True
        print(f"arsip: worker {self.worker_id}: stopping (finishing in-flight requests)",
              file=sys.stderr, flush=True)
        loop.call_soon_threadsafe(self._stop_all)

    def _stop_all(self) -> None:
        for crawler in list(self.crawlers.values()):
            asyncio.ensure_future(crawler.stop_async())

    def _force_exit(self) -> None:
        for crawler in list(self.crawlers.values()):
            sched = getattr(crawler.spider, "leases", None)
            if sched is not None:
                try:
                    sched.close("forced")
                except Exception:  # noqa: BLE001 - exiting anyway; leases expire
                    pass
        print(f"arsip: worker {self.worker_id}: stopped at once", file=sys.stderr, flush=True)
        os._exit(130)

    # -- the loop ---------------------------------------------------------------------
    async def main(self) -> None:
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.distributed import WORKERS_KEY, active_runs, connect, heartbeat
        from storage.engine import open_archive

        server = connect(self.cfg.redis_url)
        engine = open_archive(self.cfg.database_url)
        self.database_url = engine.url.render_as_string(hide_password=False)
        runner = AsyncCrawlerRunner({"LOG_LEVEL": logging.getLevelName(
            logging.getLogger().level or logging.WARNING)})
        try:
            while not self.stopping:
                runs = await asyncio.to_thread(active_runs, server, self.cfg.sites or None)
                for run_id, site in runs:
                    if run_id not in self.tasks and run_id not in self.done:
                        self._start(runner, engine, run_id, site)
                for run_id, task in list(self.tasks.items()):
                    if task.done():
                        self._finished(run_id, task)
                if self.cfg.exit_when_idle and not self.tasks and not runs:
                    break
                await asyncio.to_thread(heartbeat, server, self.worker_id, self.cfg.sites,
                                        sorted(self.tasks))
                await asyncio.sleep(self.cfg.discover_seconds)
            if self.tasks:
                await asyncio.wait(list(self.tasks.values()))
            for run_id, task in list(self.tasks.items()):
                self._finished(run_id, task)
        finally:
            engine.dispose()
            try:
                server.hdel(WORKERS_KEY, self.worker_id)
            except Exception:  # noqa: BLE001 - Redis gone: the heartbeat just ages out
                pass

    def _start(self, runner: Any, engine: Any, run_id: int, site: Any) -> None:
        from scrapy.crawler import Crawler
        from sqlalchemy.orm import Session

        from crawler.options import OptionsError, from_site
        from crawler.spiders.worker import WorkerSpider
        from storage.runs import ensure_site

        try:
            options = from_site(site)
        except OptionsError as exc:
            logger.error("run %s: bad site configuration: %s", run_id, exc)
            self.done.add(run_id)
            return
        with Session(engine) as session, session.begin():
            site_id = ensure_site(session, options.name)
        settings = worker_settings(self.cfg, options, run_id, site_id, self.database_url,
                                   self.worker_id)
        crawler = Crawler(WorkerSpider, settings)
        self.crawlers[run_id] = crawler
        self.served[run_id] = ServedRun(run_id, options.name)
        self.tasks[run_id] = runner.crawl(crawler, options=options, run_id=run_id)
        if not self.cfg.quiet:
            print(f"arsip: worker {self.worker_id}: serving run {run_id} ({options.name})",
                  file=sys.stderr, flush=True)

    def _finished(self, run_id: int, task: asyncio.Task[None]) -> None:
        self.tasks.pop(run_id, None)
        crawler = self.crawlers.pop(run_id, None)
        self.done.add(run_id)
        served = self.served[run_id]
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.error = f"run {run_id}: {type(exc).__name__}: {exc}"
            logger.error("run %s failed in this worker: %s", run_id, exc)
        if crawler is not None and crawler.stats is not None:
            from crawler.extensions import run_stats

            served.stats = run_stats(crawler.stats.get_stats(), 0.0)
            sched = getattr(crawler.spider, "leases", None)
            served.ended = sched is not None and sched.run_ended

    def run(self) -> list[ServedRun]:
        from scrapy.utils.reactor import install_reactor

        install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
        from twisted.internet import defer, reactor

        self._loop = asyncio.get_event_loop()
        failure: list[Any] = []

        def start() -> None:
            d = defer.Deferred.fromFuture(asyncio.ensure_future(self.main()))
            d.addErrback(failure.append)
            d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined,call-overload,misc]

        previous = {s: signal.signal(s, self.on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            reactor.callWhenRunning(start)  # type: ignore[attr-defined]
            reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined,call-arg,misc]
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if failure:
            failure[0].raiseException()
        return list(self.served.values())


def run_worker(cfg: WorkerConfig) -> tuple[Worker, list[ServedRun]]:
    worker = Worker(cfg)
    return worker, worker.run()
