"""The migrations are the schema: upgrade, no drift from the models, downgrade, upgrade again.

Runs on the test backend (SQLite by default, PostgreSQL with ARSIP_TEST_DATABASE_URL).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from migrations.objects import IGNORED_TABLE_PREFIXES, include_object
from storage.engine import current_revision, downgrade, head_revision, make_engine, upgrade
from storage.models import NAMING_CONVENTION, Base

PG_MAX_IDENTIFIER = 63


@pytest.fixture
def bare_engine(database_url: str) -> Iterator[Engine]:
    """An engine on the fresh, empty test database (not migrated)."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _diffs(engine: Engine) -> list[Any]:
    """What autogenerate would change, with the same options as migrations/env.py."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": include_object,
                "target_metadata": Base.metadata,
                "render_as_batch": conn.dialect.name == "sqlite",
            },
        )
        return list(compare_metadata(ctx, Base.metadata))


def _our_tables(engine: Engine) -> set[str]:
    return {t for t in inspect(engine).get_table_names()
            if not t.startswith(IGNORED_TABLE_PREFIXES)}


def _all_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_no_drift_downgrade_and_up_again(bare_engine: Engine) -> None:
    engine = bare_engine
    assert _all_tables(engine) == set()
    head = head_revision()
    assert head is not None

    upgrade(engine)
    assert current_revision(engine) == head
    model_tables = set(Base.metadata.tables)
    assert _our_tables(engine) == model_tables | {"alembic_version"}
    assert _diffs(engine) == []

    downgrade(engine, "base")
    assert current_revision(engine) is None
    # nothing left but Alembic's own bookkeeping table (search index objects included)
    assert _all_tables(engine) == {"alembic_version"}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            leftovers = conn.exec_driver_sql(
                "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE 'alembic_version%'").fetchall()
        else:
            leftovers = conn.execute(text(
                "SELECT 'function', proname FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
                "UNION ALL SELECT 'sequence', sequencename FROM pg_sequences "
                "WHERE schemaname = 'public'")).fetchall()
    assert leftovers == []

    upgrade(engine)
    assert current_revision(engine) == head
    assert _our_tables(engine) == model_tables | {"alembic_version"}
    assert _diffs(engine) == []


def test_every_revision_steps_up_and_down(bare_engine: Engine) -> None:
    """Each migration on its own: up one, down one, up again (a broken downgrade shows)."""
    from alembic.script import ScriptDirectory

    from storage.engine import alembic_config

    script = ScriptDirectory.from_config(alembic_config(bare_engine))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert revisions, "no migrations found"
    for i, rev in enumerate(revisions):
        upgrade(bare_engine, rev)
        assert current_revision(bare_engine) == rev
        downgrade(bare_engine, revisions[i - 1] if i else "base")
        upgrade(bare_engine, rev)
        assert current_revision(bare_engine) == rev
    assert _diffs(bare_engine) == []


def test_drift_check_catches_a_missing_index(bare_engine: Engine) -> None:
    """The no-drift assertion above can fail: a schema that lost an index is reported."""
    upgrade(bare_engine)
    with bare_engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_articles_published"))
    diffs = _diffs(bare_engine)
    assert any(d[0] == "add_index" and d[1].name == "ix_articles_published" for d in diffs), diffs


def test_drift_check_ignores_objects_the_models_do_not_own(bare_engine: Engine) -> None:
    upgrade(bare_engine)
    with bare_engine.begin() as conn:
        conn.execute(text("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY)"))
    assert _diffs(bare_engine) == []
    with bare_engine.begin() as conn:
        conn.execute(text("CREATE TABLE stray_table (id INTEGER PRIMARY KEY)"))
    assert any(d[0] == "remove_table" and d[1].name == "stray_table"
               for d in _diffs(bare_engine))


def _expected_name(kind: str, table: str, columns: list[str], referred: str = "") -> str:
    template = NAMING_CONVENTION[kind]
    return template % {
        "table_name": table,
        "column_0_name": columns[0] if columns else "",
        "column_0_label": f"{table}_{columns[0]}" if columns else "",
        "referred_table_name": referred,
    }


def test_constraint_names_follow_the_naming_convention(bare_engine: Engine) -> None:
    upgrade(bare_engine)
    insp = inspect(bare_engine)
    checked = 0
    for table in sorted(set(Base.metadata.tables)):
        pk = insp.get_pk_constraint(table)
        assert pk["name"] == _expected_name("pk", table, pk["constrained_columns"]), table
        for uq in insp.get_unique_constraints(table):
            assert uq["name"] == _expected_name("uq", table, uq["column_names"]), (table, uq)
            checked += 1
        for fk in insp.get_foreign_keys(table):
            assert fk["name"] == _expected_name(
                "fk", table, fk["constrained_columns"], fk["referred_table"]), (table, fk)
            checked += 1
        for ix in insp.get_indexes(table):
            if ix.get("duplicates_constraint"):
                continue
            assert ix["name"] and ix["name"].startswith(f"ix_{table}_"), (table, ix)
            checked += 1
        names = [pk["name"]] + [c["name"] for c in insp.get_unique_constraints(table)] \
            + [c["name"] for c in insp.get_foreign_keys(table)]
        assert all(n and len(n) <= PG_MAX_IDENTIFIER for n in names), names
    assert checked > 10


def test_models_name_every_constraint() -> None:
    """Every constraint in the models gets its name from the convention (none unnamed)."""
    from sqlalchemy import ForeignKeyConstraint, PrimaryKeyConstraint, UniqueConstraint

    prefixes = {PrimaryKeyConstraint: "pk_", UniqueConstraint: "uq_", ForeignKeyConstraint: "fk_"}
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            prefix = prefixes.get(type(constraint))
            if prefix is None:
                continue
            name = constraint.name
            assert isinstance(name, str), (table.name, constraint)
            assert re.fullmatch(rf"{prefix}{table.name}(_\w+)?", name), name
        for index in table.indexes:
            assert str(index.name).startswith(f"ix_{table.name}_")


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def empty_config(tmp_path: Any) -> None:
    """The (empty) config file that conftest's ARSIP_CONFIG names: an explicit config path
    that does not exist is an error."""
    (tmp_path / "arsip.toml").write_text("", encoding="utf-8")


def test_db_upgrade_on_empty_database_then_at_head(database_url: str, cli: Any,
                                                   empty_config: None) -> None:
    head = head_revision()
    first = cli("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"upgraded from empty to {head}" in first.stdout
    second = cli("db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert f"already at {head}" in second.stdout
    current = cli("db", "current")
    assert current.returncode == 0, current.stderr
    assert f"{head} (head {head})" in current.stdout
    eng = make_engine(database_url)
    try:
        assert current_revision(eng) == head
        assert set(Base.metadata.tables) <= _our_tables(eng)
    finally:
        eng.dispose()


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port where nothing listens: bound by us (so no one else takes it), and
    never listening, so a connection to it is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _assert_one_line_error(proc: Any, secret: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("arsip: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    assert secret not in proc.stderr and secret not in proc.stdout


@pytest.mark.parametrize("how", ["env", "option", "config"])
@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "current")])
def test_database_password_never_in_errors(dead_port: int, cli: Any, tmp_path: Any,
                                           empty_config: None, how: str,
                                           command: tuple[str, ...]) -> None:
    secret = "s3cret"
    url = f"postgresql://arsip:{secret}@127.0.0.1:{dead_port}/x"
    env: dict[str, str] = {}
    args = list(command)
    if how == "env":
        env["ARSIP_DATABASE_URL"] = url
    elif how == "option":
        args += ["--database", url]
    else:
        cfg = tmp_path / "pw.toml"
        cfg.write_text(f'database_url = "{url}"\n', encoding="utf-8")
        env["ARSIP_CONFIG"] = str(cfg)
    proc = cli(*args, env=env, timeout=60)
    _assert_one_line_error(proc, secret)
    # the message still says which database failed, with the password masked
    assert f"127.0.0.1:{dead_port}" in proc.stderr
    assert "***" in proc.stderr


def test_database_password_hidden_even_with_debug_logging(dead_port: int, cli: Any,
                                                          empty_config: None) -> None:
    """With --debug a traceback is expected; the password must still not show in it."""
    secret = "s3cret"
    url = f"postgresql://arsip:{secret}@127.0.0.1:{dead_port}/x"
    proc = cli("db", "upgrade", "--debug", env={"ARSIP_DATABASE_URL": url}, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    assert secret not in proc.stderr and secret not in proc.stdout
