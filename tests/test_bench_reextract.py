"""`arsip bench reextract`: runs small and prints the figures and ratios scripts read."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_bench_reextract_runs_small_and_prints_the_keys() -> None:
    res = run_cli("bench", "reextract", "--pages", "24", "--workers", "1", "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["pages"] == 24 and out["extract"]["articles"] == 24
    # the synthetic archive was stored by an older extraction: every article changes once,
    # then (with --force) none does
    assert out["reextract"]["examined"] == 24 and out["reextract"]["changed"] == 24
    assert out["reextract"]["failed"] == 0
    assert out["reextract_unchanged"]["examined"] == 24
    assert out["reextract_unchanged"]["changed"] == 0
    rate = out["reextract"]["articles_per_s"]
    assert out["ratio_reextract_extract"] == pytest.approx(
        rate / out["extract"]["articles_per_s"], rel=0.02)
    cpu = out["main_cpu_ms_per_article"]
    assert set(cpu) == {"extract", "reextract", "reextract_unchanged"}
    assert all(value > 0 for value in cpu.values())
    assert 0 < out["raw_stored_bytes"] < out["raw_bytes"]
    assert out["raw_ratio"] == round(out["raw_stored_bytes"] / out["raw_bytes"], 4)
    text = run_cli("bench", "reextract", "--pages", "12", "--workers", "0")
    assert text.returncode == 0, text.stderr
    assert "ratio reextract/extract" in text.stdout
    assert "main process CPU per article" in text.stdout
