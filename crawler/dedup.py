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
from functools import lru_cache

import numpy as np

# the fingerprint is data the archive keeps: its type and comparison live in storage
from storage.fingerprint import Fingerprint
from storage.fingerprint import similarity as similarity
from storage.fingerprint import unpack as unpack

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


def normalise_body(text: str) -> str:
    """Case, Unicode form, punctuation and spacing folded: what "the same text" means.

    Inline "Baca Juga:" lines are dropped too (the extractor removes them already; a body
    from elsewhere may still hold them, and they differ between syndicated copies).
    """
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    """The words of the normalised body (no word holds a space: \\w and str.split()'s
    whitespace never meet, so ``" ".join(words).split() == words``)."""
    text = INSERT_LINE_RE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).casefold()
    return WORD_RE.findall(text)


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
def _affine() -> tuple[np.ndarray, np.ndarray]:
    """The affine32 permutations ``h -> a * h + b mod 2**32`` of ``datasketch.MinHash(
    num_perm=NUM_PERM, seed=SEED, scheme="affine32")``, drawn the way it draws them (odd
    ``a``), as uint32 columns. Made here: importing datasketch (scipy) costs 0.6 s of CPU in
    every extraction worker; tests/test_extraction_speed_helpers.py holds them equal."""
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a.reshape(-1, 1), b.reshape(-1, 1)


# MurmurHash3's 32-bit finalizer, datasketch's pre-mix of every input hash (affine32)
_FMIX_S1, _FMIX_M1 = np.uint32(16), np.uint32(0x85EBCA6B)
_FMIX_S2, _FMIX_M2 = np.uint32(13), np.uint32(0xC2B2AE35)


def shingle_hashes(normalised: str, size: int = SHINGLE) -> list[int]:
    """CRC-32 of every shingle of ``shingles(normalised, size)``, repeats included (a
    MinHash is a minimum: repeats change nothing), built without one string per shingle."""
    return _shingle_hashes(normalised.split(), size)


def _shingle_hashes(words: list[str], size: int = SHINGLE, joined: str | None = None) -> list[int]:
    """``shingle_hashes(joined)`` of ``joined = " ".join(words)`` (words without spaces)."""
    if len(words) <= size:
        return [zlib.crc32((joined or " ".join(words)).encode("utf-8"))] if words else []
    # the words as bytes: split() dropped every whitespace, so the only spaces are the joins
    encoded = (joined or " ".join(words)).encode("utf-8").split(b" ")
    join, crc32 = b" ".join, zlib.crc32
    return [crc32(join(t)) for t in zip(*(encoded[i:] for i in range(size)), strict=False)]


def signature(normalised: str) -> np.ndarray | None:
    """The MinHash signature (uint32[NUM_PERM]) of a normalised text, None when empty.

    Bit for bit what ``datasketch.MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32",
    hashfunc=zlib.crc32).update_batch(shingles(normalised))`` gives (CRC-32 as the shingle
    hash: 7x faster than datasketch's default SHA-1 in Python, and the affine32 scheme mixes
    its output before the permutations), computed here in one vectorised step: per
    permutation ``min over shingles of a * fmix32(crc) + b`` in uint32 arithmetic.
    """
    return _signature(shingle_hashes(normalised))


def _signature(hashes: list[int]) -> np.ndarray | None:
    if not hashes:
        return None
    hv = np.array(hashes, dtype=np.uint32)
    hv ^= hv >> _FMIX_S1
    hv *= _FMIX_M1
    hv ^= hv >> _FMIX_S2
    hv *= _FMIX_M2
    hv ^= hv >> _FMIX_S1
    a, b = _affine()
    values = a * hv  # (NUM_PERM, shingles), wrapping uint32 arithmetic as datasketch's
    values += b
    return values.min(axis=1).astype("<u4", copy=False)


def band_keys(sig: np.ndarray) -> list[tuple[int, int]]:
    """LSH band keys: a signed 64-bit hash of each band's ROWS values."""
    raw = np.asarray(sig, dtype="<u4").tobytes()
    step = 4 * ROWS
    blake2b = hashlib.blake2b
    return [(band, int.from_bytes(
        blake2b(raw[band * step:(band + 1) * step], digest_size=8, person=b"arsip-lsh").digest(),
        "little", signed=True)) for band in range(BANDS)]


def fingerprint(body: str) -> Fingerprint:
    """Exact hash, MinHash signature and LSH band keys of a clean body."""
    words = _words(body)
    normalised = " ".join(words)  # normalise_body(body)
    digest = hashlib.sha256(normalised.encode("utf-8")).hexdigest()
    sig = _signature(_shingle_hashes(words, SHINGLE, normalised))  # signature(normalised)
    if sig is None:
        return Fingerprint(content_hash=digest)
    return Fingerprint(content_hash=digest, minhash=sig.tobytes(), band_keys=band_keys(sig))
