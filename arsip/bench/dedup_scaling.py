"""`arsip bench dedup`, part (2): the cost of the dedup-aware write path as the archive
grows (see ``arsip.bench.dedup``): synthetic bodies, the archives (SQLite or PostgreSQL) grown
by bulk loads, and the measured batches through the real store path."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arsip.errors import UsageError

REPEATS = 6  # measured batches at each size


class _Bodies:
    """Synthetic article bodies: words drawn from a Zipf-like vocabulary, 150-300 words."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        syll = ["ka", "ta", "ra", "ma", "na", "sa", "pa", "la", "ba", "da", "ga", "ja", "wa",
                "ki", "ti", "ri", "mi", "ni", "si", "pi", "ku", "tu", "ru", "mu", "nu", "su",
                "an", "ng", "er", "ah"]
        words: set[str] = set()
        while len(words) < 20000:
            words.add("".join(self.rng.choice(syll) for _ in range(self.rng.randint(2, 4))))
        self.words = sorted(words)
        total = 0.0
        self.cum_weights = []
        for rank in range(len(self.words)):
            total += 1.0 / (rank + 10)
            self.cum_weights.append(total)

    def body(self) -> str:
        n = self.rng.randint(150, 300)
        words = self.rng.choices(self.words, cum_weights=self.cum_weights, k=n)
        paras = [" ".join(words[i:i + 40]) + "." for i in range(0, n, 40)]
        return "\n\n".join(paras)

    def near_copy(self, body: str) -> str:
        words = body.split()
        for _ in range(max(1, len(words) // 50)):  # about 2 % of the words changed
            words[self.rng.randrange(len(words))] = self.rng.choice(self.words)
        return " ".join(words)


def _bulk_fill(engine: Any, site_id: int, start: int, stop: int, gen: _Bodies,
               kept: list[str]) -> None:
    """Insert articles ``start..stop-1`` with their URLs, fingerprints and bands
    (:func:`arsip.bench.bulk.bulk_connection`: indexes built after the rows)."""
    from datetime import UTC, datetime

    from arsip.bench.bulk import bulk_connection

    base = datetime(2020, 1, 1, tzinfo=UTC)
    chunk = 2000
    with bulk_connection(engine, lambda msg: None) as conn:
        _fill_chunks(conn, site_id, start, stop, chunk, gen, kept, base)


def _fill_chunks(conn: Any, site_id: int, start: int, stop: int, chunk: int, gen: _Bodies,
                 kept: list[str], base: Any) -> None:
    from datetime import timedelta

    from sqlalchemy import insert

    from crawler.dedup import fingerprint
    from storage.models import Article, ArticleURL, MinHashBand

    for lo in range(start, stop, chunk):
        hi = min(stop, lo + chunk)
        arts: list[dict[str, Any]] = []
        urls: list[dict[str, Any]] = []
        bands: list[dict[str, Any]] = []
        for i in range(lo, hi):
            body = gen.body()
            if len(kept) < 500 and gen.rng.random() < 0.01:
                kept.append(body)  # originals the measured batch will copy
            f = fingerprint(body)
            url = f"https://bench.example/read/{i}/artikel-{i}"
            when = base + timedelta(minutes=i)
            arts.append({"id": i + 1, "site_id": site_id, "canonical_url": url,
                         "title": f"Artikel {i}", "body": body, "content_hash": f.content_hash,
                         "minhash": f.minhash, "published": when, "first_seen": when,
                         "last_seen": when, "last_checked": when, "authors": [], "tags": []})
            urls.append({"url": url, "article_id": i + 1, "kind": "canonical",
                         "first_seen": when})
            bands.extend({"article_id": i + 1, "band": b, "key": k} for b, k in f.band_keys)
        # Core executemany in transactions of 10 chunks, on the bulk-load connection
        conn.execute(insert(Article), arts)
        conn.execute(insert(ArticleURL), urls)
        conn.execute(insert(MinHashBand), bands)
        if (lo - start) // chunk % 10 == 9 or hi == stop:
            conn.commit()


@contextmanager
def archive_locations(args: Any) -> Iterator[tuple[str, str | None, str]]:
    """(the archive of the smaller sizes, that of the largest when it is kept, where to say
    the largest is): SQLite by default (a temporary file; ``--sqlite-file`` keeps the
    largest size), or a PostgreSQL server (``--database``: a temporary database, dropped
    after; ``--keep-database NAME`` keeps the largest size in NAME)."""
    from arsip.bench.database import kept_pg_database, pg_server, temporary_pg_database
    from storage.engine import redact

    url = pg_server(args)
    if url is not None:
        if args.sqlite_file:
            raise UsageError("--sqlite-file is SQLite's; with --database use --keep-database")
        small, drop = temporary_pg_database(url)
        try:
            if args.keep_database:
                kept = kept_pg_database(url, args.keep_database)
                yield (small.render_as_string(hide_password=False),
                       kept.render_as_string(hide_password=False), redact(kept))
            else:
                yield small.render_as_string(hide_password=False), None, redact(small)
        finally:
            drop()
        return
    if args.keep_database:
        raise UsageError("--keep-database needs --database (a PostgreSQL server URL); "
                         "for SQLite use --sqlite-file")
    with tempfile.TemporaryDirectory(prefix="arsip-bench-dedup-") as tmp:
        small_file = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.sqlite_file:
            path = Path(args.sqlite_file).resolve()
            yield small_file, f"sqlite:///{path}", str(path)
        else:
            yield small_file, None, str(Path(tmp) / "bench.db")


def scaling(sizes: list[int], batch: int, threshold: float, seed: int,
            small_url: str, large_url: str | None = None) -> dict[str, Any]:
    """The write path's cost at each of ``sizes``, in one archive (``small_url``) grown from
    size to size; ``large_url``: the largest size in that archive instead, kept, and on a
    next run filled only up to the size (a million articles take 15 minutes to build)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from storage.models import Article

    gen = _Bodies(seed)
    out: list[dict[str, Any]] = []
    build_s = 0.0
    archive = _Archive.open(small_url)
    kept_archive = _Archive.open(large_url) if large_url else None
    try:
        for size in sizes:
            where = kept_archive if kept_archive and size == sizes[-1] else archive
            started = time.perf_counter()
            with Session(where.engine) as session:
                filled = session.execute(select(func.count(Article.id))).scalar_one()
            if size > filled:
                _bulk_fill(where.engine, where.site_id, filled, size, gen, where.kept)
            elif not where.kept:
                where.kept.extend(_sample_bodies(where.engine))
            build_s += time.perf_counter() - started
            out.append(where.measure(size, batch, threshold, gen))
            print(f"bench dedup: archive {size}: {out[-1]['ms_per_article']} ms/article "
                  f"({out[-1]['cpu_ms_per_article']} ms CPU)", file=sys.stderr, flush=True)
    finally:
        archive.engine.dispose()
        if kept_archive:
            kept_archive.engine.dispose()
    first, last = out[0]["ms_per_article"], out[-1]["ms_per_article"]
    ratio = round(last / first, 3) if first else None
    cpu_first, cpu_last = out[0]["cpu_ms_per_article"], out[-1]["cpu_ms_per_article"]
    # ratio_100k_1k: the historical name (it is the largest over the smallest size too)
    return {"backend": archive.engine.dialect.name,
            "sizes": out, "ratio_100k_1k": ratio, "ratio_largest_smallest": ratio,
            # the same in this process's CPU time: less disturbed by a busy machine
            "cpu_ratio_largest_smallest": round(cpu_last / cpu_first, 3) if cpu_first else None,
            "build_s": round(build_s, 1),
            "build_articles_per_s": round(sizes[-1] / build_s, 1) if build_s else None}


@dataclass
class _Archive:
    """A bench archive (the real schema and engine) and the bodies its near-copies copy."""

    engine: Any
    site_id: int
    kept: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, url: str) -> _Archive:
        from sqlalchemy.orm import Session

        from storage.engine import open_archive
        from storage.runs import ensure_site

        engine = open_archive(url)
        with Session(engine) as session, session.begin():
            site_id = ensure_site(session, "bench")
        return cls(engine, site_id)

    def stored_bytes(self) -> int:
        """The archive's bytes: the SQLite file and its log, or the PostgreSQL database."""
        from sqlalchemy import text

        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                return int(conn.execute(
                    text("SELECT pg_database_size(current_database())")).scalar_one())
        path = Path(self.engine.url.database)
        files = [path, path.with_name(path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())

    def measure(self, size: int, batch: int, threshold: float, gen: _Bodies) -> dict[str, Any]:
        """REPEATS batches, written as the crawl's writer writes them (checkpoints of the
        log on a thread of their own: ``storage.checkpoint``); the time and CPU an article
        are those of all batches and of the last checkpoint, the thread's included. The
        fingerprints are made before timing (the extraction workers' job); a fifth of the
        new articles are near-copies of archived ones."""
        from sqlalchemy import func, select
        from sqlalchemy.orm import Session

        from crawler.dedup import fingerprint
        from storage.archive import ArchivedPage, store_page
        from storage.checkpoint import BackgroundCheckpoints
        from storage.models import Article

        timings: list[float] = []
        cpu: list[float] = []
        outcomes: dict[str, int] = {}
        # the measured articles' URLs: numbered apart from the bulk ones, after those of
        # earlier runs on a kept file (and a random part, whatever those stored)
        with Session(self.engine) as session:
            serial = session.execute(select(func.count(Article.id))).scalar_one() + 10_000_000
        # new bodies from the archive's size: a rerun on a kept file must not store the
        # previous run's bodies again (they would all be copies, a different workload)
        gen.rng.seed(serial)
        warm_s = self.warm()
        checkpoints = BackgroundCheckpoints(self.engine).start()
        for _ in range(REPEATS):
            pages = []
            for j in range(batch):
                body = gen.near_copy(gen.rng.choice(self.kept)) if self.kept and j % 5 == 0 \
                    else gen.body()
                serial += 1
                url = f"https://bench.example/baru/{serial}-{gen.rng.random():.8f}"
                pages.append(ArchivedPage(url=url, canonical_url=url, title="baru", body=body,
                                          fingerprint=fingerprint(body),
                                          raw_body=body.encode()))
            started, cpu_started = time.perf_counter(), time.process_time()
            with Session(self.engine) as session, session.begin():
                for page in pages:
                    with session.begin_nested():
                        res = store_page(session, self.site_id, page, near_threshold=threshold)
                    outcomes[res.outcome] = outcomes.get(res.outcome, 0) + 1
            checkpoints.nudge()
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        started, cpu_started = time.perf_counter(), time.process_time()
        checkpoints.stop()  # the last batch's checkpoint is part of the cost
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        # the archive's bytes an article at this size: text, indexes, URLs, the MinHash
        # signature and its 32 LSH bands (no raw pages: bench bodies)
        stored = self.stored_bytes()
        with Session(self.engine) as session:
            count = session.execute(select(func.count(Article.id))).scalar_one()
        stored_articles = REPEATS * batch
        return {"archive": size, "ms_per_article": round(sum(timings) * 1000 / stored_articles, 3),
                "cpu_ms_per_article": round(sum(cpu) * 1000 / stored_articles, 3),
                "outcomes": outcomes, "bytes_per_article": round(stored / max(count, 1)),
                "warm_s": round(warm_s, 2)}

    def warm(self) -> float:
        """Read the LSH band index once, untimed: a writer that has been running has its
        pages in the OS page cache (each stored article reads 32 of them at random); a
        file that other work pushed out of the cache would be measured at disk speed
        (README: both figures). Returns the seconds it took."""
        from sqlalchemy import text

        started = time.perf_counter()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # the index, not the table
                conn.execute(text("SET LOCAL enable_seqscan = off"))
                conn.execute(text("SELECT count(*) FROM minhash_bands WHERE band >= 0"))
            else:
                conn.execute(text("SELECT count(*) FROM minhash_bands "
                                  "INDEXED BY ix_minhash_bands_band_key WHERE band >= 0"))
        return time.perf_counter() - started


def _sample_bodies(engine: Any) -> list[str]:
    """Up to 500 bodies of a reused archive, spread over it: the originals of near-copies."""
    from sqlalchemy import text

    from storage.id_lists import ids_in, ids_value

    with engine.connect() as conn:
        top = conn.execute(text("SELECT coalesce(max(id), 0) FROM articles")).scalar_one()
        step = max(1, top // 500)
        ids = list(range(1, top + 1, step))[:500]
        dialect = conn.dialect.name
        rows = conn.execute(text(f"SELECT body FROM articles WHERE {ids_in(dialect, 'id')}"),
                            {"ids": ids_value(dialect, ids)})
        return [str(b) for b in rows.scalars()]
