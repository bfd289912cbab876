"""`arsip runs`, `arsip schedule` and `arsip schedule run` against an archive (no daemon)."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from daemon.jobs import phase_start
from storage.models import DaemonHeartbeat
from storage.runs import create_run, finish_run
from storage.schedule import (
    get_request,
    heartbeat_start,
    open_requests,
    pick_request,
    set_request_run,
)
from tests.daemon_helpers import site, write_config


@pytest.fixture
def seeded(engine) -> dict[str, int]:
    """Three runs: a finished and a failed one of site a, a running one of site b."""
    with Session(engine) as s, s.begin():
        r1 = create_run(s, "a", trigger="daemon")
        finish_run(s, r1, "finished", stats={"pages": 7, "articles_new": 3, "aliases": 1,
                                            "near_duplicates": 2, "errors": 0, "failures": []})
        r2 = create_run(s, "a", trigger="cli")
        finish_run(s, r2, "failed", error="crawl process exited with status 3")
        r3 = create_run(s, "b", trigger="daemon")
    return {"finished": r1, "failed": r2, "running": r3}


def test_runs_json_newest_first_with_the_fields(seeded, cli) -> None:
    res = cli("runs", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["id"] for r in rows] == [seeded["running"], seeded["failed"], seeded["finished"]]
    first = rows[-1]
    assert first["site"] == "a" and first["status"] == "finished" and first["trigger"] == "daemon"
    assert first["stats"]["pages"] == 7 and first["stats"]["articles_new"] == 3
    started = datetime.fromisoformat(first["started_at"])
    finished = datetime.fromisoformat(first["finished_at"])
    assert started.tzinfo is not None and finished >= started
    assert first["duration_s"] == pytest.approx((finished - started).total_seconds(), abs=0.01)
    assert rows[1]["error"] == "crawl process exited with status 3"
    assert rows[0]["status"] == "running" and rows[0]["finished_at"] is None


def test_runs_filters_limit_and_csv(seeded, cli) -> None:
    by_site = json.loads(cli("runs", "--site", "a", "--format", "json").stdout)
    assert {r["site"] for r in by_site} == {"a"} and len(by_site) == 2
    by_status = json.loads(cli("runs", "--status", "failed", "--format", "json").stdout)
    assert [r["id"] for r in by_status] == [seeded["failed"]]
    limited = json.loads(cli("runs", "--limit", "1", "--format", "json").stdout)
    assert [r["id"] for r in limited] == [seeded["running"]]
    table = list(csv.DictReader(io.StringIO(cli("runs", "--format", "csv").stdout)))
    assert table[-1]["pages"] == "7" and table[-1]["near_duplicates"] == "2"


def test_runs_bad_options_and_no_archive(tmp_path: Path, cli, monkeypatch) -> None:
    res = cli("runs", "--status", "bogus")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("ARSIP_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    res = cli("runs", "--format", "json")
    assert res.returncode == 0 and json.loads(res.stdout) == []
    assert not (tmp_path / "none.db").exists()  # listing does not create an archive


def test_schedule_without_daemon_computes_next_run_and_shows_last_run(
        tmp_path: Path, seeded, cli) -> None:
    write_config(tmp_path / "arsip.toml", [
        site("a", every="30m"),
        site("b", cron="15 6 * * *", timezone="Asia/Jakarta"),
        site("c", enabled=False),
    ])
    before = datetime.now(UTC)
    res = cli("schedule", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = {r["site"]: r for r in json.loads(res.stdout)}
    a, b, c = rows["a"], rows["b"], rows["c"]
    assert a["schedule"] == "every 30m" and a["next_run_source"].startswith("computed")
    next_a = datetime.fromisoformat(a["next_run"])
    # within one interval, at the site's own phase (daemon.jobs.phase_start)
    assert before < next_a <= before + timedelta(minutes=30, seconds=1)
    assert round((next_a - phase_start("a", 1800)).total_seconds(), 3) % 1800 == 0
    assert a["last_status"] == "failed" and a["last_run_id"] == seeded["failed"]
    # 06:15 in Jakarta is 23:15 UTC
    next_b = datetime.fromisoformat(b["next_run"]).astimezone(UTC)
    assert (next_b.hour, next_b.minute) == (23, 15)
    assert before < next_b <= before + timedelta(days=1)
    assert b["last_status"] == "running"
    assert c["next_run"] is None and c["next_run_source"] == "disabled"
    assert c["last_status"] is None
    table = cli("schedule", "--format", "table")
    assert "daemon: not running" in table.stderr


def test_schedule_run_unknown_site_and_no_daemon(tmp_path: Path, database_url: str, cli) -> None:
    write_config(tmp_path / "arsip.toml", [site("a", every="30m")])
    res = cli("schedule", "run", "zz")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "arsip: error: unknown site 'zz' (configured sites: a)"]
    res = cli("schedule", "run", "a")
    assert res.returncode == 1
    assert "no daemon is running" in res.stderr and "arsip crawl a" in res.stderr


def _beat(engine, *, seen_ago: float = 0.0) -> int:
    with Session(engine) as s, s.begin():
        beat = heartbeat_start(s, pid=os.getpid())
        s.execute(update(DaemonHeartbeat).where(DaemonHeartbeat.id == beat).values(
            seen_at=datetime.now(UTC) - timedelta(seconds=seen_ago)))
    return beat


def test_schedule_run_stale_heartbeat_is_no_daemon(tmp_path: Path, engine, cli) -> None:
    write_config(tmp_path / "arsip.toml", [site("a", every="30m")])
    _beat(engine, seen_ago=300)
    res = cli("schedule", "run", "a")
    assert res.returncode == 1 and "no daemon is running" in res.stderr
    with Session(engine) as s:
        assert open_requests(s) == []  # nothing left behind for a later daemon


def test_schedule_run_prints_the_run_a_daemon_started(tmp_path: Path, engine, cli) -> None:
    """A stand-in daemon (a thread) picks the request up the way the daemon does."""
    write_config(tmp_path / "arsip.toml", [site("a", every="30m")])
    _beat(engine)
    started: list[int] = []

    def picker() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not started:
            with Session(engine) as s, s.begin():
                for req in open_requests(s):
                    if pick_request(s, req.id):
                        run_id = create_run(s, req.site, trigger="request")
                        set_request_run(s, req.id, run_id)
                        started.append(run_id)
            time.sleep(0.1)

    thread = threading.Thread(target=picker)
    thread.start()
    res = cli("schedule", "run", "a")
    thread.join()
    assert res.returncode == 0, res.stderr
    assert started and res.stdout.strip().startswith(f"run {started[0]} started for site a")


def test_schedule_run_not_picked_up(tmp_path: Path, engine, cli) -> None:
    write_config(tmp_path / "arsip.toml", [site("a", every="30m")])
    _beat(engine)
    res = cli("schedule", "run", "a", "--wait", "0.5")
    assert res.returncode == 1
    assert "did not pick it up" in res.stderr
    with Session(engine) as s:
        (req,) = open_requests(s)
        assert req.site == "a" and get_request(s, req.id).picked_at is None
