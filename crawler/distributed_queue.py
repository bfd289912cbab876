"""A run's shared request queue in Redis, with leases (the adapter the scheduler holds).

``LeasedQueue`` keeps scrapy-redis's queue frame (request encoding, the key) and replaces
its operations with the fleet's Lua scripts (``crawler.distributed_scripts``): a push
claims the request's fetch key and queues it in one step (or, for a page claimed before and
reached now by a shorter way, returns what that page had cut: ``Released``); a pop leases;
a lease is renewed, acknowledged, given back, or reaped once expired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from scrapy import Request
from scrapy_redis import picklecompat
from scrapy_redis.queue import Base as RedisQueueBase

from crawler.distributed_keys import RunKeys
from crawler.distributed_scripts import Scripts, make_member, member_payload
from crawler.request_codec import decode_request, encode_request

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Released:
    """What a page had cut at a limit, released by a shorter way to it (JSON, or None)."""

    related: bytes | None
    links: bytes | None


def _released(out: list[bytes]) -> Released:
    return Released(related=out[0] or None, links=out[1] or None)


class LeasedQueue(RedisQueueBase):
    """A run's request queue with leases (scrapy-redis's queue base: encoding, key)."""

    def __init__(self, server: Any, spider: Any, keys: RunKeys, scripts: Scripts,
                 lease_ms: int) -> None:
        super().__init__(server, spider, keys.queue, serializer=picklecompat)
        self.keys = keys
        self.scripts = scripts
        self.lease_ms = lease_ms

    def __len__(self) -> int:
        return int(self.server.zcard(self.keys.queue))

    def push(self, request: Request, claim: str = "",  # type: ignore[override]
             reach: tuple[int | str, int | str] = ("", "")) -> bool | Released:
        """Queue ``request`` unless ``claim`` is taken: True, False, or (a page claimed
        before, reached now by a shorter way: ``reach`` is its related-link hop and listing
        depth) what that page had cut and may now follow."""
        member = make_member(request.priority, encode_request(request, self.spider))
        out = self.scripts.push(keys=self.keys.claim_keys(),
                                args=[claim, -request.priority, member, *reach,
                                      *self._limits()])
        return _released(out) if isinstance(out, list) else bool(out)

    def shorter_way(self, key: str, hop: int, depth: int | None) -> Released | None:
        """``key`` (claimed) reached again by ``hop`` related links and at listing ``depth``
        (None: as a related link): what it had cut, when that is a shorter way."""
        out = self.scripts.shorter(keys=self.keys.hop_keys(),
                                   args=[key, hop, "" if depth is None else depth,
                                         *self._limits()])
        return _released(out) if isinstance(out, list) else None

    def store_cut(self, key: str, *, related: bool, limit: int, links: bytes) -> int | None:
        """Keep what ``key``'s page cut at ``limit`` (its article's related links, or its
        links); or, when a shorter way to it arrived meanwhile, its count now (hops or
        depth): the caller follows them."""
        keys = ([self.keys.hops, self.keys.cut] if related
                else [self.keys.depths, self.keys.cutlinks])
        best = int(self.scripts.cut(keys=keys, args=[key, limit, links]))
        return None if best < 0 else best

    def _limits(self) -> tuple[int, int]:
        options = self.spider.options
        return options.related_depth, options.depth

    def pop(self, timeout: int = 0) -> tuple[bytes, Request] | None:  # type: ignore[override]
        member = self.scripts.lease(keys=[self.keys.queue, self.keys.inflight],
                                    args=[self.lease_ms])
        if member is None:
            return None
        try:
            return member, decode_request(member_payload(member), self.spider)
        except Exception as exc:  # noqa: BLE001 - a request no worker can read: dropped
            logger.error("dropping an unreadable queued request: %s", exc)
            self.ack(member)
            return self.pop()

    def ack(self, member: bytes) -> None:
        self.server.zrem(self.keys.inflight, member)

    def renew(self, members: list[bytes]) -> int:
        if not members:
            return 0
        return int(self.scripts.renew(keys=[self.keys.inflight], args=[self.lease_ms, *members]))

    def give_back(self, members: list[bytes]) -> int:
        if not members:
            return 0
        return int(self.scripts.give_back(keys=[self.keys.inflight, self.keys.queue],
                                          args=members))

    def reap(self) -> int:
        return int(self.scripts.reap(keys=[self.keys.inflight, self.keys.queue,
                                           self.keys.requeued]))

    def drained(self) -> int:
        return int(self.scripts.drained(keys=[self.keys.queue, self.keys.inflight,
                                              self.keys.finished]))

    def clear(self) -> None:  # never: the queue is shared by every worker
        pass
