"""A Scrapy request as bytes in the run's Redis queue, and back.

Used by the run's seeding (``crawler.distributed``) and by the workers' queue
(``crawler.distributed_scrapy``); a module of its own so that neither imports the other for it.
The private lease keys of a request's ``meta`` (``PRIVATE_META``) are never queued.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy_redis import picklecompat

PRIVATE_META = ("arsip_lease", "arsip_parent", "arsip_claim", "arsip_reach")


def encode_request(request: Request, spider: Any) -> bytes:
    d = request.to_dict(spider=spider)
    d["meta"] = {k: v for k, v in d.get("meta", {}).items() if k not in PRIVATE_META}
    return picklecompat.dumps(d)


def decode_request(payload: bytes, spider: Any) -> Request:
    from scrapy.utils.request import request_from_dict

    return request_from_dict(picklecompat.loads(payload), spider=spider)
