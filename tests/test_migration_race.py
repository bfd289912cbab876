"""Processes that open a fresh archive at the same instant (a fleet's workers, the daemon
and a crawl) all end with the schema at head: one migrates, the others wait and find it done."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from storage.engine import current_revision, head_revision, make_engine

SCRIPT = """
import sys, time
from pathlib import Path
from storage.engine import make_engine, upgrade
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
upgrade(make_engine(sys.argv[1]))
"""


def test_processes_migrating_a_fresh_archive_at_once_all_succeed(
        database_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, database_url, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    time.sleep(2.0)  # every process imported and waits on the same start line
    go.touch()
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    failed = [err.strip().splitlines()[-1:] for code, err in results if code != 0]
    assert not failed, failed
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
