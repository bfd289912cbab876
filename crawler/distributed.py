"""Crawling on many machines: one shared Redis queue per crawl run, one shared archive.

The engine is scrapy-redis (a Redis-backed Scrapy scheduler, request queue and duplicate
filter). Its 0.9.1 release runs on Scrapy 2.19, but its priority queue pops a request for
good (a worker killed with SIGKILL loses it) and its duplicate filter keys on w3lib's
canonical URL, so arsip keeps scrapy-redis's connection handling, request encoding and
scheduler frame (``crawler.distributed_scrapy``) and adds, in Lua scripts run atomically
by Redis:

- claim-and-push: a request's arsip key (``crawler.spiders.news.fetch_key``, built on
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

Redis keys (prefix ``arsip:``)::

    runs                     SET of active run ids
    workers                  HASH live worker id -> heartbeat (JSON: time, sites, runs)
    site:<name>:run          the active run of a site
    run:<id>:info            HASH site, config (JSON SiteConfig), seeded_at
    run:<id>:queue           ZSET requests by priority (member: "<priority>|<id>|<payload>")
    run:<id>:inflight        ZSET leased requests by lease deadline (ms, Redis clock)
    run:<id>:seen            SET claimed fetch keys (the shared duplicate filter)
    run:<id>:hops            HASH fetch key -> fewest related-link hops it was reached by
    run:<id>:depths          HASH fetch key -> fewest listing hops (as a listing or candidate)
    run:<id>:cut             HASH fetch key -> related links its article had cut at the
                             limit (JSON), followed when a shorter way to the page turns up
    run:<id>:cutlinks        HASH fetch key -> the links of a page that is not an article,
                             not followed (depth limit, or met as a related link) (JSON)
    run:<id>:workers         HASH worker id -> its stats (JSON)
    run:<id>:requeued        requests put back after an expired lease
    run:<id>:finished        set once, when the run has ended
    rate:<host>              next free download slot of a host (ms, Redis clock)

``seed_run`` is what the daemon calls instead of crawling itself when a Redis URL is set.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import uuid
from typing import Any

logger = logging.getLogger(__name__)

PREFIX = "arsip:"
RUNS_KEY = PREFIX + "runs"
WORKERS_KEY = PREFIX + "workers"  # HASH worker id -> its last heartbeat (JSON)
FINISHED_TTL_S = 7 * 86400  # a finished run's keys stay this long, for inspection
MAX_FAILURES = 200
SUM_KEYS = ("pages", "articles_new", "aliases", "near_duplicates", "versions", "unchanged",
            "not_modified", "skipped_known", "non_articles", "errors", "refused",
            "write_errors", "requests", "bytes")


class DistributedError(Exception):
    """Redis is unreachable, or a run cannot be seeded (one-line message)."""


class RunActiveError(DistributedError):
    """The site already has a run in the queue that has not finished."""

    def __init__(self, site: str, run_id: int) -> None:
        self.site = site
        self.run_id = run_id
        super().__init__(f"site {site!r} still has run {run_id} in the worker queue")


# -- Lua scripts (atomic on the Redis server) ------------------------------------------
NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

# A claimed page reached again by a shorter way: its fewest related-link hops (KEYS hops)
# and listing hops (KEYS depths) are lowered, and what it had cut at a limit that the new
# count allows (KEYS cut: its article's related links; cutlinks: its links) is taken and
# returned as {related, links} ('' for none), else false. ARGV-style strings; depth '' =
# not reached as a listing or candidate.
SHORTER_FN = """
local function shorter(hops, depths, cut, cutlinks, key, hop, depth, rlimit, dlimit)
  local best = redis.call('HGET', hops, key)
  if not best then return false end
  local rel, links = '', ''
  if tonumber(hop) < tonumber(best) then
    redis.call('HSET', hops, key, hop)
    if tonumber(hop) < tonumber(rlimit) then
      rel = redis.call('HGET', cut, key) or ''
      if rel ~= '' then redis.call('HDEL', cut, key) end
    end
  end
  if depth ~= '' then
    local bd = redis.call('HGET', depths, key)
    if not bd or tonumber(depth) < tonumber(bd) then
      redis.call('HSET', depths, key, depth)
      if tonumber(depth) < tonumber(dlimit) then
        links = redis.call('HGET', cutlinks, key) or ''
        if links ~= '' then redis.call('HDEL', cutlinks, key) end
      end
    end
  end
  if rel == '' and links == '' then return false end
  return {rel, links}
end
"""

# KEYS: seen, queue, hops, depths, cut, cutlinks; ARGV: claim key ('' = no claim), score,
# member, hop ('' = none), depth ('' = none), related_depth, depth limit -> 1 pushed,
# 0 duplicate, or (a duplicate reached by a shorter way) what it had cut: {related, links}
PUSH = SHORTER_FN + """
if ARGV[1] ~= '' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
    if ARGV[4] == '' then return 0 end
    return shorter(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[4], ARGV[5], ARGV[6],
                   ARGV[7]) or 0
  end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[5]) end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS: hops, depths, cut, cutlinks; ARGV: key, hop, depth, related_depth, depth limit ->
# what a shorter way to the page released ({related, links}), else nil
SHORTER = SHORTER_FN + """
return shorter(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
               ARGV[5])
"""

# KEYS: the page's count (hops or depths), its cut (cut or cutlinks); ARGV: key, limit,
# links (JSON) -> -1 stored; or the page's count, lowered below the limit meanwhile by
# another way to it: the links are to be followed now
CUT = """
local best = redis.call('HGET', KEYS[1], ARGV[1])
if best and tonumber(best) < tonumber(ARGV[2]) then return tonumber(best) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return -1
"""

# KEYS: queue, inflight; ARGV: lease ms -> the leased member or nil
LEASE = NOW_MS + """
local m = redis.call('ZRANGE', KEYS[1], 0, 0)
if #m == 0 then return false end
redis.call('ZREM', KEYS[1], m[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), m[1])
return m[1]
"""

# KEYS: inflight; ARGV: lease ms, members... -> how many are still ours
RENEW = NOW_MS + """
local n = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
    n = n + 1
  end
end
return n
"""

# KEYS: inflight, queue; ARGV: members -> how many went back to the queue
GIVE_BACK = """
local n = 0
for i = 1, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], -tonumber(string.match(ARGV[i], '^(-?%d+)|')), ARGV[i])
    n = n + 1
  end
end
return n
"""

# KEYS: inflight, queue, requeued counter -> how many expired leases went back to the queue
REAP = NOW_MS + """
local ms = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(ms) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[2], -tonumber(string.match(m, '^(-?%d+)|')), m)
end
if #ms > 0 then redis.call('INCRBY', KEYS[3], #ms) end
return #ms
"""

# KEYS: queue, inflight, finished -> 1 this call ended the run, 0 it had ended, -1 not drained
DRAINED = NOW_MS + """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[1]) > 0 or redis.call('ZCARD', KEYS[2]) > 0 then return -1 end
redis.call('SET', KEYS[3], now)
return 1
"""

# KEYS: rate key; ARGV: delay ms -> ms to wait before the reserved slot
RATE = NOW_MS + """
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 60000)
return slot - now
"""


@dataclasses.dataclass(frozen=True)
class RunKeys:
    run_id: int

    def _k(self, name: str) -> str:
        return f"{PREFIX}run:{self.run_id}:{name}"

    @property
    def info(self) -> str:
        return self._k("info")

    @property
    def queue(self) -> str:
        return self._k("queue")

    @property
    def inflight(self) -> str:
        return self._k("inflight")

    @property
    def seen(self) -> str:
        return self._k("seen")

    @property
    def hops(self) -> str:
        return self._k("hops")

    @property
    def depths(self) -> str:
        return self._k("depths")

    @property
    def cut(self) -> str:
        return self._k("cut")

    @property
    def cutlinks(self) -> str:
        return self._k("cutlinks")

    def hop_keys(self) -> list[str]:
        """The KEYS of the SHORTER script: the pages' counts and what they cut."""
        return [self.hops, self.depths, self.cut, self.cutlinks]

    def claim_keys(self) -> list[str]:
        """The KEYS of the PUSH script."""
        return [self.seen, self.queue, *self.hop_keys()]

    @property
    def workers(self) -> str:
        return self._k("workers")

    @property
    def requeued(self) -> str:
        return self._k("requeued")

    @property
    def finished(self) -> str:
        return self._k("finished")

    @property
    def lock(self) -> str:
        return self._k("lock")

    def all(self) -> list[str]:
        return [self.info, self.queue, self.inflight, self.seen, self.hops, self.depths,
                self.cut, self.cutlinks, self.workers, self.requeued, self.finished]


def site_key(name: str) -> str:
    return f"{PREFIX}site:{name}:run"


def rate_key(host: str) -> str:
    return f"{PREFIX}rate:{host.lower()}"


def connect(redis_url: str) -> Any:
    """A Redis client (scrapy-redis's defaults: timeouts, retry on timeout); checks it."""
    import redis
    from scrapy_redis.connection import get_redis

    try:
        server = get_redis(url=redis_url, socket_timeout=30, socket_connect_timeout=10,
                           retry_on_timeout=True)
        server.ping()
    except (redis.RedisError, ValueError) as exc:
        raise DistributedError(f"cannot reach Redis at {redact_redis(redis_url)}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                               ) from exc
    return server


def redact_redis(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<bad URL>"
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class Scripts:
    """The Lua scripts registered on one Redis client."""

    def __init__(self, server: Any) -> None:
        self.push = server.register_script(PUSH)
        self.shorter = server.register_script(SHORTER)
        self.cut = server.register_script(CUT)
        self.lease = server.register_script(LEASE)
        self.renew = server.register_script(RENEW)
        self.give_back = server.register_script(GIVE_BACK)
        self.reap = server.register_script(REAP)
        self.drained = server.register_script(DRAINED)
        self.rate = server.register_script(RATE)


def redis_time(server: Any) -> float:
    """Seconds on the Redis server's clock (the one clock every worker shares)."""
    sec, usec = server.time()
    return sec + usec / 1e6


def make_member(priority: int, payload: bytes) -> bytes:
    return b"%d|%s|" % (int(priority), uuid.uuid4().hex.encode()) + payload


def member_payload(member: bytes) -> bytes:
    return member.split(b"|", 2)[2]


def rate_wait(server: Any, scripts: Scripts, host: str, delay_s: float) -> float:
    """Reserve the next download slot of ``host`` (shared by every worker): seconds to wait."""
    if delay_s <= 0:
        return 0.0
    wait_ms = scripts.rate(keys=[rate_key(host)], args=[int(delay_s * 1000)])
    return max(0, int(wait_ms)) / 1000.0


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


def heartbeat(server: Any, worker: str, sites: list[str], runs: list[int]) -> None:
    server.hset(WORKERS_KEY, worker, json.dumps({"time": redis_time(server), "sites": sites,
                                                 "runs": runs}))


def live_workers(server: Any, max_age_s: float = 30.0) -> dict[str, Any]:
    """Workers that reported in the last ``max_age_s`` seconds (id -> heartbeat)."""
    now = redis_time(server)
    out = {}
    for raw_id, raw in server.hgetall(WORKERS_KEY).items():
        try:
            beat = json.loads(raw)
        except ValueError:
            continue
        if now - float(beat.get("time", 0)) <= max_age_s:
            out[raw_id.decode()] = beat
    return out


def queue_state(server: Any, run_id: int) -> dict[str, int]:
    keys = RunKeys(run_id)
    return {"queued": int(server.zcard(keys.queue)), "in_flight": int(server.zcard(keys.inflight)),
            "claimed": int(server.scard(keys.seen)),
            "requeued": int(server.get(keys.requeued) or 0)}


# -- stats -------------------------------------------------------------------------------
def aggregate_stats(server: Any, run_id: int) -> dict[str, Any]:
    """The run's stats: totals over every worker plus ``workers`` (per-worker counts)."""
    keys = RunKeys(run_id)
    per_worker: dict[str, dict[str, Any]] = {}
    for raw_id, raw in server.hgetall(keys.workers).items():
        try:
            per_worker[raw_id.decode()] = json.loads(raw)
        except ValueError:
            continue
    totals: dict[str, Any] = {k: 0 for k in SUM_KEYS}
    failures: list[Any] = []
    refused: list[Any] = []
    workers_out: dict[str, Any] = {}
    for wid in sorted(per_worker):
        stats = per_worker[wid]
        for k in SUM_KEYS:
            totals[k] += int(stats.get(k, 0) or 0)
        failures.extend(stats.get("failures", []))
        refused.extend(stats.get("refused_samples", []))
        workers_out[wid] = {k: stats.get(k, 0) for k in ("pages", "articles_new", "aliases",
                                                          "near_duplicates", "errors",
                                                          "requests", "duration_s")}
        workers_out[wid]["status"] = stats.get("worker_status", "running")
    seeded = server.hget(keys.info, "seeded_at")
    ended = server.get(keys.finished)
    end = int(ended) / 1000.0 if ended else redis_time(server)
    totals["duration_s"] = round(end - float(seeded), 2) if seeded else 0.0
    totals["failures"] = failures[:MAX_FAILURES]
    totals["refused_samples"] = refused[:50]
    totals["distributed"] = True
    totals["requeued"] = int(server.get(keys.requeued) or 0)
    totals["workers"] = workers_out
    return totals


def publish_stats(server: Any, engine: Any, run_id: int, worker_id: str,
                  stats: dict[str, Any], *, finished: bool = False) -> None:
    """Store this worker's stats in Redis and the run's totals in its record.

    With ``finished`` also end the run record (idempotent: any worker that sees the run end
    may call it; the first wins). The totals are recomputed from every worker's entry under
    a Redis lock, so that concurrent writers never leave older totals behind.
    """
    from sqlalchemy.orm import Session

    from storage.runs import finish_run, update_run_stats

    keys = RunKeys(run_id)
    server.hset(keys.workers, worker_id, json.dumps(stats, default=str))
    with server.lock(keys.lock, timeout=60, blocking_timeout=30):
        totals = aggregate_stats(server, run_id)
        with Session(engine) as session, session.begin():
            if finished:
                if not finish_run(session, run_id, "finished", stats=totals,
                                  only_if_running=True):
                    update_run_stats(session, run_id, totals)
            else:
                update_run_stats(session, run_id, totals)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
