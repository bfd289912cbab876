"""Query results as JSON-ready values, for every reader that prints or serves them as JSON
(the CLI's ``--format json``, the web view's API): the same keys, datetimes as ISO 8601."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Datetimes and dates as ISO 8601 text, recursively through dicts, lists and tuples."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
