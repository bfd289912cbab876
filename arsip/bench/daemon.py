"""`arsip bench daemon [--runs N] [--sites K] [--format table|json]`: the daemon's own memory.

Without ``--runs``, the schedule bench of :mod:`arsip.bench.daemon_sites` (K sites, default
50, on their own loopback hosts and schedules, compressed).

Runs the real daemon (`arsip daemon`, a subprocess) on a temporary archive against a small site
served on 127.0.0.1, every site with ``every = "1s"``, until N runs have ended, and prints the
daemon process's own RSS (not its crawl children's) after the first run (``rss_start_mb``, the
baseline, measured in the same run) and at the end (``rss_end_mb``), their ratio and the peak.
A daemon that leaks per run shows a ratio well above 1 after a few hundred runs.

Either bench: the archive is an SQLite file in a temporary folder, or with ``--database`` (a
PostgreSQL server's URL) a temporary database on that server, dropped after.
"""

from __future__ import annotations

import http.server
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from arsip.bench.daemon_pages import PageHandler, start_daemon
from arsip.bench.database import bench_database
from arsip.errors import CommandError, UsageError

COLUMNS = ["runs", "finished", "other_status", "elapsed_s", "runs_per_min", "rss_start_mb",
           "rss_end_mb", "rss_max_mb", "rss_ratio"]

def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("daemon", parents=[common],
                       help="the daemon's own memory (RSS) over N scheduled runs")
    p.add_argument("--runs", type=int, default=None, metavar="N",
                   help="the memory bench: runs to wait for (e.g. 100), every site every 1s")
    p.add_argument("--sites", type=int, default=None, metavar="K",
                   help="sites (default 2 with --runs; without --runs the schedule bench: "
                        "K sites (default 50) on their own loopback hosts and schedules)")
    p.add_argument("--max-parallel", type=int, default=4, metavar="N",
                   help="schedule bench: the daemon's max_parallel (default 4)")
    p.add_argument("--scheduled-minutes", type=float, default=30.0, metavar="M",
                   help="schedule bench: scheduled time to run (default 30 minutes)")
    p.add_argument("--seconds-per-minute", type=float, default=6.0, metavar="S",
                   help="schedule bench: real seconds per scheduled minute (default 6: "
                        "30 scheduled minutes in 3 real minutes)")
    p.add_argument("--seed", type=int, default=1, help="schedule bench: random seed")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="output format (default: table)")
    p.set_defaults(func=run)


def _config(url: str, sites: int) -> str:
    lines = ["[daemon]", "max_parallel = 2", "grace_seconds = 10", ""]
    for i in range(sites):
        lines += [
            "[[sites]]",
            f'name = "bench{i}"',
            f'start_urls = ["{url}"]',
            'allowed_domains = ["127.0.0.1"]',
            'every = "1s"',
            "",
        ]
    return "\n".join(lines)


def _ended_runs(engine: Any) -> tuple[int, int]:
    from sqlalchemy import func, inspect, select
    from sqlalchemy.orm import Session

    from storage.models import CrawlRun

    if not inspect(engine).has_table("crawl_runs"):
        return 0, 0
    with Session(engine) as s:
        rows = dict(s.execute(select(CrawlRun.status, func.count())
                              .where(CrawlRun.status != "running")
                              .group_by(CrawlRun.status)).all())
    return sum(rows.values()), rows.get("finished", 0)


def bench(runs: int, sites: int, database: str) -> dict[str, Any]:
    """``database``: the archive's URL (``arsip.bench.database.bench_database``)."""
    import psutil

    from storage.engine import make_engine

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with tempfile.TemporaryDirectory(prefix="arsip-bench-daemon-") as tmp:
        work = Path(tmp)
        proc, log_path = start_daemon(work, _config(url, sites), database)
        engine = None
        try:
            daemon = psutil.Process(proc.pid)
            deadline = time.monotonic() + max(120.0, runs * 15.0)
            rss_start = rss_max = 0
            t_start = 0.0
            ended = finished = 0
            while True:
                if proc.poll() is not None:
                    tail = log_path.read_text(encoding="utf-8", errors="replace")[-1500:]
                    raise CommandError(f"the daemon exited with status {proc.returncode}: "
                                       f"{' | '.join(tail.strip().splitlines()[-5:])}")
                if time.monotonic() > deadline:
                    raise CommandError(f"only {ended} of {runs} runs ended in time")
                if engine is None and _made(database):
                    engine = make_engine(database)
                if engine is not None:
                    try:
                        ended, finished = _ended_runs(engine)
                    except Exception:  # noqa: BLE001 - the daemon may be migrating
                        ended = 0
                rss = daemon.memory_info().rss
                if ended >= 1 and not rss_start:
                    rss_start, t_start = rss, time.monotonic()
                rss_max = max(rss_max, rss)
                if ended >= runs and rss_start:
                    rss_end = rss
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - t_start
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if engine is not None:
                engine.dispose()
            server.shutdown()
            server.server_close()
    mb = 1024 * 1024
    return {
        "runs": ended,
        "finished": finished,
        "other_status": ended - finished,
        "elapsed_s": round(elapsed, 1),
        "runs_per_min": round((ended - 1) / elapsed * 60, 1) if elapsed > 0 else None,
        "rss_start_mb": round(rss_start / mb, 2),
        "rss_end_mb": round(rss_end / mb, 2),
        "rss_max_mb": round(rss_max / mb, 2),
        "rss_ratio": round(rss_end / rss_start, 3) if rss_start else None,
    }


def _made(db_url: str) -> bool:
    """Whether the daemon's archive is there to be read: an SQLite file once the daemon has
    made it (opening it here first would make it); a PostgreSQL database from the start."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    return url.get_backend_name() != "sqlite" or Path(url.database or "").exists()


def run(args: Any) -> int:
    if args.sites is not None and not 1 <= args.sites <= 250:
        raise UsageError("--sites must be between 1 and 250")
    if args.runs is None:
        return _run_schedule(args)
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    with bench_database(args, "arsip-bench-daemon-") as (database, where):
        result = bench(args.runs, args.sites or 2, database)
    result["database"] = where
    if args.format == "json":
        from arsip.output import dumps

        sys.stdout.write(dumps(result, indent=2) + "\n")
    else:
        from arsip.output import print_rows

        print_rows([result], COLUMNS, "table")
    return 0


def _run_schedule(args: Any) -> int:
    from arsip.bench.daemon_sites import COLUMNS as SCHEDULE_COLUMNS
    from arsip.bench.daemon_sites import bench as schedule_bench

    if args.max_parallel < 1:
        raise UsageError("--max-parallel must be at least 1")
    if args.scheduled_minutes <= 0 or args.seconds_per_minute <= 0:
        raise UsageError("--scheduled-minutes and --seconds-per-minute must be positive")
    with bench_database(args, "arsip-bench-daemon-") as (database, where):
        result = schedule_bench(args.sites or 50, args.max_parallel, args.scheduled_minutes,
                                args.seconds_per_minute, args.seed, database)
    result["database"] = where
    if args.format == "json":
        from arsip.output import dumps

        sys.stdout.write(dumps(result, indent=2) + "\n")
    else:
        from arsip.output import print_rows

        print_rows([result], SCHEDULE_COLUMNS, "table")
    return 0
