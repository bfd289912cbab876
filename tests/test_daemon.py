"""The real daemon (`arsip daemon`) in a subprocess, against a temporary archive.

Schedules of a second or two; crawl children are real `arsip crawl` processes, of a one-page
site on 127.0.0.1 or driven by the test hooks (`test_exit_code`, `test_sleep`).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.runs import RUN_STATUSES, pid_alive
from tests.daemon_helpers import (
    DaemonProcess,
    all_runs,
    heartbeats,
    runs_of,
    site,
    stored_next_runs,
    tiny_site,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.slow


def _overlaps(a: dict, b: dict) -> bool:
    return a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]


def test_runs_are_recorded_two_sites_run_in_parallel_one_site_never_overlaps(
        tmp_path: Path, database_url: str, cli) -> None:
    with tiny_site() as url:
        config = write_config(tmp_path / "arsip.toml", [
            site("fast", url, every="1s"),
            # each run of "slow" takes longer than its interval: the next due runs are skipped
            # (the hooks: it sleeps 2 s, then exits without crawling, which is a "failed" run)
            site("slow", every="1s", test_sleep=2, test_exit_code=0),
        ], daemon={"max_parallel": 2, "grace_seconds": 5})
        with DaemonProcess(tmp_path, config, database_url) as daemon:
            max_running_slow = 0

            def enough() -> bool:
                nonlocal max_running_slow
                slow = runs_of(database_url, "slow")
                max_running_slow = max(max_running_slow,
                                       sum(r["status"] == "running" for r in slow))
                return (runs_of(database_url, "fast", "finished")
                        and sum(r["status"] != "running" for r in slow) >= 2)

            daemon.wait_for("a finished run of fast, two of slow", enough, timeout=45)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(20) == 0
            log = daemon.log()

    runs = all_runs(database_url)
    assert not [r for r in runs if r["status"] == "running"]
    assert {r["trigger"] for r in runs} == {"daemon"}
    fast_done = runs_of(database_url, "fast", "finished")
    assert all(r["stats"].get("pages", 0) >= 1 for r in fast_done), fast_done
    # one site never overlaps itself: at most one running run at any poll, and the recorded
    # intervals of its runs are disjoint; the skipped due runs are logged
    slow = runs_of(database_url, "slow")
    assert max_running_slow <= 1
    for earlier, later in zip(slow, slow[1:], strict=False):
        assert later["started_at"] >= earlier["finished_at"], (earlier, later)
    assert re.search(r"site slow: run skipped: run \d+ is still going", log), log
    # two sites ran at the same time
    assert any(_overlaps(f, s) for f in runs_of(database_url, "fast")
               for s in slow if s["finished_at"] and f["finished_at"]), runs
    # one log line per run start and end, with the counts
    assert re.search(r"run \d+ site=fast started", log)
    assert re.search(r"run \d+ site=fast finished in [\d.]+s: pages=\d+ articles_new=\d+ "
                     r"aliases=\d+ near_duplicates=\d+ .*errors=\d+", log), log

    # `arsip runs --format json`
    res = cli("runs", "--format", "json", "--limit", "0")
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert len(listed) == len(runs)
    for row in listed:
        assert {"id", "site", "status", "started_at", "finished_at", "stats", "trigger",
                "duration_s", "error"} <= row.keys()
        assert row["status"] in RUN_STATUSES
        assert datetime.fromisoformat(row["started_at"]).tzinfo is not None
        assert datetime.fromisoformat(row["finished_at"]) >= \
            datetime.fromisoformat(row["started_at"])
        assert isinstance(row["stats"], dict)

    # `arsip schedule --format json`: next run from the job store, last run's status
    res = cli("schedule", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = {r["site"]: r for r in json.loads(res.stdout)}
    assert rows["fast"]["schedule"] == "every 1s"
    assert rows["fast"]["next_run_source"] == "job store"
    assert datetime.fromisoformat(rows["fast"]["next_run"]).tzinfo is not None
    assert rows["fast"]["last_status"] == runs_of(database_url, "fast")[-1]["status"]


def test_max_parallel_limits_runs_across_sites(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path / "arsip.toml", [
        site("p1", every="1s", test_sleep=1, test_exit_code=0),
        site("p2", every="1s", test_sleep=1, test_exit_code=0),
    ], daemon={"max_parallel": 1, "grace_seconds": 3})
    with DaemonProcess(tmp_path, config, database_url) as daemon:
        def ended(name: str) -> int:
            return sum(r["status"] != "running" for r in runs_of(database_url, name))

        daemon.wait_for("three ended runs of the two sites",
                        lambda: ended("p1") and ended("p2") and ended("p1") + ended("p2") >= 3,
                        timeout=40)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
    runs = all_runs(database_url)
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            assert not _overlaps(a, b), (a, b)


def test_crash_is_failed_with_status_and_log_tail_then_next_run_happens_and_timeout(
        tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path / "arsip.toml", [
        site("crashy", every="1s", test_exit_code=3),
        site("hangs", every="1s", test_sleep=30, timeout="2s"),
    ], daemon={"max_parallel": 2, "grace_seconds": 3})
    with DaemonProcess(tmp_path, config, database_url) as daemon:
        daemon.wait_for("two failed runs of crashy and a timed-out run",
                        lambda: len(runs_of(database_url, "crashy", "failed")) >= 2
                        and runs_of(database_url, "hangs", "timeout"), timeout=40)
        assert daemon.proc.poll() is None  # the daemon carries on
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        log = daemon.log()
    failed = runs_of(database_url, "crashy", "failed")
    assert all("exited with status 3" in r["error"] for r in failed), failed
    assert all("log tail" in r["error"] for r in failed)
    assert re.search(r"run \d+ site=crashy failed in", log)
    # --log-file gets the same lines; a failed run's crawl log is kept next to it
    file_log = daemon.file_log_path.read_text(encoding="utf-8")
    assert re.search(r"run \d+ site=crashy failed in", file_log)
    assert (daemon.file_log_path.parent / "daemon-runs" / f"run-{failed[0]['id']}-crashy.log"
            ).exists()
    timed_out = runs_of(database_url, "hangs", "timeout")[0]
    # stopped at its 2 s timeout, long before its 30 s sleep would have ended
    assert (timed_out["finished_at"] - timed_out["started_at"]).total_seconds() < 15
    assert "timeout" in timed_out["error"]
    assert not pid_alive(timed_out["pid"]) or timed_out["pid"] == os.getpid()
    assert not [r for r in all_runs(database_url) if r["status"] == "running"]


def test_sigterm_stops_within_grace_and_leaves_no_run_running(
        tmp_path: Path, database_url: str, cli) -> None:
    grace = 4
    config = write_config(tmp_path / "arsip.toml", [
        site("long", every="1s", test_sleep=60),
    ], daemon={"grace_seconds": grace})
    with DaemonProcess(tmp_path, config, database_url) as daemon:
        run = daemon.wait_for(
            "a running crawl child",
            lambda: [r for r in runs_of(database_url, "long", "running")
                     if r["pid"] and r["pid"] != daemon.pid])[0]
        assert heartbeats(database_url)
        # one daemon per archive
        other = cli("daemon", timeout=60)
        assert other.returncode == 1
        assert f"another daemon is running on this archive (pid {daemon.pid}" in other.stderr
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(grace + 10) == 0
        elapsed = time.monotonic() - started
    assert elapsed < grace + 2.5, elapsed
    after = runs_of(database_url, "long")
    assert [r["status"] for r in after if r["id"] == run["id"]] == ["interrupted"]
    assert not [r for r in after if r["status"] == "running"]
    assert not pid_alive(run["pid"])
    assert heartbeats(database_url) == []


def _parse_run_id(text: str) -> int:
    match = re.search(r"run (\d+)", text)
    assert match, text
    return int(match.group(1))


def test_sigkill_leaves_running_run_marked_abandoned_at_restart_jobs_survive_restart(
        tmp_path: Path, database_url: str, cli) -> None:
    config = write_config(tmp_path / "arsip.toml", [
        # a yearly cron: no scheduled run during the test (``every`` runs have a phase of
        # their own within their interval, which could fall in it)
        site("sleepy", cron="0 0 1 1 *", test_sleep=60),
    ], daemon={"grace_seconds": 3})
    first = DaemonProcess(tmp_path, config, database_url).start()
    try:
        stored = first.wait_for("the job in the job store",
                                lambda: stored_next_runs(database_url).get("site:sleepy"))
        assert stored > datetime.now(UTC) + timedelta(minutes=50)
        # `arsip schedule run` asks the daemon (through the database) for a run now
        first.wait_for("the heartbeat", lambda: heartbeats(database_url))
        res = cli("schedule", "run", "sleepy")
        assert res.returncode == 0, res.stdout + res.stderr
        run_id = _parse_run_id(res.stdout)
        run = first.wait_for("the child's pid", lambda: [
            r for r in runs_of(database_url, "sleepy", "running")
            if r["id"] == run_id and r["pid"] != first.pid])[0]
        assert run["trigger"] == "request"
        first.signal(signal.SIGKILL)
        first.wait(10)
    except BaseException:
        first.stop()
        raise
    finally:
        first.stop(kill_children=False)

    try:
        # the killed daemon's crawl child lives on: a restart leaves its run alone and does
        # not start a second run of the site while it lives
        with DaemonProcess(tmp_path, config, database_url) as second:
            second.wait_for("the daemon to start", lambda: "daemon started" in second.log())
            res = cli("schedule", "run", "sleepy")
            assert res.returncode == 0, res.stdout + res.stderr
            assert f"run {run_id}: site sleepy was already running" in res.stdout
            assert [r["status"] for r in runs_of(database_url, "sleepy")] == ["running"]
            second.signal(signal.SIGTERM)
            assert second.wait(15) == 0
        assert runs_of(database_url, "sleepy")[-1]["status"] == "running"
    finally:
        # then the child dies too (as the whole service would under systemd)
        os.killpg(run["pid"], signal.SIGKILL)
    wait_until("the child to be gone", lambda: not pid_alive(run["pid"]), timeout=10)

    with DaemonProcess(tmp_path, config, database_url) as third:
        third.wait_for("the run marked abandoned",
                       lambda: runs_of(database_url, "sleepy", "abandoned"))
        third.wait_for("the daemon to start", lambda: "daemon started" in third.log())
        # the job came from the job store: its next run time was kept, not recomputed
        assert stored_next_runs(database_url)["site:sleepy"] == stored
        assert "jobs added" not in third.log()
        third.signal(signal.SIGTERM)
        assert third.wait(15) == 0
    assert [r["id"] for r in runs_of(database_url, "sleepy", "abandoned")] == [run_id]


def _set_stored_next_run(database_url: str, jid: str, when: datetime) -> None:
    from sqlalchemy import text

    from storage.engine import make_engine

    engine = make_engine(database_url)
    with engine.begin() as conn:
        state = pickle.loads(conn.execute(
            text("SELECT job_state FROM apscheduler_jobs WHERE id = :id"), {"id": jid}
        ).scalar_one())
        state["next_run_time"] = when
        conn.execute(
            text("UPDATE apscheduler_jobs SET next_run_time = :t, job_state = :s WHERE id = :id"),
            {"t": when.timestamp(), "s": pickle.dumps(state), "id": jid},
        )
    engine.dispose()


@pytest.mark.parametrize("misfire_grace, expected_runs", [(3600, 1), (1, 0)])
def test_missed_runs_while_down_are_coalesced_within_the_grace_time(
        tmp_path: Path, database_url: str, misfire_grace: int, expected_runs: int) -> None:
    config = write_config(tmp_path / "arsip.toml", [
        # daily: its own run time (a phase within the day) falls in the test one time in
        # thousands at most
        site("daily", every="24h", test_exit_code=0),
    ], daemon={"misfire_grace_seconds": misfire_grace, "grace_seconds": 2})
    with DaemonProcess(tmp_path, config, database_url) as daemon:
        daemon.wait_for("the job", lambda: stored_next_runs(database_url).get("site:daily"))
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
    # 3 runs missed while the daemon was "down for three days"; the latest was due 5 s ago
    _set_stored_next_run(database_url, "site:daily",
                         datetime.now(UTC) - timedelta(days=3, seconds=5))
    with DaemonProcess(tmp_path, config, database_url) as daemon:
        daemon.wait_for("the job processed", lambda: stored_next_runs(database_url)
                        ["site:daily"] > datetime.now(UTC))
        if expected_runs:
            daemon.wait_for("the coalesced run", lambda: runs_of(database_url, "daily"))
        time.sleep(2)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        log = daemon.log()
    assert len(runs_of(database_url, "daily")) == expected_runs
    if not expected_runs:
        assert "was missed by" in log


def test_sighup_applies_a_changed_config(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "arsip.toml"
    write_config(path, [site("old", every="1s", test_exit_code=0)])
    with DaemonProcess(tmp_path, path, database_url) as daemon:
        daemon.wait_for("a run of old", lambda: runs_of(database_url, "old"))
        # an invalid config is refused and the old one kept
        path.write_text('[[sites]]\nname = "x"\nbogus = 1\n', encoding="utf-8")
        daemon.signal(signal.SIGHUP)
        # (the refusal and each problem are log lines of their own: wait for the problem's)
        daemon.wait_for("the refusal", lambda: "site 'x': key 'bogus': unknown key"
                        in daemon.log())
        assert "config not reloaded" in daemon.log()
        # site removed, site added
        write_config(path, [site("new", every="1s", test_exit_code=0)])
        daemon.signal(signal.SIGHUP)
        daemon.wait_for("a run of new", lambda: runs_of(database_url, "new"), timeout=20)
        old_count = len(runs_of(database_url, "old"))
        assert set(stored_next_runs(database_url)) == {"site:new"}
        daemon.wait_for("a second run of new", lambda: len(runs_of(database_url, "new")) >= 2,
                        timeout=20)
        assert len(runs_of(database_url, "old")) == old_count
        log = daemon.log()
        assert "jobs removed: old" in log and "jobs added: new" in log
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(15) == 0


def test_invalid_config_is_refused_with_the_validate_messages(tmp_path: Path, cli) -> None:
    write_config(tmp_path / "arsip.toml", [
        site("a", cron="61 * * * *"),
        site("b"),  # enabled, no schedule
        {"name": "a", "start_urls": ["ftp://x"], "every": "2s"},
    ])
    validate = cli("sites", "validate")
    daemon = cli("daemon", timeout=60)
    assert validate.returncode == 2 and daemon.returncode == 2
    problems = validate.stdout.strip().splitlines()
    assert len(problems) == 4, problems
    for line in problems:
        assert line in daemon.stderr
    assert "daemon did not start" in daemon.stderr
    assert "Traceback" not in daemon.stderr


def test_scheduler_thread_survives_job_store_errors() -> None:
    """APScheduler's own loop dies on an error in ``update_job``; ours logs it and retries."""
    from apscheduler.jobstores.memory import MemoryJobStore

    import scheduler

    class FlakyStore(MemoryJobStore):
        failures = 2

        def update_job(self, job):  # type: ignore[no-untyped-def]
            if FlakyStore.failures:
                FlakyStore.failures -= 1
                raise RuntimeError("database is locked")
            super().update_job(job)

    calls: list[int] = []
    sched = scheduler.build_scheduler(FlakyStore(), {"coalesce": True, "misfire_grace_time": 60})
    sched.jobstore_retry_interval = 0.1
    sched.start()
    try:
        sched.add_job(calls.append, "interval", seconds=0.2, args=[1])
        wait_until("runs after the job-store errors", lambda: len(calls) >= 4, timeout=10)
    finally:
        sched.shutdown(wait=False)
    assert FlakyStore.failures == 0
