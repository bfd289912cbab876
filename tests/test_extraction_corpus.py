"""Body F1 of arsip's extractor on the shared corpora, against plain trafilatura.

Uses the metric of ``crawler.extraction.evaluate`` (the one ``arsip bench extract`` prints).
The floors are what the extractor reached when this test was written, minus 0.01.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
# corpus -> (arsip F1 floor, title, date, author floors on the pages that have them)
FLOORS = {
    "id-news": (0.963, 0.95, 0.95, 0.90),
    "zyte-dev": (0.957, None, None, None),
    "aed2023-dev": (0.928, 0.85, 0.85, 0.80),
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (../shared/corpus relative to the repo)")
    from arsip.bench.extract import bench_corpus

    out = {}
    for name in FLOORS:
        if not (CORPUS / name / "ground-truth.json").is_file():
            pytest.skip(f"corpus folder {CORPUS / name} is missing")
        out[name] = bench_corpus(CORPUS / name)
    return out


@pytest.mark.parametrize("name", list(FLOORS))
def test_body_f1_above_floor_and_trafilatura(results: dict[str, dict], name: str) -> None:
    res = results[name]
    ours, theirs = res["arsip"], res["trafilatura"]
    assert ours["f1"] >= FLOORS[name][0], (name, ours)
    assert ours["f1"] > theirs["f1"], (name, ours["f1"], theirs["f1"])
    assert ours["empty"] <= 1


@pytest.mark.parametrize("name", ["id-news", "aed2023-dev"])
def test_metadata_accuracy(results: dict[str, dict], name: str) -> None:
    ours = results[name]["arsip"]
    _, title, date, author = FLOORS[name]
    assert ours["title"] >= title, ours
    assert ours["date"] >= date, ours
    assert ours["author"] >= author, ours
