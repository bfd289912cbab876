"""Write actions (``POST /api/sites/<name>/run``): only with a configured token."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.schedule import LIVE_SECONDS, add_request, live_daemons
from web.http import HTTPError, JSONResponse
from web.security import require_token
from web.state import state_of


def run_site(request: Request) -> Response:
    """What `arsip schedule run SITE` does: ask the running daemon for a run of SITE now
    (a run request in the database). 202 with the request's id; the daemon picks it up."""
    state = state_of(request)
    require_token(request, state.token)
    name = request.path_params["name"]
    try:
        cfg = state.config()
    except Exception as exc:  # noqa: BLE001 - the config's own one-line message
        raise HTTPError(503, f"bad configuration: {exc}") from None
    if cfg.site(name) is None:
        known = ", ".join(s.name for s in cfg.sites) or "none"
        raise HTTPError(404, f"unknown site {name!r} (configured sites: {known})")
    with Session(state.writer()) as session, session.begin():
        if not live_daemons(session):
            raise HTTPError(409, f"no daemon is running (no heartbeat in the last "
                                 f"{LIVE_SECONDS:.0f}s); start one with `arsip daemon`")
        request_id = add_request(session, name)
    return JSONResponse({"request_id": request_id, "site": name, "status": "requested"},
                        status_code=202)


ROUTES = [Route("/api/sites/{name}/run", run_site, methods=["POST"])]
