"""Crawl-run statuses (no SQLAlchemy import: the CLI parser uses them)."""

RUN_STATUSES = ("running", "finished", "failed", "timeout", "interrupted", "abandoned")
FINAL_STATUSES = RUN_STATUSES[1:]
