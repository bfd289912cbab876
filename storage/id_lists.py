"""A list of ids as ONE bound parameter, never one bound value per id.

SQLite allows 32,766 bound variables (a million ids fail), and SQLAlchemy rewrites an
expanding IN list's statement for every call (that rewriting cost more than the look-up);
psycopg adapts a Python list element by element (0.6 ms more for a thousand ids). So the ids
travel as one string: a JSON array that SQLite's ``json_each`` reads, or a PostgreSQL array
literal cast to ``bigint[]``. Statements name the parameter ``:ids``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def ids_in(dialect: str, column: str) -> str:
    """SQL: ``column`` is one of the ids of the parameter ``:ids``."""
    if dialect == "postgresql":
        return f"{column} = ANY(CAST(:ids AS bigint[]))"
    return f"{column} IN (SELECT value FROM json_each(:ids))"


def ids_value(dialect: str, ids: Iterable[int]) -> str:
    """The value of ``:ids`` for :func:`ids_in`."""
    if dialect == "postgresql":
        return "{" + ",".join(str(int(i)) for i in ids) + "}"
    return json.dumps([int(i) for i in ids])
