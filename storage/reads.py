"""Reads of plain columns on the session's own connection.

``Session.execute`` runs a select of mapped columns through the ORM's execution layer
(autoflush, ORM result set-up) even when it returns no entity: about 0.05 ms of Python a
statement more than the session's connection running it (PostgreSQL, a one-row select:
0.155 against 0.11 ms), a third of what a small look-up costs the web view. The pages that
read a dozen such statements (an article's page, the sites page) read them here.

For read paths only: nothing pending in the session is flushed first. The caller still
owns the session and its transaction (this is that transaction's connection).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVarTuple

from sqlalchemy import Result
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TypedReturnsRows

_Ts = TypeVarTuple("_Ts")


def read(session: Session, statement: TypedReturnsRows[*_Ts],
         params: Mapping[str, Any] | None = None) -> Result[*_Ts]:
    """The rows of ``statement`` (columns, not entities), in the session's transaction."""
    return session.connection().execute(statement, params)
