"""Security headers on every response, request-size limits, the API token check."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.http import HTTPError

# the app's own pages: no script at all (the app works without JavaScript), styles and images
# from itself, archived pages framed only from itself (and they are sandboxed there)
APP_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
           "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# an archived page: never run, never reach anything (not even the app)
RAW_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MAX_QUERY_BYTES = 4096
MAX_PATH_BYTES = 4096

COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the headers to every HTTP response (a response's own CSP is kept: raw pages set
    a stricter one), and refuses overlong paths and query strings (414)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES or \
                len(scope.get("raw_path") or scope["path"].encode()) > MAX_PATH_BYTES:
            await _too_long(scope, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in COMMON_HEADERS:
                    if name not in names:
                        headers.append((name, value))
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", APP_CSP.encode()))
                    headers.append((b"x-frame-options", b"DENY"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _too_long(scope: Scope, send: Send) -> None:
    api = scope["path"].startswith("/api/")
    if api:
        body = b'{"error": "request URI too long", "status": 414}'
        kind = b"application/json"
    else:
        body = (b"<!doctype html><title>414 request URI too long</title>"
                b"<h1>414</h1><p>The address is too long.</p><p><a href=\"/\">Search</a></p>")
        kind = b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
               (b"content-security-policy", APP_CSP.encode()), *COMMON_HEADERS]
    await send({"type": "http.response.start", "status": 414, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def require_token(request: Request, token: str | None) -> None:
    """Write actions: 403 when no token is configured, 401 without a bearer token, 403 for a
    wrong one (compared in constant time)."""
    if not token:
        raise HTTPError(403, "write actions are disabled: start `arsip serve` with --token-file "
                             "or ARSIP_API_TOKEN")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HTTPError(401, "this action needs an Authorization: Bearer token",
                        headers={"WWW-Authenticate": 'Bearer realm="arsip"'})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPError(403, "wrong token")
