"""The crawl child processes: ``python -m arsip crawl SITE --run-id N`` started for a run row
the daemon created (or, with Redis, the run seeded into the workers' queue), stopped past
their timeout (SIGTERM, then SIGKILL), reaped, and recorded when they did not record
themselves (a crash is ``failed`` with the exit status and the tail of the child's log)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from config.loading import config_path
from config.model import SiteConfig
from daemon.state import Child, DaemonState, Pending

log = logging.getLogger("arsip.daemon")

LOG_TAIL_CHARS = 2000
KEEP_RUN_LOGS = 200  # per-run child logs kept (failures first to go last: see _prune_logs)
STAT_KEYS = ("pages", "articles_new", "aliases", "near_duplicates", "versions", "errors")


class ChildProcesses(DaemonState):
    """The daemon's crawl child processes: started, timed out, stopped, reaped, recorded."""

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
                signal_group(child.proc, signal.SIGKILL)
                child.kill_at = None

    def _kill_grace(self) -> float:
        return max(1.0, self.cfg.daemon.grace_seconds)

    def stop_child(self, child: Child, reason: str, *, kill_after: float) -> None:
        """SIGTERM (Scrapy closes cleanly), SIGKILL after ``kill_after`` seconds."""
        child.stop_reason = child.stop_reason or reason
        if child.term_sent is None:
            child.term_sent = time.monotonic()
            signal_group(child.proc, signal.SIGTERM)
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
                                 f" the run; log tail:\n{log_tail(child.log_path)}")
            run = get_run(s, child.run_id)
            status = run.status if run else "?"
            stats = dict(run.stats or {}) if run else {}
            error = run.error if run else None
        log_fn = log.info if status == "finished" else log.warning
        counts = " ".join(f"{k}={stat_count(stats.get(k))}" for k in STAT_KEYS)
        why = f" error={one_line(error)}" if error and status != "finished" else ""
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


def crawl_command(site_name: str, run_id: int) -> list[str]:
    """The child's command line: ``arsip crawl SITE --run-id N`` with this interpreter.

    ``-P``: the daemon's working directory is not put on the child's import path, so a
    ``config.py`` or ``storage/`` of the user's there cannot hide arsip's own packages."""
    return [sys.executable, "-P", "-m", "arsip", "crawl", site_name, "--run-id", str(run_id)]


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
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


def log_tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
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


def one_line(text: str, limit: int = 200) -> str:
    flat = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def stat_count(value: Any) -> Any:
    if isinstance(value, list):
        return len(value)
    return 0 if value is None else value
