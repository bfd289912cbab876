"""`arsip sites validate` and `arsip sites list`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.daemon_helpers import site, write_config


def test_valid_config_is_ok_with_a_summary(tmp_path: Path, cli) -> None:
    write_config(tmp_path / "arsip.toml", [
        site("a", every="30m"),
        site("b", cron="*/30 * * * *", timezone="Asia/Jakarta", timeout="2h"),
        site("c", enabled=False),
    ])
    res = cli("sites", "validate")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("OK: ") and "3 site(s), 2 scheduled, 1 disabled" in lines[0]


def test_every_problem_is_reported_one_a_line_with_site_and_key(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path / "other.toml", [
        site("a", cron="*/30 * * *"),                       # 4 fields
        site("b", every="10x", bogus=True),                 # bad duration, unknown key
        {"name": "c", "start_urls": ["mailto:x@example.org"], "every": "1h"},
        site("a", every="1h"),                              # duplicate name
        site("d"),                                          # enabled, no schedule
        site("e", cron="0 * * * *", timezone="Mars/Olympus"),
    ])
    res = cli("sites", "validate", "--config", str(config))
    assert res.returncode == 2
    lines = res.stdout.strip().splitlines()
    expected = [
        ("site 'a'", "key 'cron'", "needs 5 fields"),
        ("site 'b'", "key 'every'", "bad duration"),
        ("site 'b'", "key 'bogus'", "unknown key"),
        ("site 'c'", "key 'start_urls'", "only http and https"),
        ("site 'a'", "key 'name'", "duplicate"),
        ("site 'd'", "key 'cron'", "no schedule"),
        ("site 'e'", "key 'timezone'", "unknown timezone"),
    ]
    for parts in expected:
        assert any(all(p in line for p in parts) for line in lines), (parts, lines)
    assert len(lines) == len(expected), lines
    assert all(line.startswith(f"{config}: ") for line in lines)
    assert "7 problem(s)" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_or_unparseable_file_is_one_line_exit_2(tmp_path: Path, cli) -> None:
    res = cli("sites", "validate", "--config", str(tmp_path / "nope.toml"))
    assert res.returncode == 2
    assert res.stdout.strip() == f"config file not found: {tmp_path / 'nope.toml'}"
    bad = tmp_path / "bad.toml"
    bad.write_text("[[sites]\nname = 1\n", encoding="utf-8")
    res = cli("sites", "validate", "--config", str(bad))
    assert res.returncode == 2
    assert len(res.stdout.strip().splitlines()) == 1
    assert "not valid TOML" in res.stdout


def test_sites_list_json(tmp_path: Path, cli) -> None:
    write_config(tmp_path / "arsip.toml", [site("a", every="30m"), site("b", enabled=False)])
    res = cli("sites", "list", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["name"], r["schedule"], r["enabled"]) for r in rows] == [
        ("a", "every 30m", True), ("b", "-", False)]
