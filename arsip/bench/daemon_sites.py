"""`arsip bench daemon --sites K` (without ``--runs``): K sites on schedule, compressed.

Each site is served by its own HTTP server on its own loopback address (127.0.0.2,
127.0.0.3, ...: its own host name as far as the crawler is concerned; nothing beyond
loopback) and gets its own schedule, drawn between 1 and 10 minutes, and its own
``download_delay`` (0 to 0.5 s). The real daemon (``arsip daemon``, a subprocess, with
``max_parallel`` runs at once) runs them for ``--scheduled-minutes`` minutes of scheduled
time, compressed: one scheduled minute lasts ``--seconds-per-minute`` real seconds (a
schedule of 6 minutes becomes ``every = "36s"`` at 6 s a minute; the crawls themselves are
not compressed, so a compression the machine cannot keep up with shows as late runs).

From the archive's crawl_runs (``started_at``/``finished_at`` written by the daemon) it
reports, per site against its own fire times (its first run, then every interval):
``runs``; ``late``, runs that started more than the misfire grace (``grace_s``, a tenth of
the shortest interval) after their fire time; ``missed``, fire times with no run before the
next one; ``overlaps``, runs that started before the site's previous run ended;
``busiest_minute_runs``, the most runs started within one scheduled minute; and the daemon
process's own RSS (``rss_start_mb``/``rss_end_mb``) and CPU (seconds over the first and the
last fifth of the bench; RSS at the end of the first fifth and at the end) without its
crawl children.
"""

from __future__ import annotations

import http.server
import random
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from arsip.bench.daemon_pages import PageHandler, start_daemon
from arsip.errors import CommandError

COLUMNS = ["sites", "max_parallel", "scheduled_minutes", "seconds_per_minute", "runs",
           "late", "missed", "overlaps", "busiest_minute_runs", "rss_start_mb", "rss_end_mb",
           "cpu_start_s", "cpu_end_s"]


def _servers(count: int) -> list[http.server.ThreadingHTTPServer]:
    servers = []
    for i in range(count):
        server = http.server.ThreadingHTTPServer((f"127.0.0.{i + 2}", 0), PageHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def _config(sites: list[dict[str, Any]], max_parallel: int, grace: float) -> str:
    lines = ["[daemon]", f"max_parallel = {max_parallel}", "grace_seconds = 10",
             f"misfire_grace_seconds = {max(1, int(grace))}", ""]
    for site in sites:
        lines += ["[[sites]]", f'name = "{site["name"]}"',
                  f'start_urls = ["{site["url"]}"]',
                  f'allowed_domains = ["{site["host"]}"]',
                  f'every = "{site["every_s"]}s"',
                  f"download_delay = {site['delay']}", ""]
    return "\n".join(lines)


def analyse(runs: Sequence[tuple[str, datetime, datetime | None]], every: dict[str, float],
            grace: float, end: datetime, minute_s: float,
            anchors: dict[str, datetime] | None = None) -> dict[str, int]:
    """runs: (site, started, finished) of every run. A site's fire times: ``anchors[site]``
    (the daemon's grid: ``daemon.jobs.phase_start``) or else its first run's start, plus
    every ``every[site]`` seconds, from the one its first run answers up to ``end``. A run
    answers the latest fire time at most a moment after its start (a run that starts a few
    milliseconds "early" against the first run's own start still answers its fire time);
    late when it starts more than ``grace`` after it; a fire time no run answers is missed."""
    late = missed = overlaps = 0
    by_site: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for site, started, finished in sorted(runs, key=lambda r: r[1]):
        by_site.setdefault(site, []).append((started, finished))
    tolerance = min(grace / 2, 1.0)
    for site, rows in by_site.items():
        interval = every[site]
        origin = (anchors or {}).get(site, rows[0][0])
        for (_, prev_end), (start, _) in zip(rows, rows[1:], strict=False):
            if prev_end is None or start < prev_end:
                overlaps += 1

        def fire_of(when: datetime, origin: datetime = origin, interval: float = interval
                    ) -> int:
            return int(((when - origin).total_seconds() + tolerance) // interval)

        answered: dict[int, float] = {}  # fire index -> the lateness of its first run
        for start, _ in rows:
            k = fire_of(start)
            answered.setdefault(k, (start - origin).total_seconds() - k * interval)
        for k in range(fire_of(rows[0][0]), fire_of(end) + 1):
            if k not in answered:
                missed += 1
            elif answered[k] > grace:
                late += 1
    minutes: dict[int, int] = {}
    if runs:
        first = min(r[1] for r in runs)
        for _, started, _ in runs:
            bucket = int((started - first).total_seconds() // minute_s)
            minutes[bucket] = minutes.get(bucket, 0) + 1
    return {"runs": len(runs), "late": late, "missed": missed, "overlaps": overlaps,
            "busiest_minute_runs": max(minutes.values(), default=0)}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def bench(sites: int, max_parallel: int, scheduled_minutes: float, seconds_per_minute: float,
          seed: int, database: str) -> dict[str, Any]:
    """``database``: the archive's URL (``arsip.bench.database.bench_database``)."""
    import psutil
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from storage.engine import make_engine
    from storage.models import CrawlRun, Site

    rng = random.Random(seed)
    servers = _servers(sites)
    plan: list[dict[str, Any]] = []
    for i, server in enumerate(servers):
        host, port = str(server.server_address[0]), int(server.server_address[1])
        minutes = rng.randint(1, 10)
        plan.append({"name": f"situs{i:02d}", "host": host, "url": f"http://{host}:{port}/",
                     "minutes": minutes, "every_s": round(minutes * seconds_per_minute),
                     "delay": round(rng.uniform(0, 0.5), 2)})
    grace = max(1.0, min(p["every_s"] for p in plan) / 10)
    every = {p["name"]: float(p["every_s"]) for p in plan}
    duration = scheduled_minutes * seconds_per_minute
    with tempfile.TemporaryDirectory(prefix="arsip-bench-daemon-sites-") as tmp:
        work = Path(tmp)
        proc, log_path = start_daemon(work, _config(plan, max_parallel, grace), database)
        engine = None
        try:
            daemon = psutil.Process(proc.pid)
            started = time.monotonic()
            samples: list[tuple[float, int, float]] = []  # (t, rss, cpu seconds)
            while time.monotonic() - started < duration:
                if proc.poll() is not None:
                    tail = log_path.read_text(encoding="utf-8", errors="replace")[-1500:]
                    raise CommandError(f"the daemon exited with status {proc.returncode}: "
                                       f"{' | '.join(tail.strip().splitlines()[-5:])}")
                cpu = daemon.cpu_times()
                samples.append((time.monotonic() - started, daemon.memory_info().rss,
                                cpu.user + cpu.system))
                time.sleep(1.0)
            stopped = datetime.now(UTC)
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
            engine = make_engine(database)
            with Session(engine) as s:
                rows = s.execute(select(Site.name, CrawlRun.started_at, CrawlRun.finished_at)
                                 .join(Site, Site.id == CrawlRun.site_id)).all()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if engine is not None:
                engine.dispose()
            for server in servers:
                server.shutdown()
                server.server_close()
    if not rows or len(samples) < 5:
        raise CommandError("the daemon started no run")
    # fire times are counted up to the stop less the grace: a fire time in the last
    # grace seconds could not be late or missed yet
    end = stopped - timedelta(seconds=grace)
    result: dict[str, Any] = {
        "backend": "postgresql" if database.startswith("postgres") else "sqlite",
        "sites": sites, "max_parallel": max_parallel, "scheduled_minutes": scheduled_minutes,
        "seconds_per_minute": seconds_per_minute, "grace_s": grace,
        "schedule_minutes_min": min(p["minutes"] for p in plan),
        "schedule_minutes_max": max(p["minutes"] for p in plan),
    }
    # against the daemon's own grid: each site's fire times are its phase plus intervals
    from daemon.jobs import phase_start

    anchors = {p["name"]: phase_start(p["name"], float(p["every_s"])) for p in plan}
    result.update(analyse([(r[0], _utc(r[1]), _utc(r[2]) if r[2] else None) for r in rows],
                          every, grace, end, seconds_per_minute, anchors))
    # after the start-up (the first fifth of the bench: imports, migrations, first runs):
    # RSS at the end of the first fifth and at the end; CPU seconds in the second fifth
    # and in the last fifth (windows of the same length)
    mb = 1024 * 1024
    fifth = max(1, len(samples) // 5)
    second, last = samples[fifth:2 * fifth + 1], samples[-fifth - 1:]
    result.update({
        "rss_start_mb": round(samples[fifth][1] / mb, 1),
        "rss_end_mb": round(samples[-1][1] / mb, 1),
        "rss_max_mb": round(max(s[1] for s in samples) / mb, 1),
        "cpu_start_s": round(second[-1][2] - second[0][2], 2),
        "cpu_end_s": round(last[-1][2] - last[0][2], 2),
        "cpu_window_s": round(last[-1][0] - last[0][0], 1),
    })
    return result
