"""`arsip db upgrade` (and `arsip db current`): the schema, by the Alembic migrations."""

from __future__ import annotations

from typing import Any

from arsip.argtypes import positive_int
from arsip.commands._common import database_url


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("db", parents=[common], help="database schema (migrations)")
    db_sub = p.add_subparsers(dest="db_command", metavar="ACTION", parser_class=type(p))
    db_sub.required = True
    up = db_sub.add_parser("upgrade", parents=[common], help="bring the schema to the latest")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=run_upgrade)
    cur = db_sub.add_parser("current", parents=[common], help="print the schema revision")
    cur.set_defaults(func=run_current)
    comp = db_sub.add_parser(
        "compact", parents=[common],
        help="recompress stored raw pages with each site's current dictionary",
        description="Recompress the stored raw pages (gzip, or zstd of an older dictionary "
                    "or none) with the site's current zstd dictionary, training one first "
                    "when the site has none and enough pages. In batches of short "
                    "transactions: interrupted, the next run goes on where it stopped.")
    comp.add_argument("--site", metavar="S", help="only site S")
    comp.add_argument("--batch", metavar="N", type=positive_int, default=200,
                      help="pages per transaction (default 200)")
    comp.add_argument("--format", choices=["text", "json"], default="text",
                      help="report format (default text)")
    comp.set_defaults(func=run_compact)


def run_upgrade(args: Any) -> int:
    from storage.engine import current_revision, make_engine, redact, upgrade

    url = database_url()
    engine = make_engine(url)
    before = _safe_revision(engine)
    upgrade(engine, args.revision)
    after = current_revision(engine)
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    print(f"{redact(engine.url)}: {state} {after}")
    return 0


def _safe_revision(engine: Any) -> str | None:
    from storage.engine import current_revision

    try:
        return current_revision(engine)
    except Exception:  # noqa: BLE001 - upgrade reports the real problem
        return None


def run_current(args: Any) -> int:
    from storage.engine import current_revision, error_line, head_revision, make_engine, redact
    from storage.errors import StorageError

    engine = make_engine(database_url())
    try:
        rev = current_revision(engine)
    except Exception as exc:
        raise StorageError(
            f"cannot open database {redact(engine.url)}: {error_line(exc)}"
        ) from exc
    head = head_revision()
    print(f"{redact(engine.url)}: {rev or 'empty'} (head {head})")
    return 0


def run_compact(args: Any) -> int:
    import sys

    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine
    from arsip.output import dumps
    from storage.raw_store import compact_site, site_ids

    engine = archive_engine()
    reports = []
    try:
        with Session(engine) as session:
            sites = site_ids(session, args.site)
        for site_id, name in sites:
            def progress(report: Any) -> None:
                print(f"compact {report.site}: {report.pages} pages, {report.bytes_before} -> "
                      f"{report.bytes_after} bytes", file=sys.stderr, flush=True)

            reports.append(compact_site(lambda: Session(engine), site_id, name,
                                        batch=args.batch, progress=progress))
    finally:
        engine.dispose()
    before = sum(r.bytes_before for r in reports)
    after = sum(r.bytes_after for r in reports)
    if args.format == "json":
        sys.stdout.write(dumps({"sites": [r.as_dict() for r in reports],
                                "pages": sum(r.pages for r in reports),
                                "bytes_before": before, "bytes_after": after},
                               indent=2) + "\n")
        return 0
    for r in reports:
        dictionary = (f"dictionary {r.dictionary_id}" + (" (trained now)" if r.trained else "")
                      if r.dictionary_id else "no dictionary (too few pages)")
        print(f"{r.site}: {r.pages} pages recompressed, {r.bytes_before} -> {r.bytes_after} "
              f"bytes; {dictionary}")
    print(f"total: {sum(r.pages for r in reports)} pages, {before} -> {after} bytes")
    return 0
