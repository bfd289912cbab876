"""The arsip daemon: scheduled crawls with APScheduler 3.x, each run in a child process.

Design, in short:

* One ``BackgroundScheduler`` whose job store is the archive database
  (``SQLAlchemyJobStore``, table ``apscheduler_jobs``, which the migrations ignore), so
  schedules, next run times and missed runs survive restarts. One job per site, id
  ``site:NAME``; its function is :func:`run_site`, a top-level callable (the job store pickles
  a reference to it) taking only the site name.
* The job function does not crawl: it hands the site name to the daemon's supervisor (a queue).
  The supervisor, in the daemon's main thread, owns every child process: it starts
  ``python -m arsip crawl SITE --run-id N`` for a run row it created itself, never two runs of
  one site at once (a due run of a busy site is skipped and logged), at most
  ``[daemon] max_parallel`` at once; it reaps children, records what they did not (a crash is
  ``failed`` with the exit status and the tail of the child's log), stops runs past their
  ``timeout`` (SIGTERM, then SIGKILL) and records ``timeout``.
* ``arsip schedule run SITE`` inserts a ``run_requests`` row, polled every
  ``[daemon] poll_seconds``; a ``daemon_heartbeats`` row tells the CLI that a daemon is alive.
* SIGHUP re-reads the config and syncs the jobs; SIGTERM/SIGINT stop taking runs, give the
  running crawls ``[daemon] grace_seconds`` and stop the rest, recorded ``interrupted``.

Nothing runs at import time; ``arsip daemon`` (``arsip/commands/daemon.py``) calls :func:`serve`.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from config.loading import config_path, load_config
from config.model import Config, ConfigError, SiteConfig
from config.validation import schedule_problems

log = logging.getLogger("arsip.daemon")

JOB_PREFIX = "site:"
JOBS_TABLE = "apscheduler_jobs"
TICK_SECONDS = 0.2
SWEEP_SECONDS = 30.0  # how often runs of dead local processes are looked for
REQUEST_EXPIRY_SECONDS = 600.0  # an unpicked `schedule run` request older than this is dropped
LOG_TAIL_CHARS = 2000
KEEP_RUN_LOGS = 200  # per-run child logs kept (failures first to go last: see _prune_logs)
STAT_KEYS = ("pages", "articles_new", "aliases", "near_duplicates", "versions", "errors")

# The daemon of this process, for the job function (set by Daemon.run, cleared on exit).
_ACTIVE: Daemon | None = None


def run_site(site_name: str) -> None:
    """The APScheduler job of every site: ask the running daemon for a run of ``site_name``.

    Top-level and with a plain string argument because the SQLAlchemy job store pickles a
    reference to it (``scheduler:run_site``) and its arguments.
    """
    daemon = _ACTIVE
    if daemon is None:
        log.warning("site %s: run due but no daemon is active in this process", site_name)
        return
    daemon.request(site_name, trigger="daemon")


# --- configuration ---------------------------------------------------------------------------

def config_problems(path: str | None = None) -> tuple[Config | None, list[str]]:
    """The config and every problem in it, as ``arsip sites validate`` and the daemon show them.

    Includes :func:`config.validation.schedule_problems` (an enabled site without a schedule),
    also for a file with other problems. Each problem is one line, prefixed by the file.
    """
    p = config_path(path)
    try:
        cfg = load_config(path, required=True)
    except ConfigError as exc:
        prefix = f"{exc.path}: " if exc.path else ""
        lines = [prefix + problem for problem in exc.problems]
        lines += [prefix + problem for problem in _raw_schedule_problems(p)
                  if problem not in exc.problems]
        return None, lines
    prefix = f"{cfg.path}: " if cfg.path else ""
    return cfg, [prefix + problem for problem in schedule_problems(cfg)]


def _raw_schedule_problems(path: Path) -> list[str]:
    """Schedule problems of a file that does not parse as a whole (best effort)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    defaults: dict[str, Any] = raw["defaults"] if isinstance(raw.get("defaults"), dict) else {}
    sites: list[Any] = raw["sites"] if isinstance(raw.get("sites"), list) else []
    out = []
    for site in sites:
        if not isinstance(site, dict) or not isinstance(site.get("name"), str):
            continue
        merged = {**defaults, **site}
        if merged.get("enabled", True) is not False and not merged.get("cron") \
                and not merged.get("every"):
            out.append(f"site '{site['name']}': key 'cron': no schedule "
                       "(give 'cron' or 'every', or enabled = false)")
    return out


def load_checked_config(path: str | None = None) -> Config:
    """The config, or ConfigError with every problem (the daemon's own check)."""
    cfg, problems = config_problems(path)
    if problems or cfg is None:
        raise ConfigError(problems or ["invalid configuration"])
    return cfg


def make_trigger(site: SiteConfig) -> Any:
    """The APScheduler trigger of a site's schedule (``cron`` in its timezone, or ``every``)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if site.cron:
        return CronTrigger.from_crontab(site.cron, timezone=site.timezone or "UTC")
    seconds = site.every_seconds()
    if not seconds:
        raise ValueError(f"site {site.name!r} has no schedule")
    return IntervalTrigger(seconds=seconds, timezone=UTC)


def job_id(site_name: str) -> str:
    return f"{JOB_PREFIX}{site_name}"


def job_name(site: SiteConfig) -> str:
    """The job's name; it carries the schedule, so a changed schedule is seen at sync."""
    return f"{site.name} ({site.schedule_text()})"


def scheduled_sites(cfg: Config) -> list[SiteConfig]:
    return [s for s in cfg.sites if s.enabled and (s.cron or s.every)]


# --- the daemon ------------------------------------------------------------------------------

@dataclass
class Child:
    """A running crawl child process and what the supervisor knows about it."""

    site: str
    run_id: int
    trigger: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float  # time.monotonic()
    timeout: float | None
    stop_reason: str | None = None  # "timeout" or "shutdown" once we signalled it
    term_sent: float | None = None
    kill_at: float | None = None
    request_id: int | None = None


@dataclass
class Pending:
    site: str
    trigger: str
    request_id: int | None = None
    queued: float = field(default_factory=time.monotonic)


class Daemon:
    """The scheduler process. ``run()`` blocks until SIGTERM/SIGINT and returns the exit code."""

    def __init__(self, cfg: Config, *, config_file: str | None = None,
                 log_file: str | None = None) -> None:
        self.cfg = cfg
        self.config_file = config_file
        self.log_file = log_file
        self.engine: Any = None
        self.scheduler: Any = None
        self.children: dict[str, Child] = {}  # site -> child
        self.pending: list[Pending] = []
        self.inbox: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self.wake = threading.Event()
        self.stop_signals = 0
        self.reload_wanted = False
        self.heartbeat_id: int | None = None
        self.log_dir: Path | None = None
        self.log_dir_is_temp = False
        self._last_beat = 0.0
        self._last_poll = 0.0
        self._last_sweep = 0.0

    # -- signals (handlers only set flags; the main loop acts) --

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.stop_signals += 1
        self.wake.set()

    def _on_hup(self, _signum: int, _frame: Any) -> None:
        self.reload_wanted = True
        self.wake.set()

    def request(self, site: str, *, trigger: str, request_id: int | None = None) -> None:
        """Ask for a run (thread-safe: the job function calls it from a scheduler thread)."""
        self.inbox.put(Pending(site, trigger, request_id))
        self.wake.set()

    # -- setup --

    def _session(self) -> Any:
        from sqlalchemy.orm import Session

        return Session(self.engine, expire_on_commit=False)

    def open(self) -> None:
        from storage.engine import open_archive, redact
        from storage.runs import mark_dead_local_runs
        from storage.schedule import clear_stale_heartbeats, heartbeat_start, live_daemons

        self.engine = open_archive(self.cfg.database_url)
        log.info("archive: %s", redact(self.engine.url))
        with self._session() as s, s.begin():
            clear_stale_heartbeats(s)
            others = live_daemons(s)
            if others:
                o = others[0]
                from arsip.errors import CommandError

                raise CommandError(
                    f"another daemon is running on this archive (pid {o.pid} on {o.hostname},"
                    f" seen {o.seen_at:%Y-%m-%d %H:%M:%S} UTC)"
                )
            # runs left "running" by a daemon killed with SIGKILL (or a crashed crawl): their
            # process is gone. An ad-hoc `arsip crawl` still alive on this host keeps its run.
            abandoned = mark_dead_local_runs(s)
            self.heartbeat_id = heartbeat_start(s)
        if abandoned:
            log.warning("marked %d run(s) left running by a dead process as abandoned", abandoned)
        self._setup_log_dir()

    def _setup_log_dir(self) -> None:
        if self.log_file:
            path = Path(self.log_file).resolve()
            self.log_dir = path.parent / f"{path.stem}-runs"
            self.log_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.log_dir = Path(tempfile.mkdtemp(prefix="arsip-daemon-runs-"))
            self.log_dir_is_temp = True
        log.info("crawl logs in %s", self.log_dir)

    def start_scheduler(self) -> None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        self.scheduler = build_scheduler(
            SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE), self._job_options()
        )
        # paused: read the stored jobs and sync them with the config before anything runs, so
        # an unchanged job keeps its stored next run time (and missed runs are coalesced)
        self.scheduler.start(paused=True)
        self.sync_jobs()
        self.scheduler.resume()

    def _job_options(self) -> dict[str, Any]:
        return {
            # missed runs (daemon down, or a late wakeup) collapse into one run ...
            "coalesce": True,
            # ... if the latest missed one is at most this late; older ones are skipped
            "misfire_grace_time": max(1, int(self.cfg.daemon.misfire_grace_seconds)),
            # the job only queues; overlap of crawls is prevented by the supervisor
            "max_instances": 1,
        }

    def sync_jobs(self) -> dict[str, list[str]]:
        """Make the job store match the config: add new sites, replace changed schedules,
        remove removed or disabled sites. Unchanged jobs keep their next run time."""
        wanted = {job_id(s.name): s for s in scheduled_sites(self.cfg)}
        options = self._job_options()
        changes: dict[str, list[str]] = {"added": [], "changed": [], "removed": [], "kept": []}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                self.scheduler.remove_job(job.id)
                changes["removed"].append(job.id.removeprefix(JOB_PREFIX))
        for jid, site in wanted.items():
            job = self.scheduler.get_job(jid)
            if job is not None and job.name == job_name(site):
                if job.coalesce != options["coalesce"] or \
                        job.misfire_grace_time != options["misfire_grace_time"]:
                    job.modify(coalesce=options["coalesce"],
                               misfire_grace_time=options["misfire_grace_time"])
                changes["kept"].append(site.name)
                continue
            self.scheduler.add_job(
                run_site, make_trigger(site), args=[site.name], id=jid, name=job_name(site),
                replace_existing=True, **options,
            )
            changes["changed" if job is not None else "added"].append(site.name)
        for kind in ("added", "changed", "removed"):
            if changes[kind]:
                log.info("jobs %s: %s", kind, ", ".join(sorted(changes[kind])))
        for job in self.scheduler.get_jobs():
            when = job.next_run_time.isoformat(timespec="seconds") if job.next_run_time else "-"
            log.info("job %s: next run %s", job.name, when)
        return changes

    def reload(self) -> None:
        self.reload_wanted = False
        try:
            cfg = load_checked_config(self.config_file)
        except ConfigError as exc:
            log.error("SIGHUP: config not reloaded, it has %d problem(s):", len(exc.problems))
            for problem in exc.problems:
                log.error("  %s", problem)
            return
        log.info("SIGHUP: reloading config %s", cfg.path)
        cfg.database_url = self.cfg.database_url  # the archive does not change under us
        self.cfg = cfg
        self.sync_jobs()

    # -- the main loop --

    def run(self) -> int:
        global _ACTIVE
        self.open()
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        _ACTIVE = self
        try:
            self.start_scheduler()
            log.info("daemon started (pid %d): %d scheduled site(s), max_parallel %d",
                     os.getpid(), len(scheduled_sites(self.cfg)), self.cfg.daemon.max_parallel)
            while not self.stop_signals:
                self.wake.wait(TICK_SECONDS)
                self.wake.clear()
                if self.reload_wanted:
                    self._guard(self.reload)
                self.tick()
            self.shutdown()
        finally:
            _ACTIVE = None
            self.close()
        return 0

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run one step of the loop; a failure (e.g. the database away) is logged, not fatal."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the daemon must carry on
            log.error("%s failed: %s: %s", getattr(fn, "__name__", fn), type(exc).__name__,
                      " ".join(str(exc).split())[:300], exc_info=log.isEnabledFor(logging.DEBUG))
            return None

    def tick(self) -> None:
        now = time.monotonic()
        self._guard(self.reap)
        self._guard(self.enforce_timeouts, now)
        if now - self._last_poll >= self.cfg.daemon.poll_seconds:
            self._last_poll = now
            self._guard(self.poll_requests)
        self._guard(self.take_requests)
        self._guard(self.start_pending)
        if now - self._last_beat >= _heartbeat_seconds():
            self._last_beat = now
            self._guard(self.beat)
        if now - self._last_sweep >= SWEEP_SECONDS:
            self._last_sweep = now
            self._guard(self.sweep)

    def beat(self) -> None:
        from storage.schedule import heartbeat_beat, heartbeat_start

        with self._session() as s, s.begin():
            if self.heartbeat_id is None:
                self.heartbeat_id = heartbeat_start(s)
            else:
                heartbeat_beat(s, self.heartbeat_id)

    def sweep(self) -> None:
        """Runs of other local processes that died without finishing: ``abandoned``."""
        from storage.schedule import abandon_dead_local_runs

        mine = {c.run_id for c in self.children.values()}
        with self._session() as s, s.begin():
            done = abandon_dead_local_runs(s, exclude=mine)
        if done:
            log.warning("marked run(s) %s as abandoned: their process is gone",
                        ", ".join(map(str, done)))

    def poll_requests(self) -> None:
        """`arsip schedule run SITE` requests from the database."""
        from storage.schedule import expire_requests, open_requests, pick_request

        with self._session() as s, s.begin():
            expired = expire_requests(s, older_than=REQUEST_EXPIRY_SECONDS)
            if expired:
                log.warning("dropped %d run request(s) older than %ds", expired,
                            REQUEST_EXPIRY_SECONDS)
            for req in open_requests(s):
                if not pick_request(s, req.id):
                    continue  # another daemon took it
                if self.cfg.site(req.site) is None:
                    log.warning("run request %d: unknown site %r, ignored", req.id, req.site)
                    continue
                log.info("run request %d: site %s", req.id, req.site)
                self.inbox.put(Pending(req.site, "request", req.id))

    def take_requests(self) -> None:
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return
            self.admit(item)

    def admit(self, item: Pending) -> None:
        """Queue a run unless the site is running or already queued (then skip and log)."""
        running = self.children.get(item.site)
        if running is not None:
            log.warning("site %s: run skipped: run %d is still going (%.0fs)", item.site,
                        running.run_id, time.monotonic() - running.started)
            if item.request_id is not None:
                self._link_request(item.request_id, running.run_id)
            return
        for waiting in self.pending:
            if waiting.site == item.site:
                log.warning("site %s: run skipped: a run is already waiting for a free slot",
                            item.site)
                if item.request_id is not None and waiting.request_id is None:
                    waiting.request_id = item.request_id  # the request gets that run
                return
        self.pending.append(item)

    def start_pending(self) -> None:
        while self.pending and len(self.children) < self.cfg.daemon.max_parallel:
            item = self.pending.pop(0)
            self.start_run(item)
        if self.pending:
            log.debug("%d run(s) waiting for a free slot", len(self.pending))

    def _link_request(self, request_id: int, run_id: int) -> None:
        from storage.schedule import set_request_run

        with self._session() as s, s.begin():
            set_request_run(s, request_id, run_id)

    def start_run(self, item: Pending) -> None:
        from storage.runs import create_run, finish_run
        from storage.schedule import live_local_runs, set_request_run, set_run_pid

        site = self.cfg.site(item.site)
        if site is None:
            log.warning("site %s: run skipped: no longer in the config", item.site)
            return
        if self.cfg.redis_url:
            self.seed_distributed_run(item, site)
            return
        with self._session() as s, s.begin():
            # a run of this site by another process on this host (an ad-hoc `arsip crawl`, or
            # the child of a daemon killed with SIGKILL): never two runs of one site at once
            others = live_local_runs(s, site.name)
            if others:
                log.warning("site %s: run skipped: run %d is still going in process %s",
                            site.name, others[0].id, others[0].pid)
                if item.request_id is not None:
                    set_request_run(s, item.request_id, others[0].id)
                return
            run_id = create_run(s, site.name, trigger=item.trigger)
            if item.request_id is not None:
                set_request_run(s, item.request_id, run_id)
        assert self.log_dir is not None
        log_path = self.log_dir / f"run-{run_id}-{site.name}.log"
        try:
            with open(log_path, "wb") as out:
                proc = subprocess.Popen(
                    crawl_command(site.name, run_id),
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env=self.child_env(),
                    # its own session: a Ctrl-C in the daemon's terminal does not reach it;
                    # the daemon decides when and how a crawl is stopped
                    start_new_session=True,
                )
        except OSError as exc:
            with self._session() as s, s.begin():
                finish_run(s, run_id, "failed", error=f"cannot start the crawl process: {exc}")
            log.error("run %d site=%s failed to start: %s", run_id, site.name, exc)
            return
        with self._session() as s, s.begin():
            set_run_pid(s, run_id, proc.pid)
        self.children[site.name] = Child(
            site=site.name, run_id=run_id, trigger=item.trigger, proc=proc, log_path=log_path,
            started=time.monotonic(), timeout=site.timeout_seconds(),
            request_id=item.request_id,
        )
        log.info("run %d site=%s started (trigger %s, pid %d)", run_id, site.name,
                 item.trigger, proc.pid)

    def seed_distributed_run(self, item: Pending, site: SiteConfig) -> None:
        """With a Redis server configured, a run is seeded into the shared queue and served by
        `arsip worker` processes on any machine; no child process, no local timeout."""
        from crawler.distributed import DistributedError, RunActiveError, seed_run
        from crawler.options import OptionsError

        assert self.cfg.redis_url is not None
        try:
            run_id = seed_run(self.cfg.redis_url, self.cfg.database_url, site,
                              trigger=item.trigger)
        except RunActiveError as exc:
            log.warning("site %s: run skipped: run %d is still in the worker queue",
                        site.name, exc.run_id)
            if item.request_id is not None:
                try:
                    self._link_request(item.request_id, exc.run_id)
                except Exception as link_exc:  # noqa: BLE001 - a queue left by another archive
                    log.warning("site %s: queued run %d is not in this archive: %s",
                                site.name, exc.run_id, type(link_exc).__name__)
            return
        except (DistributedError, OptionsError) as exc:
            log.error("site %s: cannot seed a distributed run: %s", site.name, exc)
            return
        if item.request_id is not None:
            self._link_request(item.request_id, run_id)
        log.info("run %d site=%s seeded into the worker queue (trigger %s)", run_id, site.name,
                 item.trigger)

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ARSIP_CONFIG"] = str(Path(self.cfg.path or config_path(self.config_file))
                                  .resolve())
        if self.cfg.database_url:
            env["ARSIP_DATABASE_URL"] = self.cfg.database_url
        return env

    def enforce_timeouts(self, now: float) -> None:
        for child in list(self.children.values()):
            if child.proc.poll() is not None:
                continue
            if child.stop_reason is None and child.timeout and \
                    now - child.started > child.timeout:
                log.warning("run %d site=%s: past its timeout of %.0fs, stopping it",
                            child.run_id, child.site, child.timeout)
                self.stop_child(child, "timeout", kill_after=self._kill_grace())
            if child.kill_at is not None and now >= child.kill_at:
                log.warning("run %d site=%s: did not stop after SIGTERM, killing it",
                            child.run_id, child.site)
                _signal_group(child.proc, signal.SIGKILL)
                child.kill_at = None

    def _kill_grace(self) -> float:
        return max(1.0, self.cfg.daemon.grace_seconds)

    def stop_child(self, child: Child, reason: str, *, kill_after: float) -> None:
        """SIGTERM (Scrapy closes cleanly), SIGKILL after ``kill_after`` seconds."""
        child.stop_reason = child.stop_reason or reason
        if child.term_sent is None:
            child.term_sent = time.monotonic()
            _signal_group(child.proc, signal.SIGTERM)
        kill_at = time.monotonic() + kill_after
        child.kill_at = min(child.kill_at or kill_at, kill_at)

    def reap(self) -> None:
        for site, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            del self.children[site]
            self._guard(self.finish_child, child, code)

    def finish_child(self, child: Child, code: int) -> None:
        from storage.runs import finish_run
        from storage.schedule import get_run

        elapsed = time.monotonic() - child.started
        with self._session() as s, s.begin():
            if child.stop_reason == "timeout":
                # whatever the child wrote (interrupted, most likely): the run timed out
                finish_run(s, child.run_id, "timeout",
                           error=f"stopped after its timeout of {child.timeout:.0f}s"
                                 f" (exit status {code})")
            elif child.stop_reason == "shutdown":
                finish_run(s, child.run_id, "interrupted", only_if_running=True,
                           error=f"stopped by the daemon's shutdown (exit status {code})")
            else:
                finish_run(s, child.run_id, "failed", only_if_running=True,
                           error=f"crawl process exited with status {code} without finishing"
                                 f" the run; log tail:\n{_tail(child.log_path)}")
            run = get_run(s, child.run_id)
            status = run.status if run else "?"
            stats = dict(run.stats or {}) if run else {}
            error = run.error if run else None
        log_fn = log.info if status == "finished" else log.warning
        counts = " ".join(f"{k}={_count(stats.get(k))}" for k in STAT_KEYS)
        why = f" error={_one_line(error)}" if error and status != "finished" else ""
        log_fn("run %d site=%s %s in %.1fs: %s exit=%d%s", child.run_id, child.site, status,
               elapsed, counts, code, why)
        if status == "finished":
            child.log_path.unlink(missing_ok=True)
        self._prune_logs()

    def _prune_logs(self) -> None:
        if self.log_dir is None:
            return
        logs = sorted(self.log_dir.glob("run-*.log"), key=lambda p: p.stat().st_mtime)
        for old in logs[:-KEEP_RUN_LOGS]:
            old.unlink(missing_ok=True)

    # -- stopping --

    def shutdown(self) -> None:
        """Stop taking runs; give running crawls the grace period, then stop them."""
        grace = self.cfg.daemon.grace_seconds
        log.info("stopping: %d run(s) going, grace %.0fs", len(self.children), grace)
        try:
            self.scheduler.shutdown(wait=False)
        except Exception as exc:  # noqa: BLE001
            log.debug("scheduler shutdown: %s", exc)
        while True:  # drop what was queued but not started
            try:
                self.pending.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        for item in self.pending:
            log.info("site %s: queued run dropped (shutting down)", item.site)
        self.pending.clear()
        start = time.monotonic()
        # the last part of the grace (at most 10 s) is for the crawls to close cleanly after
        # SIGTERM; the daemon is gone within the grace period
        term_at = start + grace - min(10.0, grace / 2)
        kill_at = start + grace
        signals_seen = self.stop_signals
        while self.children:
            now = time.monotonic()
            if self.stop_signals > signals_seen:  # a second SIGTERM/SIGINT: stop now
                signals_seen = self.stop_signals
                term_at = min(term_at, now)
                kill_at = min(kill_at, now + 3.0)
            if now >= term_at:
                for child in self.children.values():
                    if child.term_sent is None:
                        log.info("run %d site=%s: stopping it (SIGTERM)", child.run_id,
                                 child.site)
                    if child.stop_reason != "timeout":
                        child.stop_reason = "shutdown"
                    self.stop_child(child, child.stop_reason or "shutdown",
                                    kill_after=max(0.0, kill_at - now))
            self.enforce_timeouts(now)
            self.reap()
            if self.children and now > kill_at + 10.0:
                log.error("run(s) %s did not end after SIGKILL; giving up on them",
                          ", ".join(str(c.run_id) for c in self.children.values()))
                break
            if self.children:
                self.wake.wait(TICK_SECONDS)
                self.wake.clear()

    def close(self) -> None:
        from storage.schedule import heartbeat_end

        for child in self.children.values():  # only after an error, or a child that won't die
            _signal_group(child.proc, signal.SIGKILL)
            try:
                code = child.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = -9
            child.stop_reason = child.stop_reason or "shutdown"
            self._guard(self.finish_child, child, code)
        self.children.clear()
        if self.scheduler is not None and self.scheduler.running:
            self._guard(self.scheduler.shutdown, False)
        beat_id = self.heartbeat_id
        if self.engine is not None and beat_id is not None:
            def end() -> None:
                with self._session() as s, s.begin():
                    heartbeat_end(s, beat_id)
            self._guard(end)
        if self.log_dir_is_temp and self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        if self.engine is not None:
            self.engine.dispose()
        log.info("daemon stopped")


def build_scheduler(jobstore: Any, job_defaults: dict[str, Any]) -> Any:
    """A BackgroundScheduler that survives job-store errors (see ``_process_jobs`` below)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    class ResilientScheduler(BackgroundScheduler):
        """APScheduler 3 catches errors of ``get_due_jobs`` but not of ``update_job`` or
        ``get_next_run_time``: one database hiccup there (a restarted PostgreSQL, a long SQLite
        lock) would end its thread and, silently, all scheduling. Here it is logged and retried
        after ``jobstore_retry_interval`` seconds."""

        def _process_jobs(self) -> float | None:
            try:
                return super()._process_jobs()
            except Exception as exc:  # noqa: BLE001 - the scheduler thread must live on
                log.error("scheduler: job store error, retrying in %ss: %s: %s",
                          self.jobstore_retry_interval, type(exc).__name__,
                          " ".join(str(exc).split())[:300])
                return float(self.jobstore_retry_interval)

    return ResilientScheduler(
        jobstores={"default": jobstore},
        # the job function only queues a request, so two threads are plenty; the crawl itself
        # runs in a child process owned by the supervisor (the daemon's main thread)
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults=job_defaults,
        timezone=UTC,
    )


def crawl_command(site_name: str, run_id: int) -> list[str]:
    """The child's command line: ``arsip crawl SITE --run-id N`` with this interpreter."""
    return [sys.executable, "-m", "arsip", "crawl", site_name, "--run-id", str(run_id)]


def _heartbeat_seconds() -> float:
    from storage.schedule import HEARTBEAT_SECONDS

    return HEARTBEAT_SECONDS


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """SIGTERM to the child alone (it stops its own helpers cleanly); SIGKILL to its whole
    process group (it leads its own session), so no helper process outlives it."""
    if proc.poll() is not None:
        return
    if sig != signal.SIGKILL:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    text = text.strip()
    return text if text else "(empty log)"


def _one_line(text: str, limit: int = 200) -> str:
    flat = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _count(value: Any) -> Any:
    if isinstance(value, list):
        return len(value)
    return 0 if value is None else value


def setup_logging(level: str = "INFO", log_file: str | None = None) -> None:
    """Daemon logs: to stderr and, optionally, to a file (reopened if rotated)."""
    from logging.handlers import WatchedFileHandler

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(WatchedFileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    numeric = getattr(logging, level.upper())
    root.setLevel(numeric)
    # APScheduler's own INFO lines ("Running job ...", "executed successfully") every run are
    # noise next to ours; its warnings (missed runs) stay
    quiet = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in ("apscheduler", "alembic"):
        logging.getLogger(name).setLevel(quiet)


def serve(*, config_file: str | None = None, log_level: str = "INFO",
          log_file: str | None = None) -> int:
    """``arsip daemon``: check the config (ConfigError lists every problem), then run."""
    cfg = load_checked_config(config_file)
    log_file = log_file or cfg.daemon.log_file
    try:
        setup_logging(log_level, log_file)
    except OSError as exc:
        from arsip.errors import UsageError

        raise UsageError(f"cannot write the log file {log_file}: {exc.strerror or exc}") from exc
    return Daemon(cfg, config_file=config_file, log_file=log_file).run()
