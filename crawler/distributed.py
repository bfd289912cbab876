"""Crawling on many machines: one shared Redis queue per crawl run, one shared archive.

The engine is scrapy-redis (a Redis-backed Scrapy scheduler, request queue and duplicate
filter). Its 0.9.1 release runs on Scrapy 2.19, but its priority queue pops a request for
good (a worker killed with SIGKILL loses it) and its duplicate filter keys on w3lib's
canonical URL, so arsip keeps scrapy-redis's connection handling, request encoding and
scheduler frame (``crawler.distributed_scrapy``) and adds, in Lua scripts run atomically
by Redis:

- claim-and-push: a request's arsip key (``crawler.spiders.fetch_keys.fetch_key``, built on
  ``crawler.urls.canonicalize``) is added to the run's ``seen`` set and the request pushed in
  one step, so a URL is queued once for all workers and never claimed without being queued;
- a reliable queue: a worker *leases* a request (moved from ``queue`` to ``inflight`` with a
  deadline on the Redis clock), renews its leases while it works, and acknowledges a request
  only when everything it produced is durable (child requests queued, articles written).
  Leases that expire (a worker killed) are put back in the queue by any other worker;
- hops fleet-wide, as ``NewsSpider`` keeps them on one machine: a page reached again by a
  shorter way (fewer related-link hops, or fewer listing hops) has what it had cut at
  ``related_depth`` or ``depth`` followed then, whichever worker found which way first
  (the claim lowers the page's counts and returns its cut links; storing a cut returns the
  page's lower count when one arrived meanwhile);
- a per-host next-slot key for politeness across workers (``rate_wait``);
- the end of a run: the run is finished when its queue is empty and nothing is in flight.

The Redis keys of a run are in ``crawler.distributed_keys``, the Lua scripts in
``crawler.distributed_scripts``, the connection in ``crawler.distributed_redis``, heartbeats
and stats in ``crawler.distributed_stats``; this module holds a run's lifecycle: seeding
(``seed_run``, what the daemon calls instead of crawling itself when a Redis URL is set),
the active runs, a run's end. The names other modules use from those are importable from
here too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
from typing import Any

from crawler.distributed_keys import FINISHED_TTL_S, RUNS_KEY, RunKeys, site_key
from crawler.distributed_keys import WORKERS_KEY as WORKERS_KEY
from crawler.distributed_redis import DistributedError, connect, redis_time
from crawler.distributed_scripts import Scripts, make_member
from crawler.distributed_scripts import member_payload as member_payload
from crawler.distributed_stats import heartbeat as heartbeat
from crawler.distributed_stats import live_workers as live_workers
from crawler.distributed_stats import worker_id as worker_id

logger = logging.getLogger(__name__)


class RunActiveError(DistributedError):
    """The site already has a run in the queue that has not finished."""

    def __init__(self, site: str, run_id: int) -> None:
        self.site = site
        self.run_id = run_id
        super().__init__(f"site {site!r} still has run {run_id} in the worker queue")


# -- runs --------------------------------------------------------------------------------
def site_to_json(site: Any) -> str:
    return json.dumps(dataclasses.asdict(site), sort_keys=True)


def site_from_json(text: str | bytes) -> Any:
    from config.model import SITE_KEYS, SiteConfig

    raw = json.loads(text)
    return SiteConfig(**{k: v for k, v in raw.items() if k in SITE_KEYS})


def fleet_hostname(redis_url: str) -> str:
    """The run record's ``hostname``: the worker fleet, so that no host's clean-up of dead
    local crawl processes ever marks a distributed run abandoned."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(redis_url)
        where = f"{parts.hostname}:{parts.port or 6379}/{parts.path.strip('/') or '0'}"
    except ValueError:
        where = "redis"
    return f"workers@{where}"[:255]


class _NullStats:
    def inc_value(self, *a: Any, **k: Any) -> None:
        pass

    def get_value(self, *a: Any, **k: Any) -> Any:
        return None

    def set_value(self, *a: Any, **k: Any) -> None:
        pass


def start_requests(options: Any, run_id: int) -> tuple[Any, list[Any]]:
    """The run's first requests, exactly as the one-machine crawl starts (NewsSpider.start)."""
    from types import SimpleNamespace

    from crawler.spiders.news import NewsSpider
    from crawler.spiders.worker import WorkerSpider

    spider = WorkerSpider(options=options, run_id=run_id)
    spider.crawler = SimpleNamespace(stats=_NullStats(), settings={})  # type: ignore[assignment]
    return spider, _drain(NewsSpider.start(spider))


def _drain(agen: Any) -> list[Any]:
    """The items of an async generator that never waits, without an event loop (the daemon
    may call ``seed_run`` from any thread, with or without a running loop)."""
    out: list[Any] = []
    while True:
        step = agen.__anext__()
        try:
            step.send(None)
        except StopIteration as done:
            out.append(done.value)
            continue
        except StopAsyncIteration:
            return out
        step.close()
        raise RuntimeError("the spider's start() waits: cannot seed it")


def seed_run(redis_url: str, database_url: str | None, site_config: Any, *,
             trigger: str = "daemon") -> int:
    """Create the crawl-run record of ``site_config`` and queue its start requests.

    Workers (``arsip worker``) on any machine then crawl it. Raises ``RunActiveError`` when
    the site's previous run is still in the queue, ``DistributedError`` when Redis is
    unreachable, ``crawler.options.OptionsError`` for a bad site.
    """
    from sqlalchemy.orm import Session

    from crawler.options import from_site
    from crawler.request_codec import encode_request
    from storage.engine import open_archive
    from storage.runs import create_run, finish_run

    options = from_site(site_config)
    server = connect(redis_url)
    current = server.get(site_key(options.name))
    if current is not None:
        keys = RunKeys(int(current))
        if server.exists(keys.info) and not server.exists(keys.finished):
            raise RunActiveError(options.name, int(current))
    engine = open_archive(database_url)
    try:
        with Session(engine) as session, session.begin():
            run_id = create_run(session, options.name, trigger=trigger, pid=os.getpid(),
                                hostname=fleet_hostname(redis_url))
        keys = RunKeys(run_id)
        try:
            server.delete(*keys.all())  # left by an archive that was reset: not this run's
            spider, requests = start_requests(options, run_id)
            scripts = Scripts(server)
            server.hset(keys.info, mapping={"site": options.name,
                                            "config": site_to_json(site_config),
                                            "seeded_at": repr(redis_time(server)),
                                            "seeded_by": f"{socket.gethostname()}:{os.getpid()}"})
            for req in requests:
                claim = req.meta.pop("arsip_claim", "")
                reach = req.meta.pop("arsip_reach", ("", ""))
                member = make_member(req.priority, encode_request(req, spider))
                scripts.push(keys=keys.claim_keys(),
                             args=[claim, -req.priority, member, *reach,
                                   options.related_depth, options.depth])
            server.set(site_key(options.name), run_id)
            server.sadd(RUNS_KEY, run_id)
        except Exception as exc:
            with Session(engine) as session, session.begin():
                finish_run(session, run_id, "failed", only_if_running=True,
                           error=f"could not queue the run: {exc}")
            server.delete(*keys.all())
            raise DistributedError(f"cannot queue run {run_id}: {exc}") from exc
    finally:
        engine.dispose()
    logger.info("seeded run %s of %s: %d start requests", run_id, options.name, len(requests))
    return run_id


def active_runs(server: Any, sites: list[str] | None = None) -> list[tuple[int, Any]]:
    """(run id, SiteConfig) of every run in the queue that has not ended (of ``sites``)."""
    out = []
    for raw in sorted(server.smembers(RUNS_KEY), key=int):
        keys = RunKeys(int(raw))
        info = server.hgetall(keys.info)
        if not info or server.exists(keys.finished):
            server.srem(RUNS_KEY, raw)
            continue
        name = info.get(b"site", b"").decode()
        if sites and name not in sites:
            continue
        out.append((keys.run_id, site_from_json(info[b"config"])))
    return out


def end_run(server: Any, run_id: int) -> None:
    """Forget a finished run in Redis (its keys expire later)."""
    keys = RunKeys(run_id)
    name = (server.hget(keys.info, "site") or b"").decode()
    server.srem(RUNS_KEY, run_id)
    if name and server.get(site_key(name)) == str(run_id).encode():
        server.delete(site_key(name))
    for key in keys.all():
        server.expire(key, FINISHED_TTL_S)
