"""Insert-or-ignore and upsert statements for SQLite and PostgreSQL.

Uniqueness is the database's job: concurrent writers race to insert and the unique
constraint decides, instead of SELECT-then-INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert_for(session_or_dialect: Session | str, model: Any) -> Any:
    name = (session_or_dialect if isinstance(session_or_dialect, str)
            else session_or_dialect.get_bind().dialect.name)
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"no upsert for database {name}")


def insert_ignore(
    session: Session | str,
    model: Any,
    rows: Sequence[dict[str, Any]] | dict[str, Any],
    conflict_columns: Sequence[str] | None = None,
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING (on ``conflict_columns`` if given)."""
    stmt = _insert_for(session, model).values(rows)
    if conflict_columns:
        return stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
    return stmt.on_conflict_do_nothing()


def upsert(
    session: Session | str,
    model: Any,
    rows: Sequence[dict[str, Any]] | dict[str, Any],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> Any:
    """INSERT ... ON CONFLICT (cols) DO UPDATE SET col = excluded.col."""
    stmt = _insert_for(session, model).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={c: getattr(stmt.excluded, c) for c in update_columns},
    )
