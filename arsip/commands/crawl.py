"""`arsip crawl TARGET... [--related-depth N] [--depth N] [--max-pages N]`: an ad-hoc crawl.

TARGET is a URL or the name of a site in the config file. Exit 0 when the crawl finished
(even if some pages failed), non-zero with a one-line reason when it could not run.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from arsip.argtypes import non_negative_int
from arsip.errors import CommandError, UsageError


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("crawl", parents=[common], help="crawl sites or URLs into the archive",
                       description=__doc__)
    p.add_argument("targets", nargs="+", metavar="TARGET", help="a URL or a configured site name")
    p.add_argument("--related-depth", type=non_negative_int, metavar="N",
                   help="follow related-article links this many hops (default 2)")
    p.add_argument("--depth", type=non_negative_int, metavar="N",
                   help="follow listing pages this many hops from the start pages (default 2)")
    p.add_argument("--max-pages", type=non_negative_int, metavar="N",
                   help="stop after N pages (0: no limit)")
    p.add_argument("--download-delay", type=float, metavar="S", help="seconds between requests")
    p.add_argument("--workers", type=non_negative_int, metavar="N",
                   help="extraction worker processes (default: one per core; 0: inline)")
    p.add_argument("--run-id", type=int, help="use this existing run record (daemon)")
    p.add_argument("--trigger", default="cli", choices=["cli", "daemon", "worker"],
                   help="what started the crawl (recorded with the run)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def resolve_targets(targets: list[str], cfg: Any, args: Any) -> list[Any]:
    from crawler.options import OptionsError, from_site, from_url

    options = []
    for target in targets:
        try:
            if "://" in target:
                opts = from_url(target)
            else:
                site = cfg.site(target)
                if site is None:
                    known = ", ".join(s.name for s in cfg.sites) or "none configured"
                    raise UsageError(f"unknown site {target!r} (sites: {known}; or give a URL)")
                opts = from_site(site)
            opts = opts.with_overrides(
                related_depth=args.related_depth, depth=args.depth, max_pages=args.max_pages,
                download_delay=args.download_delay,
            )
        except OptionsError as exc:
            raise UsageError(f"{target}: {exc}") from exc
        options.append(opts)
    return options


def _test_hooks(cfg: Any, targets: list[str], run_id: int | None) -> None:
    """Site settings used by the daemon's tests to make a crawl crash or hang."""
    for target in targets:
        site = cfg.site(target) if "://" not in target else None
        if site is None:
            continue
        if site.test_sleep:
            interrupted: list[bool] = []
            signal.signal(signal.SIGTERM, lambda *_, flag=interrupted: flag.append(True))
            end = time.monotonic() + site.test_sleep
            while time.monotonic() < end and not interrupted:
                time.sleep(0.05)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if interrupted:
                _finish_hook_run(cfg, run_id, "interrupted")
                raise SystemExit(0)
        if site.test_exit_code is not None:
            sys.stderr.write(f"test hook: exiting with status {site.test_exit_code}\n")
            sys.stderr.flush()
            os._exit(site.test_exit_code)


def _finish_hook_run(cfg: Any, run_id: int | None, status: str) -> None:
    if run_id is None:
        return
    from sqlalchemy.orm import Session

    from storage.engine import make_engine
    from storage.runs import finish_run

    engine = make_engine(cfg.database_url)
    with Session(engine) as session, session.begin():
        finish_run(session, run_id, status, only_if_running=True)
    engine.dispose()


def run(args: Any) -> int:
    from arsip.commands._common import settings
    from crawler.runner import CrawlJob, run_crawls, summary_line

    cfg = settings()
    options = resolve_targets(args.targets, cfg, args)
    if args.run_id is not None and len(options) != 1:
        raise UsageError("--run-id goes with exactly one target")
    _test_hooks(cfg, args.targets, args.run_id)
    jobs = [CrawlJob(o, run_id=args.run_id, trigger=args.trigger) for o in options]
    try:
        outcomes = run_crawls(
            jobs, database_url=cfg.database_url, contact_url=cfg.contact_url,
            extract_workers=args.workers,
            progress_interval=1e9 if args.quiet else 10.0,
        )
    except LookupError as exc:
        raise CommandError(str(exc)) from exc
    status = 0
    for outcome in outcomes:
        print(summary_line(outcome))
        for failure in outcome.stats.get("failures", [])[:5]:
            print(f"  failed: {failure['url']}: {failure['reason']}")
        more = outcome.stats.get("errors", 0) - 5
        if more > 0:
            print(f"  ... and {more} more failures (arsip runs --format json)")
        if outcome.status == "failed":
            print(f"arsip: error: {outcome.site}: {outcome.error or 'the crawl failed'}",
                  file=sys.stderr)
            status = 1
        elif outcome.status == "interrupted" and status == 0:
            status = 130
    return status
