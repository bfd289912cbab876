"""`arsip bench extract CORPUS_DIR...`: arsip's extractor against plain trafilatura.

For each corpus folder (``ground-truth.json`` + ``<id>.html.gz``, see ../shared/corpus):
body F1/precision/recall/accuracy (the article-extraction-benchmark metric), title, date and
author accuracy on the pages that have them, and pages/s, for arsip (``extract_page``) and for
trafilatura with its defaults and its own metadata, in the same run. Then author accuracy on
pages without structured data: the byline fixture set (``tests/data/bylines``, or
``--bylines DIR``), the share of pages whose author list is exactly the expected one, overall and
on the part held out from tuning.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from arsip.errors import UsageError

COLUMNS = ["corpus", "extractor", "pages", "f1", "precision", "recall", "accuracy", "empty",
           "title", "date", "author", "pages_per_s"]
BYLINES = Path(__file__).resolve().parents[2] / "tests" / "data" / "bylines"
KEYS = ["f1", "precision", "recall", "accuracy", "title", "date", "author", "pages_per_s"]


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("extract", parents=[common],
                       help="article extraction quality and speed vs. trafilatura")
    p.add_argument("corpora", nargs="+", metavar="CORPUS_DIR",
                   help="folder with ground-truth.json and <id>.html.gz pages")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="output format (default: table)")
    p.add_argument("--bylines", metavar="DIR", default=None,
                   help="byline fixture folder (expected.json + pages; default: the repo's "
                        "tests/data/bylines)")
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


def bench_bylines(folder: Path) -> dict[str, Any]:
    """Exact author-list accuracy of ``extract_page`` on the byline fixtures (pages with no
    structured author): overall, on the tuned part and on the held-out part."""
    import json

    from crawler.extraction import extract_page

    try:
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        pages = {name: (folder / f"{name}.html").read_bytes() for name in expected}
    except (OSError, ValueError) as exc:
        raise UsageError(f"bad byline fixture folder {folder}: {exc}") from None
    parts: dict[str, list[bool]] = {"all": [], "tuned": [], "held_out": []}
    wrong: dict[str, list[str]] = {}
    for name, case in sorted(expected.items()):
        got = extract_page(pages[name], case["url"]).authors
        ok = got == case["authors"]
        parts["all"].append(ok)
        parts["held_out" if case.get("held_out") else "tuned"].append(ok)
        if not ok:
            wrong[name] = got
    out: dict[str, Any] = {"pages": len(parts["all"])}
    for key, oks in parts.items():
        out[f"{key}_pages"] = len(oks)
        out[f"{key}_accuracy"] = sum(oks) / len(oks) if oks else None
    out["wrong"] = wrong
    return out


def run(args: Any) -> int:
    # plain files are skipped (``../shared/corpus/*`` also names the corpora's README.md);
    # a folder must be a corpus
    folders = [Path(c) for c in args.corpora if not Path(c).is_file()]
    for folder in folders:
        if not (folder / "ground-truth.json").is_file():
            raise UsageError(f"not a corpus folder (no ground-truth.json): {folder}")
    if not folders:
        raise UsageError("no corpus folder given (folders with ground-truth.json)")
    byline_dir = Path(args.bylines) if args.bylines else BYLINES
    if args.bylines and not (byline_dir / "expected.json").is_file():
        raise UsageError(f"not a byline fixture folder (no expected.json): {byline_dir}")
    results = [bench_corpus(folder) for folder in folders]
    bylines = bench_bylines(byline_dir) if (byline_dir / "expected.json").is_file() else None
    if args.format == "json":
        from arsip.output import dumps

        sys.stdout.write(dumps({"corpora": results, "bylines": bylines}, indent=2) + "\n")
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
    if bylines is not None:
        print(f"authors on pages without structured data ({bylines['pages']} byline templates): "
              f"{bylines['all_accuracy']:.3f} overall, {bylines['tuned_accuracy']:.3f} tuned "
              f"({bylines['tuned_pages']}), {bylines['held_out_accuracy']:.3f} held out "
              f"({bylines['held_out_pages']})")
        for name, got in bylines["wrong"].items():
            print(f"  wrong: {name}: {got}")
    return 0
