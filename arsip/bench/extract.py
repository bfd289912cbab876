"""`arsip bench extract CORPUS_DIR...`: arsip's extractor against plain trafilatura.

For each corpus folder (``ground-truth.json`` + ``<id>.html.gz``, see ../shared/corpus):
body F1/precision/recall/accuracy (the article-extraction-benchmark metric), title, date and
author accuracy on the pages that have them, and pages/s, for arsip (``extract_page``) and for
trafilatura with its defaults and its own metadata, in the same run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from arsip.errors import UsageError

COLUMNS = ["corpus", "extractor", "pages", "f1", "precision", "recall", "accuracy", "empty",
           "title", "date", "author", "pages_per_s"]
KEYS = ["f1", "precision", "recall", "accuracy", "title", "date", "author", "pages_per_s"]


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("extract", parents=[common],
                       help="article extraction quality and speed vs. trafilatura")
    p.add_argument("corpora", nargs="+", metavar="CORPUS_DIR",
                   help="folder with ground-truth.json and <id>.html.gz pages")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="output format (default: table)")
    p.set_defaults(func=run)


def _trafilatura(html: bytes, url: str | None) -> tuple[str, str | None, str | None, str | None]:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    except Exception:  # noqa: BLE001 - an extractor error is an empty output
        doc = None
    if doc is None:
        return "", None, None, None
    get = doc.get if isinstance(doc, dict) else lambda key: getattr(doc, key, None)
    return get("text") or "", get("title"), get("date"), get("author")


def bench_corpus(folder: Path) -> dict[str, Any]:
    import logging

    from crawler.extraction import extract_page
    from crawler.extraction.evaluate import Scores, load_corpus

    for name in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(name).setLevel(logging.ERROR)
    pages = list(load_corpus(folder))
    ours, theirs = Scores(), Scores()
    for page in pages:
        url = page.truth.get("url") or f"file://{folder / page.id}.html"
        t0 = time.perf_counter()
        art = extract_page(page.html, url)
        ours.seconds += time.perf_counter() - t0
        ours.add(page.id, page.truth, art.body, title=art.title, date=art.published,
                 authors=art.authors)
        t0 = time.perf_counter()
        text, title, date, author = _trafilatura(page.html, url)
        theirs.seconds += time.perf_counter() - t0
        theirs.add(page.id, page.truth, text, title=title, date=date, authors=author)
    return {"corpus": folder.name, "pages": len(pages),
            "arsip": ours.summary(), "trafilatura": theirs.summary()}


def run(args: Any) -> int:
    folders = [Path(c) for c in args.corpora]
    for folder in folders:
        if not (folder / "ground-truth.json").is_file():
            raise UsageError(f"not a corpus folder (no ground-truth.json): {folder}")
    results = [bench_corpus(folder) for folder in folders]
    if args.format == "json":
        from arsip.output import dumps

        sys.stdout.write(dumps({"corpora": results}, indent=2) + "\n")
        return 0
    from arsip.output import print_rows

    rows = []
    for res in results:
        for name in ("arsip", "trafilatura"):
            row = {"corpus": res["corpus"], "extractor": name, "pages": res["pages"]}
            for key, value in res[name].items():
                row[key] = "-" if value is None else (
                    round(value, 3) if isinstance(value, float) else value)
            rows.append(row)
    print_rows(rows, COLUMNS, "table")
    ratios = []
    for res in results:
        a, t = res["arsip"], res["trafilatura"]
        if a["pages_per_s"] and t["pages_per_s"]:
            ratios.append(f"{res['corpus']}: F1 {a['f1'] - t['f1']:+.3f}, "
                          f"speed x{a['pages_per_s'] / t['pages_per_s']:.2f}")
    if ratios:
        print("arsip vs trafilatura: " + "; ".join(ratios))
    return 0
