"""The content fingerprint an article is stored with, and how two are compared.

A ``Fingerprint`` holds the exact hash of the normalised body, its MinHash signature
(``NUM_PERM`` uint32 values, little endian) and its LSH band keys. It is computed where the
body is extracted (``crawler/dedup.py``: the parameters and why they were chosen); the
archive keeps it (``storage/dedup_index.py``) and compares signatures with ``similarity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Fingerprint:
    content_hash: str
    minhash: bytes | None = None  # NUM_PERM uint32 values, little endian
    band_keys: list[tuple[int, int]] = field(default_factory=list)  # (band, key)


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")


def similarity(a: bytes | np.ndarray, b: bytes | np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures (share of equal values)."""
    sa = unpack(a) if isinstance(a, bytes | bytearray | memoryview) else a
    sb = unpack(b) if isinstance(b, bytes | bytearray | memoryview) else b
    if len(sa) != len(sb) or not len(sa):
        return 0.0
    return float(np.count_nonzero(sa == sb)) / len(sa)
