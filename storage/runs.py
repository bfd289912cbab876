"""Sites and crawl-run records. Functions take a Session; the caller owns the transaction."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import CrawlRun, Site, utcnow
from storage.statuses import FINAL_STATUSES, RUN_STATUSES  # noqa: F401 - re-exported
from storage.upsert import insert_ignore


def ensure_site(session: Session, name: str) -> int:
    """The id of site ``name``, created if needed (insert-or-ignore, no race)."""
    session.execute(insert_ignore(session, Site, [{"name": name, "created_at": utcnow()}],
                                  ["name"]))
    return session.execute(select(Site.id).where(Site.name == name)).scalar_one()


def create_run(
    session: Session,
    site_name: str,
    *,
    trigger: str = "cli",
    pid: int | None = None,
    hostname: str | None = None,
) -> int:
    site_id = ensure_site(session, site_name)
    run = CrawlRun(
        site_id=site_id,
        status="running",
        trigger=trigger,
        started_at=utcnow(),
        pid=pid if pid is not None else os.getpid(),
        hostname=hostname or socket.gethostname(),
        stats={},
    )
    session.add(run)
    session.flush()
    return run.id


def update_run_stats(session: Session, run_id: int, stats: dict[str, Any]) -> None:
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(stats=stats))


def finish_run(
    session: Session,
    run_id: int,
    status: str,
    *,
    stats: dict[str, Any] | None = None,
    error: str | None = None,
    only_if_running: bool = False,
) -> bool:
    """Set a run's final status; with ``only_if_running`` leave an already-final run alone.

    Returns whether a row was changed.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"not a final run status: {status}")
    values: dict[str, Any] = {"status": status, "finished_at": utcnow()}
    if stats is not None:
        values["stats"] = stats
    if error is not None:
        values["error"] = error[-4000:]
    stmt = update(CrawlRun).where(CrawlRun.id == run_id)
    if only_if_running:
        stmt = stmt.where(CrawlRun.status == "running")
    result = session.execute(stmt.values(**values))
    return bool(getattr(result, "rowcount", 0))


def mark_abandoned(session: Session, *, hostname: str | None = None,
                   before: datetime | None = None, trigger: str | None = None) -> int:
    """Runs left "running" by a process that is gone: marked ``abandoned``. Returns count."""
    stmt = update(CrawlRun).where(CrawlRun.status == "running")
    if hostname:
        stmt = stmt.where(CrawlRun.hostname == hostname)
    if before:
        stmt = stmt.where(CrawlRun.started_at < before)
    if trigger:
        stmt = stmt.where(CrawlRun.trigger == trigger)
    result = session.execute(
        stmt.values(status="abandoned", finished_at=utcnow(),
                    error="the process running it ended without finishing it")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_dead_local_runs(session: Session) -> int:
    """Runs of this host whose process no longer exists: ``abandoned``."""
    host = socket.gethostname()
    rows = session.execute(
        select(CrawlRun.id, CrawlRun.pid).where(
            CrawlRun.status == "running", CrawlRun.hostname == host
        )
    ).all()
    count = 0
    for run_id, pid in rows:
        if pid and pid_alive(pid):
            continue
        count += int(finish_run(session, run_id, "abandoned", only_if_running=True,
                                error="the process running it ended without finishing it"))
    return count


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (it may be another's after reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True
