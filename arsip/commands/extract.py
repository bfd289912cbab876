"""`arsip extract FILE... [--url URL] [--format json]`: saved pages become clean articles.

One JSON object per file (several files: JSON Lines, each with a ``file`` key). A file that
cannot be read gives an object with an ``error`` key; the run goes on and exits 1 at the end.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import Any

KEYS = ["url", "canonical_url", "title", "authors", "published", "modified", "language",
        "description", "image", "section", "tags", "body", "related", "is_article"]


class ExtractionError(Exception):
    """A saved page that cannot be read (missing, unreadable, broken gzip)."""


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("extract", parents=[common],
                       help="extract article text and metadata from saved pages")
    p.add_argument("files", nargs="+", metavar="FILE", help="saved page (.html or .html.gz)")
    p.add_argument("--url", default=None,
                   help="the page's URL (default: its canonical/og:url, else a file:// URL)")
    p.add_argument("--format", choices=["json"], default="json", help="output format (json)")
    p.set_defaults(func=run)


def read_page(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExtractionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, ValueError) as exc:
            raise ExtractionError(f"cannot decompress {path}: {exc}") from exc
    return data


def own_url(data: bytes) -> str | None:
    """The URL the page gives itself (rel=canonical, else og:url), if absolute http(s)."""
    from crawler.extraction.html import parse
    from crawler.extraction.links import canonical

    try:
        tree = parse(data)
        if tree is None:
            return None
        og = tree.xpath('//meta[@property="og:url"]/@content')
        return canonical(tree, "", og[0] if og else None)
    except Exception:  # noqa: BLE001 - no URL then; extract_page reports the rest
        return None


def extract_file(path: Path, url: str | None) -> dict[str, Any]:
    from crawler.extraction import extract_page

    data = read_page(path)
    article = extract_page(data, url or own_url(data) or path.resolve().as_uri())
    d = article.to_dict()
    return {k: d[k] for k in KEYS}


def run(args: Any) -> int:
    from arsip.output import dumps

    several = len(args.files) > 1
    failed = False
    for name in args.files:
        try:
            obj = extract_file(Path(name), args.url)
        except ExtractionError as exc:
            obj = {"error": str(exc)}
            failed = True
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            obj = {"error": f"{type(exc).__name__}: {exc}"}
            failed = True
        if several:
            obj = {"file": name, **obj}
            sys.stdout.write(dumps(obj) + "\n")
        else:
            sys.stdout.write(dumps(obj, indent=2) + "\n")
        sys.stdout.flush()
    return 1 if failed else 0
