"""`arsip serve`: the archive in a browser (web view) and its HTTP API."""

from __future__ import annotations

import os
import sys
from typing import Any

from arsip.argtypes import non_negative_int
from arsip.errors import UsageError

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_WORKERS = 64
BACKLOG = 2048  # uvicorn's default
DEFAULT_KEEPALIVE = 100  # web.keepalive.DEFAULT_REQUESTS (not imported: argparse runs first)


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "serve", parents=[common], help="serve the archive in a browser and as a JSON API",
        description="Serve a web view of the archive (search, articles, sites, runs; every "
                    "page also as JSON under /api/) plus /healthz and /metrics. Reads through "
                    "a read-only connection; write actions (POST /api/sites/NAME/run) exist "
                    "only with a token (--token-file or ARSIP_API_TOKEN).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=non_negative_int, default=8080,
                   help="port (default 8080; 0 picks a free one)")
    p.add_argument("--token-file", metavar="F",
                   help="file whose first line is the API token for write actions")
    p.add_argument("--workers", type=non_negative_int, default=1, metavar="N",
                   help="server processes sharing the port (default 1); one process runs "
                        "Python on one core at a time, so a busy view on a machine with "
                        "cores to spare answers sooner with 2 or more")
    p.add_argument("--keepalive-requests", type=non_negative_int, default=None, metavar="N",
                   help="close a kept-alive connection after N requests, so that its client "
                        "connects again to whichever process is free first (default "
                        f"{DEFAULT_KEEPALIVE} with --workers 2 or more, else never; 0: never)")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    import secrets

    import uvicorn

    from arsip.commands._common import database_url, settings
    from web.app import WORKER_ENV, create_app
    from web.state import token_from

    if args.port > 65535:
        raise UsageError(f"--port must be at most 65535, not {args.port}")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be between 1 and {MAX_WORKERS}, not {args.workers}")
    keepalive = args.keepalive_requests
    if keepalive is None:
        keepalive = DEFAULT_KEEPALIVE if args.workers > 1 else 0
    try:
        token = token_from(args.token_file)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cfg = settings()
    url = database_url(cfg)
    # bound to loopback: only loopback names in the Host header (no DNS rebinding)
    hosts = list(LOOPBACK) if args.host in LOOPBACK else None
    # one key for the search pages' `next` tokens, whichever process made or reads them
    secret = secrets.token_bytes(32)
    # made here first, also with workers: a missing archive is this command's one-line error
    app = create_app(url, token=token, secret=secret, config_loader=lambda: cfg,
                     allowed_hosts=hosts, keepalive_requests=keepalive or None)
    sock = listen_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    writes = "enabled (bearer token)" if token else "disabled (no token)"
    processes = f"{args.workers} processes; " if args.workers > 1 else ""
    print(f"arsip: serving the archive at http://{shown}:{port}/ ({processes}write actions "
          f"{writes}; Ctrl-C stops)", flush=True)
    options: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "on",
                               "server_header": False}
    if args.workers == 1:
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
    else:
        from uvicorn.supervisors import Multiprocess

        app.state.arsip.close()
        # the workers are started afresh (spawned): they make the same app from what this
        # process puts in their environment (web.app.from_environment)
        os.environ.update({WORKER_ENV["secret"]: secret.hex(),
                           WORKER_ENV["hosts"]: ",".join(hosts or []),
                           WORKER_ENV["keepalive"]: str(keepalive)})
        if url is not None:
            os.environ["ARSIP_DATABASE_URL"] = url
        if token is not None:
            os.environ["ARSIP_API_TOKEN"] = token
        config = uvicorn.Config("web.app:from_environment", factory=True,
                                workers=args.workers, **options)
        Multiprocess(config, sockets=[sock]).run()
    sys.stdout.flush()
    return 0


def listen_socket(host: str, port: int) -> Any:
    """The server's listening socket, bound (UsageError when it cannot be).

    Its proto is named: asyncio sets TCP_NODELAY on accepted connections only when the
    socket's proto is IPPROTO_TCP (0, the default, is not), and without it every response
    on a kept-alive connection waited for the client's delayed ACK (40 ms on Linux) between
    its headers and its body.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # listening from now on: a connection made as soon as the address is printed waits
        # for the server (its --workers processes still starting) instead of being refused
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
