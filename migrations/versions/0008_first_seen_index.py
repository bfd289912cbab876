"""articles first archived per day and site, from an index

The sites page's chart (``storage.dashboard.articles_per_day``: articles first archived per
site and day over the last 90 days) counted the window's articles by reading every
article's row: no index held ``first_seen``, and on SQLite a column stored after the body
is read by following the body's overflow pages. At a million articles that was 28.6 s with
the file out of the page cache and 3.5 s in it, once a minute (the page's cache), however
few articles the window held. ``(first_seen, site_id)`` answers it from the index alone, an
entry per article of the window.

``first_seen`` leads: an index led by ``site_id`` was taken by SQLite's planner for the
per-site counts of ``arsip stats`` (``storage.queries.site_stats``), which
``ix_articles_site_stats`` covers and it does not (every row read again: 2.8 -> 46.6 s at a
million). Where the planner has statistics (SQLite's ``sqlite_stat1``: an ANALYZE was run)
the new index gets its own, so that it is not judged on defaults beside indexes that have
theirs.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_articles_first_seen_site"


def upgrade() -> None:
    op.create_index(INDEX, "articles", ["first_seen", "site_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
        op.execute(f"ANALYZE {INDEX}")
    elif bind.dialect.name == "postgresql":
        op.execute("ANALYZE articles (first_seen)")


def downgrade() -> None:
    op.drop_index(INDEX, table_name="articles")
