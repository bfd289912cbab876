"""What the fleet reports: workers' heartbeats, a run's queue state, per-worker stats in
Redis and the run's totals in its record."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from crawler.distributed_keys import WORKERS_KEY, RunKeys
from crawler.distributed_redis import redis_time

MAX_FAILURES = 200
SUM_KEYS = ("pages", "articles_new", "aliases", "near_duplicates", "versions", "unchanged",
            "not_modified", "skipped_known", "non_articles", "errors", "refused",
            "write_errors", "requests", "bytes")


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
