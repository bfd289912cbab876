"""`arsip schedule` (the sites' schedules, next and last runs) and `arsip schedule run SITE`."""

from __future__ import annotations

import sys
import time
from typing import Any

from arsip.errors import CommandError, UsageError
from arsip.output import add_format_option, print_rows, resolve_format

COLUMNS = ["site", "schedule", "next_run", "next_run_source", "last_status", "last_started_at",
           "pages", "articles_new", "aliases", "near_duplicates", "errors"]


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "schedule", parents=[common],
        help="list the sites' schedules with next and last runs; `schedule run SITE` runs now",
        description="Without an action: every configured site with its schedule, its next run "
                    "(from the daemon's job store, or computed when no daemon stored it yet) "
                    "and its last run's status and counts.",
    )
    add_format_option(p)
    p.set_defaults(func=show)
    actions = p.add_subparsers(dest="schedule_command", metavar="[run SITE]",
                               parser_class=type(p))
    actions.required = False
    r = actions.add_parser(
        "run", parents=[common], help="ask the running daemon to crawl SITE now",
        description="Ask the running daemon (through the database) for a run of SITE now and "
                    "print the run id. Without a running daemon, says so (use `arsip crawl`).",
    )
    r.add_argument("site", metavar="SITE")
    r.add_argument("--wait", type=float, default=15.0, metavar="SECONDS",
                   help="how long to wait for the daemon to pick the request up (default 15)")
    r.set_defaults(func=run_now)


def optional_archive() -> Any:
    """A reader's engine on the archive (``open_reader``), or None when there is no archive
    yet (an SQLite file that does not exist, or a database without the archive's tables)."""
    from pathlib import Path

    from sqlalchemy import inspect

    from arsip.commands._common import settings
    from storage.engine import DEFAULT_DATABASE_URL, is_sqlite, normalise_url, open_reader
    from storage.errors import NoArchive

    url = settings().database_url or DEFAULT_DATABASE_URL
    if is_sqlite(url):
        database = normalise_url(url).database or ""
        if database in ("", ":memory:") or not Path(database).expanduser().exists():
            return None
    try:
        engine = open_reader(url)
    except NoArchive:
        return None
    if "crawl_runs" not in inspect(engine).get_table_names():
        engine.dispose()
        return None
    return engine


def _jobs_and_runs() -> tuple[dict[str, Any] | None, dict[str, Any], list[Any]]:
    from sqlalchemy.orm import Session

    from storage.schedule import last_runs, live_daemons, stored_jobs

    engine = optional_archive()
    if engine is None:
        return None, {}, []
    try:
        jobs = stored_jobs(engine)
        with Session(engine) as s:
            last = last_runs(s)
            daemons = live_daemons(s)
    finally:
        engine.dispose()
    return jobs, last, daemons


def schedule_rows() -> tuple[list[dict[str, Any]], list[Any]]:
    """The configured sites' schedule rows (``daemon.schedule_rows``) and the live daemons."""
    from arsip.commands._common import settings
    from daemon.schedule_rows import schedule_rows as rows_of

    cfg = settings()
    jobs, last, daemons = _jobs_and_runs()
    return rows_of(cfg, jobs, last), daemons


def show(args: Any) -> int:
    rows, daemons = schedule_rows()
    fmt = resolve_format(args.format)
    if fmt == "json":
        rows = [{k: v for k, v in row.items()
                 if k not in ("pages", "articles_new", "aliases", "near_duplicates", "errors")}
                for row in rows]
    print_rows(rows, COLUMNS, fmt, widths={"next_run_source": 40})
    if fmt == "table":
        if daemons:
            d = daemons[0]
            print(f"daemon: running (pid {d.pid} on {d.hostname})", file=sys.stderr)
        else:
            print("daemon: not running", file=sys.stderr)
    return 0


def run_now(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine, settings
    from storage.schedule import (
        LIVE_SECONDS,
        add_request,
        get_request,
        get_run,
        live_daemons,
    )

    cfg = settings()
    if cfg.site(args.site) is None:
        known = ", ".join(s.name for s in cfg.sites) or "none"
        raise UsageError(f"unknown site {args.site!r} (configured sites: {known})")
    if args.wait < 0:
        raise UsageError("--wait must be 0 or more")
    no_daemon = CommandError(
        f"no daemon is running (no heartbeat in the last {LIVE_SECONDS:.0f}s); "
        f"start one with `arsip daemon`, or crawl now with `arsip crawl {args.site}`"
    )
    probe = optional_archive()
    if probe is None:  # no archive yet, so no daemon either (it makes the archive at start)
        raise no_daemon
    probe.dispose()
    engine = archive_engine(cfg=cfg)
    try:
        with Session(engine) as s, s.begin():
            if not live_daemons(s):
                raise no_daemon
            request_id = add_request(s, args.site)
        deadline = time.monotonic() + args.wait
        picked = False
        while True:
            with Session(engine) as s:
                req = get_request(s, request_id)
                if req is not None and req.run_id is not None:
                    run = get_run(s, req.run_id)
                    if run is not None and run.started_at < req.requested_at:
                        print(f"run {run.id}: site {args.site} was already running "
                              f"(started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)")
                    else:
                        print(f"run {req.run_id} started for site {args.site} "
                              f"(request {request_id})")
                    return 0
                picked = req is not None and req.picked_at is not None
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if picked:
            print(f"request {request_id}: picked up by the daemon; the run of {args.site} waits "
                  "for a free slot ([daemon] max_parallel)")
            return 0
        raise CommandError(
            f"request {request_id}: the daemon did not pick it up within {args.wait:g}s "
            "(it stays queued for a few minutes)"
        )
    finally:
        engine.dispose()
