"""The daemon: its main loop (signals, the tick, heartbeat, sweep of dead runs), its job
store and scheduler, and its shutdown. The parts it runs are in ``daemon.jobs``,
``daemon.run_requests`` and ``daemon.children``."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from config.model import ConfigError
from daemon.children import ChildProcesses, signal_group
from daemon.config_check import load_checked_config
from daemon.errors import DaemonError
from daemon.jobs import (
    JOBS_TABLE,
    build_scheduler,
    job_options,
    scheduled_sites,
    set_active,
    sync_jobs,
)
from daemon.run_requests import RunRequests

log = logging.getLogger("arsip.daemon")

TICK_SECONDS = 0.2
SWEEP_SECONDS = 30.0  # how often runs of dead local processes are looked for


class Daemon(RunRequests, ChildProcesses):
    """The scheduler process. ``run()`` blocks until SIGTERM/SIGINT and returns the exit code."""

    # -- signals (handlers only set flags; the main loop acts) --

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.stop_signals += 1
        self.wake.set()

    def _on_hup(self, _signum: int, _frame: Any) -> None:
        self.reload_wanted = True
        self.wake.set()

    # -- setup --

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
                raise DaemonError(
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
        return job_options(self.cfg)

    def sync_jobs(self) -> dict[str, list[str]]:
        """Make the job store match the config (see :func:`daemon.jobs.sync_jobs`)."""
        return sync_jobs(self.scheduler, self.cfg)

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
        self.open()
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        set_active(self)
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
            set_active(None)
            self.close()
        return 0
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
            signal_group(child.proc, signal.SIGKILL)
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

def _heartbeat_seconds() -> float:
    from storage.schedule import HEARTBEAT_SECONDS

    return HEARTBEAT_SECONDS
