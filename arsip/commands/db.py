"""`arsip db upgrade` (and `arsip db current`): the schema, by the Alembic migrations."""

from __future__ import annotations

from typing import Any

from arsip.commands._common import database_url


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("db", parents=[common], help="database schema (migrations)")
    db_sub = p.add_subparsers(dest="db_command", metavar="ACTION", parser_class=type(p))
    db_sub.required = True
    up = db_sub.add_parser("upgrade", parents=[common], help="bring the schema to the latest")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=run_upgrade)
    cur = db_sub.add_parser("current", parents=[common], help="print the schema revision")
    cur.set_defaults(func=run_current)


def run_upgrade(args: Any) -> int:
    from storage.engine import current_revision, make_engine, redact, upgrade

    url = database_url()
    engine = make_engine(url)
    before = _safe_revision(engine)
    upgrade(engine, args.revision)
    after = current_revision(engine)
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    print(f"{redact(engine.url)}: {state} {after}")
    return 0


def _safe_revision(engine: Any) -> str | None:
    from storage.engine import current_revision

    try:
        return current_revision(engine)
    except Exception:  # noqa: BLE001 - upgrade reports the real problem
        return None


def run_current(args: Any) -> int:
    from storage.engine import current_revision, error_line, head_revision, make_engine, redact
    from storage.errors import StorageError

    engine = make_engine(database_url())
    try:
        rev = current_revision(engine)
    except Exception as exc:
        raise StorageError(
            f"cannot open database {redact(engine.url)}: {error_line(exc)}"
        ) from exc
    head = head_revision()
    print(f"{redact(engine.url)}: {rev or 'empty'} (head {head})")
    return 0
