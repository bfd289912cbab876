"""Which database objects the migrations own: the filter that autogenerate, ``alembic check``
and ``tests/test_migrations.py`` share (so that the CI check and the test agree).
"""

from __future__ import annotations

from typing import Any

# Tables that belong to others and that autogenerate / check must never try to drop:
# APScheduler's SQLAlchemyJobStore, and the search index objects made by raw SQL.
IGNORED_TABLE_PREFIXES = ("apscheduler_", "articles_fts", "articles_title_fts", "sqlite_")
# made by raw SQL on PostgreSQL: the search index objects of migration 0002 (tsvector column
# and its GIN index), the URLs' bytewise prefix index of 0007
IGNORED_NAMES = ("search_vector", "ix_articles_search_vector", "ix_article_urls_url_pattern")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table" and name and name.startswith(IGNORED_TABLE_PREFIXES):
        return False
    if type_ in ("index", "column") and reflected and compare_to is None:
        table = getattr(getattr(obj, "table", None), "name", "") or ""
        if table.startswith(IGNORED_TABLE_PREFIXES):
            return False
        if name in IGNORED_NAMES:
            return False
    return True
