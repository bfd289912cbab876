"""The Redis keys of the worker fleet (``crawler.distributed``), each with the prefix
``arsip:``::

    runs                     SET of active run ids
    workers                  HASH live worker id -> heartbeat (JSON: time, sites, runs)
    site:<name>:run          the active run of a site
    run:<id>:info            HASH site, config (JSON SiteConfig), seeded_at
    run:<id>:queue           ZSET requests by priority (member: "<priority>|<id>|<payload>")
    run:<id>:inflight        ZSET leased requests by lease deadline (ms, Redis clock)
    run:<id>:seen            SET claimed fetch keys (the shared duplicate filter)
    run:<id>:hops            HASH fetch key -> fewest related-link hops it was reached by
    run:<id>:depths          HASH fetch key -> fewest listing hops (as a listing or candidate)
    run:<id>:cut             HASH fetch key -> related links its article had cut at the
                             limit (JSON), followed when a shorter way to the page turns up
    run:<id>:cutlinks        HASH fetch key -> the links of a page that is not an article,
                             not followed (depth limit, or met as a related link) (JSON)
    run:<id>:workers         HASH worker id -> its stats (JSON)
    run:<id>:requeued        requests put back after an expired lease
    run:<id>:finished        set once, when the run has ended
    rate:<host>              next free download slot of a host (ms, Redis clock)
"""

from __future__ import annotations

import dataclasses

PREFIX = "arsip:"
RUNS_KEY = PREFIX + "runs"
WORKERS_KEY = PREFIX + "workers"  # HASH worker id -> its last heartbeat (JSON)
FINISHED_TTL_S = 7 * 86400  # a finished run's keys stay this long, for inspection


@dataclasses.dataclass(frozen=True)
class RunKeys:
    run_id: int

    def _k(self, name: str) -> str:
        return f"{PREFIX}run:{self.run_id}:{name}"

    @property
    def info(self) -> str:
        return self._k("info")

    @property
    def queue(self) -> str:
        return self._k("queue")

    @property
    def inflight(self) -> str:
        return self._k("inflight")

    @property
    def seen(self) -> str:
        return self._k("seen")

    @property
    def hops(self) -> str:
        return self._k("hops")

    @property
    def depths(self) -> str:
        return self._k("depths")

    @property
    def cut(self) -> str:
        return self._k("cut")

    @property
    def cutlinks(self) -> str:
        return self._k("cutlinks")

    def hop_keys(self) -> list[str]:
        """The KEYS of the SHORTER script: the pages' counts and what they cut."""
        return [self.hops, self.depths, self.cut, self.cutlinks]

    def claim_keys(self) -> list[str]:
        """The KEYS of the PUSH script."""
        return [self.seen, self.queue, *self.hop_keys()]

    @property
    def workers(self) -> str:
        return self._k("workers")

    @property
    def requeued(self) -> str:
        return self._k("requeued")

    @property
    def finished(self) -> str:
        return self._k("finished")

    @property
    def lock(self) -> str:
        return self._k("lock")

    def all(self) -> list[str]:
        return [self.info, self.queue, self.inflight, self.seen, self.hops, self.depths,
                self.cut, self.cutlinks, self.workers, self.requeued, self.finished]


def site_key(name: str) -> str:
    return f"{PREFIX}site:{name}:run"


def rate_key(host: str) -> str:
    return f"{PREFIX}rate:{host.lower()}"
