"""What the daemon knows: its runs waiting for a slot (``Pending``), its crawl child processes
(``Child``) and the state the supervisor's parts share (``DaemonState``)."""

from __future__ import annotations

import logging
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.model import Config

log = logging.getLogger("arsip.daemon")


@dataclass
class Child:
    """A running crawl child process and what the supervisor knows about it."""

    site: str
    run_id: int
    trigger: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float  # time.monotonic()
    timeout: float | None
    stop_reason: str | None = None  # "timeout" or "shutdown" once we signalled it
    term_sent: float | None = None
    kill_at: float | None = None
    request_id: int | None = None


@dataclass
class Pending:
    site: str
    trigger: str
    request_id: int | None = None
    queued: float = field(default_factory=time.monotonic)


class DaemonState:
    """The daemon's state, its database sessions and the guard of its loop's steps; the run
    requests (``daemon.run_requests``) and child processes (``daemon.children``) act on it."""

    def __init__(self, cfg: Config, *, config_file: str | None = None,
                 log_file: str | None = None) -> None:
        self.cfg = cfg
        self.config_file = config_file
        self.log_file = log_file
        self.engine: Any = None
        self.scheduler: Any = None
        self.children: dict[str, Child] = {}  # site -> child
        self.pending: list[Pending] = []
        self.inbox: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self.wake = threading.Event()
        self.stop_signals = 0
        self.reload_wanted = False
        self.heartbeat_id: int | None = None
        self.log_dir: Path | None = None
        self.log_dir_is_temp = False
        self._last_beat = 0.0
        self._last_poll = 0.0
        self._last_sweep = 0.0

    def _session(self) -> Any:
        from sqlalchemy.orm import Session

        return Session(self.engine, expire_on_commit=False)

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run one step of the loop; a failure (e.g. the database away) is logged, not fatal."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the daemon must carry on
            log.error("%s failed: %s: %s", getattr(fn, "__name__", fn), type(exc).__name__,
                      " ".join(str(exc).split())[:300], exc_info=log.isEnabledFor(logging.DEBUG))
            return None

    def _link_request(self, request_id: int, run_id: int) -> None:
        from storage.schedule import set_request_run

        with self._session() as s, s.begin():
            set_request_run(s, request_id, run_id)

    def start_run(self, item: Pending) -> None:
        raise NotImplementedError  # daemon.children.ChildProcesses
