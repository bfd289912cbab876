"""`arsip search QUERY`: full-text search of the archive, best matches first."""

from __future__ import annotations

import argparse
from typing import Any

from arsip.errors import UsageError
from arsip.output import add_format_option, print_rows

QUERY_HELP = """\
query syntax: words are ANDed; "a phrase" in double quotes; a prefix with * (kazak*);
a OR b; -word or -"a phrase" excludes. Case does not matter (accents neither, on SQLite).
score: higher is better (BM25 on SQLite, ts_rank on PostgreSQL); comparable only within
one search. Near-duplicates are hidden unless --include-duplicates."""


def add_filter_options(p: Any, *, search: bool = True) -> None:
    p.add_argument("--site", metavar="S", help="only articles of site S")
    p.add_argument("--since", metavar="DATE",
                   help="only articles published on or after DATE (YYYY-MM-DD or ISO 8601)")
    if search:
        p.add_argument("--until", metavar="DATE",
                       help="only articles published on or before DATE (a whole day)")
        p.add_argument("--author", metavar="A",
                       help="only articles with an author containing A (any case)")
        p.add_argument("--language", metavar="L", help="only articles in language L (e.g. id)")
    p.add_argument("--include-duplicates", action="store_true",
                   help="include near-duplicates (hidden by default)")


def article_filter(args: Any) -> Any:
    from storage.filters import ArticleFilter, parse_date

    try:
        since = parse_date(args.since) if getattr(args, "since", None) else None
        until = parse_date(args.until, end=True) if getattr(args, "until", None) else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return ArticleFilter(
        site=args.site, since=since, until=until,
        author=getattr(args, "author", None), language=getattr(args, "language", None),
        include_duplicates=args.include_duplicates,
    )


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("search", parents=[common], help="full-text search of the archive",
                       epilog=QUERY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("query", metavar="QUERY", help="what to look for (see below)")
    add_filter_options(p)
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="at most N hits (default 20)")
    add_format_option(p)
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine
    from storage.search import QueryError, parse, search

    if args.limit < 1 or args.limit > 10_000:
        raise UsageError("--limit must be between 1 and 10000")
    try:
        query = parse(args.query)
    except QueryError as exc:
        raise UsageError(f"bad search query: {exc}") from None
    filters = article_filter(args)
    engine = archive_engine(readonly=True)
    try:
        with Session(engine) as session:
            hits = search(session, query, filters=filters, limit=args.limit)
    finally:
        engine.dispose()
    print_rows([h.as_dict() for h in hits],
               ["id", "score", "published", "site", "title", "snippet"], args.format,
               widths={"title": 50, "snippet": 80, "published": 25})
    return 0
