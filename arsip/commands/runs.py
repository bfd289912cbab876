"""`arsip runs`: the crawl-run history (daemon, CLI and worker runs alike)."""

from __future__ import annotations

from typing import Any

from arsip.errors import UsageError
from arsip.output import add_format_option, print_rows, resolve_format

COLUMNS = ["id", "site", "status", "trigger", "started_at", "duration_s", "pages",
           "articles_new", "aliases", "near_duplicates", "errors", "error"]


def register(sub: Any, common: Any) -> None:
    from storage.statuses import RUN_STATUSES

    p = sub.add_parser("runs", parents=[common], help="show the crawl-run history, newest first")
    p.add_argument("--site", default=None, help="only runs of this site")
    p.add_argument("--status", default=None, choices=RUN_STATUSES, help="only runs in this status")
    p.add_argument("--limit", type=int, default=50, metavar="N",
                   help="at most N runs (default 50; 0 = all)")
    add_format_option(p)
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands.schedule import optional_archive
    from storage.schedule import list_runs, run_dict

    if args.limit < 0:
        raise UsageError("--limit must be 0 or more")
    engine = optional_archive()
    rows: list[dict[str, Any]] = []
    if engine is not None:
        with Session(engine) as s:
            for r, site in list_runs(s, site=args.site, status=args.status,
                                     limit=args.limit or None):
                rows.append(run_dict(r, site))
        engine.dispose()
    for row in rows:
        stats = row["stats"] if isinstance(row["stats"], dict) else {}
        for key in ("pages", "articles_new", "aliases", "near_duplicates"):
            row.setdefault(key, stats.get(key))
        errors = stats.get("errors")
        row["errors"] = len(errors) if isinstance(errors, list) else errors
    fmt = resolve_format(args.format)
    table_rows = rows
    if fmt == "json":
        # JSON keeps the run as stored: counts live in `stats` only
        table_rows = [{k: v for k, v in row.items()
                       if k not in ("pages", "articles_new", "aliases", "near_duplicates",
                                    "errors")} for row in rows]
    print_rows(table_rows, COLUMNS, fmt, widths={"error": 50})
    return 0
