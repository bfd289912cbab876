"""Opaque, signed ``next`` tokens of keyset pagination.

A token carries the position after the last result shown (score, id) and a digest of the
search it belongs to, as base64url JSON signed with HMAC-SHA256 under the app's key. A token
that was altered, made for another search, or signed by an earlier server is refused (400).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from web.http import HTTPError

MAX_TOKEN = 512


def search_digest(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: bytes, digest: str, after: tuple[float, int]) -> str:
    payload = _b64(json.dumps({"d": digest, "s": after[0], "i": after[1]}).encode())
    mac = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:16])
    return f"{payload}.{mac}"


def read_token(secret: bytes, digest: str, token: str) -> tuple[float, int]:
    """The (score, id) position in ``token``; HTTPError 400 when it is not valid here."""
    bad = HTTPError(400, "invalid or expired page token (start the search again)")
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise bad
    payload, mac = token.split(".")
    expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:16])
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise bad
    try:
        data = json.loads(_unb64(payload))
        score, last_id = float(data["s"]), int(data["i"])
        token_digest = data["d"]
    except (ValueError, KeyError, TypeError):
        raise bad from None
    if token_digest != digest:
        raise HTTPError(400, "the page token belongs to another search (start it again)")
    return score, last_id
