"""The ``arsip`` command line: a thin layer over the library (crawler/, storage/, scheduler).

Every command lives in its own module under ``arsip/commands/`` with a ``register(sub, common)``
function that adds its parser and sets ``func(args) -> int``. Domain errors become a one-line
message here, at the edge: exit 1 on failure, 2 on a usage or configuration error; a traceback
only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from arsip.errors import CommandError, UsageError
from config import __version__

COMMAND_MODULES = [
    "crawl",
    "extract",
    "export",
    "demo",
    "db",
    "daemon",
    "schedule",
    "runs",
    "sites",
    "search",
    "show",
    "related",
    "stats",
    "reextract",
    "worker",
    "bench",
    "serve",
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def common_options() -> argparse.ArgumentParser:
    common = ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and debug logs")
    common.add_argument("--config", default=argparse.SUPPRESS, metavar="FILE",
                        help="config file (default: $ARSIP_CONFIG or ./arsip.toml)")
    common.add_argument("--database", default=argparse.SUPPRESS, metavar="URL",
                        help="database URL (default: $ARSIP_DATABASE_URL or sqlite:///arsip.db)")
    return common


def build_parser() -> ArgumentParser:
    common = common_options()
    parser = ArgumentParser(
        prog="arsip",
        description="Scheduled news scraping and archival.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"arsip {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"arsip.commands.{name}")
        module.register(sub, common)
    return parser


def error_message(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit status for an exception that reached the edge."""
    from config.model import ConfigError
    from storage.engine import error_line, redact
    from storage.errors import DatabaseURLError, StorageError

    if isinstance(exc, UsageError):
        return str(exc), 2
    if isinstance(exc, ConfigError):
        return f"bad configuration: {exc}", 2
    if isinstance(exc, DatabaseURLError):
        return str(exc), 2
    if isinstance(exc, StorageError | CommandError):
        return str(exc), 1
    if type(exc).__module__.startswith("sqlalchemy"):
        # the database failed (gone, full, read-only...): its own first line, not SQLAlchemy's
        exc_text = error_line(exc, os.environ.get("ARSIP_DATABASE_URL") or "")
        return f"database error: {exc_text[:300]}", 1
    text = " ".join(str(exc).split()) or type(exc).__name__
    # never show a database password, whatever the message holds
    url = os.environ.get("ARSIP_DATABASE_URL")
    if url and url in text:
        text = text.replace(url, redact(url))
    return f"unexpected error: {type(exc).__name__}: {text[:300]}", 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    level = logging.DEBUG if debug else logging.WARNING
    # the handler filters too: Scrapy sets its own loggers to DEBUG when a crawl starts
    handler = logging.StreamHandler()
    handler.setLevel(level)
    logging.basicConfig(level=level, handlers=[handler],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.debug = getattr(args, "debug", False)
        if args.config is not None if hasattr(args, "config") else False:
            os.environ["ARSIP_CONFIG"] = args.config
        if getattr(args, "database", None):
            os.environ["ARSIP_DATABASE_URL"] = args.database
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("arsip: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `arsip export | head`): not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except Exception as exc:  # noqa: BLE001 - the edge: one line, no traceback
        if debug:
            raise
        message, status = error_message(exc)
        print(f"arsip: error: {message}", file=sys.stderr)
        return status


if __name__ == "__main__":
    raise SystemExit(main())
