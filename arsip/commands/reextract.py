"""`arsip reextract`: the current extraction run again on the archive's stored raw pages."""

from __future__ import annotations

import os
import sys
from typing import Any

from arsip.argtypes import non_negative_int, positive_int
from arsip.errors import UsageError
from arsip.output import dumps


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "reextract", parents=[common],
        help="re-extract archived articles from their stored raw pages",
        description="Run the current extraction on the stored raw pages of the selected "
                    "articles and update those whose fields changed (the previous text is "
                    "kept as a version, reason 'reextract'). Articles already extracted by "
                    "the current version are skipped unless --force.")
    p.add_argument("--site", metavar="S", help="only site S")
    p.add_argument("--since", metavar="DATE", help="only articles published on or after DATE")
    p.add_argument("--until", metavar="DATE", help="only articles published up to DATE")
    p.add_argument("--id", dest="ids", metavar="ID", type=positive_int, nargs="+",
                   action="extend", default=[],
                   help="only these articles (one id or more: --id 3 7 12; repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="write nothing; report what would change, with a sample of diffs")
    p.add_argument("--force", action="store_true",
                   help="also articles already extracted by the current version")
    p.add_argument("--workers", metavar="N", type=non_negative_int, default=None,
                   help="extraction worker processes (default: one per CPU; 0: in this process)")
    p.add_argument("--batch", metavar="N", type=positive_int, default=None,
                   help="articles per transaction (default: 200, or a quarter of a larger archive, "
                        "at most 1,000)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="summary format (default text)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine
    from crawler.reextract import Options, Progress, reextract
    from storage.filters import parse_date

    try:
        since = parse_date(args.since) if args.since else None
        until = parse_date(args.until, end=True) if args.until else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = Options(site=args.site, since=since, until=until, ids=list(args.ids),
                      dry_run=args.dry_run, force=args.force,
                      workers=args.workers if args.workers is not None else
                      (os.cpu_count() or 1), batch=args.batch)
    engine = archive_engine(readonly=args.dry_run)
    progress: Progress | None = None

    def on_total(total: int) -> None:
        nonlocal progress
        if not args.quiet:
            progress = Progress(total)

    def report(summary: Any) -> None:
        if progress is not None:
            progress.update(summary)

    try:
        summary = reextract(lambda: Session(engine), options, progress=report,
                            on_total=on_total)
    finally:
        engine.dispose()
    if progress is not None:
        progress.update(summary, final=True)
    if args.format == "json":
        sys.stdout.write(dumps(summary.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(summary))
    return 0


def render_text(summary: Any) -> str:
    head = "dry run: nothing written\n" if summary.dry_run else ""
    fields = ", ".join(f"{k} {v}" for k, v in summary.changed_fields.items() if v) or "-"
    lines = [
        f"{head}extractor version: {summary.extractor_version}",
        f"examined:  {summary.examined}",
        f"changed:   {summary.changed}  ({fields})",
        f"unchanged: {summary.unchanged}",
        f"skipped:   {summary.skipped}  (already at the current extractor version)",
        f"failed:    {len(summary.failed)}",
        f"links:     {summary.links_gained} gained, {summary.links_lost} lost",
        f"near-duplicate marks changed: {summary.duplicates_marked}",
    ]
    lines += [f"  [{f['id']}] {f['url']}: {f['reason']}" for f in summary.failed[:20]]
    if len(summary.failed) > 20:
        lines.append(f"  ... and {len(summary.failed) - 20} more (--format json lists them)")
    for sample in summary.diffs:
        lines.append(f"\n--- [{sample['id']}] {sample['url']} "
                     f"({', '.join(sample['fields'])})")
        if "authors" in sample:
            lines.append(f"authors: {sample['authors']['stored']} -> {sample['authors']['new']}")
        if "published" in sample:
            lines.append(f"published: {sample['published']['stored']} -> "
                         f"{sample['published']['new']}")
        if "links" in sample:
            lines.append(f"links gained: {len(sample['links']['gained'])}, "
                         f"lost: {len(sample['links']['lost'])}")
        if sample["diff"]:
            lines.append(sample["diff"])
    return _printable("\n".join(lines)) + "\n"


_CONTROL = dict.fromkeys(c for c in [*range(0, 32), *range(127, 160)] if c not in (9, 10))


def _printable(text: str) -> str:
    """Archived text is untrusted: no terminal control characters reach the terminal."""
    return text.translate(_CONTROL)
