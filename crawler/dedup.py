"""Content fingerprints of a clean article body: exact hash and MinHash sketch.

Computed where the body is extracted (in the extraction worker processes), stored with the
article; the LSH index that finds near-duplicates lives in the database
(``storage/dedup_index.py``), so deduplication holds across runs and processes.

Parameters (chosen on ``arsip bench dedup``, labelled pairs built from the real texts of
``../shared/corpus``):

* shingles of ``SHINGLE = 3`` words of the normalised body. On the bench pairs, different
  articles on the same topic share at most 0.11 of their 3-word shingles (1-word shingles:
  up to 0.48, shared vocabulary), while copies with up to 10 % of their words edited and
  portal rewrites keep at least 0.53 (4- and 5-word shingles lower the copies without
  lowering the negatives further).
* ``NUM_PERM = 128`` permutations: the Jaccard estimate has a standard error of about
  sqrt(J(1-J)/128), 0.043 at J = 0.6; the signature is 512 bytes (uint32 values).
* LSH with ``BANDS = 32`` bands of ``ROWS = 3`` rows (96 of the 128 values): two texts
  become candidates with probability 1 - (1 - J^3)^32: 0.9996 at J = 0.6 (the default
  threshold, see ``storage.dedup_index``), 0.986 at 0.5, 0.03 at 0.1 (unrelated texts).
  Candidates are then verified on their stored signatures (estimated Jaccard >= threshold),
  so a band collision alone never marks anything.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

WORD_RE = re.compile(r"\w+", re.UNICODE)
# "Baca Juga: ..." style lines (links to related articles): never part of the story's text
INSERT_LINE_RE = re.compile(
    r"^\s*(baca\s+juga|lihat\s+juga|simak\s+juga|read\s+also|baca\s+selengkapnya)\s*:.*$",
    re.IGNORECASE | re.MULTILINE,
)

SHINGLE = 3
NUM_PERM = 128
BANDS = 32
ROWS = 3
SEED = 1
SCHEME = "affine32"


@dataclass
class Fingerprint:
    content_hash: str
    minhash: bytes | None = None  # NUM_PERM uint32 values, little endian
    band_keys: list[tuple[int, int]] = field(default_factory=list)  # (band, key)


def normalise_body(text: str) -> str:
    """Case, Unicode form, punctuation and spacing folded: what "the same text" means.

    Inline "Baca Juga:" lines are dropped too (the extractor removes them already; a body
    from elsewhere may still hold them, and they differ between syndicated copies).
    """
    text = INSERT_LINE_RE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(WORD_RE.findall(text))


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_body(text).encode("utf-8")).hexdigest()


def shingles(normalised: str, size: int = SHINGLE) -> list[bytes]:
    words = normalised.split()
    if not words:
        return []
    if len(words) <= size:
        return [" ".join(words).encode("utf-8")]
    return list(dict.fromkeys(
        " ".join(words[i:i + size]).encode("utf-8") for i in range(len(words) - size + 1)
    ))


@lru_cache(maxsize=1)
def _permutations() -> Any:
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


def signature(normalised: str) -> np.ndarray | None:
    """The MinHash signature (uint32[NUM_PERM]) of a normalised text, None when empty."""
    from datasketch import MinHash

    items = shingles(normalised)
    if not items:
        return None
    # CRC-32 as the shingle hash: 7x faster than datasketch's default SHA-1 in Python, and
    # the affine32 scheme mixes its output (fmix) before the permutations
    m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_permutations(), scheme=SCHEME,
                hashfunc=zlib.crc32)
    m.update_batch(items)
    return np.asarray(m.hashvalues, dtype="<u4")


def band_keys(sig: np.ndarray) -> list[tuple[int, int]]:
    """LSH band keys: a signed 64-bit hash of each band's ROWS values."""
    raw = np.asarray(sig, dtype="<u4")
    out = []
    for band in range(BANDS):
        chunk = raw[band * ROWS:(band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=b"arsip-lsh").digest()
        out.append((band, int.from_bytes(digest, "little", signed=True)))
    return out


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")


def similarity(a: bytes | np.ndarray, b: bytes | np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures (share of equal values)."""
    sa = unpack(a) if isinstance(a, bytes | bytearray | memoryview) else a
    sb = unpack(b) if isinstance(b, bytes | bytearray | memoryview) else b
    if len(sa) != len(sb) or not len(sa):
        return 0.0
    return float(np.count_nonzero(sa == sb)) / len(sa)


def fingerprint(body: str) -> Fingerprint:
    """Exact hash, MinHash signature and LSH band keys of a clean body."""
    normalised = normalise_body(body)
    digest = hashlib.sha256(normalised.encode("utf-8")).hexdigest()
    sig = signature(normalised)
    if sig is None:
        return Fingerprint(content_hash=digest)
    return Fingerprint(content_hash=digest, minhash=sig.tobytes(), band_keys=band_keys(sig))
