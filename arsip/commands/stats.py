"""`arsip stats`: per site counts, dates and last run, plus the archive's size on disk."""

from __future__ import annotations

import sys
from typing import Any

from arsip.output import add_format_option, dumps, print_rows, resolve_format


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("stats", parents=[common], help="archive statistics per site")
    p.add_argument("--site", metavar="S", help="only site S")
    add_format_option(p)
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine, database_url
    from storage.engine import DEFAULT_DATABASE_URL, redact
    from storage.queries import STATS_COLUMNS, archive_size, raw_ratio, site_stats

    location = redact(database_url() or DEFAULT_DATABASE_URL)
    engine = archive_engine(readonly=True)
    try:
        with Session(engine) as session:
            rows = site_stats(session, site=args.site)
            size = archive_size(session)
    finally:
        engine.dispose()
    total = {
        "site": "(total)",
        **{k: sum(r[k] for r in rows)
           for k in ("articles", "aliases", "near_duplicates", "versions", "raw_pages",
                     "raw_bytes", "raw_stored_bytes", "raw_dictionary_bytes")},
        "first_published": min((r["first_published"] for r in rows
                                if r["first_published"]), default=None),
        "last_published": max((r["last_published"] for r in rows
                               if r["last_published"]), default=None),
        "size_bytes": size,
    }
    total["raw_ratio"] = raw_ratio(total["raw_bytes"], total["raw_stored_bytes"])
    fmt = resolve_format(args.format)
    if fmt == "json":
        sys.stdout.write(dumps({"database": location, "size_bytes": size,
                                "sites": rows, "total": total}, indent=2) + "\n")
        return 0
    columns = [*STATS_COLUMNS, "size_bytes"]
    print_rows([*rows, total], columns if fmt == "csv" else STATS_COLUMNS, fmt)
    if fmt == "table":
        shown = f"{size / 1e6:.1f} MB ({size} bytes)" if size is not None else "unknown"
        sys.stdout.write(f"\narchive size on disk: {shown}  [{location}]\n")
    return 0
