"""Kept-alive connections closed after a number of requests (nginx's ``keepalive_requests``).

``arsip serve --workers N``'s processes share one listening socket, and a connection stays
with the process that accepted it for as long as the client keeps it open. Clients that
keep their connections (browsers, a reverse proxy's pool of upstream connections, the
benchmark's clients) stay where the accept race put them, whatever each process's load:
eight connections were seen split six to two, the busier process's core saturated while
the other's had time to spare. Closing a connection after ``requests`` requests
(``Connection: close`` on the last response) makes its client connect again, and the
process whose event loop is free first accepts it: connections drift to the less busy
processes. A client pays one new loopback or LAN connection every ``requests`` requests.
"""

from __future__ import annotations

from typing import Any

DEFAULT_REQUESTS = 100
TRACKED = 65_536  # connections counted at most (forgotten all at once beyond: harmless)


class KeepAliveLimit:
    """ASGI middleware: the ``requests``-th response on a connection closes it."""

    def __init__(self, app: Any, requests: int = DEFAULT_REQUESTS) -> None:
        if requests < 1:
            raise ValueError("requests must be at least 1")
        self.app = app
        self.requests = requests
        # requests so far per connection, by the client's (address, port): unique among
        # open connections; a closed one's count is dropped with its last response
        self.counts: dict[tuple[Any, ...], int] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        if not client:
            await self.app(scope, receive, send)
            return
        key = tuple(client)
        count = self.counts.get(key, 0) + 1
        if count < self.requests:
            if len(self.counts) >= TRACKED:
                self.counts.clear()
            self.counts[key] = count
            await self.app(scope, receive, send)
            return
        self.counts.pop(key, None)

        async def closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)
