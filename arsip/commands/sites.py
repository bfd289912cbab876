"""`arsip sites validate` and `arsip sites list`: the configured sites."""

from __future__ import annotations

import sys
from typing import Any

from arsip.output import add_format_option, print_rows


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("sites", parents=[common], help="check and list the configured sites")
    sites_sub = p.add_subparsers(dest="sites_command", metavar="ACTION", parser_class=type(p))
    sites_sub.required = True
    v = sites_sub.add_parser(
        "validate", parents=[common],
        help="check the config file: every problem, one a line, with site and key",
        description="Check arsip.toml (or --config FILE): unknown keys, bad cron, bad URLs, "
                    "duplicate names, enabled sites without a schedule. Exit 2 when invalid.",
    )
    v.set_defaults(func=validate)
    ls = sites_sub.add_parser("list", parents=[common], help="list the configured sites")
    add_format_option(ls)
    ls.set_defaults(func=list_sites)


def validate(args: Any) -> int:
    from scheduler import config_problems

    cfg, problems = config_problems()
    if problems or cfg is None:
        for problem in problems:
            print(problem)
        print(f"arsip: {len(problems)} problem(s) found", file=sys.stderr)
        return 2
    scheduled = sum(1 for s in cfg.sites if s.enabled and (s.cron or s.every))
    disabled = sum(1 for s in cfg.sites if not s.enabled)
    print(f"OK: {cfg.path}: {len(cfg.sites)} site(s), {scheduled} scheduled, "
          f"{disabled} disabled")
    return 0


def list_sites(args: Any) -> int:
    from arsip.commands._common import settings

    cfg = settings()
    rows = [
        {
            "name": s.name,
            "enabled": s.enabled,
            "schedule": s.schedule_text(),
            "timeout": s.timeout,
            "start_urls": s.start_urls,
            "allowed_domains": s.allowed_domains,
        }
        for s in cfg.sites
    ]
    print_rows(rows, ["name", "enabled", "schedule", "timeout", "start_urls"], args.format)
    return 0
