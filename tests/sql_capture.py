"""The statements a piece of code sends to the database, and SQLite's plan for one of them:
for tests that prove how something is read or written, not only what comes back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def statements(engine: Any, keep: Callable[[str], bool]) -> Iterator[list[tuple[str, Any]]]:
    """(statement, parameters) of each statement ``engine`` runs inside the block for which
    ``keep(statement)`` is true, in order."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if keep(statement):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def sqlite_plan(engine: Any, statement: str, params: Any) -> str:
    """SQLite's ``EXPLAIN QUERY PLAN`` of a statement, its steps joined by " / "."""
    with engine.connect() as conn:
        return " / ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, params))
