"""`arsip bench {extract,crawl,dedup,query,daemon,workers,serve}`: the benchmark family.

Each benchmark lives in ``arsip/bench/<name>.py`` with a ``register(sub, common)``.
"""

from __future__ import annotations

import importlib
from typing import Any

BENCHMARKS = ["extract", "crawl", "dedup", "query", "daemon", "workers", "reextract",
              "serve"]


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("bench", parents=[common], help="benchmarks: figures and ratios")
    bench_sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK",
                                 parser_class=type(p))
    bench_sub.required = True
    for name in BENCHMARKS:
        importlib.import_module(f"arsip.bench.{name}").register(bench_sub, common)
