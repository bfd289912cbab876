"""The near-duplicate index (MinHash LSH bands) kept in the database.

Placeholder until the near-duplicate detector lands: exact duplicates are handled by
``storage.archive`` through ``content_hash``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crawler.dedup import Fingerprint


def mark_near_duplicate(session: Session, article_id: int, fp: Fingerprint,
                        threshold: float) -> bool:
    """Mark ``article_id`` as a near-duplicate of an archived original; True if it is one."""
    return False


def index_article(session: Session, article_id: int, fp: Fingerprint) -> None:
    """Add (or replace) the article's LSH band keys."""
    return None

# Jaccard similarity (estimated) at or above which a new article is a near-duplicate
DEFAULT_THRESHOLD = 0.8
