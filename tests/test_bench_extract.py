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
    bylines = data["bylines"]
    assert bylines["pages"] >= 20 and 3 * bylines["held_out_pages"] >= bylines["pages"]
    assert bylines["all_accuracy"] >= 0.9 and bylines["held_out_accuracy"] >= 0.9, bylines


def test_bench_extract_byline_accuracy_counts_wrong_pages(tmp_path: Path) -> None:
    """A fixture whose expected author is not on the page lowers the accuracy it reports."""
    src = Path(__file__).resolve().parent / "data" / "bylines"
    expected = json.loads((src / "expected.json").read_text(encoding="utf-8"))
    for name in ("kompas", "grid"):
        (tmp_path / f"{name}.html").write_bytes((src / f"{name}.html").read_bytes())
    cases = {n: dict(expected[n]) for n in ("kompas", "grid")}
    cases["grid"]["authors"] = ["Somebody Else"]
    cases["grid"]["held_out"] = True
    (tmp_path / "expected.json").write_text(json.dumps(cases), encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ground-truth.json").write_text("{}", encoding="utf-8")
    readme = tmp_path / "README.md"  # as `arsip bench extract ../shared/corpus/*` names it
    readme.write_text("# corpora\n", encoding="utf-8")
    r = run_cli("bench", "extract", str(readme), str(corpus), "--bylines", str(tmp_path),
                "--format", "json")
    assert r.returncode == 0, r.stderr
    bylines = json.loads(r.stdout)["bylines"]
    assert bylines["pages"] == 2 and bylines["all_accuracy"] == 0.5
    assert bylines["tuned_accuracy"] == 1.0 and bylines["held_out_accuracy"] == 0.0
    assert bylines["wrong"] == {"grid": ["Moh. Rizal Fahmi"]}
    r = run_cli("bench", "extract", str(corpus), "--bylines", str(corpus))
    assert r.returncode == 2 and "expected.json" in r.stderr


def test_bench_extract_rejects_a_folder_without_ground_truth(tmp_path: Path) -> None:
    r = run_cli("bench", "extract", str(tmp_path))
    assert r.returncode == 2
    assert "ground-truth.json" in r.stderr
    r = run_cli("bench", "extract", str(Path(__file__)))
    assert r.returncode == 2 and "no corpus folder" in r.stderr
