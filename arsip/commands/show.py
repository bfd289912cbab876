"""`arsip show ID|URL`: one article with its metadata, aliases, duplicates, related links."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

from arsip.output import dumps


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("show", parents=[common],
                       help="show one archived article (by id or any of its URLs)")
    p.add_argument("ref", metavar="ID|URL", help="article id, or any URL known for it")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="output format (default text)")
    p.add_argument("--versions", action="store_true",
                   help="also list older versions, each with a diff to the next newer text")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine
    from storage.queries import show_article

    engine = archive_engine(readonly=True)
    try:
        with Session(engine) as session:
            view = show_article(session, args.ref, versions=args.versions)
    finally:
        engine.dispose()
    if args.format == "json":
        sys.stdout.write(dumps(view.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(view))
    return 0


def _when(value: Any) -> str:
    if value is None:
        return "-"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def render_text(view: Any) -> str:
    from storage.queries import REPLACED_BY

    lines = [
        f"[{view.id}] {view.title or '(no title)'}",
        f"url:         {view.url}",
        f"site:        {view.site}",
        f"authors:     {', '.join(map(str, view.authors)) or '-'}",
        f"published:   {view.published or '-'}",
    ]
    if view.modified:
        lines.append(f"modified:    {view.modified}")
    lines += [
        f"language:    {view.language or '-'}",
        f"section:     {view.section or '-'}",
        f"tags:        {', '.join(map(str, view.tags)) or '-'}",
        f"first seen:  {_when(view.first_seen)}",
        f"last seen:   {_when(view.last_seen)}",
        f"versions:    {view.version_count}",
    ]
    if view.description:
        lines.append(f"description: {view.description}")
    lines.append(f"\naliases ({len(view.aliases)}):")
    lines += [f"  {a['url']}  ({a['kind']})" for a in view.aliases]
    if view.duplicate_of:
        d = view.duplicate_of
        lines.append(f"\nnear-duplicate of: [{d['id']}] {d['title'] or ''} {d['url']}")
    if view.duplicates:
        lines.append(f"\nnear-duplicates of this article ({len(view.duplicates)}):")
        lines += [f"  [{d['id']}] {d['title'] or ''} {d['url']}" for d in view.duplicates]
    lines.append(f"\nrelated ({len(view.related)}):")
    for link in view.related:
        if link.archived:
            lines.append(f"  [{link.id}] {link.title or ''}  ({link.kind}) {link.url}")
        else:
            label = link.anchor or ""
            lines.append(f"  [not archived] {label}  ({link.kind}) {link.url}")
    if view.raw_pages:
        lines.append(f"\nraw pages ({len(view.raw_pages)}):")
        lines += [f"  {_when(r['fetched_at'])}  {r['status']}  {r['url']}"
                  for r in view.raw_pages]
    lines.append("")
    lines += [textwrap.fill(p, 100) if p.strip() else "" for p in view.body.splitlines()]
    for version in view.versions:
        why = REPLACED_BY.get(version.reason, version.reason)
        lines.append(f"\n=== version {version.version} "
                     f"(seen {_when(version.first_seen)} .. {_when(version.last_seen)}; "
                     f"{why}) ===")
        lines.append(version.diff or "(no textual difference)")
    return "\n".join(lines) + "\n"
