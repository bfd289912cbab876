"""arsip: a scheduled news scraping and archival service."""

from config import __version__

__all__ = ["__version__"]
