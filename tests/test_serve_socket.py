"""`arsip serve`'s listening socket: responses on kept-alive connections go out at once.

uvicorn serves through asyncio, which sets TCP_NODELAY on an accepted connection only when
the listening socket's proto is IPPROTO_TCP. Without it a response's body waited behind its
headers for the client's delayed ACK: 40 ms added to every request on a kept-alive
connection (a browser's, the benchmark's clients'), whatever the page cost.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from arsip.commands.serve import listen_socket
from arsip.errors import UsageError


def nodelay_of_accepted(sock: socket.socket) -> int:
    """TCP_NODELAY of a connection accepted by asyncio on ``sock`` (as uvicorn accepts)."""
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            await reader.read()  # EOF: the server has looked and closed
            writer.close()
            await writer.wait_closed()

    asyncio.run(main())
    assert seen, "no connection was accepted"
    return seen[0]


def test_accepted_connections_have_nodelay() -> None:
    sock = listen_socket("127.0.0.1", 0)
    assert nodelay_of_accepted(sock) != 0


def test_a_taken_port_is_a_usage_error() -> None:
    first = listen_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    try:
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            listen_socket("127.0.0.1", port)
    finally:
        first.close()
