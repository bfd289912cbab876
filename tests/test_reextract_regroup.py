"""``arsip reextract``'s near-duplicate regrouping in bulk, how a run is cut into batches and
how its pages reach the workers (``storage.reextract_store.regroup_batch``,
``storage.dedup_index.MarkBook``, ``crawler.reextract._batches``, ``_run``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from crawler.reextract import FIRST, READ, TAIL, _batches
from storage.models import Article
from tests.reextract_helpers import news_page, run, store, story, url
from tests.sql_capture import statements


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Any) -> None:
    (tmp_path / "arsip.toml").touch()


def marks(engine: Any) -> dict[str, str | None]:
    """Each article's URL: its original's URL (None: not a copy)."""
    with Session(engine) as s:
        rows = s.execute(select(Article.id, Article.canonical_url, Article.duplicate_of_id)).all()
    by_id = {r.id: r.canonical_url for r in rows}
    return {r.canonical_url: by_id.get(r.duplicate_of_id) if r.duplicate_of_id else None
            for r in rows}


def test_groups_after_a_run_in_small_batches_follow_the_pages(engine: Any) -> None:
    """Three families of copies (each member's page: the family's story and a paragraph of
    its own, a date of its own) stored as older extractions left them: one member with another
    story (apart), one with another family's text (in the wrong group), the earliest member
    of a family with other text and a later date (so that another was its original), and an
    unrelated article stored with a family's text. Re-extracted in batches of two (groups
    cross batches), every family ends up one group under its earliest page, the unrelated
    article apart: what the crawl's rule gives for the pages as they are."""
    bases = [story(300 + f, paragraphs=8) for f in range(3)]
    days = {(f, m): f"2024-0{f + 1}-{10 + 3 * m:02d}T08:00:00+07:00"
            for f in range(3) for m in range(3)}
    n = 0
    expected: dict[str, str | None] = {}
    with Session(engine) as s, s.begin():
        for f in range(3):
            first = url(n)
            for m in range(3):
                own = story(500 + 10 * f + m, paragraphs=1)  # a paragraph of its own
                page = news_page(f"Berita {f}-{m}", bases[f] + "\n\n" + own,
                                 published=days[(f, m)])
                stale: dict[str, Any] = {}
                if (f, m) == (0, 1):
                    stale = {"body": story(900)}
                elif (f, m) == (2, 2):
                    stale = {"body": bases[0] + "\n\nSalinan."}
                elif (f, m) == (1, 0):
                    stale = {"body": bases[1] + "\n\nVersi lama."}
                aid = store(s, url(n), page, **stale)
                if (f, m) == (1, 0):  # and a later date than its family's others
                    s.execute(update(Article).where(Article.id == aid).values(
                        published_local="2024-12-31T08:00:00+07:00",
                        published=datetime(2024, 12, 31, 1, tzinfo=UTC)))
                expected[url(n)] = None if m == 0 else first
                n += 1
        store(s, url(n), news_page("Lain", story(950)), body=bases[1] + "\n\nKutipan.")
        expected[url(n)] = None
    before = marks(engine)
    assert before[url(1)] is None and before[url(8)] == url(0)  # the stale groups
    summary = run(engine, batch=2)
    assert summary.changed == 4 and not summary.failed
    assert marks(engine) == expected
    assert run(engine, force=True).changed == 0
    assert marks(engine) == expected


def test_a_changed_articles_new_mark_goes_with_its_update(engine: Any) -> None:
    """The mark of an article whose text changed is written by the UPDATE of its new fields,
    not by a second UPDATE of its row (which would write the whole record, body included,
    again)."""
    shared = story(20)
    with Session(engine) as s, s.begin():
        store(s, url(20), news_page("Asli", shared))
        y = store(s, url(21), news_page("Salinan", shared + "\n\nSumber: Kabar Kota."),
                  body=story(21))
        z = store(s, url(22), news_page("Lain", story(22)), body=shared + "\n\nTambahan.")
    assert marks(engine) == {url(20): None, url(21): None, url(22): url(20)}
    with statements(engine, lambda sql: " ".join(sql.split()).startswith(
            "UPDATE articles SET duplicate_of_id")) as mark_updates:
        summary = run(engine)
    assert summary.changed == 2
    after = marks(engine)
    assert after[url(22)] is None and after[url(21)] == url(20)
    assert mark_updates == []
    with Session(engine) as s:
        row = s.get(Article, y)
        assert row is not None and row.similarity is not None and row.similarity >= 0.6
        assert s.get(Article, z).similarity is None  # type: ignore[union-attr]


@pytest.mark.parametrize("count", [0, 1, 25, 26, 99, 100, 200, 201, 500, 2000])
def test_batches_cover_every_id_in_order_and_end_small(count: int) -> None:
    ids = list(range(1000, 1000 + count))
    batches = _batches(ids, 200)
    assert [i for b in batches for i in b] == ids
    assert all(b for b in batches)
    assert all(len(b) <= 200 for b in batches)
    if count:
        assert len(batches[-1]) <= TAIL
        # no more batches than needed to end small: the full ones, then halves
        assert len(batches) <= -(-count // 200) + 3
    small = _batches(ids, 5)  # batches smaller than the tail are left as they are
    assert [len(b) for b in small] == [len(ids[i:i + 5]) for i in range(0, count, 5)]


def test_a_long_run_is_written_in_larger_batches(engine: Any, monkeypatch: Any) -> None:
    """Without ``--batch``, a run's batches are ``BATCH`` articles, or an
    ``ARCHIVE_BATCHES``-th of a larger archive (at most ``MAX_BATCH``); each batch is one
    transaction (here scaled down: at least 2, a third of the archive, at most 4)."""
    import crawler.reextract as reextract_module
    from storage import reextract_store

    monkeypatch.setattr(reextract_module, "BATCH", 2)
    monkeypatch.setattr(reextract_module, "ARCHIVE_BATCHES", 3)
    monkeypatch.setattr(reextract_module, "MAX_BATCH", 4)
    monkeypatch.setattr(reextract_module, "TAIL", 1)
    written: list[int] = []
    apply_batch = reextract_store.apply_batch

    def counted(session: Any, plans: list[Any], *args: Any, **kwargs: Any) -> Any:
        written.append(len(plans))
        return apply_batch(session, plans, *args, **kwargs)

    monkeypatch.setattr(reextract_store, "apply_batch", counted)
    with Session(engine) as s, s.begin():
        for n in range(9):
            store(s, url(n), news_page(f"Berita {n}", story(700 + n)),
                  body=f"Teks lama nomor {n} {story(n, paragraphs=1)}")
    assert run(engine).changed == 9
    # 9 articles: batches of 9 // 3 = 3, the last cut in halves down to the tail
    assert written == [3, 3, 2, 1]
    written.clear()
    with Session(engine) as s, s.begin():
        for n in range(9, 30):
            store(s, url(n), news_page(f"Berita {n}", story(700 + n)),
                  body=f"Teks lama nomor {n} {story(n, paragraphs=1)}")
    assert run(engine).changed == 21  # an archive of 30: 30 // 3 = 10, at most 4
    assert written[:4] == [4, 4, 4, 4] and sum(written) == 21


def test_batches_are_written_while_the_next_ones_are_extracted(
        engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch is committed as soon as it is extracted (its write starts at once, in a
    thread), not after the run's other batches: a run killed mid-way keeps what it did, and
    readers see it advance. Here (no worker processes) each page, as it is extracted, counts
    the articles already re-extracted and committed."""
    import crawler.reextract as module
    from crawler.extraction.version import EXTRACTOR_VERSION

    count, batch = 60, 5
    with Session(engine) as s, s.begin():
        for n in range(count):
            store(s, url(400 + n), news_page(f"Berita {n}", story(400 + n, 3)),
                  body=story(9000 + n, 3))
    seen: list[int] = []
    extract = module.extract_packed
    reader = create_engine(engine.url, poolclass=NullPool)  # a reader of its own

    def counting(page: Any) -> Any:
        with reader.connect() as conn:
            seen.append(conn.execute(select(func.count()).select_from(Article).where(
                Article.extractor_version == EXTRACTOR_VERSION)).scalar_one())
        return extract(page)

    monkeypatch.setattr(module, "extract_packed", counting)
    try:
        summary = run(engine, batch=batch)
    finally:
        reader.dispose()
    assert summary.changed == count and len(seen) == count
    # when the last page is extracted, all but the batches still in hand are committed
    assert seen[-1] >= count - (module.AHEAD + 1) * batch, seen
    assert seen == sorted(seen)


def test_the_workers_start_early_and_are_let_go_before_the_last_write(
        engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's start and end, where a core would stand idle: the first read is of
    ``FIRST`` articles only (the workers start on them while the rest of the batch is read),
    the SQLite checkpoints start only once those pages are handed out, and the workers are
    let go (closed without waiting) as soon as the last results are in, before the last
    batch is written; they are reaped at the end."""
    import crawler.reextract as module
    from crawler.worker_pool import WorkerPool

    count = 60  # batches of 30: 30, 5, 25 (the last cut down)
    with Session(engine) as s, s.begin():
        for n in range(count):
            store(s, url(700 + n), news_page(f"Kabar {n}", story(700 + n, 3)),
                  body=story(7000 + n, 3))
    events: list[tuple[Any, ...]] = []
    load, submit, close = module.store.load_pages, WorkerPool.submit, WorkerPool.close
    checkpoints, write = module._checkpoints, module._decide_and_write

    def loading(session: Any, ids: list[int]) -> Any:
        events.append(("read", len(ids)))
        return load(session, ids)

    def submitting(self: Any, *args: Any, **kwargs: Any) -> Any:
        if ("submit",) not in events:
            events.append(("submit",))
        return submit(self, *args, **kwargs)

    def closing(self: Any, *args: Any, wait: bool = True, **kwargs: Any) -> None:
        events.append(("close", wait))
        close(self, *args, wait=wait, **kwargs)

    def starting(*args: Any) -> Any:
        events.append(("checkpoints",))
        return checkpoints(*args)

    def writing(*args: Any, **kwargs: Any) -> None:
        events.append(("write",))
        write(*args, **kwargs)

    monkeypatch.setattr(module.store, "load_pages", loading)
    monkeypatch.setattr(WorkerPool, "submit", submitting)
    monkeypatch.setattr(WorkerPool, "close", closing)
    monkeypatch.setattr(module, "_checkpoints", starting)
    monkeypatch.setattr(module, "_decide_and_write", writing)
    summary = run(engine, workers=1, batch=30)
    assert summary.changed == count and not summary.failed
    reads = [e[1] for e in events if e[0] == "read"]
    assert reads[0] == FIRST and max(reads[1:]) <= READ and sum(reads) == count, reads
    assert events.index(("submit",)) < events.index(("checkpoints",)), events
    writes = [i for i, e in enumerate(events) if e == ("write",)]
    assert len(writes) == 3
    assert events.index(("close", False)) < writes[-1], events
    assert events[-1] == ("close", True), events
