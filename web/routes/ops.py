"""Operations: ``/healthz`` (database reachable, daemon heartbeat age), ``/metrics``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.dashboard import ping
from web.daemon import heartbeat_info
from web.http import JSONResponse
from web.metrics import exposition
from web.state import state_of

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"


def healthz(request: Request) -> Response:
    state = state_of(request)
    try:
        heartbeat = state.read(lambda s: ping(s) and heartbeat_info(s))
    except Exception as exc:  # noqa: BLE001 - unreachable is the answer, not an error
        from storage.engine import error_line

        return JSONResponse({"status": "error", "database": "unreachable",
                             "error": error_line(exc)[:200]}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok",
                         "daemon_heartbeat_age_s": heartbeat["age_s"] if heartbeat else None,
                         "daemon": heartbeat or None})


def metrics(request: Request) -> Response:
    return Response(exposition(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = [Route("/healthz", healthz), Route("/metrics", metrics)]
