"""A list of ids as one bound parameter (``storage.id_lists``), on SQLite and PostgreSQL:
more ids than SQLite allows bound variables, in one statement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.id_lists import ids_in, ids_value
from tests.archive_factory import ArchiveFactory, filler


def test_ids_as_one_parameter_select_exactly_those(engine: Any) -> None:
    with Session(engine) as s:
        f = ArchiveFactory(s)
        made = [f.article(title=f"Judul {n}", body=filler(20, n)).id for n in range(5)]
        s.commit()
        dialect = engine.dialect.name
        wanted = [made[0], made[3]]
        # 40,000 ids: past SQLite's 32,766 bound variables; only two of them exist
        ids = [*wanted, *range(10**9, 10**9 + 40_000)]
        found = s.execute(text(f"SELECT a.id FROM articles AS a WHERE {ids_in(dialect, 'a.id')}"
                               " ORDER BY a.id"), {"ids": ids_value(dialect, ids)}).scalars()
        assert list(found) == sorted(wanted)
        none = s.execute(text(f"SELECT count(*) FROM articles AS a "
                              f"WHERE {ids_in(dialect, 'a.id')}"),
                         {"ids": ids_value(dialect, [])}).scalar_one()
        assert none == 0
