"""The fleet's Redis connection: connecting (one-line errors), redacted URLs, the shared clock."""

from __future__ import annotations

from typing import Any


class DistributedError(Exception):
    """Redis is unreachable, or a run cannot be seeded (one-line message)."""


def connect(redis_url: str) -> Any:
    """A Redis client (scrapy-redis's defaults: timeouts, retry on timeout); checks it."""
    import redis
    from scrapy_redis.connection import get_redis

    try:
        server = get_redis(url=redis_url, socket_timeout=30, socket_connect_timeout=10,
                           retry_on_timeout=True)
        server.ping()
    except (redis.RedisError, ValueError) as exc:
        raise DistributedError(f"cannot reach Redis at {redact_redis(redis_url)}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                               ) from exc
    return server


def redact_redis(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<bad URL>"
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def redis_time(server: Any) -> float:
    """Seconds on the Redis server's clock (the one clock every worker shares)."""
    sec, usec = server.time()
    return sec + usec / 1e6
