"""The full-text index kept in step when many articles' texts change at once
(``storage.text_index``, migration 0005): after a re-extraction that changed titles and
bodies the index holds exactly the new words (FTS5's own integrity check against the
articles), searches find the new texts and not the old, the row-by-row triggers are active
again for everyone else, and a batch that fails half-way leaves the index as it was."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from crawler.reextract import Options, reextract
from storage.models import Article
from storage.search import search
from storage.text_index import TextChange, bulk_text_update
from tests.reextract_helpers import news_page, store, story

URL = "http://kabar.test/read/{}/berita-{}"


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


def _urls(session: Session, query: str) -> set[str]:
    return {hit.url for hit in search(session, query, limit=50)}


def _integrity(engine: Any) -> None:
    """FTS5's integrity check, comparing the index with the articles' rows (rank 1: an
    external-content table's content too); raises on any difference."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        for fts in ("articles_fts", "articles_title_fts"):
            conn.exec_driver_sql(
                f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")
        assert conn.exec_driver_sql("SELECT count(*) FROM articles_fts_deferred").scalar() == 0


def _archive(engine: Any, n: int) -> list[int]:
    """``n`` articles stored with stale titles and bodies (the words "usang" and
    "kadaluwarsa"), whose pages now give new ones ("zamrud" in the title, "safir" in the
    body) or, every third one, the same title as stored."""
    ids = []
    with Session(engine) as s, s.begin():
        for i in range(n):
            title = f"Zamrud ditemukan di desa nomor {i}"
            body = story(100 + i) + "\n\nSafir biru juga ditemukan di sana."
            stale_title = title if i % 3 == 0 else f"Berita usang nomor {i}"
            ids.append(store(s, URL.format(i, i), news_page(title, body), title=stale_title,
                             body=story(500 + i) + "\n\nTeks kadaluwarsa."))
    return ids


def test_reextraction_leaves_the_index_holding_the_new_texts(engine: Any) -> None:
    ids = _archive(engine, 12)
    with Session(engine) as s:
        assert len(_urls(s, "kadaluwarsa")) == 12 and _urls(s, "safir") == set()
    # batches of 5: several bulk updates, the last one partial
    summary = reextract(lambda: Session(engine), Options(workers=0, batch=5))
    assert summary.changed == 12 and summary.changed_fields["title"] == 8
    _integrity(engine)
    with Session(engine) as s:
        assert _urls(s, "kadaluwarsa") == set() and _urls(s, "usang") == set()
        assert len(_urls(s, "safir")) == 12 and len(_urls(s, "zamrud")) == 12
        # a title-only word is found through the title index too
        titled = s.execute(text("SELECT count(*) FROM articles_fts WHERE articles_fts "
                                "MATCH 'title : zamrud'")).scalar() if \
            engine.dialect.name == "sqlite" else 12
        assert titled == 12
    # the row-by-row triggers work again for every other writer
    with Session(engine) as s, s.begin():
        s.execute(update(Article).where(Article.id == ids[0])
                  .values(title="Intan langka", body="Mutiara hitam ditemukan."))
    _integrity(engine)
    with Session(engine) as s:
        assert _urls(s, "mutiara") == {URL.format(0, 0)}
        assert URL.format(0, 0) not in _urls(s, "safir")


def test_a_batch_failing_half_way_leaves_the_index_as_it_was(engine: Any) -> None:
    ids = _archive(engine, 3)
    with Session(engine) as s:
        before = _urls(s, "kadaluwarsa")
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        rows = s.execute(text("SELECT id, title, body FROM articles ORDER BY id")).all()
        changes = [TextChange(r.id, r.title, r.body, "Judul baru", "Isi baru safir")
                   for r in rows]
        with bulk_text_update(s.connection(), changes):
            s.execute(update(Article).where(Article.id == ids[0])
                      .values(title="Judul baru", body="Isi baru safir"))
            raise RuntimeError("killed mid-way")
    _integrity(engine)
    with Session(engine) as s:
        assert _urls(s, "kadaluwarsa") == before and _urls(s, "safir") == set()
