"""PostgreSQL: the search index learns the articles' age (the newest matches of a common word)

The web view and search want a query's newest matches (``storage.pg_newest``). A GIN index
finds matches in no order, so for a word in a few percent of the archive or more search
walked the primary key down from the newest article testing each row's vector (read out of
TOAST: 10-45 ms at a million articles for the newest 1,000 matches) or read the word's
whole posting list into a bitmap (0.16 us a posting: 80 ms for a word in half the archive).

A third column, ``id / 256`` (the article's "recency bucket"), lets one GIN scan take
"matches AND among the newest N ids": GIN intersects the two keys by skipping along the
word's posting tree from one recent row to the next, so the cost follows N, not the word's
postings: the newest 1,000 matches of a word in half of a million articles in 2 ms.
Integers in a GIN index need the ``btree_gin`` extension (PostgreSQL's contrib, a trusted
extension: the database's owner may create it). Where it cannot be created the index is
left as it was and search keeps its other ways (``storage.pg_newest.begin_search`` says
whether the column is there).

The index is re-created (4 minutes at a million articles, writes wait meanwhile) and
the table analysed again: the title vector's statistics belong to the index (0006).

Revision ID: 0009
Revises: 0008
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_articles_search_vector"
TITLE_VECTOR = "to_tsvector('simple'::regconfig, coalesce(title, ''))"  # 0002
BUCKET = "(id / 256)"  # storage.pg_newest.BUCKET_IDS
STATISTICS = 1000  # 0006, on the title vector


def _index(columns: str) -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"CREATE INDEX {INDEX} ON articles USING gin ({columns}) "
               "WITH (fastupdate = off)")
    op.execute(f"ALTER INDEX {INDEX} ALTER COLUMN 2 SET STATISTICS {STATISTICS}")
    op.execute("ANALYZE articles")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gin"))
    except sa.exc.DBAPIError as exc:
        logging.getLogger(__name__).warning(
            "btree_gin not available (%s): search finds the newest matches without it",
            str(exc.orig).splitlines()[0])
        return
    _index(f"search_vector, ({TITLE_VECTOR}), {BUCKET}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    columns = bind.execute(sa.text(
        "SELECT indnatts FROM pg_index WHERE indexrelid = to_regclass(:i)"),
        {"i": INDEX}).scalar()
    if columns == 3:
        _index(f"search_vector, ({TITLE_VECTOR})")
    try:  # unless something else uses it (RESTRICT)
        with bind.begin_nested():
            bind.execute(sa.text("DROP EXTENSION IF EXISTS btree_gin"))
    except sa.exc.DBAPIError:
        pass
