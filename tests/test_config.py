"""`config`: arsip.toml + ARSIP_* environment, validation that reports every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_config, parse_config
from config.model import ConfigError, parse_duration
from config.validation import schedule_problems


@pytest.mark.parametrize("text, seconds", [
    ("30m", 1800.0), ("10s", 10.0), ("1.5h", 5400.0), ("2d", 172800.0), (" 5 m ", 300.0),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5q", "m", "", "0s", "-1m", "1m30s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_full_file_with_defaults_daemon_and_env(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "arsip.toml"
    path.write_text("""
database_url = "sqlite:///from-file.db"
contact_url = "https://example.org/about"

[defaults]
download_delay = 2.5
timeout = "1h"

[daemon]
max_parallel = 3
grace_seconds = 12
misfire_grace_seconds = 600
poll_seconds = 0.5
log_file = "d.log"

[[sites]]
name = "a"
start_urls = ["https://a.example/"]
every = "30m"
download_delay = 1

[[sites]]
name = "b"
start_urls = ["https://b.example/"]
cron = "*/15 6-22 * * *"
timezone = "Asia/Jakarta"
enabled = false
""", encoding="utf-8")
    cfg = load_config(str(path))
    assert cfg.database_url == "sqlite:///from-file.db"
    assert (cfg.daemon.max_parallel, cfg.daemon.grace_seconds) == (3, 12.0)
    assert (cfg.daemon.misfire_grace_seconds, cfg.daemon.poll_seconds) == (600.0, 0.5)
    assert cfg.daemon.log_file == "d.log"
    a, b = cfg.site("a"), cfg.site("b")
    assert a is not None and b is not None
    assert a.download_delay == 1.0 and b.download_delay == 2.5  # site beats [defaults]
    assert a.timeout_seconds() == 3600.0 and a.every_seconds() == 1800.0
    assert a.schedule_text() == "every 30m"
    assert b.schedule_text() == "cron */15 6-22 * * * (Asia/Jakarta)"
    assert b.enabled is False
    assert cfg.site("nope") is None
    monkeypatch.setenv("ARSIP_DATABASE_URL", "sqlite:///from-env.db")
    assert load_config(str(path)).database_url == "sqlite:///from-env.db"


def test_every_problem_at_once_with_site_and_key() -> None:
    raw = {
        "bogus_top": 1,
        "daemon": {"max_parallel": 1.5, "grace_seconds": -1, "nope": 1},
        "sites": [
            {"name": "a", "start_urls": "https://a.example/", "every": "1h"},
            {"name": "b", "start_urls": ["https://b.example/"], "depth": "2",
             "enabled": "yes", "near_duplicate_threshold": 2.0, "cron": "* * *"},
            {"name": "c", "start_urls": ["https://c.example/"], "cron": "0 * * * *",
             "every": "1h"},
            {"name": "d", "start_urls": ["https://d.example/"], "cron": "0 25 * * *"},
            {"name": "e", "start_urls": ["https://e.example/"], "every": "1h",
             "article_url_pattern": "(unclosed"},
            {"start_urls": ["https://x.example/"]},
        ],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "f.toml")
    problems = info.value.problems
    expected = [
        "key 'bogus_top': unknown key",
        "daemon: key 'max_parallel': must be a whole number",
        "daemon: key 'grace_seconds': must be a positive number",
        "daemon: key 'nope': unknown key",
        "site 'a': key 'start_urls': must be a list of strings",
        "site 'b': key 'depth': must be a whole number",
        "site 'b': key 'enabled': must be true or false",
        "site 'b': key 'near_duplicate_threshold': must be between 0 and 1",
        "site 'b': key 'cron': bad cron expression '* * *'",
        "site 'c': key 'cron': give either 'cron' or 'every'",
        "site 'd': key 'cron': bad cron expression '0 25 * * *'",
        "site 'e': key 'article_url_pattern': bad regular expression",
        "sites[5]: key 'name': every site needs a name",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    assert len(problems) == len(expected), problems
    assert "f.toml" in str(info.value) and "(and 12 more)" in str(info.value)


def test_a_bad_timezone_is_reported_once_on_its_own_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"sites": [{"name": "a", "start_urls": ["https://a.example/"],
                                 "cron": "0 * * * *", "timezone": "Mars/Olympus"}]})
    assert info.value.problems == ["site 'a': key 'timezone': unknown timezone 'Mars/Olympus'"]


def test_schedule_problems_are_enabled_sites_without_schedule() -> None:
    cfg = parse_config({"sites": [
        {"name": "a", "start_urls": ["https://a.example/"]},
        {"name": "b", "start_urls": ["https://b.example/"], "enabled": False},
        {"name": "c", "start_urls": ["https://c.example/"], "every": "1h"},
    ]})
    assert schedule_problems(cfg) == [
        "site 'a': key 'cron': no schedule (give 'cron' or 'every', or enabled = false)"]


def test_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARSIP_CONFIG", raising=False)
    assert load_config().sites == []  # no ./arsip.toml: an empty config
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(bad))


def test_defaults_cannot_name_a_site() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"defaults": {"name": "x"}, "sites": []})
    assert info.value.problems == ["defaults: key 'name': a default name makes no sense"]
