"""Requests and responses: HTML or JSON by the request's kind, errors, bounded parameters."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from storage.jsonable import to_jsonable

MAX_INT = 2**31 - 1


class HTTPError(Exception):
    """An error shown to the client with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None,
                 offer_search: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.offer_search = offer_search


def wants_json(request: Request) -> bool:
    """``/api/...`` paths, and requests that accept JSON but not HTML."""
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(to_jsonable(content), ensure_ascii=False).encode("utf-8")


def page(request: Request, template: str, context: dict[str, Any], data: Any,
         *, status: int = 200) -> Response:
    """The HTML page ``template`` with ``context``, or ``data`` as JSON."""
    if wants_json(request):
        return JSONResponse(data, status_code=status)
    from web.render import render

    return HTMLResponse(render(template, {"request": request, **context}), status_code=status)


def error_response(request: Request, error: HTTPError) -> Response:
    headers = dict(error.headers)
    if wants_json(request):
        return JSONResponse({"error": error.message, "status": error.status},
                            status_code=error.status, headers=headers)
    from web.render import render

    body = render("error.html", {"request": request, "status": error.status,
                                 "message": error.message, "offer_search": error.offer_search})
    return HTMLResponse(body, status_code=error.status, headers=headers)


def int_param(request: Request, name: str, default: int | None = None, *,
              low: int = 0, high: int = MAX_INT) -> int | None:
    """An integer query parameter within [low, high]; 400 otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return bounded_int(raw, name, low=low, high=high)


def bounded_int(raw: str, name: str, *, low: int = 0, high: int = MAX_INT) -> int:
    text = raw.strip()
    if not text.lstrip("-").isdigit() or len(text) > 12:
        raise HTTPError(400, f"{name} must be a whole number between {low} and {high}")
    value = int(text)
    if not low <= value <= high:
        raise HTTPError(400, f"{name} must be between {low} and {high}, not {value}")
    return value


def text_param(request: Request, name: str, *, max_len: int = 200) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > max_len:
        raise HTTPError(400, f"{name} is too long (at most {max_len} characters)")
    if "\x00" in value:
        raise HTTPError(400, f"{name} holds a NUL character")
    return value or None
