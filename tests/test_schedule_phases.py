"""``every`` schedules get a phase of their own within their interval (``daemon.jobs``):
fifty sites scheduled at the same moment do not all run at once at every common multiple of
their intervals, each site keeps its times across restarts, and a job stored before phases
existed gets its phase at the next sync."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from config.model import Config, SiteConfig
from daemon.jobs import JOB_FUNC, job_id, job_name, make_trigger, phase_start, sync_jobs


def _sites(count: int) -> list[SiteConfig]:
    rng = random.Random(3)
    return [SiteConfig(name=f"situs{i:02d}", start_urls=[f"http://127.0.0.{i + 2}/"],
                       every=f"{rng.randint(1, 10)}m") for i in range(count)]


def _fires(trigger: IntervalTrigger, start: datetime, end: datetime) -> list[datetime]:
    out, previous = [], None
    while True:
        nxt = trigger.get_next_fire_time(previous, start)
        if nxt is None or nxt >= end:
            return out
        out.append(nxt)
        previous = nxt


def test_fifty_sites_added_together_do_not_run_together() -> None:
    sites = _sites(50)
    start = datetime(2026, 12, 6, 9, 0, 0, tzinfo=UTC)
    end = start + timedelta(minutes=60)
    per_second: Counter[datetime] = Counter()
    unphased: Counter[datetime] = Counter()
    for site in sites:
        seconds = site.every_seconds() or 0
        for when in _fires(make_trigger(site), start, end):
            per_second[when.replace(microsecond=0)] += 1
        # what the same schedules gave without phases: every site's first run one interval
        # after the same start
        plain = IntervalTrigger(seconds=seconds, start_date=start + timedelta(seconds=seconds))
        for when in _fires(plain, start, end):
            unphased[when.replace(microsecond=0)] += 1
    # (the 40th minute: those every 1, 2, 4, 5, 8 and 10 minutes, more than half)
    assert max(unphased.values()) > 25
    # phased: at most a few in the same second (random phases meet now and then)
    assert max(per_second.values()) <= 4, per_second.most_common(3)
    # and within any 10 seconds, no more than a handful
    seconds = sorted(per_second.elements())
    window = max(sum(1 for t in seconds if s <= t < s + timedelta(seconds=10)) for s in seconds)
    assert window <= 6, window
    # every site still runs once per interval, its first run within one interval
    for site in sites:
        seconds_ = site.every_seconds() or 0
        fires = _fires(make_trigger(site), start, end)
        assert start <= fires[0] < start + timedelta(seconds=seconds_)
        assert all((b - a).total_seconds() == seconds_ for a, b in zip(fires, fires[1:], strict=False))


def test_a_sites_times_do_not_depend_on_when_it_is_scheduled() -> None:
    site = SiteConfig(name="kompas", start_urls=["http://127.0.0.2/"], every="7m")
    one = make_trigger(site).get_next_fire_time(None, datetime(2026, 1, 1, 8, 3, tzinfo=UTC))
    two = make_trigger(site).get_next_fire_time(None, datetime(2026, 1, 1, 8, 50, tzinfo=UTC))
    assert one is not None and two is not None
    assert (two - one).total_seconds() % 420 == 0
    assert phase_start("kompas", 420) != phase_start("tempo", 420)


def test_a_job_stored_without_a_phase_gets_it_at_the_next_sync() -> None:
    site = SiteConfig(name="detik", start_urls=["http://127.0.0.2/"], every="10m")
    cfg = Config(sites=[site])
    scheduler = BackgroundScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC)
    scheduler.start(paused=True)
    try:
        # as an older arsip stored it: the interval counted from when it was added
        scheduler.add_job(JOB_FUNC, IntervalTrigger(seconds=600, timezone=UTC),
                          args=[site.name], id=job_id(site.name), name=job_name(site))
        changes = sync_jobs(scheduler, cfg)
        assert changes["changed"] == ["detik"]
        trigger = scheduler.get_job(job_id(site.name)).trigger
        assert trigger.start_date == phase_start("detik", 600)
        assert sync_jobs(scheduler, cfg)["kept"] == ["detik"]  # and keeps it from then on
    finally:
        scheduler.shutdown(wait=False)
