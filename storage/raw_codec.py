"""How raw pages are compressed: gzip (ISA-L, every page stored before) or zstandard with a
per-site dictionary trained on the site's own stored pages.

News pages of one site share most of their markup (the template, the navigation, the
scripts), which a general compressor sees once per page and a dictionary holds once per site:
on the shared corpus's pages, zstd with a dictionary of a few of the site's pages stores
13.6 % of the raw bytes where gzip stores 22.7 %. The codec functions here are pure (no
database: the extraction workers compress with them); ``storage.raw_store`` keeps the
dictionaries in the database.

- ``compress`` a page with the current dictionary (``Dictionary``: its id and bytes) or none;
  ``decompress`` any stored page (``gzip``, ``zstd`` with or without a dictionary).
- Compressors and decompressors are cached per dictionary id in the process (a zstd
  dictionary is digested once, not per page).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import zstandard
from isal import igzip

# ISA-L's level 2 (its default): on 200 of the corpus's real pages (380 KB each) 0.63 ms for
# 21.4 % of the raw size, where zlib's level 1 took 2.57 ms for 22.1 %
RAW_GZIP_LEVEL = 2
# zstd level 3 (its default) with a dictionary: about as fast as ISA-L's gzip level 2 on
# the crawl benchmark's pages, for well under half the bytes (README: "Raw pages")
ZSTD_LEVEL = 3
DICTIONARY_SIZE = 112_640  # zstd's default dictionary size (110 KB)
FEW_SAMPLES = 16  # fewer pages than this are trained on in SLICE-byte slices
SLICE = 8192

GZIP = "gzip"
ZSTD = "zstd"
CODECS = (GZIP, ZSTD)


class RawPageUnreadable(ValueError):
    """A stored page that its codec cannot read (unknown codec, missing dictionary)."""


@dataclass(frozen=True)
class Dictionary:
    """A site's compression dictionary: its ``raw_dictionaries`` id and bytes."""

    id: int
    data: bytes


@dataclass(frozen=True)
class Compressed:
    """A page as the archive stores it."""

    codec: str
    dictionary_id: int | None
    data: bytes
    raw_size: int


def compress_gzip(body: bytes) -> bytes:
    return igzip.compress(body, compresslevel=RAW_GZIP_LEVEL)


@lru_cache(maxsize=8)
def _compressor(dictionary: Dictionary | None) -> zstandard.ZstdCompressor:
    if dictionary is None:
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    zdict = zstandard.ZstdCompressionDict(dictionary.data)
    zdict.precompute_compress(level=ZSTD_LEVEL)
    return zstandard.ZstdCompressor(dict_data=zdict, level=ZSTD_LEVEL)


@lru_cache(maxsize=32)
def _decompressor(dictionary: Dictionary | None) -> zstandard.ZstdDecompressor:
    if dictionary is None:
        return zstandard.ZstdDecompressor()
    return zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(dictionary.data))


def compress(body: bytes, dictionary: Dictionary | None = None) -> Compressed:
    """A raw page compressed with zstandard (and ``dictionary``, when the site has one)."""
    data = _compressor(dictionary).compress(body)
    return Compressed(ZSTD, dictionary.id if dictionary else None, data, len(body))


def decompress(codec: str, data: bytes, dictionary: Dictionary | None = None) -> bytes:
    """A stored page's raw bytes (``dictionary``: the one the page records, if any)."""
    if codec == GZIP:
        try:
            return igzip.decompress(data)
        except (OSError, EOFError, zlib.error):  # pragma: no cover - isal refused: plain gzip
            return gzip.decompress(data)
    if codec == ZSTD:
        try:
            return _decompressor(dictionary).decompress(data)
        except zstandard.ZstdError as exc:
            raise RawPageUnreadable(f"zstd: {exc}") from exc
    raise RawPageUnreadable(f"unknown raw page codec {codec!r}")


def train(samples: list[bytes], size: int = DICTIONARY_SIZE) -> bytes:
    """A zstd dictionary trained on ``samples`` (a site's raw pages). Raises
    ``zstandard.ZstdError`` when the samples are too few or too small to train on."""
    size = min(size, max(4096, sum(len(s) for s in samples) // 4))
    if len(samples) < FEW_SAMPLES:  # zstd's trainer wants many samples: pages in slices
        samples = [s[i:i + SLICE] for s in samples for i in range(0, len(s), SLICE)]
    # fixed COVER parameters (segment k, dmer d, frequency table 2**f): zstd's parameter
    # search costs 3-4x the CPU for a ratio within 0.002 of these on news pages
    return zstandard.train_dictionary(size, list[Any](samples), level=ZSTD_LEVEL, k=2048, d=8,
                                      f=20).as_bytes()
