"""`arsip related ID|URL`: the graph of related articles around one article."""

from __future__ import annotations

import sys
from typing import Any

from arsip.errors import UsageError
from arsip.output import dumps


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("related", parents=[common],
                       help="related articles around one article, as a tree")
    p.add_argument("ref", metavar="ID|URL", help="article id, or any URL known for it")
    p.add_argument("--depth", type=int, default=2, metavar="N",
                   help="how many links deep to follow (default 2)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="output format (default text: an indented tree)")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine
    from storage.queries import related_graph

    if args.depth < 0 or args.depth > 20:
        raise UsageError("--depth must be between 0 and 20")
    engine = archive_engine(readonly=True)
    try:
        with Session(engine) as session:
            root = related_graph(session, args.ref, depth=args.depth)
    finally:
        engine.dispose()
    if args.format == "json":
        sys.stdout.write(dumps(root.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(render_tree(root)) + "\n")
    return 0


def render_tree(node: Any, level: int = 0) -> list[str]:
    indent = "  " * level
    kind = f"({node.kind}) " if node.kind else ""
    if node.archived:
        label = f"[{node.id}] {node.title or '(no title)'}  {node.url}"
        if node.repeated:
            label += "  (shown above)"
    else:
        anchor = f"{node.anchor}  " if node.anchor else ""
        label = f"[not archived] {anchor}{node.url}"
    lines = [f"{indent}{'- ' if level else ''}{kind}{label}"]
    for child in node.children:
        lines += render_tree(child, level + 1)
    return lines
