"""What a worker writes: articles (releasing the leases of their pages) and the run's stats.

- ``LeasedArchivePipeline``: the archive pipeline; a written article releases the lease of
  the page it came from.
- ``DistributedRunRecorder``: per-worker stats in Redis, the run's totals in its record;
  the run is ended (``finished``) by the first worker that sees its queue drained.
"""

from __future__ import annotations

import asyncio
from typing import Any

from scrapy.crawler import Crawler

from crawler.distributed import end_run
from crawler.distributed_redis import connect
from crawler.distributed_scrapy import leases
from crawler.distributed_stats import publish_stats
from crawler.extensions import RunRecorder
from crawler.pipelines import ArchivePipeline


class LeasedArchivePipeline(ArchivePipeline):
    """The archive pipeline; a written article releases the lease of the page it came from."""

    def _batch_done(self, fut: asyncio.Future[Any], batch: list[Any]) -> None:
        super()._batch_done(fut, batch)
        if fut.cancelled() or fut.exception() is not None:
            return  # not written: the leases are returned to the queue when the worker stops
        sched = leases(self.crawler)
        if sched is not None:
            for item in batch:
                sched.release(getattr(item, "_arsip_lease", None))


class DistributedRunRecorder(RunRecorder):
    """Per-worker stats in Redis, run totals in the run record; ends the run once."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        from crawler.distributed_stats import worker_id

        self.worker_id = crawler.settings.get("ARSIP_WORKER_ID") or worker_id()
        self.redis_url = crawler.settings.get("ARSIP_REDIS_URL")
        self.server: Any = None
        self.worker_status = "running"

    def spider_opened(self) -> None:
        self.server = connect(self.redis_url)
        super().spider_opened()

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["worker_status"] = self.worker_status
        out["claimed_elsewhere"] = int(self.crawler.stats.get_value(  # type: ignore[union-attr]
            "arsip/claimed_elsewhere", 0) or 0)
        return out

    def _write(self, stats: dict[str, Any], status: str | None) -> None:
        finished = status == "finished"
        if status:
            stats["worker_status"] = "finished" if finished else self.worker_status
        publish_stats(self.server, self.engine, self.run_id, self.worker_id, stats,
                      finished=finished)
        if finished:
            end_run(self.server, self.run_id)

    async def spider_closed(self, reason: str) -> None:
        sched = leases(self.crawler)
        ended = sched is not None and sched.run_ended
        if reason == "finished" and not ended:
            reason = "stopped"  # closed without the run being drained: not the run's end
        # a worker's own end (SIGTERM, a database error) is not the run's: others go on
        self.final_status = "finished" if ended else None
        if not ended:
            self.worker_status = "interrupted" if reason == "shutdown" else "stopped"
        await super().spider_closed(reason)
