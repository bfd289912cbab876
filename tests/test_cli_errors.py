"""Bad input at the edges: a one-line error naming the key or argument, exit 2, no traceback.

Config files are checked twice: by ``config.loading.load_config`` (every problem, with site and
key) and through the real CLI in a subprocess (``arsip db upgrade`` and ``arsip sites list``
both read the config before doing anything).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.loading import load_config
from config.model import ConfigError

GOOD_SITE = '''
[[sites]]
name = "good"
start_urls = ["https://good.example/"]
every = "1h"
'''

# (name, config text, the words the error must contain: site and key)
BAD_CONFIGS = [
    (
        "unknown site key",
        '[[sites]]\nname = "kompas"\nstart_urls = ["https://kompas.example/"]\n'
        'strat_urls = ["https://x.example/"]\n',
        ["site 'kompas'", "key 'strat_urls'", "unknown key"],
    ),
    (
        "bad cron",
        '[[sites]]\nname = "kompas"\nstart_urls = ["https://kompas.example/"]\n'
        'cron = "61 * * * *"\n',
        ["site 'kompas'", "key 'cron'", "61"],
    ),
    (
        "cron with too few fields",
        '[[sites]]\nname = "detik"\nstart_urls = ["https://detik.example/"]\ncron = "* *"\n',
        ["site 'detik'", "key 'cron'"],
    ),
    (
        "bad start URL scheme",
        '[[sites]]\nname = "tempo"\nstart_urls = ["ftp://tempo.example/"]\n',
        ["site 'tempo'", "key 'start_urls'", "ftp://tempo.example/"],
    ),
    (
        "start URL without host",
        '[[sites]]\nname = "tempo"\nstart_urls = ["https:///news"]\n',
        ["site 'tempo'", "key 'start_urls'", "no host"],
    ),
    (
        "bad feed URL port",
        '[[sites]]\nname = "antara"\nfeed_urls = ["https://antara.example:99999/rss"]\n',
        ["site 'antara'", "key 'feed_urls'"],
    ),
    (
        "duplicate names",
        GOOD_SITE + GOOD_SITE,
        ["site 'good'", "key 'name'", "duplicate"],
    ),
    (
        "wrong type: number as string",
        '[[sites]]\nname = "liputan"\nstart_urls = ["https://l.example/"]\ndepth = "3"\n',
        ["site 'liputan'", "key 'depth'", "whole number"],
    ),
    (
        "wrong type: string for a list",
        '[[sites]]\nname = "liputan"\nstart_urls = "https://l.example/"\n',
        ["site 'liputan'", "key 'start_urls'", "list"],
    ),
    (
        "wrong type: enabled not a boolean",
        '[[sites]]\nname = "liputan"\nstart_urls = ["https://l.example/"]\nenabled = "yes"\n',
        ["site 'liputan'", "key 'enabled'", "true or false"],
    ),
    (
        "negative delay",
        '[[sites]]\nname = "liputan"\nstart_urls = ["https://l.example/"]\n'
        'download_delay = -1\n',
        ["site 'liputan'", "key 'download_delay'", "negative"],
    ),
    (
        "bad duration",
        '[[sites]]\nname = "liputan"\nstart_urls = ["https://l.example/"]\nevery = "often"\n',
        ["site 'liputan'", "key 'every'", "often"],
    ),
    (
        "unknown timezone",
        '[[sites]]\nname = "liputan"\nstart_urls = ["https://l.example/"]\n'
        'cron = "0 * * * *"\ntimezone = "Asia/Atlantis"\n',
        ["site 'liputan'", "key 'timezone'", "Asia/Atlantis"],
    ),
    (
        "bad site name",
        '[[sites]]\nname = "bad name!"\nstart_urls = ["https://l.example/"]\n',
        ["site 'bad name!'", "key 'name'"],
    ),
    (
        "site without a name",
        '[[sites]]\nstart_urls = ["https://l.example/"]\n',
        ["sites[0]", "key 'name'"],
    ),
    (
        "unknown top-level key",
        'databse_url = "sqlite:///x.db"\n',
        ["key 'databse_url'", "unknown key"],
    ),
    (
        "bad daemon value",
        "[daemon]\nmax_parallel = 0\n",
        ["daemon", "key 'max_parallel'"],
    ),
    (
        "sites not an array of tables",
        'sites = "kompas"\n',
        ["key 'sites'"],
    ),
    (
        "bad defaults key",
        '[defaults]\ndepht = 2\n' + GOOD_SITE,
        ["key 'depht'", "unknown key"],
    ),
]

BAD_TOML = [
    ("unclosed array", 'x = [\n', ["not valid TOML"]),
    ("missing equals", '[[sites]]\nname "kompas"\n', ["not valid TOML", "line 2"]),
    ("duplicate key", 'database_url = "a"\ndatabase_url = "b"\n', ["not valid TOML", "line 2"]),
    ("not UTF-8", b"name = \"\xff\xfe\"\n", ["cannot read"]),
]

ALL_BAD = BAD_CONFIGS + BAD_TOML
IDS = [case[0] for case in ALL_BAD]


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "content", "words"), ALL_BAD, ids=IDS)
def test_load_config_names_site_and_key(tmp_path: Path, name: str, content: str | bytes,
                                        words: list[str]) -> None:
    path = _write(tmp_path / "bad.toml", content)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message, "the error names the file"
    for word in words:
        assert word in message, (word, message)
    assert info.value.problems, "the problems are listed one by one too"


def test_every_problem_is_listed(tmp_path: Path) -> None:
    content = (
        '[[sites]]\nname = "a"\nstart_urls = ["ftp://a.example/"]\ncron = "99 * * * *"\n'
        '[[sites]]\nname = "b"\nstart_urls = ["https://b.example/"]\ndepth = "x"\n'
        'nonsense = 1\n'
    )
    path = _write(tmp_path / "bad.toml", content)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    problems = info.value.problems
    joined = "\n".join(problems)
    for word in ["site 'a': key 'start_urls'", "site 'a': key 'cron'",
                 "site 'b': key 'depth'", "site 'b': key 'nonsense'"]:
        assert word in joined, (word, problems)
    assert "more)" in str(info.value)  # the one-line message says there are more


def test_good_config_loads(tmp_path: Path) -> None:
    path = _write(tmp_path / "good.toml", GOOD_SITE)
    cfg = load_config(str(path))
    assert [s.name for s in cfg.sites] == ["good"]
    assert cfg.sites[0].every_seconds() == 3600


# ------------------------------------------------------------------ through the CLI


def _assert_usage_error(proc: Any, words: list[str]) -> str:
    """Exit 2, exactly one line on stderr, no traceback, and the words in that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("arsip: error: "), line
    for word in words:
        assert word in line, (word, line)
    return line


@pytest.mark.parametrize(("name", "content", "words"), ALL_BAD, ids=IDS)
def test_cli_db_upgrade_with_bad_config(tmp_path: Path, cli: Any, database_url: str,
                                        name: str, content: str | bytes,
                                        words: list[str]) -> None:
    """`arsip db upgrade` reads the config (database_url may be set there) before migrating:
    a bad file stops it with one line, and the database stays untouched."""
    path = _write(tmp_path / "arsip.toml", content)
    proc = cli("db", "upgrade", env={"ARSIP_CONFIG": str(path)})
    _assert_usage_error(proc, ["bad configuration", *words])
    from sqlalchemy import inspect

    from storage.engine import make_engine

    eng = make_engine(database_url)
    try:
        assert "articles" not in inspect(eng).get_table_names()
    finally:
        eng.dispose()


@pytest.mark.parametrize("case", [BAD_CONFIGS[0], BAD_CONFIGS[1], BAD_CONFIGS[6]],
                         ids=lambda c: c[0])
def test_cli_config_option_and_other_commands(tmp_path: Path, cli: Any,
                                              case: tuple[str, str, list[str]]) -> None:
    _, content, words = case
    path = _write(tmp_path / "other.toml", content)
    for args in (["sites", "list", "--config", str(path)],
                 ["--config", str(path), "sites", "list"]):
        proc = cli(*args)
        _assert_usage_error(proc, ["bad configuration", *words])


def test_cli_missing_explicit_config(tmp_path: Path, cli: Any) -> None:
    missing = tmp_path / "nope.toml"
    proc = cli("db", "upgrade", "--config", str(missing))
    _assert_usage_error(proc, ["config file not found", "nope.toml"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nosuchcommand"], ["invalid choice", "nosuchcommand"]),
        (["db"], ["ACTION"]),
        (["db", "sideways"], ["invalid choice", "sideways"]),
        (["db", "upgrade", "--bogus"], ["unrecognized arguments", "--bogus"]),
        (["runs", "--limit", "abc"], ["--limit", "abc"]),
        (["runs", "--format", "xml"], ["--format", "xml"]),
        (["show"], ["required"]),
        ([], ["COMMAND"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_cli_bad_arguments(cli: Any, args: list[str], words: list[str]) -> None:
    proc = cli(*args)
    _assert_usage_error(proc, words)


def test_debug_shows_the_traceback(tmp_path: Path, cli: Any) -> None:
    path = _write(tmp_path / "arsip.toml", BAD_CONFIGS[1][1])
    quiet = cli("db", "upgrade", "--config", str(path))
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    loud = cli("--debug", "db", "upgrade", "--config", str(path))
    assert loud.returncode != 0
    assert "Traceback (most recent call last)" in loud.stderr
    assert "ConfigError" in loud.stderr and "key 'cron'" in loud.stderr


# ------------------------------------------------------------------ database URLs

NO_PSYCOPG = "import sys\nsys.modules['psycopg'] = None  # `import psycopg` now fails\n"


def test_make_engine_without_psycopg_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from storage.engine import make_engine
    from storage.errors import DatabaseURLError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # type: ignore[arg-type]
    with pytest.raises(DatabaseURLError) as caught:
        make_engine("postgresql://arsip:s3cret@127.0.0.1:1/x")
    text = str(caught.value)
    assert "pip install 'arsip[postgres]'" in text and "s3cret" not in text


@pytest.mark.parametrize("command", [("search", "kazakhstan"), ("db", "upgrade"),
                                     ("export",), ("runs",)], ids=" ".join)
@pytest.mark.parametrize("how", ["env", "config"])
def test_postgresql_url_without_the_driver_is_a_configuration_error(
        tmp_path: Path, cli: Any, command: tuple[str, ...], how: str) -> None:
    """The driver missing (psycopg cannot be imported, as on an install without the
    ``postgres`` extra): one line saying what to install, exit 2, no password shown."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(NO_PSYCOPG, encoding="utf-8")
    url = "postgresql://arsip:s3cret@127.0.0.1:1/x"
    env = {"PYTHONPATH": str(hooks)}
    if how == "env":
        env["ARSIP_DATABASE_URL"] = url
    else:
        env["ARSIP_CONFIG"] = str(_write(tmp_path / "pg.toml", f'database_url = "{url}"\n'))
    proc = cli(*command, env=env)
    line = _assert_usage_error(proc, ["PostgreSQL driver", "pip install 'arsip[postgres]'"])
    assert "s3cret" not in proc.stderr + proc.stdout
    assert "127.0.0.1:1" in line  # which database it was


@pytest.mark.parametrize(("url", "words"), [("nosuchdb://x/y", ["no driver", "nosuchdb"]),
                                            ("::not a url", ["bad database URL"])])
def test_unusable_database_url_is_a_configuration_error(cli: Any, url: str,
                                                        words: list[str]) -> None:
    proc = cli("search", "x", env={"ARSIP_DATABASE_URL": url})
    _assert_usage_error(proc, words)
