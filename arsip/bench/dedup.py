"""`arsip bench dedup`: near-duplicate quality on labelled pairs, and the cost of the
dedup-aware write path as the archive grows.

(1) Quality: pairs built from the real texts of ``../shared/corpus`` (``articleBody`` of each
folder's ``ground-truth.json``; see ``arsip.bench.dedup_pairs``): copies with edits of growing
size and portal rewrites (positives), different articles on the same topic (negatives). The
decision is the archive's own (``storage.dedup_index.is_near_duplicate``: exact hash, or a
shared LSH band and an estimated Jaccard >= threshold). Prints ``precision``, ``recall``
(goal: both >= 0.98 at the default threshold), recall per kind and the fingerprint cost.

(2) Scaling: an archive (the real schema and engine: a temporary SQLite file, or with
``--database`` a temporary database on that PostgreSQL server) grown to each of
``--sizes`` articles with bulk inserts of synthetic bodies and their real fingerprints and LSH
bands; at each size the LSH index is read once (untimed: a running writer's index is in the
page cache), then REPEATS batches of new articles (a fifth of them near-copies of archived
ones, so candidates are verified too) go through the real store path (``store_page``, one
transaction a batch, a savepoint per article, the log checkpointed on a thread as the
crawl's writer does: ``storage.checkpoint``). Prints ``sizes: [{archive, ms_per_article}]``
(all batches and the last checkpoint), ``ratio_100k_1k`` and ``ratio_largest_smallest``
(both the largest size's cost over the smallest's; 100k over 1k with the default sizes;
goal <= 2), and ``cpu_ratio_largest_smallest``, the same in this process's CPU time (less
disturbed by a busy machine). ``--sizes`` takes numbers separated by spaces or commas.
``--sqlite-file F`` (``--keep-database NAME`` on PostgreSQL) measures the largest size in
F (NAME) and keeps it: a next run fills it only up to the size (a million articles take
about 15 minutes to build). Nothing of the archive
is loaded into memory: the process's peak RSS is printed too.
"""

from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path
from typing import Any

from arsip.bench.database import add_keep_database
from arsip.bench.dedup_scaling import archive_locations, scaling
from arsip.errors import UsageError

GOALS = {"precision": 0.98, "recall": 0.98, "ratio_100k_1k": 2.0}
DEFAULT_SIZES = "1000,10000,100000"


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("dedup", parents=[common],
                       help="near-duplicate precision/recall and write cost vs archive size")
    p.add_argument("--corpus", nargs="+", metavar="DIR",
                   help="corpus folders with ground-truth.json (default: every folder of "
                        "../shared/corpus)")
    p.add_argument("--sizes", nargs="+", default=[DEFAULT_SIZES], metavar="N",
                   help="archive sizes for the scaling part, separated by spaces or commas "
                        f"(default {DEFAULT_SIZES})")
    p.add_argument("--batch", type=int, default=200, metavar="N",
                   help="new articles stored at each size (default 200)")
    p.add_argument("--threshold", type=float, default=None,
                   help="near-duplicate threshold (default: the archive's default)")
    p.add_argument("--skip-scaling", action="store_true", help="only the quality part")
    p.add_argument("--skip-quality", action="store_true", help="only the scaling part")
    p.add_argument("--sqlite-file", metavar="F",
                   help="measure the largest size in this SQLite file and keep it; a next "
                        "run fills it only up to the size (default: a temporary archive)")
    add_keep_database(p)
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="output format (default table)")
    p.set_defaults(func=run)


def _sizes(values: str | list[str]) -> list[int]:
    text = values if isinstance(values, str) else ",".join(values)
    try:
        sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise UsageError(f"--sizes: expected numbers separated by commas, not {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise UsageError("--sizes: give at least one positive size")
    return sizes


def default_corpus() -> list[Path]:
    here = Path(__file__).resolve().parents[2]  # the repository root
    for root in (here.parent / "shared" / "corpus", Path("../shared/corpus")):
        if root.is_dir():
            return sorted(p for p in root.iterdir() if (p / "ground-truth.json").is_file())
    return []


def run(args: Any) -> int:
    from arsip.output import dumps
    from storage.dedup_index import DEFAULT_THRESHOLD

    sizes = _sizes(args.sizes)
    if args.batch < 1:
        raise UsageError("--batch: must be at least 1")
    threshold = args.threshold if args.threshold is not None else DEFAULT_THRESHOLD
    if not 0 < threshold <= 1:
        raise UsageError("--threshold: must be between 0 and 1")
    result: dict[str, Any] = {"threshold": threshold}
    if not args.skip_quality:
        folders = [Path(p) for p in args.corpus] if args.corpus else default_corpus()
        missing = [str(p) for p in folders if not (p / "ground-truth.json").is_file()]
        if missing or not folders:
            from arsip.errors import CommandError

            where = ", ".join(missing) or "../shared/corpus"
            raise CommandError(f"no corpus with ground-truth.json at {where}")
        result.update(quality(folders, threshold, args.seed))
    if not args.skip_scaling:
        with archive_locations(args) as (small, large, where):
            result.update(scaling(sizes, args.batch, threshold, args.seed, small, large))
        result["database"] = where
    result["peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["goals"] = {k: v for k, v in GOALS.items() if k in result}
    if args.format == "json":
        print(dumps(result))
    else:
        _print_table(result)
    return 0


# -- (1) quality ---------------------------------------------------------------------------
def quality(folders: list[Path], threshold: float, seed: int) -> dict[str, Any]:
    from arsip.bench.dedup_pairs import build_pairs, load_texts
    from crawler.dedup import fingerprint, similarity
    from storage.dedup_index import is_near_duplicate

    texts = load_texts(folders)
    pairs = build_pairs(texts, seed=seed)
    cache: dict[str, Any] = {}
    times: list[float] = []

    def fp(text: str) -> Any:
        if text not in cache:
            started = time.perf_counter()
            cache[text] = fingerprint(text)
            times.append((time.perf_counter() - started) * 1000)
        return cache[text]

    tp = fp_ = fn = tn = 0
    kinds: dict[str, list[int]] = {}
    sims: dict[str, list[float]] = {}
    for pair in pairs:
        a, b = fp(pair.a), fp(pair.b)
        decided = is_near_duplicate(a, b, threshold)
        sims.setdefault(pair.kind, []).append(
            similarity(a.minhash, b.minhash) if a.minhash and b.minhash else 0.0)
        kinds.setdefault(pair.kind, []).append(int(decided == pair.duplicate))
        if decided and pair.duplicate:
            tp += 1
        elif decided:
            fp_ += 1
        elif pair.duplicate:
            fn += 1
        else:
            tn += 1
    return {
        "texts": len(texts),
        "pairs": len(pairs),
        "positives": tp + fn,
        "negatives": fp_ + tn,
        "precision": round(tp / (tp + fp_), 4) if tp + fp_ else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "false_positives": fp_,
        "false_negatives": fn,
        "by_kind": {k: {"pairs": len(v), "correct": round(sum(v) / len(v), 4),
                        "similarity_min": round(min(sims[k]), 3),
                        "similarity_median": round(statistics.median(sims[k]), 3),
                        "similarity_max": round(max(sims[k]), 3)}
                    for k, v in sorted(kinds.items())},
        "fingerprint_ms_median": round(statistics.median(times), 3) if times else 0.0,
        "fingerprint_ms_mean": round(statistics.fmean(times), 3) if times else 0.0,
    }


def _print_table(result: dict[str, Any]) -> None:
    lines = [f"threshold          {result['threshold']}"]
    if "precision" in result:
        lines += [
            f"texts / pairs      {result['texts']} / {result['pairs']} "
            f"({result['positives']} positive, {result['negatives']} negative)",
            f"precision          {result['precision']}  (goal >= {GOALS['precision']})",
            f"recall             {result['recall']}  (goal >= {GOALS['recall']})",
            f"fingerprint ms     median {result['fingerprint_ms_median']}, "
            f"mean {result['fingerprint_ms_mean']}",
            "by kind            correct  similarity min / median / max",
        ]
        for kind, v in result["by_kind"].items():
            lines.append(f"  {kind:<16} {v['correct']:<8} {v['similarity_min']} / "
                         f"{v['similarity_median']} / {v['similarity_max']}")
    if "sizes" in result:
        lines.append("archive            ms_per_article  bytes_per_article")
        for row in result["sizes"]:
            lines.append(f"  {row['archive']:<16} {row['ms_per_article']:<15} "
                         f"{row['bytes_per_article']}")
        lines.append(f"ratio_100k_1k      {result['ratio_100k_1k']}  "
                     f"(goal <= {GOALS['ratio_100k_1k']})")
        lines.append(f"ratio_largest_smallest {result['ratio_largest_smallest']} "
                     f"({result['sizes'][-1]['archive']} / {result['sizes'][0]['archive']})")
        lines.append(f"build_s            {result['build_s']}")
    lines.append(f"peak_rss_mb        {result['peak_rss_mb']}")
    print("\n".join(lines))
