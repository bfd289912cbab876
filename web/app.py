"""The app factory: ``create_app()`` builds the Starlette app of ``arsip serve``.

Endpoints are plain (sync) functions, which Starlette runs in its threadpool, so that the
database calls (SQLAlchemy sessions on a read-only engine) never block the event loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from storage.errors import NotFound, StorageError
from storage.pg_newest import SEARCH_SETTINGS
from web.http import HTTPError, error_response
from web.keepalive import KeepAliveLimit
from web.metrics import registry_for
from web.routes import actions, articles, ops, runs, search, sites
from web.security import SecurityHeaders
from web.state import WebState

logger = logging.getLogger(__name__)
# PostgreSQL settings of the web view's connections. No parallel workers: a view answers many
# small requests at once, and a parallel plan starts processes (a millisecond or more of CPU
# each) whose cores the concurrent requests need; the slow figures (the sites page's counts)
# are computed in the background, where a plan's wall time does not matter. Seen at a
# million articles: the site counts' refresh, two parallel plans of two workers, every ten
# seconds in each server process, a sixth of the machine's CPU under `bench serve`. And no
# JIT compilation: both are ``storage.pg_newest.SEARCH_SETTINGS``, and with the search's
# settings on its connections a search sends no statement of settings (``begin_search``).
PG_SETTINGS = dict(SEARCH_SETTINGS)
# Connections kept open between requests: as many as the requests one process answers at
# once (Starlette's threadpool runs 40). SQLAlchemy's default (5 kept, 10 more closed again
# when returned) closed and reopened a connection at every burst of six requests or more;
# a new PostgreSQL backend costs a process start and its catalog caches warming up (39 new
# connections in ten seconds of `bench serve` with two processes, a tenth of the machine).
POOL = {"pool_size": 16, "max_overflow": 24}
# what `arsip serve --workers N` tells its worker processes (``from_environment``)
WORKER_ENV = {"secret": "ARSIP_SERVE_SECRET", "hosts": "ARSIP_SERVE_ALLOWED_HOSTS",
              "keepalive": "ARSIP_SERVE_KEEPALIVE_REQUESTS"}


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return error_response(request, exc)


def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such page", 405: "method not allowed"}
    return error_response(request, HTTPError(exc.status_code,
                                             messages.get(exc.status_code, str(exc.detail)),
                                             offer_search=exc.status_code == 404))


def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(request, HTTPError(404, str(exc), offer_search=True))


def _database_error(request: Request, exc: Exception) -> Response:
    logger.warning("database error on %s: %s", request.url.path, exc)
    return error_response(request, HTTPError(503, "the archive's database is unavailable"))


def _server_error(request: Request, exc: Exception) -> Response:
    logger.error("error on %s", request.url.path, exc_info=exc)
    return error_response(request, HTTPError(500, "internal error (see the server's log)"))


def create_app(database_url: str | None = None, *, engine: Engine | None = None,
               token: str | None = None, secret: bytes | None = None,
               config_loader: Callable[[], Any] | None = None,
               allowed_hosts: list[str] | None = None,
               keepalive_requests: int | None = None) -> Starlette:
    """The web app over the archive at ``database_url`` (default: ``ARSIP_DATABASE_URL``),
    read through the archive's reader engine (``storage.engine.open_reader``; ``engine`` when
    given). Raises StorageError (NoArchive) when there is no archive there.

    ``allowed_hosts``: the Host header values accepted (others get 400), so that a web page
    elsewhere cannot read a loopback server through DNS rebinding; None accepts any.
    ``keepalive_requests``: a kept-alive connection is closed after that many requests
    (``web.keepalive``; None never closes one).
    """
    if engine is None:
        from storage.engine import open_reader

        engine = open_reader(database_url, pg_settings=PG_SETTINGS, **POOL)
    state = WebState(engine=engine, database_url=database_url, token=token,
                     config_loader=config_loader)
    if secret is not None:
        state.secret = secret

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    from importlib import resources

    static = StaticFiles(directory=str(resources.files("web") / "static"))
    routes = [*search.ROUTES, *articles.ROUTES, *sites.ROUTES, *runs.ROUTES, *ops.ROUTES,
              *actions.ROUTES, Mount("/static", static, name="static")]
    app = Starlette(
        routes=routes,
        middleware=[*([Middleware(KeepAliveLimit, requests=keepalive_requests)]
                      if keepalive_requests else []),
                    Middleware(SecurityHeaders),
                    *([Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)]
                      if allowed_hosts else [])],
        exception_handlers={
            HTTPError: _http_error, HTTPException: _starlette_error, NotFound: _not_found,
            StorageError: _database_error, SQLAlchemyError: _database_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.arsip = state
    app.state.metrics_registry = registry_for(state.read)
    return app


def from_environment() -> Starlette:
    """The app of one of ``arsip serve --workers N``'s processes, made from what the command
    put in the environment: the archive (``ARSIP_DATABASE_URL``), the API token
    (``ARSIP_API_TOKEN``), the `next` tokens' key and the Host names accepted (shared by
    every worker, so that a page's `next` link works whichever worker answers it)."""
    from web.state import token_from

    secret = os.environ.get(WORKER_ENV["secret"])
    hosts = os.environ.get(WORKER_ENV["hosts"])
    keepalive = os.environ.get(WORKER_ENV["keepalive"])
    return create_app(os.environ.get("ARSIP_DATABASE_URL"), token=token_from(None),
                      secret=bytes.fromhex(secret) if secret else None,
                      allowed_hosts=hosts.split(",") if hosts else None,
                      keepalive_requests=int(keepalive) if keepalive else None)
