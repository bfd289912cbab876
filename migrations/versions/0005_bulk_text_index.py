"""bulk maintenance of the full-text indexes (SQLite)

The update triggers of ``articles_fts`` and ``articles_title_fts`` (0002, 0004) take an
article's old text out of the index and put the new one in, row by row. For FTS5 that
means a flush of its in-memory pending terms for every updated article (a rowid written
again right after its delete forces one), so updating the text of many articles in one
transaction (``arsip reextract``) wrote a small index segment per article and merged them
again: about half the cost of such an update.

``articles_fts_deferred``: while a transaction holds a row in it, both update triggers do
nothing; the writer (``storage.text_index.bulk_text_update``) then takes the old texts out
and puts the new ones in itself, each as one ascending run of rowids, and deletes its row
before it commits (other connections never see the row: it is only ever present inside the
writer's own transaction, and a transaction killed mid-way takes it with it).
PostgreSQL's ``search_vector`` is computed per row by a BEFORE trigger: nothing to change.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BODY = """
    CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, body ON articles {when}BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO articles_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END
"""
_TITLE = """
    CREATE TRIGGER articles_title_fts_au AFTER UPDATE OF title ON articles {when}BEGIN
        INSERT INTO articles_title_fts(articles_title_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
        INSERT INTO articles_title_fts(rowid, title) VALUES (new.id, new.title);
    END
"""
_WHEN = "WHEN NOT EXISTS (SELECT 1 FROM articles_fts_deferred) "


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE articles_fts_deferred (id INTEGER PRIMARY KEY)")
    op.execute("DROP TRIGGER articles_fts_au")
    op.execute("DROP TRIGGER articles_title_fts_au")
    op.execute(_BODY.format(when=_WHEN))
    op.execute(_TITLE.format(when=_WHEN))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER articles_fts_au")
    op.execute("DROP TRIGGER articles_title_fts_au")
    op.execute(_BODY.format(when=""))
    op.execute(_TITLE.format(when=""))
    op.execute("DROP TABLE articles_fts_deferred")
