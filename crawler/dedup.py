"""Content fingerprints of a clean article body: exact hash and MinHash sketch.

Computed where the body is extracted (in the extraction worker processes), stored with the
article; the LSH index that finds near-duplicates lives in the database
(``storage/dedup_index.py``), so deduplication holds across runs and processes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass
class Fingerprint:
    content_hash: str
    minhash: bytes | None = None
    band_keys: list[tuple[int, int]] = field(default_factory=list)


def normalise_body(text: str) -> str:
    """Case, Unicode form, punctuation and spacing folded: what "the same text" means."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(WORD_RE.findall(text))


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_body(text).encode("utf-8")).hexdigest()


def fingerprint(body: str) -> Fingerprint:
    return Fingerprint(content_hash=content_hash(body))
