"""refbackprop.bench.sweep and `refbackprop bench --sweep`: each side in a
fresh process of its own, figures that add up, failures reported per row."""

import json
import os

import pytest

from refbackprop.bench import BLAS_OVERRIDES, NUMPY, sweep, sweep_lines
from refbackprop.registry import get_backend

from front_ends import run_cli

np = pytest.importorskip("numpy")


def test_each_side_runs_in_its_own_fresh_process(monkeypatch):
    for name in BLAS_OVERRIDES:
        monkeypatch.setenv(name, "Haswell")
    rows = sweep("python", [(3, 4, 5), (2, 1, 6)], ["float64"], repeat=3, min_sample=0.001)
    assert [r["size"] for r in rows] == [[3, 4, 5], [2, 1, 6]]
    pids = set()
    for r in rows:
        assert r["error"] is None and r["dtype"] == "float64"
        for side in (r["backend"], r["numpy"]):
            assert side["samples"] == 3 and side["number"] >= 1
            assert side["low"] <= side["median"] <= side["high"]
            assert side["forward"] > 0 and side["backward"] > 0
            pids.add(side["pid"])
        assert r["backend"]["name"] == "python" and r["numpy"]["name"] == "numpy (baseline)"
        assert r["ratio"] == pytest.approx(r["numpy"]["median"] / r["backend"]["median"])
    assert len(pids) == 4 and os.getpid() not in pids


def test_a_failing_side_is_a_row_with_its_error_not_an_exception():
    rows = sweep("no.such.module:Backend", [(2, 3, 4)], ["float32"], repeat=1)
    assert len(rows) == 1
    r = rows[0]
    assert r["backend"] is None and r["ratio"] is None and r["numpy"] is not None
    assert r["error"].startswith("no.such.module:Backend: ")
    lines = sweep_lines(rows, "x")
    assert lines[2].startswith("| 2×3×4 | float32 | - | ") and "error" in lines[3]


def test_numpy_alone():
    rows = sweep(NUMPY, [(1, 2, 3)], ["float32"], repeat=1)
    assert rows[0]["backend"]["name"] == "numpy (baseline)" and rows[0]["numpy"] is None


def test_cli_sweep_json():
    pytest.importorskip("numba")
    result = run_cli("bench --sweep --backend numba --size 3 5 7 --dtype float32 --repeat 2 --json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["repeat"] == 2 and [d["backend"] for d in doc["sweep"]] == ["numba"]
    (row,) = doc["sweep"][0]["rows"]
    assert row["size"] == [3, 5, 7] and row["dtype"] == "float32"
    assert row["backend"]["samples"] == 2 and row["ratio"] > 0
    assert "openblas" in (row["numpy"]["blas"] or "openblas").lower()


def test_cli_sweep_text_names_the_blas_and_prints_a_table():
    result = run_cli("bench --sweep -b python --size 2 2 2 --repeat 1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("NumPy's BLAS: ") for line in lines)
    table = [line for line in lines if line.startswith("| 2×2×2 |")]
    declared = list(get_backend("python").dtypes)  # one row per declared dtype
    assert [line.split("|")[2].strip() for line in table] == declared
