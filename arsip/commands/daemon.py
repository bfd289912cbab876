"""`arsip daemon`: the scheduler, in the foreground (as systemd, supervisord or a container expect).

The work is in the top-level ``scheduler`` module; see ``docs/daemon.md``.
"""

from __future__ import annotations

import sys
from typing import Any

from arsip.errors import CommandError, UsageError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "daemon", parents=[common],
        help="run the scheduler: crawl every configured site on its schedule (foreground)",
        description="Crawl every enabled site on its schedule, each run in a child process. "
                    "SIGHUP re-reads the config; SIGTERM/SIGINT stop it, giving running crawls "
                    "[daemon] grace_seconds to finish.",
    )
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                   help="log level (default: INFO)")
    p.add_argument("--log-file", default=None, metavar="FILE",
                   help="also log to FILE (default: [daemon] log_file; stderr always)")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    import scheduler
    from config.model import ConfigError
    from daemon.errors import DaemonError, LogFileError

    try:
        return scheduler.serve(log_level="DEBUG" if args.debug else args.log_level,
                               log_file=args.log_file)
    except LogFileError as exc:
        raise UsageError(str(exc)) from exc
    except DaemonError as exc:
        raise CommandError(str(exc)) from exc
    except ConfigError as exc:
        # the same lines as `arsip sites validate`, then the one-line error (exit 2)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(
            f"invalid configuration ({len(exc.problems)} problem(s)); the daemon did not start"
        ) from exc
