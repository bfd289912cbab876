"""full-text search index over articles(title, body)

SQLite: an external-content FTS5 table ``articles_fts`` (its rows are ``articles`` rows:
rowid = articles.id) kept in step by three triggers. Tokenizer ``unicode61
remove_diacritics 2`` (letters and digits of any script, case- and accent-folded; no
stemming, which suits Indonesian, whose affixes a stemmer for another language would
mangle) and prefix indexes of 2, 3 and 4 characters so that short prefix queries (``ber*``,
``pe*``) do not merge thousands of doclists.

PostgreSQL: a ``search_vector`` tsvector column (config ``simple``: PostgreSQL has no
Indonesian stemmer; title weight A, body weight B) set by a trigger on INSERT and on
UPDATE OF title/body only (a generated column would be recomputed on every update of
``last_seen``), with the GIN index ``ix_articles_search_vector`` over that column and over
the title's own tsvector (an expression), so that title matches are an index lookup too.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a tsvector is limited to 1 MB: index at most this many characters of a body
PG_BODY_CHARS = 300_000

SQLITE_UPGRADE = [
    """
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, body,
        content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2',
        prefix='2 3 4'
    )
    """,
    """
    CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END
    """,
    """
    CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
    END
    """,
    """
    CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, body ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO articles_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END
    """,
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS articles_fts_au",
    "DROP TRIGGER IF EXISTS articles_fts_ad",
    "DROP TRIGGER IF EXISTS articles_fts_ai",
    "DROP TABLE IF EXISTS articles_fts",
]

PG_VECTOR = (
    "setweight(to_tsvector('simple'::regconfig, coalesce({row}title, '')), 'A') || "
    f"setweight(to_tsvector('simple'::regconfig, left(coalesce({{row}}body, ''), {PG_BODY_CHARS})), 'B')"
)

PG_TITLE_VECTOR = "to_tsvector('simple'::regconfig, coalesce(title, ''))"

PG_UPGRADE = [
    "ALTER TABLE articles ADD COLUMN search_vector tsvector",
    f"""
    CREATE FUNCTION articles_search_vector_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := {PG_VECTOR.format(row='NEW.')};
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER articles_search_vector_trg
    BEFORE INSERT OR UPDATE OF title, body ON articles
    FOR EACH ROW EXECUTE FUNCTION articles_search_vector_update()
    """,
    f"UPDATE articles SET search_vector = {PG_VECTOR.format(row='')}",
    # two columns in one GIN index: the whole vector, and the title's own vector so that
    # "matches in the title" is an index lookup too (storage/search.py: PG_TITLE_VECTOR)
    f"CREATE INDEX ix_articles_search_vector ON articles USING gin "
    f"(search_vector, ({PG_TITLE_VECTOR}))",
]

PG_DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_articles_search_vector",
    "DROP TRIGGER IF EXISTS articles_search_vector_trg ON articles",
    "DROP FUNCTION IF EXISTS articles_search_vector_update()",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_vector",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    name = op.get_bind().dialect.name
    if name == "sqlite":
        _run(SQLITE_UPGRADE)
    elif name == "postgresql":
        _run(PG_UPGRADE)


def downgrade() -> None:
    name = op.get_bind().dialect.name
    if name == "sqlite":
        _run(SQLITE_DOWNGRADE)
    elif name == "postgresql":
        _run(PG_DOWNGRADE)
