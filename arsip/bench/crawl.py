"""`arsip bench crawl`."""

from __future__ import annotations

from typing import Any

from arsip.commands._common import not_yet


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("crawl", parents=[common], help="(not available yet)")
    p.set_defaults(func=not_yet("bench crawl"))
