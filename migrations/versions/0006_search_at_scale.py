"""search at a million articles: the near-duplicates' ids in an index of their own, and
finer full-text statistics on PostgreSQL

Search leaves near-duplicates out. On SQLite it tested each match against the set of all
duplicate ids, built afresh for every query from ``ix_articles_duplicate_of_id`` (about
7 ms at 20,000 duplicates in a million articles, for every page and again for its facets,
growing with the archive); reading ``duplicate_of_id`` from each matching row instead reads
the body's overflow pages. A partial index holding only the duplicates' ids answers "is
this match a duplicate?" with one small look-up per match, whatever the archive's size.
PostgreSQL gets it too (the model is the same on both; its search tests the row).

PostgreSQL: how search finds a term's newest matches (storage.pg_newest) is chosen from the
planner's estimate of the term's share, which comes from the tsvector statistics' list of
most common lexemes (10 x the statistics target long). At the default target (100) every
word outside the 1,000 most common was estimated at the same 0.5 %, a word in 1.6 % of a
million articles as well as one in none, and the plan for it was wrong (60 ms instead of
10). A target of 1000 keeps 10,000 lexemes for the body and the title vectors; ANALYZE reads
300,000 rows instead of 30,000 (10 s at a million articles, done here once).

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


STATISTICS = 1000


def upgrade() -> None:
    where = sa.text("duplicate_of_id IS NOT NULL")
    op.create_index("ix_articles_duplicates", "articles", ["id"], unique=False,
                    sqlite_where=where, postgresql_where=where)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE articles ALTER COLUMN search_vector "
                   f"SET STATISTICS {STATISTICS}")
        # the title vector: the expression that is the index's second column (0004)
        op.execute(f"ALTER INDEX ix_articles_search_vector ALTER COLUMN 2 "
                   f"SET STATISTICS {STATISTICS}")
        op.execute("ANALYZE articles")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_articles_search_vector ALTER COLUMN 2 SET STATISTICS -1")
        op.execute("ALTER TABLE articles ALTER COLUMN search_vector SET STATISTICS -1")
    op.drop_index("ix_articles_duplicates", table_name="articles")
