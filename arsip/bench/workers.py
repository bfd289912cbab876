"""`arsip bench workers [--pages N] [--delay S] [--counts 1 2 4]`: crawl throughput by worker count.

A generated news site of N article pages (the sample site's templates, every article with
its own text, all listed in the sitemap) is served on 127.0.0.1 with a delay on every
request, so that the crawl is I/O-bound, as crawling real sites is. For each worker count,
that many ``arsip worker`` processes are started and idle, then one run is seeded into the
queue; the time is the run's, from seeding to its end (queue drained, every article
written), on the Redis clock. Each round has a fresh archive (SQLite) and its own site
name. Reported: articles/s per worker count, speed-up against one worker measured in the
same run, and whether every page was fetched once.

Redis: ``--redis-url``, else ``ARSIP_REDIS_URL``/config ``redis_url``, else a private
``redis-server`` on a free loopback port.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from arsip.errors import CommandError, UsageError


def register(sub: Any, common: Any) -> None:
    from arsip.output import add_format_option

    p = sub.add_parser("workers", parents=[common], description=__doc__,
                       help="articles/s for 1, 2 and 4 worker processes")
    p.add_argument("--pages", type=int, default=120, metavar="N",
                   help="article pages on the synthetic site (default 120)")
    p.add_argument("--delay", type=float, default=0.2, metavar="S",
                   help="server delay per request in seconds (default 0.2)")
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4], metavar="N",
                   help="worker counts to measure (default 1 2 4)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N",
                   help="parallel requests per worker (default 4)")
    p.add_argument("--redis-url", metavar="URL", help="Redis to use (default: see above)")
    add_format_option(p, ("table", "json"))
    p.set_defaults(func=run)


# -- the site ------------------------------------------------------------------------------
def bench_site(pages: int, seed: int = 7) -> Any:
    """A SampleSite of ``pages`` distinct articles (text shuffled from the seed article)."""
    from arsip.sample_site.content import WIB, Story, stories
    from arsip.sample_site.site import SampleSite

    base = stories()[0]
    words = " ".join(base.paragraphs).split()
    rng = random.Random(seed)
    out = []
    start = datetime(2024, 3, 1, 8, 0, tzinfo=WIB)
    for i in range(pages):
        paras = []
        for _ in range(8):
            chunk = rng.sample(words, 45)
            paras.append(" ".join(chunk).capitalize() + ".")
        title_words = rng.sample(words, 8)
        out.append(Story(
            id=f"{900000000 + i}",
            slug="-".join(re.sub(r"[^a-z0-9]+", "", w.lower()) or "x" for w in title_words[:5]),
            section=("nasional", "dunia", "histori")[i % 3],
            title=" ".join(title_words).capitalize(), author="Redaksi",
            published=start + timedelta(minutes=17 * i), paragraphs=paras, page_all=False,
        ))
    return SampleSite(out)


@contextmanager
def private_redis() -> Any:
    exe = shutil.which("redis-server")
    if exe is None:
        raise CommandError("no Redis: set ARSIP_REDIS_URL or install redis-server")
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="arsip-bench-redis-") as tmp:
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise CommandError("could not start redis-server") from None
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


# -- one round -----------------------------------------------------------------------------
def _start_workers(count: int, env: dict[str, str], tag: str, concurrency: int,
                   cwd: str) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(
        [sys.executable, "-m", "arsip", "worker", "--workers", "0", "--quiet",
         "--concurrency", str(concurrency), "--sites", tag, "--worker-id", f"{tag}-{i}"],
        env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(count)]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one_round(count: int, *, redis_url: str, site: Any, delay: float, concurrency: int,
              workdir: Path) -> dict[str, Any]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from arsip.sample_site.server import SiteServer
    from config.model import SiteConfig
    from crawler.distributed import (
        RunKeys,
        connect,
        live_workers,
        seed_run,
    )
    from storage.engine import open_archive
    from storage.models import Article

    tag = f"bench-w{count}-{os.getpid()}-{int(time.time())}"
    db = f"sqlite:///{workdir / (tag + '.db')}"
    engine = open_archive(db)  # migrated before the clock starts
    server = connect(redis_url)
    (workdir / "arsip.toml").write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSIP_")}
    env.update(ARSIP_DATABASE_URL=db, ARSIP_REDIS_URL=redis_url,
               ARSIP_CONFIG=str(workdir / "arsip.toml"))
    with SiteServer(site.render, delay=delay) as web:
        procs = _start_workers(count, env, tag, concurrency, str(workdir))
        try:
            deadline = time.monotonic() + 120
            while len([w for w in live_workers(server) if w.startswith(tag)]) < count:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    err = b"".join(p.stderr.read() if p.stderr and p.poll() is not None
                                   else b"" for p in procs).decode(errors="replace")
                    raise CommandError(f"the workers did not start: {err.strip()[-300:]}")
                time.sleep(0.1)
            config = SiteConfig(name=tag, start_urls=[web.url + "/"], concurrency=concurrency)
            run_id = seed_run(redis_url, db, config, trigger="bench")
            keys = RunKeys(run_id)
            seeded = float(server.hget(keys.info, "seeded_at"))
            while not server.exists(keys.finished):
                if time.monotonic() > deadline + 600:
                    raise CommandError(f"run {run_id} did not finish")
                time.sleep(0.05)
            seconds = int(server.get(keys.finished)) / 1000.0 - seeded
        finally:
            _stop(procs)
        paths = Counter(p for p in web.paths() if p != "/robots.txt")
    with Session(engine) as session:
        articles = session.execute(select(func.count(Article.id))).scalar_one()
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(str(workdir / (tag + ".db")) + suffix).unlink(missing_ok=True)
    return {
        "workers": count,
        "articles": articles,
        "seconds": round(seconds, 2),
        "articles_per_s": round(articles / seconds, 2) if seconds > 0 else 0.0,
        "requests": sum(paths.values()),
        "fetched_once": max(paths.values(), default=0) == 1,
    }


def run(args: Any) -> int:
    from arsip.commands._common import settings
    from arsip.output import dumps, print_rows, resolve_format
    from crawler.distributed import DistributedError

    if args.pages < 1:
        raise UsageError("--pages must be at least 1")
    if args.delay < 0:
        raise UsageError("--delay must not be negative")
    if args.concurrency < 1 or any(c < 1 for c in args.counts):
        raise UsageError("worker counts and --concurrency must be at least 1")
    fmt = resolve_format(args.format)
    redis_url = args.redis_url or settings().redis_url
    site = bench_site(args.pages)
    results = []
    with tempfile.TemporaryDirectory(prefix="arsip-bench-workers-") as tmp, \
            (_given(redis_url) if redis_url else private_redis()) as url:
        for count in args.counts:
            try:
                results.append(one_round(count, redis_url=url, site=site, delay=args.delay,
                                         concurrency=args.concurrency, workdir=Path(tmp)))
            except DistributedError as exc:
                raise CommandError(str(exc)) from exc
            if fmt == "table":
                print(f"  {count} worker(s): {results[-1]['articles_per_s']} articles/s",
                      file=sys.stderr, flush=True)
    base = results[0]["articles_per_s"] if results else 0.0
    for row in results:
        row["speedup"] = round(row["articles_per_s"] / base, 2) if base else None
    by_count = {r["workers"]: r["articles_per_s"] for r in results}
    scaling = round(by_count[4] / by_count[1], 2) if by_count.get(1) and 4 in by_count else None
    out = {"pages": args.pages, "delay_s": args.delay, "concurrency": args.concurrency,
           "baseline_workers": results[0]["workers"] if results else None,
           "results": results, "scaling_4_vs_1": scaling}
    if fmt == "json":
        print(dumps(out, indent=2))
        return 0
    print_rows(results, ["workers", "articles", "seconds", "articles_per_s", "speedup",
                         "requests", "fetched_once"], "table")
    print(f"scaling 4 vs 1 worker: {scaling if scaling is not None else 'n/a'}"
          f" ({args.pages} pages, {args.delay} s server delay, {args.concurrency}"
          " requests per worker)")
    return 0


@contextmanager
def _given(url: str) -> Any:
    yield url
