"""arsip: a scheduled news scraping and archival service."""

__version__ = "0.1.0"
