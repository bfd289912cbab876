"""`arsip bench query`: search, show and export speed on a synthetic archive.

Builds N articles (default 100,000) of several hundred words each, drawn from an
Indonesian-like vocabulary with a Zipf distribution (so some terms are in half the
documents, others in a handful), with sites, authors, languages, aliases, related links,
versions and near-duplicates; on SQLite (a temporary file) or on the PostgreSQL server given
with ``--database`` (in a temporary database created there and dropped afterwards).

Prints search_p50_ms / search_p95_ms over a varied query set (rare, medium and very common
terms, AND of words, phrases, prefixes, OR, exclusion, with and without filters), the same
queries ranked exhaustively as the baseline (``search_baseline_*``: BM25 / ts_rank over every
match), show_p50_ms, export_articles_per_s with the peak RSS growth during the export, the
archive size and the build time.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

from arsip.bench.bulk import bulk_connection
from arsip.bench.database import add_keep_database, bench_database
from arsip.errors import UsageError
from arsip.output import dumps

COMMIT_EVERY = 20_000  # articles per transaction while building
GOALS = {"search_p50_ms": 50.0, "search_p95_ms": 200.0, "export_articles_per_s": 2000.0}

FUNCTION_WORDS = (
    "yang dan di ini itu dengan untuk dari dalam tidak akan pada juga ke karena oleh ada "
    "saat bisa sudah telah lebih mereka kami kita tersebut sebagai atau hingga namun bahwa "
    "para menjadi masih seperti dapat setelah secara banyak hal tahun satu dua orang baru "
    "pun lalu jika agar sejak antara serta tapi kata menurut"
).split()
# real words placed at chosen ranks, so that queries in the set look like real ones
PLACED = {
    60: "pemerintah", 120: "rusia", 400: "pasukan", 900: "presiden", 2500: "kazakhstan",
    6000: "perdamaian", 15000: "blinken", 30000: "moskow",
}
ONSETS = ["b", "c", "d", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "w", "y",
          "ng", "ny", "kh", "sy"]
VOWELS = ["a", "i", "u", "e", "o", "a", "a", "i"]
CODAS = ["", "", "", "n", "ng", "r", "k", "t", "s", "h", "l", "m"]
PREFIXES = ["", "", "", "me", "mem", "men", "meng", "ber", "di", "ter", "pe", "pen", "per",
            "ke", "se"]
SUFFIXES = ["", "", "", "", "kan", "an", "nya", "i", "lah"]


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "query", parents=[common], help="search/show/export speed on a synthetic archive",
        description="Builds a synthetic archive and times search, show and export. SQLite "
                    "(a temporary file) by default; --database URL of a PostgreSQL server "
                    "benches a temporary database created (and dropped) there.")
    p.add_argument("--articles", type=int, default=100_000, metavar="N",
                   help="articles in the synthetic archive (default 100000)")
    p.add_argument("--sqlite-file", metavar="PATH",
                   help="build the SQLite archive here and keep it; reused when it already "
                        "holds N articles (default: a temporary file)")
    add_keep_database(p)
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="output format (default table)")
    p.set_defaults(func=run)


# --- synthetic archive --------------------------------------------------------------------

def vocabulary(size: int, rng: Any) -> list[str]:
    words: list[str] = list(FUNCTION_WORDS)
    seen = set(words) | set(PLACED.values())
    while len(words) < size:
        syllables = "".join(rng.choice(ONSETS) + rng.choice(VOWELS)
                            for _ in range(rng.integers(2, 4)))
        word = rng.choice(PREFIXES) + syllables + rng.choice(CODAS) + rng.choice(SUFFIXES)
        if word not in seen:
            seen.add(word)
            words.append(word)
    for rank, word in PLACED.items():
        if rank < size:
            words.insert(rank, word)
    return words[:size]


def build(engine: Any, n: int, seed: int, log: Any) -> dict[str, Any]:
    """Fill the archive with ``n`` synthetic articles: Core executemany in transactions of
    ``COMMIT_EVERY`` articles on one connection set up by :func:`bulk_connection` (indexes
    and the FTS index built once after the rows). Returns build_s, build_rows_s,
    build_articles_per_s and the vocabulary."""
    from datetime import UTC, datetime

    import numpy as np
    from sqlalchemy import insert

    from storage.models import Site

    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(40_000, rng), dtype=object)
    ranks = np.arange(1, len(vocab) + 1)
    weights = 1.0 / ranks ** 1.05
    cumulative = np.cumsum(weights / weights.sum())
    content_cumulative = np.cumsum(weights[100:] / weights[100:].sum())
    sites = ["kompas", "tempo", "detik", "intisari", "antara"]
    authors = [f"{a} {b}" for a in ("Afif", "Siti", "Budi", "Rina", "Dewi", "Agus", "Putri",
                                    "Yusuf", "Wahyu", "Nur")
               for b in ("Santoso", "Aminah", "Khoirul", "Wibowo", "Lestari", "Saputra",
                         "Hidayat", "Pratama", "Kurniawan", "Utami")]
    start = datetime(2022, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Site), [{"id": i + 1, "name": s, "created_at": now}
                                    for i, s in enumerate(sites)])
    batch = 2000
    with bulk_connection(engine, log) as conn:
        rows_s = _insert_rows(conn, n, batch, rng, vocab, cumulative, content_cumulative,
                              sites, authors, start, started, log)
        log(f"rows in after {rows_s:.0f} s; building the indexes")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    build_s = time.perf_counter() - started
    log(f"built {n} articles in {build_s:.1f} s ({n / build_s:.0f} articles/s)")
    return {"build_s": round(build_s, 1), "build_rows_s": round(rows_s, 1),
            "build_articles_per_s": round(n / build_s, 1),
            "vocabulary": [str(w) for w in vocab[:3000]]}


def _insert_rows(conn: Any, n: int, batch: int, rng: Any, vocab: Any, cumulative: Any,
                 content_cumulative: Any, sites: list[str], authors: list[str], start: Any,
                 started: float, log: Any) -> float:
    """Generate and insert the rows, committing every ``COMMIT_EVERY`` articles."""
    import hashlib
    from datetime import timedelta

    import numpy as np
    from sqlalchemy import insert

    from storage.models import Article, ArticleLink, ArticleURL, ArticleVersion

    for first in range(1, n + 1, batch):
        ids = range(first, min(first + batch, n + 1))
        lengths = rng.integers(250, 750, size=len(ids))
        tokens = np.searchsorted(cumulative, rng.random(int(lengths.sum())))
        title_tokens = 100 + np.searchsorted(content_cumulative, rng.random(len(ids) * 9))
        articles, urls, links, versions = [], [], [], []
        offset = 0
        for k, article_id in enumerate(ids):
            words = vocab[tokens[offset:offset + lengths[k]]]
            offset += lengths[k]
            body = "\n\n".join(" ".join(words[p:p + 60]) for p in range(0, len(words), 60))
            title = " ".join(vocab[title_tokens[k * 9:(k + 1) * 9]]).capitalize()
            url = f"https://{sites[article_id % 5]}.example/read/{article_id}/artikel"
            published = start + timedelta(minutes=int(article_id * 10 + rng.integers(0, 600)))
            duplicate = int(rng.integers(1, article_id)) \
                if article_id > 10 and rng.random() < 0.02 else None
            articles.append({
                "id": article_id, "site_id": article_id % 5 + 1, "canonical_url": url,
                "title": title, "authors": [authors[int(rng.integers(0, len(authors)))]],
                "published": published, "published_local": None,
                "language": "en" if rng.random() < 0.05 else "id",
                "section": "News", "tags": [], "body": body,
                "content_hash": hashlib.sha256(body.encode()).hexdigest(),
                "duplicate_of_id": duplicate, "similarity": 0.9 if duplicate else None,
                "first_seen": published, "last_seen": published, "last_checked": published,
            })
            urls.append({"url": url, "article_id": article_id, "kind": "canonical",
                         "first_seen": published})
            if rng.random() < 0.3:
                urls.append({"url": url + "?page=all", "article_id": article_id,
                             "kind": "page", "first_seen": published})
            for position in range(2):
                target = int(rng.integers(1, n + 1000))  # some beyond the archive
                links.append({
                    "from_article_id": article_id, "position": position,
                    "to_url": f"https://{sites[target % 5]}.example/read/{target}/artikel",
                    "kind": "inline" if position == 0 else "block", "anchor": None,
                })
            if rng.random() < 0.01:
                versions.append({
                    "article_id": article_id, "version": 1, "title": title,
                    "body": body[: len(body) // 2], "content_hash": "0" * 64,
                    "first_seen": published, "last_seen": published,
                })
        conn.execute(insert(Article), articles)
        conn.execute(insert(ArticleURL), urls)
        conn.execute(insert(ArticleLink), links)
        if versions:
            conn.execute(insert(ArticleVersion), versions)
        done = ids[-1]
        if done % COMMIT_EVERY < batch or done == n:
            conn.commit()
        if done % 20_000 < batch:
            log(f"inserted {done}/{n} articles ({time.perf_counter() - started:.0f} s)")
    conn.commit()
    return time.perf_counter() - started


# --- measurements -------------------------------------------------------------------------

def query_set(vocab: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, query, filters) covering rare to very common terms, phrases, prefixes."""
    from storage.filters import parse_date

    recent = parse_date("2023-06-01")
    queries: list[tuple[str, str, dict[str, Any]]] = [
        ("very common", vocab[5], {}),  # in nearly every document
        ("very common", vocab[50], {}),  # in about half
        ("very common", PLACED[60], {}),
        ("very common", PLACED[120], {}),
        ("common", PLACED[400], {}),
        ("common", vocab[300], {}),
        ("medium", PLACED[900], {}),
        ("medium", vocab[1500], {}),
        ("medium", PLACED[2500], {}),
        ("rare", PLACED[6000], {}),
        ("rare", vocab[2900], {}),
        ("rare", PLACED[15000], {}),
        ("rare", PLACED[30000], {}),
        ("and", f"{PLACED[120]} {PLACED[400]}", {}),
        ("and", f"{vocab[50]} {PLACED[2500]}", {}),
        ("and", f"{PLACED[60]} {vocab[40]} {vocab[70]}", {}),
        ("phrase", f'"{vocab[1]} {vocab[2]}"', {}),
        ("phrase", f'"{PLACED[400]} {PLACED[120]}"', {}),
        ("phrase", f'"{PLACED[60]} {vocab[1]}"', {}),
        ("prefix", "kazak*", {}),
        ("prefix", "ber*", {}),
        ("prefix", "meng*", {}),
        ("prefix", f"{vocab[800][:4]}*", {}),
        ("or", f"{PLACED[2500]} OR {PLACED[6000]}", {}),
        ("exclude", f"{PLACED[120]} -{PLACED[400]}", {}),
        ("filter", PLACED[120], {"site": "tempo"}),
        ("filter", PLACED[2500], {"since": recent}),
        ("filter", vocab[50], {"language": "en"}),
        ("filter", PLACED[400], {"author": "santoso"}),
        ("filter", vocab[10], {"site": "kompas", "since": recent}),
        ("filter", PLACED[900], {"include_duplicates": True}),
    ]
    return queries


def time_searches(engine: Any, queries: Any, *, candidates: int | None, passes: int) -> Any:
    from sqlalchemy.orm import Session

    from storage.filters import ArticleFilter
    from storage.search import CANDIDATES, search

    bound = candidates if candidates is not None else CANDIDATES
    timings: list[float] = []
    cpu: list[float] = []
    by_kind: dict[str, list[float]] = {}
    hits = 0
    with Session(engine) as session:
        for q in queries:  # warm-up pass
            search(session, q[1], filters=ArticleFilter(**q[2]), candidates=bound)
        for _ in range(passes):
            for kind, query, filters in queries:
                t0, c0 = time.perf_counter(), time.process_time()
                result = search(session, query, filters=ArticleFilter(**filters),
                                candidates=bound)
                elapsed = (time.perf_counter() - t0) * 1000
                cpu.append((time.process_time() - c0) * 1000)
                hits += len(result)
                timings.append(elapsed)
                by_kind.setdefault(kind, []).append(elapsed)
    return timings, cpu, {k: round(statistics.median(v), 2) for k, v in by_kind.items()}, hits


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: ru_maxrss is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _CountingSink:
    """A text stream that discards what it gets, counting bytes and sampling RSS."""

    def __init__(self) -> None:
        self.bytes = 0
        self.writes = 0
        self.peak_rss = rss_bytes()

    def write(self, text: str) -> int:
        self.bytes += len(text)
        self.writes += 1
        if self.writes % 500 == 0:
            self.peak_rss = max(self.peak_rss, rss_bytes())
        return len(text)


def measure(engine: Any, n: int, vocab: list[str], log: Any) -> dict[str, Any]:
    import random

    from sqlalchemy.orm import Session

    from storage.export import iter_articles, write_jsonl
    from storage.filters import ArticleFilter
    from storage.queries import archive_size, show_article

    queries = query_set(vocab)
    log(f"timing {len(queries)} queries")
    timings, cpu, by_kind, hits = time_searches(engine, queries, candidates=None, passes=3)
    log("timing the baseline (exhaustive ranking)")
    baseline, baseline_cpu, baseline_by_kind, _ = time_searches(
        engine, queries, candidates=10**9, passes=1)
    rnd = random.Random(7)
    show_times, show_cpu = [], []
    with Session(engine) as session:
        for _ in range(100):
            ref = rnd.randint(1, n)
            t0, c0 = time.perf_counter(), time.process_time()
            show_article(session, ref)
            show_times.append((time.perf_counter() - t0) * 1000)
            show_cpu.append((time.process_time() - c0) * 1000)
            session.expunge_all()
    log("timing export")
    sink = _CountingSink()
    rss_before = rss_bytes()
    with Session(engine) as session:
        t0, c0 = time.perf_counter(), time.process_time()
        exported = write_jsonl(iter_articles(session, ArticleFilter(include_duplicates=True)),
                               sink)  # type: ignore[arg-type]
        export_s = time.perf_counter() - t0
        export_cpu_s = time.process_time() - c0
        size = archive_size(session)
    return {
        "articles": n,
        "queries": len(queries),
        "search_p50_ms": percentile(timings, 50),
        "search_p95_ms": percentile(timings, 95),
        "search_max_ms": round(max(timings), 2),
        "search_cpu_p50_ms": percentile(cpu, 50),
        "search_cpu_p95_ms": percentile(cpu, 95),
        "search_p50_ms_by_kind": by_kind,
        "search_baseline_p50_ms": percentile(baseline, 50),
        "search_baseline_p95_ms": percentile(baseline, 95),
        "search_baseline_cpu_p50_ms": percentile(baseline_cpu, 50),
        "search_baseline_cpu_p95_ms": percentile(baseline_cpu, 95),
        "search_baseline_p50_ms_by_kind": baseline_by_kind,
        "search_p95_speedup": round(percentile(baseline, 95)
                                    / max(percentile(timings, 95), 0.01), 1),
        "hits_returned": hits,
        "show_p50_ms": percentile(show_times, 50),
        "show_cpu_p50_ms": percentile(show_cpu, 50),
        "export_articles": exported,
        "export_articles_per_s": round(exported / export_s, 1) if export_s else None,
        "export_cpu_articles_per_s": round(exported / export_cpu_s, 1)
        if export_cpu_s else None,
        "export_mb_per_s": round(sink.bytes / 1e6 / export_s, 1) if export_s else None,
        "export_rss_growth_mb": round((sink.peak_rss - rss_before) / 1e6, 1),
        "archive_size_mb": round(size / 1e6, 1) if size is not None else None,
    }


# --- the command --------------------------------------------------------------------------

def run(args: Any) -> int:
    from storage.engine import open_archive

    if args.articles < 10:
        raise UsageError("--articles must be at least 10")
    log = (lambda msg: None) if args.format == "json" else \
        (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True))
    with bench_database(args, "arsip-bench-query-") as (target, where):
        engine = open_archive(target)
        try:
            built = _reuse_or_build(engine, args.articles, args.seed, log)
            result = {"backend": engine.dialect.name, "database": where,
                      "build_s": built["build_s"]}
            result.update(measure(engine, args.articles, built["vocabulary"], log))
        finally:
            engine.dispose()
    result["load_average"] = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") \
        else None
    result["cpus"] = os.cpu_count()
    result["goals"] = GOALS
    result["meets_goals"] = (
        result["search_p50_ms"] < GOALS["search_p50_ms"]
        and result["search_p95_ms"] < GOALS["search_p95_ms"]
        and (result["export_articles_per_s"] or 0) >= GOALS["export_articles_per_s"]
    )
    if args.format == "json":
        print(dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:32} {dumps(value) if isinstance(value, dict) else value}")
    return 0


def _reuse_or_build(engine: Any, n: int, seed: int, log: Any) -> dict[str, Any]:
    import numpy as np
    from sqlalchemy import func, select

    from storage.models import Article

    with engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(Article)).scalar_one()
    if existing == n:
        log(f"reusing the archive of {n} articles")
        from arsip.bench.bulk import advance_sequences

        with engine.begin() as conn:  # an archive kept by an earlier version of the load
            advance_sequences(conn)
        vocab = vocabulary(40_000, np.random.default_rng(seed))
        return {"build_s": None, "vocabulary": vocab[:3000]}
    if existing:
        raise UsageError(f"the bench archive holds {existing} articles, not {n}: "
                         "remove it or pick another --sqlite-file / --keep-database")
    log(f"building {n} articles")
    return build(engine, n, seed, log)
