"""Each configured site's schedule as `arsip schedule` and the web view show it: its next run
(from the daemon's job store, else computed) and its last run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from config.model import Config
from daemon.jobs import job_id, job_name, make_trigger


def schedule_rows(cfg: Config, jobs: dict[str, Any] | None,
                  last: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per configured site; ``jobs`` is the job store (``storage.schedule.stored_jobs``,
    None before any daemon made it), ``last`` the latest run of each site by name."""
    now = datetime.now(UTC)
    rows = []
    for site in cfg.sites:
        scheduled = site.enabled and bool(site.cron or site.every)
        job = (jobs or {}).get(job_id(site.name))
        next_run: datetime | None = None
        if not scheduled:
            source = "disabled" if not site.enabled else "no schedule"
        elif job is not None:
            next_run = job.next_run_time
            source = "job store"
            if job.name != job_name(site):
                source = "job store (outdated: the schedule changed; the daemon applies it " \
                         "at start or on SIGHUP)"
            elif next_run is None:
                source = "job store (paused)"
        else:
            next_run = make_trigger(site).get_next_fire_time(None, now)
            source = "computed (no daemon has stored this job yet)"
        run = last.get(site.name)
        stats = dict(run.stats or {}) if run is not None else {}
        errors = stats.get("errors")
        rows.append({
            "site": site.name,
            "schedule": site.schedule_text(),
            "enabled": site.enabled,
            "timeout": site.timeout,
            "next_run": next_run.astimezone(UTC) if next_run is not None else None,
            "next_run_source": source,
            "last_run_id": run.id if run is not None else None,
            "last_status": run.status if run is not None else None,
            "last_started_at": run.started_at if run is not None else None,
            "last_finished_at": run.finished_at if run is not None else None,
            "last_stats": stats,
            "pages": stats.get("pages"),
            "articles_new": stats.get("articles_new"),
            "aliases": stats.get("aliases"),
            "near_duplicates": stats.get("near_duplicates"),
            "errors": len(errors) if isinstance(errors, list) else errors,
        })
    return rows
