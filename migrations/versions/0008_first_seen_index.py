"""articles first archived per site and day, from an index

The sites page's chart (``storage.dashboard.articles_per_day``: articles first archived per
site and day over the last 90 days) counted the window's articles by reading every
article's row: no index held ``first_seen``, and on SQLite a column stored after the body
is read by following the body's overflow pages. At a million articles that was 28.6 s with
the file out of the page cache and 3.5 s in it, once a minute (the page's cache), however
few articles the window held. ``(site_id, first_seen)`` answers it from the index alone, an
entry per article of the window.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_articles_site_first_seen"


def upgrade() -> None:
    op.create_index(INDEX, "articles", ["site_id", "first_seen"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="articles")
