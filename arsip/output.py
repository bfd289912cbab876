"""Shared output options of list-printing commands: ``--format table|json|csv``."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TextIO

from storage.jsonable import to_jsonable


def add_format_option(parser: Any, choices: Sequence[str] = ("table", "json", "csv")) -> None:
    parser.add_argument(
        "--format",
        choices=list(choices),
        default=None,
        help=f"output format ({', '.join(choices)}; default: table on a terminal, else json)",
    )


def resolve_format(fmt: str | None, stream: TextIO | None = None) -> str:
    if fmt:
        return fmt
    stream = stream or sys.stdout
    return "table" if stream.isatty() else "json"


def dumps(value: Any, **kwargs: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, **kwargs)


def _cell(value: Any, width: int | None = None) -> str:
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = " ".join(f"{k}={v}" for k, v in value.items())
    elif isinstance(value, float):
        text = f"{value:.3g}"
    else:
        text = str(value)
    text = " ".join(text.split())
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def print_rows(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    fmt: str | None,
    *,
    stream: TextIO | None = None,
    widths: dict[str, int] | None = None,
) -> None:
    """Print rows as a table, a JSON list or CSV. JSON keeps every key of each row."""
    out = stream or sys.stdout
    fmt = resolve_format(fmt, out)
    if fmt == "json":
        out.write(dumps(list(rows), indent=2) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in columns])
        return
    widths = widths or {}
    cells = [[_cell(row.get(c), widths.get(c, 60)) for c in columns] for row in rows]
    size = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(size[i]) for i, c in enumerate(columns)).rstrip() + "\n")
    out.write("  ".join("-" * size[i] for i in range(len(columns))) + "\n")
    for r in cells:
        out.write("  ".join(r[i].ljust(size[i]) for i in range(len(columns))).rstrip() + "\n")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return dumps(value)
    return value
