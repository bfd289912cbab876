"""`arsip bench extract` prints every figure for arsip and trafilatura."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

ID_NEWS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "id-news"


def test_bench_extract_json_has_every_key() -> None:
    if not (ID_NEWS / "ground-truth.json").is_file():
        pytest.skip(f"corpus not found at {ID_NEWS} (../shared/corpus relative to the repo)")
    r = run_cli("bench", "extract", str(ID_NEWS), "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    [corpus] = data["corpora"]
    assert corpus["corpus"] == "id-news" and corpus["pages"] == 35
    for name in ("arsip", "trafilatura"):
        for key in ("f1", "precision", "recall", "accuracy", "title", "date", "author",
                    "pages_per_s"):
            assert key in corpus[name], (name, key)


def test_bench_extract_rejects_a_folder_without_ground_truth(tmp_path: Path) -> None:
    r = run_cli("bench", "extract", str(tmp_path))
    assert r.returncode == 2
    assert "ground-truth.json" in r.stderr
