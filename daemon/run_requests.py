"""The run-request queue: runs asked for by a site's job (a thread of the scheduler) or by
``arsip schedule run SITE`` (a ``run_requests`` row), admitted one per site and started while
fewer than ``[daemon] max_parallel`` crawls are going."""

from __future__ import annotations

import logging
import queue
import time

from daemon.state import DaemonState, Pending

log = logging.getLogger("arsip.daemon")

REQUEST_EXPIRY_SECONDS = 600.0  # an unpicked `schedule run` request older than this is dropped


class RunRequests(DaemonState):
    """The daemon's run requests: asked for, polled from the database, admitted, started."""

    def request(self, site: str, *, trigger: str, request_id: int | None = None) -> None:
        """Ask for a run (thread-safe: the job function calls it from a scheduler thread)."""
        self.inbox.put(Pending(site, trigger, request_id))
        self.wake.set()

    def poll_requests(self) -> None:
        """`arsip schedule run SITE` requests from the database."""
        from storage.schedule import expire_requests, open_requests, pick_request

        with self._session() as s, s.begin():
            expired = expire_requests(s, older_than=REQUEST_EXPIRY_SECONDS)
            if expired:
                log.warning("dropped %d run request(s) older than %ds", expired,
                            REQUEST_EXPIRY_SECONDS)
            for req in open_requests(s):
                if not pick_request(s, req.id):
                    continue  # another daemon took it
                if self.cfg.site(req.site) is None:
                    log.warning("run request %d: unknown site %r, ignored", req.id, req.site)
                    continue
                log.info("run request %d: site %s", req.id, req.site)
                self.inbox.put(Pending(req.site, "request", req.id))

    def take_requests(self) -> None:
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return
            self.admit(item)

    def admit(self, item: Pending) -> None:
        """Queue a run unless the site is running or already queued (then skip and log)."""
        running = self.children.get(item.site)
        if running is not None:
            log.warning("site %s: run skipped: run %d is still going (%.0fs)", item.site,
                        running.run_id, time.monotonic() - running.started)
            if item.request_id is not None:
                self._link_request(item.request_id, running.run_id)
            return
        for waiting in self.pending:
            if waiting.site == item.site:
                log.warning("site %s: run skipped: a run is already waiting for a free slot",
                            item.site)
                if item.request_id is not None and waiting.request_id is None:
                    waiting.request_id = item.request_id  # the request gets that run
                return
        self.pending.append(item)

    def start_pending(self) -> None:
        while self.pending and len(self.children) < self.cfg.daemon.max_parallel:
            item = self.pending.pop(0)
            self.start_run(item)
        if self.pending:
            log.debug("%d run(s) waiting for a free slot", len(self.pending))
