"""The APScheduler side of the daemon: one job per site (id ``site:NAME``) in the archive
database's job store, the job function :func:`run_site`, the sync of the jobs with the config,
and a scheduler that survives job-store errors.
"""

from __future__ import annotations

import logging
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from config.model import Config, SiteConfig
from daemon.run_requests import RunRequests

log = logging.getLogger("arsip.daemon")

JOB_PREFIX = "site:"
JOBS_TABLE = "apscheduler_jobs"
# The job store pickles the job function as this reference: it stays ``scheduler:run_site``
# (``scheduler`` re-exports :func:`run_site`) so that stored jobs keep working.
JOB_FUNC = "scheduler:run_site"

# The daemon of this process, for the job function (set by Daemon.run, cleared on exit).
_ACTIVE: RunRequests | None = None


def set_active(daemon: RunRequests | None) -> None:
    global _ACTIVE
    _ACTIVE = daemon


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


def make_trigger(site: SiteConfig) -> Any:
    """The APScheduler trigger of a site's schedule (``cron`` in its timezone, or ``every``)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if site.cron:
        return CronTrigger.from_crontab(site.cron, timezone=site.timezone or "UTC")
    seconds = site.every_seconds()
    if not seconds:
        raise ValueError(f"site {site.name!r} has no schedule")
    return IntervalTrigger(seconds=seconds, start_date=phase_start(site.name, seconds),
                           timezone=UTC)


# the grid every ``every`` schedule is laid on: its runs are at PHASE_ANCHOR + its phase +
# k * its interval
PHASE_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)


def phase_start(site_name: str, seconds: float) -> datetime:
    """When a site's ``every`` runs start: a phase within its interval drawn from its name
    (as Jenkins' ``H`` does), on a fixed grid. Fifty sites every 1 to 10 minutes added at
    the same moment would otherwise all run together at every common multiple of their
    intervals (every site at the 60th minute) and queue behind ``max_parallel``, late; with
    their phases spread the runs are too. The phase does not depend on when the daemon
    starts, so a restart or a changed config keeps each site's times; the first run comes
    within one interval of the site's being scheduled."""
    fraction = zlib.crc32(site_name.encode("utf-8")) / 2**32
    return PHASE_ANCHOR + timedelta(seconds=round(fraction * seconds, 3))


def job_id(site_name: str) -> str:
    return f"{JOB_PREFIX}{site_name}"


def job_name(site: SiteConfig) -> str:
    """The job's name; it carries the schedule, so a changed schedule is seen at sync."""
    return f"{site.name} ({site.schedule_text()})"


def scheduled_sites(cfg: Config) -> list[SiteConfig]:
    return [s for s in cfg.sites if s.enabled and (s.cron or s.every)]


def job_options(cfg: Config) -> dict[str, Any]:
    return {
        # missed runs (daemon down, or a late wakeup) collapse into one run ...
        "coalesce": True,
        # ... if the latest missed one is at most this late; older ones are skipped
        "misfire_grace_time": max(1, int(cfg.daemon.misfire_grace_seconds)),
        # the job only queues; overlap of crawls is prevented by the supervisor
        "max_instances": 1,
    }


def sync_jobs(scheduler: Any, cfg: Config) -> dict[str, list[str]]:
    """Make the job store match the config: add new sites, replace changed schedules,
    remove removed or disabled sites. Unchanged jobs keep their next run time."""
    wanted = {job_id(s.name): s for s in scheduled_sites(cfg)}
    options = job_options(cfg)
    changes: dict[str, list[str]] = {"added": [], "changed": [], "removed": [], "kept": []}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            scheduler.remove_job(job.id)
            changes["removed"].append(job.id.removeprefix(JOB_PREFIX))
    for jid, site in wanted.items():
        job = scheduler.get_job(jid)
        if job is not None and job.name == job_name(site) and _same_phase(job, site):
            if job.coalesce != options["coalesce"] or \
                    job.misfire_grace_time != options["misfire_grace_time"]:
                job.modify(coalesce=options["coalesce"],
                           misfire_grace_time=options["misfire_grace_time"])
            changes["kept"].append(site.name)
            continue
        scheduler.add_job(
            JOB_FUNC, make_trigger(site), args=[site.name], id=jid, name=job_name(site),
            replace_existing=True, **options,
        )
        changes["changed" if job is not None else "added"].append(site.name)
    for kind in ("added", "changed", "removed"):
        if changes[kind]:
            log.info("jobs %s: %s", kind, ", ".join(sorted(changes[kind])))
    for job in scheduler.get_jobs():
        when = job.next_run_time.isoformat(timespec="seconds") if job.next_run_time else "-"
        log.info("job %s: next run %s", job.name, when)
    return changes


def _same_phase(job: Any, site: SiteConfig) -> bool:
    """False for an ``every`` job stored before schedules had phases (or with another one):
    it is replaced, and gets its phase."""
    start = getattr(job.trigger, "start_date", None)
    if site.cron or start is None:
        return True
    seconds = site.every_seconds() or 0.0
    return abs((start - phase_start(site.name, seconds)).total_seconds()) < 0.01


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
