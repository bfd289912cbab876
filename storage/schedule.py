"""Database queries of the daemon and of the CLI that watches it.

Run requests (``arsip schedule run``), the daemon's heartbeat, run history and the next run
times that APScheduler's job store keeps. Functions take a Session (or, for the job store
table that is not ours, an Engine); the caller owns the transaction.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from storage.models import CrawlRun, DaemonHeartbeat, RunRequest, Site, utcnow
from storage.runs import finish_run, pid_alive

JOBS_TABLE = "apscheduler_jobs"
# the daemon beats every HEARTBEAT_SECONDS; a beat older than LIVE_SECONDS means no daemon
HEARTBEAT_SECONDS = 5.0
LIVE_SECONDS = 20.0


# --- heartbeat -------------------------------------------------------------------------------

def heartbeat_start(session: Session, *, pid: int | None = None,
                    hostname: str | None = None) -> int:
    now = utcnow()
    row = DaemonHeartbeat(hostname=hostname or socket.gethostname(), pid=pid or os.getpid(),
                          started_at=now, seen_at=now)
    session.add(row)
    session.flush()
    return row.id


def heartbeat_beat(session: Session, beat_id: int) -> None:
    session.execute(update(DaemonHeartbeat).where(DaemonHeartbeat.id == beat_id)
                    .values(seen_at=utcnow()))


def heartbeat_end(session: Session, beat_id: int) -> None:
    session.execute(delete(DaemonHeartbeat).where(DaemonHeartbeat.id == beat_id))


def live_daemons(session: Session, *, within: float = LIVE_SECONDS,
                 exclude_id: int | None = None) -> list[DaemonHeartbeat]:
    """Daemons whose heartbeat is recent; on this host, only those whose process exists."""
    since = utcnow() - timedelta(seconds=within)
    host = socket.gethostname()
    return [
        beat for beat in session.scalars(_LIVE, {"since": since, "not_id": exclude_id or 0})
        if beat.hostname != host or pid_alive(beat.pid)
    ]


# built once (the sites and runs pages ask at every view); ids start at 1, so 0 excludes none
_LIVE = (select(DaemonHeartbeat)
         .where(DaemonHeartbeat.seen_at >= bindparam("since", type_=DaemonHeartbeat.seen_at.type),
                DaemonHeartbeat.id != bindparam("not_id"))
         .order_by(DaemonHeartbeat.seen_at.desc()))


def clear_stale_heartbeats(session: Session) -> int:
    """Heartbeats of daemons that are gone (this host: dead pid; any host: silent for a day)."""
    host = socket.gethostname()
    day_ago = utcnow() - timedelta(days=1)
    gone = [
        beat.id for beat in session.scalars(select(DaemonHeartbeat))
        if beat.seen_at < day_ago or (beat.hostname == host and not pid_alive(beat.pid))
    ]
    if gone:
        session.execute(delete(DaemonHeartbeat).where(DaemonHeartbeat.id.in_(gone)))
    return len(gone)


# --- run requests ----------------------------------------------------------------------------

def add_request(session: Session, site: str) -> int:
    req = RunRequest(site=site, requested_at=utcnow())
    session.add(req)
    session.flush()
    return req.id


def get_request(session: Session, request_id: int) -> RunRequest | None:
    return session.get(RunRequest, request_id, populate_existing=True)


def open_requests(session: Session) -> list[RunRequest]:
    return list(session.scalars(select(RunRequest).where(RunRequest.picked_at.is_(None))
                                .order_by(RunRequest.id)))


def pick_request(session: Session, request_id: int) -> bool:
    """Claim a request (only one daemon wins: the update only matches an unpicked row)."""
    result = session.execute(
        update(RunRequest)
        .where(RunRequest.id == request_id, RunRequest.picked_at.is_(None))
        .values(picked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


def set_request_run(session: Session, request_id: int, run_id: int) -> None:
    session.execute(update(RunRequest).where(RunRequest.id == request_id).values(run_id=run_id))


def expire_requests(session: Session, *, older_than: float) -> int:
    """Unpicked requests older than ``older_than`` seconds: closed without a run."""
    before = utcnow() - timedelta(seconds=older_than)
    result = session.execute(
        update(RunRequest)
        .where(RunRequest.picked_at.is_(None), RunRequest.requested_at < before)
        .values(picked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- runs ------------------------------------------------------------------------------------

def set_run_pid(session: Session, run_id: int, pid: int) -> None:
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(pid=pid))


def get_run(session: Session, run_id: int) -> CrawlRun | None:
    return session.get(CrawlRun, run_id, populate_existing=True)


def live_local_runs(session: Session, site: str, *, exclude: set[int] | None = None
                    ) -> list[CrawlRun]:
    """Running runs of ``site`` on this host whose process still exists (not in ``exclude``)."""
    host = socket.gethostname()
    rows = session.scalars(
        select(CrawlRun).join(Site).where(
            Site.name == site, CrawlRun.status == "running", CrawlRun.hostname == host
        )
    )
    exclude = exclude or set()
    return [r for r in rows if r.id not in exclude and r.pid and pid_alive(r.pid)]


def abandon_dead_local_runs(session: Session, *, exclude: set[int]) -> list[int]:
    """Like ``storage.runs.mark_dead_local_runs`` but leaves the runs in ``exclude`` alone
    (the daemon's own children, which it finishes itself). Returns the abandoned run ids."""
    host = socket.gethostname()
    rows = session.execute(
        select(CrawlRun.id, CrawlRun.pid).where(
            CrawlRun.status == "running", CrawlRun.hostname == host
        )
    ).all()
    done = []
    for run_id, pid in rows:
        if run_id in exclude or (pid and pid_alive(pid)):
            continue
        if finish_run(session, run_id, "abandoned", only_if_running=True,
                      error="the process running it ended without finishing it"):
            done.append(run_id)
    return done


def list_runs(session: Session, *, site: str | None = None, status: str | None = None,
              limit: int | None = 50, before: int | None = None) -> list[tuple[CrawlRun, str]]:
    """Runs, newest first, with their site name (only those with an id below ``before``)."""
    stmt = select(CrawlRun, Site.name).join(Site, CrawlRun.site_id == Site.id)
    if before is not None:
        stmt = stmt.where(CrawlRun.id < before)
    if site:
        stmt = stmt.where(Site.name == site)
    if status:
        stmt = stmt.where(CrawlRun.status == status)
    stmt = stmt.order_by(CrawlRun.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    return [(run, name) for run, name in session.execute(stmt).all()]


def last_runs(session: Session) -> dict[str, CrawlRun]:
    """The latest run of every site, by site name."""
    latest = (select(func.max(CrawlRun.id).label("id"))
              .group_by(CrawlRun.site_id).subquery())
    stmt = (select(CrawlRun, Site.name).join(Site, CrawlRun.site_id == Site.id)
            .join(latest, latest.c.id == CrawlRun.id))
    return {name: run for run, name in session.execute(stmt).all()}


def run_dict(run: CrawlRun, site: str) -> dict[str, Any]:
    """A run as the CLI shows it (JSON-ready apart from datetimes)."""
    duration = None
    if run.finished_at and run.started_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 3)
    elif run.status == "running" and run.started_at:
        duration = round((utcnow() - run.started_at).total_seconds(), 3)
    return {
        "id": run.id,
        "site": site,
        "status": run.status,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_s": duration,
        "stats": run.stats or {},
        "error": run.error,
        "pid": run.pid,
        "hostname": run.hostname,
    }


# --- the job store ---------------------------------------------------------------------------

@dataclass
class StoredJob:
    id: str
    next_run_time: datetime | None  # None: paused
    name: str | None


def stored_jobs(bind: Engine | Connection) -> dict[str, StoredJob] | None:
    """The jobs in APScheduler's job store table, by id; None when no daemon has made it yet.

    Read straight from the table (the job state is APScheduler's pickle of the job), on
    ``bind``'s connection when given one (the web view's pages: no second connection
    checked out), in two statements: whether the table is there, and its rows.
    """
    import pickle

    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return stored_jobs(conn)
    if not _has_table(bind, JOBS_TABLE):
        return None
    jobs: dict[str, StoredJob] = {}
    for job_id, ts, state in bind.execute(_jobs_sql()):
        name = None
        try:
            name = pickle.loads(state).get("name")  # our own database's rows
        except Exception:  # noqa: BLE001 - a job we cannot read still has its time
            pass
        when = datetime.fromtimestamp(ts, UTC) if ts is not None else None
        jobs[job_id] = StoredJob(job_id, when, name)
    return jobs


@lru_cache(maxsize=1)
def _jobs_sql() -> Any:
    """The job store's rows (APScheduler's table, declared here as it stands), made once."""
    from sqlalchemy import Column, Float, LargeBinary, MetaData, Table, Unicode

    table = Table(JOBS_TABLE, MetaData(), Column("id", Unicode(191), primary_key=True),
                  Column("next_run_time", Float(25)), Column("job_state", LargeBinary))
    return select(table.c.id, table.c.next_run_time, table.c.job_state)


_HAS_TABLE = {
    "postgresql": text("SELECT to_regclass(:name) IS NOT NULL"),
    "sqlite": text("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' "
                   "AND name = :name"),
}


def _has_table(conn: Connection, name: str) -> bool:
    """One catalog look-up on ``conn`` (an Inspector costs a dozen Python calls more and,
    given an engine, a connection of its own)."""
    statement = _HAS_TABLE.get(conn.dialect.name)
    if statement is None:
        return bool(inspect(conn).has_table(name))
    return bool(conn.execute(statement, {"name": name}).scalar_one())
