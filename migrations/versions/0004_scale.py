"""scale: a title-only full-text index (SQLite), a covering index for ``arsip stats``, the
GIN search index without its pending list (PostgreSQL)

SQLite: ``articles_title_fts``, an external-content FTS5 table over ``articles.title`` only,
kept in step by three triggers like ``articles_fts``. Search takes its "newest matches in
the title" candidates from it: in ``articles_fts`` a column filter (``title : ...``) walks
the whole doclist of each word (every article, for "dengan" or "yang"), in this index only
the titles that hold the word.

Both: ``ix_articles_site_stats`` on articles(site_id, published, duplicate_of_id), so that
the per-site counts, first/last publication and near-duplicate counts of ``arsip stats``
(storage.queries.site_stats) are read off an index instead of every article row.

PostgreSQL: ``ix_articles_search_vector`` with ``fastupdate = off``: new rows go straight
into the GIN tree (a little more work per insert; an archive adds one article every few
seconds) instead of a pending list that every search must scan linearly until VACUUM
merges it (up to ``gin_pending_list_limit``, 4 MB, of unsorted entries).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UPGRADE = [
    """
    CREATE VIRTUAL TABLE articles_title_fts USING fts5(
        title,
        content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2',
        prefix='2 3 4'
    )
    """,
    """
    CREATE TRIGGER articles_title_fts_ai AFTER INSERT ON articles BEGIN
        INSERT INTO articles_title_fts(rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER articles_title_fts_ad AFTER DELETE ON articles BEGIN
        INSERT INTO articles_title_fts(articles_title_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER articles_title_fts_au AFTER UPDATE OF title ON articles BEGIN
        INSERT INTO articles_title_fts(articles_title_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
        INSERT INTO articles_title_fts(rowid, title) VALUES (new.id, new.title);
    END
    """,
    "INSERT INTO articles_title_fts(articles_title_fts) VALUES ('rebuild')",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS articles_title_fts_au",
    "DROP TRIGGER IF EXISTS articles_title_fts_ad",
    "DROP TRIGGER IF EXISTS articles_title_fts_ai",
    "DROP TABLE IF EXISTS articles_title_fts",
]


def upgrade() -> None:
    name = op.get_bind().dialect.name
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index("ix_articles_site_stats",
                              ["site_id", "published", "duplicate_of_id"], unique=False)
    if name == "sqlite":
        for statement in SQLITE_UPGRADE:
            op.execute(statement)
        # An archive with planner statistics (sqlite_stat1: ANALYZE was run) must get them
        # for the new index too: with the others' statistics and none for it, SQLite read
        # the export's pages through ix_articles_site_id and sorted them (10x slower at
        # 100k articles, and quadratic). Without analysis_limit: a sampled ANALYZE guessed
        # 1,000 articles a site instead of 20,000 and kept the bad plan. ANALYZE reads the
        # indexes of articles (a few hundred bytes an article), not the bodies.
        stats = op.get_bind().exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
        if stats:
            op.execute("ANALYZE articles")
    elif name == "postgresql":
        op.execute("ALTER INDEX ix_articles_search_vector SET (fastupdate = off)")


def downgrade() -> None:
    name = op.get_bind().dialect.name
    if name == "sqlite":
        for statement in SQLITE_DOWNGRADE:
            op.execute(statement)
    elif name == "postgresql":
        op.execute("ALTER INDEX ix_articles_search_vector RESET (fastupdate)")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_site_stats")

