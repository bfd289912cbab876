"""`arsip worker [--sites NAME...] [--seed TARGET...] [--exit-when-idle]`: crawl from the shared queue.

Run one on each crawler machine, all with the same Redis (``ARSIP_REDIS_URL`` or
``redis_url``) and the same archive (``ARSIP_DATABASE_URL``, PostgreSQL for several
machines). Workers serve the crawl runs the daemon (or ``--seed``) put in the queue: they
fetch, extract and write into the archive; every URL is fetched once by the whole fleet and
each site's download delay holds fleet-wide. SIGTERM or Ctrl-C stops a worker gracefully
(in-flight requests finish or go back to the queue); a second one stops it at once.
"""

from __future__ import annotations

import sys
from typing import Any

from arsip.argtypes import non_negative_int, positive_float, positive_int
from arsip.errors import CommandError, UsageError


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("worker", parents=[common], help="crawl runs from the shared Redis queue",
                       description=__doc__)
    p.add_argument("--sites", nargs="+", metavar="NAME",
                   help="serve only the runs of these sites (default: every site)")
    p.add_argument("--seed", nargs="+", metavar="TARGET",
                   help="first queue a run of each of these sites (or URLs)")
    p.add_argument("--exit-when-idle", action="store_true",
                   help="exit when no run of the served sites is left in the queue")
    p.add_argument("--lease", type=positive_float, default=30.0, metavar="S",
                   help="seconds a request is leased before another worker may retry it "
                        "(renewed while this worker lives; default 30)")
    p.add_argument("--concurrency", type=positive_int, metavar="N",
                   help="parallel requests per site in this worker (default: the site's)")
    p.add_argument("--workers", type=non_negative_int, metavar="N",
                   help="extraction processes (default: one per core; 0: inline)")
    p.add_argument("--worker-id", metavar="ID",
                   help="this worker's name in the run stats (default: host:pid)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def seed_targets(cfg: Any, targets: list[str]) -> list[int]:
    from config.model import SiteConfig
    from crawler.distributed import RunActiveError, seed_run
    from crawler.options import OptionsError, from_url

    run_ids = []
    for target in targets:
        if "://" in target:
            try:
                opts = from_url(target)
            except OptionsError as exc:
                raise UsageError(f"{target}: {exc}") from exc
            site = SiteConfig(name=opts.name, start_urls=[target])
        else:
            site = cfg.site(target)
            if site is None:
                known = ", ".join(s.name for s in cfg.sites) or "none configured"
                raise UsageError(f"unknown site {target!r} (sites: {known}; or give a URL)")
        try:
            run_ids.append(seed_run(cfg.redis_url, cfg.database_url, site, trigger="worker"))
        except RunActiveError as exc:
            print(f"arsip: {exc}: serving it", file=sys.stderr)
        except OptionsError as exc:
            raise UsageError(f"{target}: {exc}") from exc
    return run_ids


def run(args: Any) -> int:
    from arsip.commands._common import settings
    from crawler.distributed import DistributedError, connect

    cfg = settings()
    if not cfg.redis_url:
        raise UsageError("no Redis server: set ARSIP_REDIS_URL or redis_url in arsip.toml")
    if args.sites:
        configured = {s.name for s in cfg.sites}
        unknown = [s for s in args.sites if configured and s not in configured]
        if unknown:
            raise UsageError(f"unknown site {unknown[0]!r} (sites: {', '.join(sorted(configured))})")
    try:
        connect(cfg.redis_url)
        if args.seed:
            for run_id in seed_targets(cfg, args.seed):
                print(f"queued run {run_id}", file=sys.stderr)
    except DistributedError as exc:
        raise CommandError(str(exc)) from exc

    from crawler.distributed_worker import WorkerConfig, run_worker

    wcfg = WorkerConfig(
        redis_url=cfg.redis_url, database_url=cfg.database_url, sites=list(args.sites or []),
        worker_id=args.worker_id, lease_seconds=args.lease, extract_workers=args.workers,
        contact_url=cfg.contact_url, exit_when_idle=args.exit_when_idle,
        concurrency=args.concurrency, quiet=args.quiet,
    )
    try:
        worker, served = run_worker(wcfg)
    except DistributedError as exc:
        raise CommandError(str(exc)) from exc
    for run in served:
        s = run.stats
        state = "run finished" if run.ended else "left to the other workers"
        print(f"{run.site}: run {run.run_id}: this worker fetched {s.get('pages', 0)} pages,"
              f" {s.get('articles_new', 0)} new articles, {s.get('aliases', 0)} aliases,"
              f" {s.get('errors', 0)} failed ({state})")
    if worker.error:
        print(f"arsip: error: {worker.error}", file=sys.stderr)
        return 1
    return 0
