"""PostgreSQL: stored URLs by prefix, bytewise, from an index

Before fetching from a host, the crawl asks whether the archive holds anything of it
(``crawler.known``: any stored URL starting with ``https://host/``, ``http://host/`` or a
twin). SQLite compares text bytewise, so the URL's unique index answers that as a range.
PostgreSQL orders text by the database's collation, which need not be bytewise, so the
question was asked as ``left(url, n) = prefix``: a scan of every stored URL (215 ms at 1.3
million, for every new host the crawl meets). A ``text_pattern_ops`` index orders the URLs
bytewise and answers the range operators ``~>=~`` / ``~<~`` (0.07 ms). Built here in about
a second at that size.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# made by raw SQL, on PostgreSQL only: listed in migrations/objects.py (not in the models)
INDEX = "ix_article_urls_url_pattern"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {INDEX} ON article_urls (url text_pattern_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {INDEX}")
