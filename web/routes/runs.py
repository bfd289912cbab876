"""Runs (``/runs``, ``/runs/<id>``): history with filters, one run's stats and failures, the
daemon's heartbeat and the schedule."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.dashboard import site_names
from storage.schedule import get_run, list_runs, run_dict
from storage.statuses import RUN_STATUSES
from web.daemon import daemon_info, heartbeat_info, schedules
from web.http import HTTPError, bounded_int, int_param, page, text_param
from web.state import WebState, state_of


def _runs(state: WebState, session: Session, site: str | None, status: str | None,
          before: int | None, limit: int) -> dict[str, Any]:
    rows = [run_dict(r, name) for r, name in
            list_runs(session, site=site, status=status, limit=limit + 1, before=before)]
    plan, daemons = schedules(state, session)
    sites = site_names(session)
    return {"rows": rows, "plan": plan, "daemons": daemons, "heartbeat": heartbeat_info(session),
            "sites": sites}


def runs(request: Request) -> Response:
    state = state_of(request)
    site = text_param(request, "site")
    status = text_param(request, "status")
    if status is not None and status not in RUN_STATUSES:
        raise HTTPError(400, f"status must be one of: {', '.join(RUN_STATUSES)}")
    before = int_param(request, "before", None, low=1)
    limit = int_param(request, "limit", 50, low=1, high=500) or 50
    got = state.read(lambda s: _runs(state, s, site, status, before, limit))
    rows = got["rows"][:limit]
    more = len(got["rows"]) > limit
    params = {k: v for k, v in (("site", site), ("status", status)) if v}
    next_href = "?" + urlencode({**params, "before": rows[-1]["id"]}) if more and rows else None
    data = {"runs": rows, "next_before": rows[-1]["id"] if more and rows else None,
            "daemon": {**daemon_info(got["daemons"]), "heartbeat": got["heartbeat"]},
            "schedule": list(got["plan"].values())}
    context = {"rows": rows, "site": site or "", "status": status or "",
               "statuses": RUN_STATUSES, "sites": got["sites"], "next_href": next_href,
               "daemon": data["daemon"], "schedule": data["schedule"]}
    return page(request, "runs.html", context, data)


def _run(session: Session, run_id: int) -> dict[str, Any]:
    run = get_run(session, run_id)
    if run is None:
        raise HTTPError(404, f"no run with id {run_id}")
    return run_dict(run, run.site.name)


def run(request: Request) -> Response:
    state = state_of(request)
    run_id = bounded_int(request.path_params["id"], "run id", low=1)
    data = state.read(lambda s: _run(s, run_id))
    stats = data["stats"] if isinstance(data["stats"], dict) else {}
    failures = stats.get("failures") if isinstance(stats.get("failures"), list) else []
    counts = {k: v for k, v in stats.items() if isinstance(v, int | float)}
    context = {"run": data, "failures": failures, "counts": counts}
    return page(request, "run.html", context, data)


ROUTES = [Route("/runs", runs), Route("/api/runs", runs),
          Route("/runs/{id}", run), Route("/api/runs/{id}", run)]
