"""the near-duplicates' ids in an index of their own

Search leaves near-duplicates out. On SQLite it tested each match against the set of all
duplicate ids, built afresh for every query from ``ix_articles_duplicate_of_id`` (about
7 ms at 20,000 duplicates in a million articles, for every page and again for its facets,
growing with the archive); reading ``duplicate_of_id`` from each matching row instead reads
the body's overflow pages. A partial index holding only the duplicates' ids answers "is
this match a duplicate?" with one small look-up per match, whatever the archive's size.
PostgreSQL gets it too (the model is the same on both; its search tests the row).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    where = sa.text("duplicate_of_id IS NOT NULL")
    op.create_index("ix_articles_duplicates", "articles", ["id"], unique=False,
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_articles_duplicates", table_name="articles")
