"""Re-extraction: the current extraction run again on the archive's stored raw pages.

``reextract`` selects articles (site, publication dates, ids; those already at the current
``EXTRACTOR_VERSION`` are skipped unless ``force``), and per batch of ``batch_size`` articles (the
run's last one cut down to ``TAIL``: nothing overlaps its write):

1. reads their raw pages (the latest fetch: its first page and, for a multi-page article
   whose pages were stored together, the others in order), ``READ`` articles at a time, as
   stored (compressed: a twentieth of the bytes to hand over), each handful handed to the
   workers as soon as it is read;
2. extracts them in the extraction worker pool (the crawl's, :mod:`crawler.worker_pool`),
   which decompresses them first (the site dictionaries they need are sent to every worker
   once, before the first page that needs them), without learned body containers, so that
   the same page always gives the same text (a second run changes nothing); the pages of
   one article are merged as the crawl merges them;
3. writes the batch in one short transaction (``storage.reextract_store.apply_batch``):
   changed articles updated in place (the previous text kept as a version, reason
   ``reextract``), their fingerprints, LSH bands, near-duplicate marks and related links
   redone, every article of the batch marked with the current extractor version; each kind
   of row for the whole batch in one statement (executemany), the full-text index's old
   words out and new ones in for the whole batch at once (``storage.text_index``), the
   near-duplicate groups of the batch formed again in memory, article by article, and the
   marks that changed written at the end (``reextract_store.regroup_batch``; a changed
   article's with its UPDATE). Killed mid-way, the batches written are complete and marked,
   the others untouched: the next run goes on with those. While one batch is written (in a
   thread), the next ones are extracted.

The main process thus only reads, compares and writes: its CPU (what competes with the
workers for the cores) is about 1.2 ms per changed article on this slow machine (0.6 ms
when nothing changed), against 0.4 ms feeding the same pages to the workers for extraction
alone (``arsip bench reextract``; README, "Re-extraction").
"""

from __future__ import annotations

import asyncio
import collections
import gc
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from crawler.dedup import Fingerprint
from crawler.extraction.article import ExtractedArticle, RelatedLink
from crawler.extraction.version import EXTRACTOR_VERSION
from crawler.reextract_fields import changed_fields, diff_sample, merge_parts, new_fields
from crawler.urls import canonicalize
from storage import raw_codec
from storage import reextract_store as store
from storage.checkpoint import BackgroundCheckpoints
from storage.raw_codec import Dictionary, RawPageUnreadable
from storage.reextract_store import Current, NewFields, StoredPage

# articles per transaction: per batch a commit, a full-text index segment and a few
# statements; 200 cost 0.2 ms less main process CPU per changed article than 50, and a
# batch still writes in a fraction of a second (readers never wait: WAL). In a larger
# archive the batches are larger (``batch_size``): a batch writes every index page it
# changed, and an article's 32 LSH band keys land on random pages of their index, so that
# in an archive of 20,000 articles a batch of 200 already changed nearly every page of it,
# as a batch of 500 does: pages written per article fall with the batch's size.
# Re-extracting 20,000 articles (the archive of ``arsip bench reextract --pages 20000``,
# in a fresh process, alternating, three runs each): batches of 200, 221-247 articles/s
# and 1.99-2.19 ms of main process CPU a changed article; of 500, 274-299 and 1.46-1.67
# (the benchmark's own runs spread too widely to show it: README, Re-extraction).
# A quarter of the archive, up to 1,000 (was a fortieth, from 8,000 articles on): main
# process CPU a changed article, batches of 200 against a quarter (``arsip bench reextract
# --pages N``, alternating, two runs each): at 2,000 articles 1.06-1.25 -> 0.87-0.91 ms, at
# 5,000 1.24-1.25 -> 1.03; at 20,000 (in a fresh process) 500 -> 1,000: 1.42-1.52 -> 1.35-1.38.
# A batch of 1,000 holds the write lock 0.9-1.6 s on SQLite (5,000 articles; a crawl's writer waits,
# SQLite's busy timeout is 30 s; readers never do), about three on PostgreSQL (by its
# per-article figures: not timed).
BATCH = 200
ARCHIVE_BATCHES = 4  # batches of a quarter of the archive's articles ...
MAX_BATCH = 1000  # ... at most
DIFF_SAMPLES = 5
AHEAD = 3  # batches handed to the workers ahead of the one written
READ = 50  # articles read (and handed to the workers) at a time
FIRST = 12  # the run's first read: the workers' first pages (6 in hand each) sooner
TAIL = 25  # articles in the last batch, at most (``_batches``)
FIELDS = ("title", "authors", "dates", "body", "links", "metadata")
# objects allocated between two young-generation collections during a run (Python's default
# is 700): the batches' rows, results and statements mostly die young, by reference count
GC_YOUNG = 10_000


@dataclass
class Options:
    site: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: list[int] = field(default_factory=list)
    dry_run: bool = False
    force: bool = False
    workers: int = 2
    batch: int | None = None  # articles per transaction; None: ``batch_size`` of the archive
    near_threshold: float | None = None


@dataclass
class Summary:
    examined: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # already at the current extractor version (without --force)
    changed_fields: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    links_gained: int = 0
    links_lost: int = 0
    duplicates_marked: int = 0  # articles whose near-duplicate mark changed
    diffs: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    extractor_version: str = EXTRACTOR_VERSION
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "examined": self.examined, "changed": self.changed, "unchanged": self.unchanged,
            "failed": self.failed, "skipped": self.skipped,
            "changed_fields": dict(self.changed_fields),
            "links_gained": self.links_gained, "links_lost": self.links_lost,
            "duplicates_marked": self.duplicates_marked,
            "dry_run": self.dry_run, "extractor_version": self.extractor_version,
            "seconds": round(self.seconds, 3), "diffs": self.diffs,
        }


# --- in the extraction workers ---------------------------------------------------------------

def extract_stored(body: bytes, url: str, encoding: str | None
                   ) -> tuple[ExtractedArticle, Fingerprint | None]:
    """One stored page, extracted as the crawl does, without learned containers (the same
    page always gives the same text); its list of all links is dropped (not stored)."""
    from crawler.processing import process_page

    article, fp, _ = process_page(body, url, encoding, None, learn_scopes=False)
    article.links = []
    # related links by their canonical URLs (as the crawl stores them), here in the worker
    article.related = [RelatedLink(url=canonicalize(r.url), title=r.title, kind=r.kind)
                       for r in article.related]
    return article, fp


# the compression dictionaries of the pages sent to this process (a worker) so far, by id
_DICTIONARIES: dict[int, Dictionary] = {}


def share_dictionaries(dictionaries: list[Dictionary]) -> None:
    """In a worker: the dictionaries the pages sent after this call may need."""
    for item in dictionaries:
        _DICTIONARIES[item.id] = item


def extract_packed(page: StoredPage) -> tuple[ExtractedArticle, Fingerprint | None]:
    """A stored page as stored (compressed): decompressed here, in the worker, then
    extracted (``extract_stored``). An unreadable page raises ``RawPageUnreadable``."""
    zdict = None
    if page.dictionary_id is not None:
        zdict = _DICTIONARIES.get(page.dictionary_id)
        if zdict is None:
            raise RawPageUnreadable(f"its dictionary {page.dictionary_id} is missing")
    try:
        body = raw_codec.decompress(page.codec, page.data, zdict)
    except (OSError, EOFError, zlib.error) as exc:
        raise RawPageUnreadable(f"{page.codec}: {exc}") from exc
    return extract_stored(body, page.url, page.encoding)


# --- the run ---------------------------------------------------------------------------------

class Progress:
    """Articles done / total, rate, changed so far: a line on stderr at most once a second."""

    def __init__(self, total: int, stream: Any = None, interval: float = 1.0) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, summary: Summary, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        done = summary.examined
        self.stream.write(f"reextract: {done}/{self.total} articles ({done / elapsed:.1f}/s), "
                          f"{summary.changed} changed, {len(summary.failed)} failed\n")
        self.stream.flush()


def reextract(session_factory: Callable[[], Session], options: Options, *,
              progress: Callable[[Summary], None] | None = None,
              on_total: Callable[[int], None] | None = None) -> Summary:
    """Run the re-extraction (module docstring); ``session_factory()`` opens a Session."""
    return asyncio.run(_run(session_factory, options, progress, on_total))


async def _run(session_factory: Callable[[], Session], options: Options,
               progress: Callable[[Summary], None] | None,
               on_total: Callable[[int], None] | None) -> Summary:
    from crawler.extensions import _start_worker
    from crawler.processing import warm_up
    from crawler.worker_pool import WorkerPool

    started = time.perf_counter()
    summary = Summary(dry_run=options.dry_run)
    with session_factory() as session:
        ids, skipped = store.select_articles(
            session, site=options.site, since=options.since, until=options.until,
            ids=options.ids, version=None if options.force else EXTRACTOR_VERSION)
        size = options.batch or batch_size(store.archive_size(session))
    summary.skipped = skipped
    if on_total is not None:
        on_total(len(ids))
    warm_up()  # loaded once here: the forked workers inherit it
    pool: WorkerPool | None = None
    if options.workers > 0 and ids:
        # a deep queue per worker: while a batch is written (in a thread, holding the GIL
        # much of the time) the workers still have pages in hand
        pool = WorkerPool(options.workers, initializer=_start_worker, initargs=(0,),
                          max_in_flight=6)
        pool.start()
    # SQLite: each batch's pages copied from the log into the file on a thread, beside the
    # next batches (storage.checkpoint); started once the first pages are handed out
    checkpoints: BackgroundCheckpoints | None = None
    threshold = _ease_collections()  # after the workers' fork (which freezes, then thaws)
    try:
        batches = _batches(ids, size)
        writing: asyncio.Future[Any] | None = None
        # AHEAD batches in extraction at a time: the workers never wait for a batch's last
        # pages, nor for its write (in a thread, beside the next batches' extraction), even
        # when a write takes longer than a batch's extraction (a loaded machine)
        extracting: collections.deque[tuple[Any, asyncio.Future[Any]]] = collections.deque()

        async def write_next() -> None:
            nonlocal writing
            pages, task = extracting.popleft()
            extracted = await task
            if all_sent and not extracting and pool is not None:
                # every result is in: the workers exit beside the last writes
                pool.close(wait=False)
            if writing is not None:
                await writing  # the previous batch's transaction, before this one's
            # (started at the loop's next turn, once the next batch's pages are handed out:
            # started at once, with run_in_executor, the write took the GIL from those
            # reads and the ratio fell by 0.04, five runs each way)
            writing = asyncio.ensure_future(asyncio.to_thread(
                _decide_and_write, session_factory, options, pages, extracted, summary,
                checkpoints))
            if progress is not None:
                progress(summary)

        shared: set[int] = set()  # the dictionaries the workers hold
        all_sent = False
        checked = False  # the checkpoints started (where there are any)
        for batch in batches:
            pages: dict[int, list[StoredPage]] = {}
            parts: list[Awaitable[dict[int, list[Any]]]] = []
            with session_factory() as session:
                # read and handed to the workers READ articles at a time (the run's first
                # FIRST): the workers start on the first pages while the others are read
                at = 0
                while at < len(batch):
                    size = FIRST if not parts and not extracting else READ
                    chunk = store.load_pages(session, batch[at:at + size])
                    at += size
                    needed = {p.dictionary_id for plist in chunk.values() for p in plist
                              if p.dictionary_id is not None} - shared
                    if needed:  # before any page that needs them (calls run in order)
                        new = store.dictionaries(session, needed)
                        shared |= needed
                        if pool is None:
                            share_dictionaries(new)
                        elif new:
                            await pool.broadcast(share_dictionaries, new)
                    pages.update(chunk)
                    parts.append(_extract_batch(pool, chunk))
                    if not options.dry_run and not checked:
                        checkpoints, checked = _checkpoints(session_factory), True
            extracting.append((pages, asyncio.ensure_future(_joined(parts))))
            if len(extracting) >= AHEAD:
                await write_next()
        all_sent = True
        while extracting:
            await write_next()
        if writing is not None:
            await writing
    finally:
        if checkpoints is not None:
            checkpoints.stop()
        if pool is not None:
            pool.close()
        _restore_collections(threshold)
    summary.seconds = time.perf_counter() - started
    return summary


def _extract_batch(pool: Any, pages: dict[int, list[StoredPage]]
                   ) -> Awaitable[dict[int, list[Any]]]:
    """A batch's pages sent to the workers now (not when the loop next runs a task: the
    workers start on the first pages while the next ones are read); the awaitable gives
    each article's results (an exception in place of a page that failed), in page order.
    Without workers, the pages are extracted when it is awaited, in a turn of the loop:
    extracted at once, a run without workers could extract every batch before its first
    write began (a run killed mid-way then kept nothing)."""
    flat = [(aid, p) for aid, plist in pages.items() for p in plist]
    futures: list[Any] = []
    if pool is not None:
        for _, page in flat:
            try:
                futures.append(pool.submit(extract_packed, page))
            except Exception as exc:  # noqa: BLE001 - one page, reported
                futures.append(exc)

    async def collect() -> dict[int, list[Any]]:
        results: list[Any] = []
        if pool is None:
            for _, page in flat:
                try:
                    results.append(extract_packed(page))
                except Exception as exc:  # noqa: BLE001 - one page, reported
                    results.append(exc)
        else:
            answers = iter(await asyncio.gather(
                *(f for f in futures if isinstance(f, asyncio.Future)),
                return_exceptions=True))
            results = [next(answers) if isinstance(f, asyncio.Future) else f
                       for f in futures]
        out: dict[int, list[Any]] = {}
        for (aid, _), result in zip(flat, results, strict=True):
            out.setdefault(aid, []).append(result)
        return out

    return collect()


async def _joined(parts: list[Awaitable[dict[int, list[Any]]]]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for part in parts:
        out.update(await part)
    return out


def batch_size(archive: int) -> int:
    """Articles per transaction in an archive of ``archive`` articles: ``BATCH``, or an
    ``ARCHIVE_BATCHES``-th of a large archive, at most ``MAX_BATCH``."""
    return max(BATCH, min(MAX_BATCH, archive // ARCHIVE_BATCHES))


def _batches(ids: list[int], size: int) -> list[list[int]]:
    """``ids`` in batches of ``size``, the last one cut into halves down to ``TAIL``
    articles: the last batch is written after every page is extracted, with the workers
    idle, so it is made small (its predecessors are written beside the extraction of the
    next ones). Two or three commits more, a tenth of a second less at the end."""
    batches = [ids[i:i + size] for i in range(0, len(ids), size)]
    if not batches:
        return batches
    last = batches.pop()
    while len(last) > TAIL:
        half = max(len(last) // 2, TAIL)
        batches.append(last[:len(last) - half])
        last = last[len(last) - half:]
    batches.append(last)
    return batches


def _ease_collections() -> tuple[int, int, int]:
    """The garbage collector eased for a run, until ``_restore_collections``: what this
    process holds when the run starts (imports, warm-up, the ids: most of its heap) frozen,
    never traversed again, and the young generation collected every ``GC_YOUNG``
    allocations. Over 2,000 articles (``arsip bench reextract --pages 2000``): 225 ms of
    the main process's CPU in collections (two full ones of 76 ms each) down to 45.
    Returns the thresholds to restore."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], GC_YOUNG), threshold[1], threshold[2])
    return threshold


def _restore_collections(threshold: tuple[int, int, int]) -> None:
    gc.set_threshold(*threshold)
    gc.unfreeze()


def _checkpoints(session_factory: Callable[[], Session]) -> BackgroundCheckpoints | None:
    with session_factory() as session:
        bind = session.get_bind()
    return BackgroundCheckpoints(bind).start() if isinstance(bind, Engine) else None


def _decide_and_write(session_factory: Callable[[], Session], options: Options,
                      pages: dict[int, list[StoredPage]], extracted: dict[int, list[Any]],
                      summary: Summary, checkpoints: BackgroundCheckpoints | None = None
                      ) -> None:
    """One batch: decide each article, then write them all in one short transaction."""
    with session_factory() as session:
        if not options.dry_run:
            session.begin()
            store.lock(session)
        currents = store.load_current(session, list(pages))
        plans: list[tuple[Current, NewFields, list[str]]] = []
        failed: list[dict[str, Any]] = []
        for aid, plist in pages.items():
            current = currents.get(aid)
            if current is None:  # deleted meanwhile
                continue
            reason = _failure(plist, extracted.get(aid, []))
            if reason is not None:
                failed.append({"id": aid, "url": current.canonical_url, "reason": reason})
                continue
            results = extracted[aid]
            article, fp = merge_parts([r[0] for r in results], [r[1] for r in results])
            new = new_fields(article, fp)
            current.raw_ids = [p.raw_id for p in plist]
            plans.append((current, new, changed_fields(current, new)))
        marked = gained = lost = 0
        if not options.dry_run:
            outcome = store.apply_batch(session, plans, EXTRACTOR_VERSION,
                                        near_threshold=options.near_threshold)
            marked, gained, lost = (outcome.duplicates_marked, outcome.links_gained,
                                    outcome.links_lost)
            # the changed ones got the version with their new fields
            store.mark_version(session, [c.id for c, _, f in plans if not f], EXTRACTOR_VERSION)
            session.commit()
            if checkpoints is not None:
                checkpoints.nudge()
        else:
            for current, new, fields in plans:
                if "links" in fields:
                    old = {u for u, _ in current.links}
                    now = {r.url for r in new.related}
                    gained += len(now - old)
                    lost += len(old - now)
    # the summary is only touched once the batch is written (a failed write counts nothing)
    summary.examined += len(plans) + len(failed)
    summary.failed += failed
    summary.links_gained += gained
    summary.links_lost += lost
    summary.duplicates_marked += marked
    for current, new, fields in plans:
        if fields:
            summary.changed += 1
            for name in fields:
                summary.changed_fields[name] += 1
            if len(summary.diffs) < DIFF_SAMPLES:
                summary.diffs.append(diff_sample(current, new, fields))
        else:
            summary.unchanged += 1


def _failure(pages: list[StoredPage], results: list[Any]) -> str | None:
    """Why an article cannot be re-extracted (its stored text is then kept), or None."""
    if not pages:
        return "no raw page stored"
    if len(results) != len(pages):
        return "not extracted"
    for page, result in zip(pages, results, strict=True):
        if isinstance(result, RawPageUnreadable):
            return f"raw page {page.raw_id} unreadable: {result}"[:300]
    for result in results:
        if isinstance(result, BaseException):
            return f"extraction failed: {type(result).__name__}: {result}"[:300]
    first: ExtractedArticle = results[0][0]
    if not all(r[0].is_article for r in results):
        return "the stored page no longer extracts as an article (stored text kept)"
    if not any(r[0].body.strip() for r in results):
        return "no text extracted (stored text kept)"
    if len(pages) == 1 and first.next_page_url and not _is_page_all(pages[0].url, first):
        return "multi-page article: only its first page is stored (stored text kept)"
    return None


def _is_page_all(url: str, article: ExtractedArticle) -> bool:
    if article.page_all_url is None:
        return False
    return canonicalize(article.page_all_url, article=False) == canonicalize(url, article=False)
