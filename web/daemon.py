"""What the sites, runs and health pages all show: the schedule, the daemon, its heartbeat."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from daemon.schedule_rows import schedule_rows
from storage.dashboard import latest_heartbeat
from storage.models import utcnow
from storage.schedule import last_runs, live_daemons, stored_jobs
from web.state import WebState


def schedules(state: WebState, session: Session, last: dict[str, Any] | None = None,
              ) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    """{site: schedule row of `arsip schedule`} and the live daemons, read on ``session``'s
    connection; ``last``: each site's latest run by name when the caller has it already."""
    daemons = live_daemons(session)
    try:
        cfg = state.config()
    except Exception:  # noqa: BLE001 - a broken config file: the archive is still shown
        return {}, daemons
    rows = schedule_rows(cfg, stored_jobs(session.connection()),
                         last_runs(session) if last is None else last)
    return {row["site"]: row for row in rows}, daemons


def daemon_info(daemons: list[Any]) -> dict[str, Any]:
    if not daemons:
        return {"running": False}
    d = daemons[0]
    return {"running": True, "pid": d.pid, "hostname": d.hostname, "started_at": d.started_at,
            "seen_at": d.seen_at}


def heartbeat_info(session: Session) -> dict[str, Any] | None:
    beat = latest_heartbeat(session)
    if beat is None:
        return None
    return {"hostname": beat.hostname, "pid": beat.pid, "started_at": beat.started_at,
            "seen_at": beat.seen_at,
            "age_s": round((utcnow() - beat.seen_at).total_seconds(), 1)}
