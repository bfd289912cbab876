"""`arsip export`: the archive as JSONL or CSV (articles) or WARC (raw responses), streamed."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arsip.commands.search import add_filter_options, article_filter
from arsip.errors import UsageError


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "export", parents=[common],
        help="export articles (jsonl, csv) or raw pages (warc), streamed",
        description="JSONL/CSV: one record per article. WARC: the stored raw responses as "
                    "gzip-per-record WARC response records (write them to a .warc.gz file).",
    )
    p.add_argument("--format", choices=["jsonl", "csv", "warc"], default="jsonl",
                   help="output format (default jsonl)")
    add_filter_options(p, search=False)
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write to FILE (atomically: a temp file renamed at the end); "
                        "default: standard output")
    p.set_defaults(func=run)


@contextlib.contextmanager
def open_output(path: str | None, *, binary: bool) -> Iterator[Any]:
    """Standard output, or a temp file next to ``path`` renamed over it on success."""
    if path is None:
        if binary:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        else:
            yield sys.stdout
            sys.stdout.flush()
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--output folder does not exist: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as raw:
            # mkstemp makes the file 0600; the result gets the mode a new file gets under
            # the user's umask, or keeps the mode of the file it replaces
            os.fchmod(raw.fileno(), _output_mode(target))
            if binary:
                yield raw
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                yield text
                text.flush()
                text.detach()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _output_mode(target: Path) -> int:
    """The permission bits ``target`` ends with: those of the file it replaces, else those
    of a new file under the process's umask (``0o666 & ~umask``, as ``open()`` gives)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        pass
    umask = os.umask(0o077)  # reading the umask means setting it: put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def run(args: Any) -> int:
    from sqlalchemy.orm import Session

    from arsip.commands._common import archive_engine
    from storage.export import iter_articles, write_csv, write_jsonl, write_warc

    filters = article_filter(args)
    engine = archive_engine(readonly=True)
    try:
        with Session(engine) as session:
            if args.format == "warc":
                name = Path(args.output).name if args.output else "arsip.warc.gz"
                with open_output(args.output, binary=True) as raw:
                    write_warc(session, raw, filters, filename=name)
            else:
                writer = write_jsonl if args.format == "jsonl" else write_csv
                with open_output(args.output, binary=False) as text:
                    writer(iter_articles(session, filters), text)
    finally:
        engine.dispose()
    return 0
