"""The arsip daemon: scheduled crawls with APScheduler 3.x, each run in a child process.

Design, in short:

* One ``BackgroundScheduler`` whose job store is the archive database
  (``SQLAlchemyJobStore``, table ``apscheduler_jobs``, which the migrations ignore), so
  schedules, next run times and missed runs survive restarts. One job per site, id
  ``site:NAME``; its function is :func:`run_site`, a top-level callable (the job store pickles
  a reference to it) taking only the site name.
* The job function does not crawl: it hands the site name to the daemon's supervisor (a queue).
  The supervisor, in the daemon's main thread, owns every child process: it starts
  ``python -m arsip crawl SITE --run-id N`` for a run row it created itself, never two runs of
  one site at once (a due run of a busy site is skipped and logged), at most
  ``[daemon] max_parallel`` at once; it reaps children, records what they did not (a crash is
  ``failed`` with the exit status and the tail of the child's log), stops runs past their
  ``timeout`` (SIGTERM, then SIGKILL) and records ``timeout``.
* ``arsip schedule run SITE`` inserts a ``run_requests`` row, polled every
  ``[daemon] poll_seconds``; a ``daemon_heartbeats`` row tells the CLI that a daemon is alive.
* SIGHUP re-reads the config and syncs the jobs; SIGTERM/SIGINT stop taking runs, give the
  running crawls ``[daemon] grace_seconds`` and stop the rest, recorded ``interrupted``.

Nothing runs at import time; ``arsip daemon`` (``arsip/commands/daemon.py``) calls :func:`serve`.
This module is the daemon's entry point; its parts live in the ``daemon`` package:
``daemon.supervisor`` (the main loop and shutdown), ``daemon.jobs`` (APScheduler jobs and their
sync with the config), ``daemon.run_requests`` (the run-request queue), ``daemon.children``
(the crawl child processes), ``daemon.state`` and ``daemon.config_check``.
"""

from __future__ import annotations

import logging
import sys

from daemon.config_check import config_problems, load_checked_config
from daemon.errors import LogFileError
from daemon.jobs import build_scheduler, job_id, job_name, make_trigger, run_site, scheduled_sites
from daemon.supervisor import Daemon

__all__ = [
    "Daemon", "build_scheduler", "config_problems", "job_id", "job_name", "load_checked_config",
    "make_trigger", "run_site", "scheduled_sites", "serve", "setup_logging",
]


def setup_logging(level: str = "INFO", log_file: str | None = None) -> None:
    """Daemon logs: to stderr and, optionally, to a file (reopened if rotated)."""
    from logging.handlers import WatchedFileHandler

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(WatchedFileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    numeric = getattr(logging, level.upper())
    root.setLevel(numeric)
    # APScheduler's own INFO lines ("Running job ...", "executed successfully") every run are
    # noise next to ours; its warnings (missed runs) stay
    quiet = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in ("apscheduler", "alembic"):
        logging.getLogger(name).setLevel(quiet)


def serve(*, config_file: str | None = None, log_level: str = "INFO",
          log_file: str | None = None) -> int:
    """``arsip daemon``: check the config (ConfigError lists every problem), then run."""
    cfg = load_checked_config(config_file)
    log_file = log_file or cfg.daemon.log_file
    try:
        setup_logging(log_level, log_file)
    except OSError as exc:
        raise LogFileError(f"cannot write the log file {log_file}: {exc.strerror or exc}") from exc
    return Daemon(cfg, config_file=config_file, log_file=log_file).run()
