"""re-extraction and compressed raw pages

- ``articles.extractor_version``: which extraction produced the article's fields (arsip's
  version and the extraction rules' version, ``crawler.extraction.version``); NULL for
  articles stored before (``arsip reextract`` brings them up to date).
- ``article_versions.reason``: why the text changed: ``changed`` (the site changed it; every
  version stored before this revision) or ``reextract`` (a newer extraction of the same page).
- ``raw_dictionaries``: per-site zstandard dictionaries trained on the site's stored pages.
- ``raw_pages.codec`` (``gzip`` for every page stored before, ``zstd``), ``dictionary_id``
  (the dictionary a zstd page needs, never deleted while a page uses it), ``raw_size`` (the
  page's uncompressed bytes; filled in here from each gzip member's ISIZE trailer) and
  ``part`` (0; the n-th page of a multi-page article fetched together).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "raw_dictionaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("codec", sa.String(length=20), nullable=False),
        sa.Column("dictionary", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"],
                                name=op.f("fk_raw_dictionaries_site_id_sites"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_dictionaries")),
    )
    with op.batch_alter_table("raw_dictionaries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raw_dictionaries_site_id"), ["site_id"],
                              unique=False)
    # plain ADD COLUMNs (no table rebuild on SQLite: the search triggers on articles stay)
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extractor_version", sa.String(length=40),
                                      nullable=True))
    with op.batch_alter_table("article_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=20), nullable=False,
                                      server_default="changed"))
    with op.batch_alter_table("raw_pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("codec", sa.String(length=10), nullable=False,
                                      server_default="gzip"))
        batch_op.add_column(sa.Column("dictionary_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("raw_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("part", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.create_index(batch_op.f("ix_raw_pages_dictionary_id"), ["dictionary_id"],
                              unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_raw_pages_dictionary_id_raw_dictionaries"), "raw_dictionaries",
            ["dictionary_id"], ["id"])
    _fill_raw_sizes()


def _fill_raw_sizes() -> None:
    """Each stored gzip member's ISIZE (its last 4 bytes, little endian): the raw size
    (mod 2**32; a page is far below 4 GB). Only those 4 bytes are read, in batches."""
    bind = op.get_bind()
    tail = ("substr(body_gz, -4)" if bind.dialect.name == "sqlite"
            else "substring(body_gz from greatest(length(body_gz) - 3, 1))")
    after = 0
    while True:
        rows = bind.execute(sa.text(
            f"SELECT id, {tail} FROM raw_pages WHERE id > :after ORDER BY id LIMIT {BATCH}"),
            {"after": after}).all()
        if not rows:
            return
        values = [{"i": row[0], "n": int.from_bytes(bytes(row[1]), "little")}
                  for row in rows if row[1] is not None and len(bytes(row[1])) == 4]
        if values:
            bind.execute(sa.text("UPDATE raw_pages SET raw_size = :n WHERE id = :i"), values)
        after = rows[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM raw_pages WHERE codec <> 'gzip' LIMIT 1")).first():
        raise RuntimeError("raw pages are stored with zstandard: revision 0002 reads gzip only "
                           "(keep this revision, or recompress them first)")
    with op.batch_alter_table("raw_pages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_raw_pages_dictionary_id_raw_dictionaries"),
                                 type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_raw_pages_dictionary_id"))
        batch_op.drop_column("part")
        batch_op.drop_column("raw_size")
        batch_op.drop_column("dictionary_id")
        batch_op.drop_column("codec")
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), not a batch rebuild of articles, which
    # would drop the search triggers made by 0002
    op.execute("ALTER TABLE article_versions DROP COLUMN reason")
    op.execute("ALTER TABLE articles DROP COLUMN extractor_version")
    with op.batch_alter_table("raw_dictionaries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_dictionaries_site_id"))
    op.drop_table("raw_dictionaries")
