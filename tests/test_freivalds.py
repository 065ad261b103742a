"""Verification at any size without the Jacobian: randomized projections."""

import json

import pytest
from click.testing import CliRunner

from refbackprop import packed
from refbackprop.cases import catalogue
from refbackprop.cli.app import cli
from refbackprop.freivalds import verify
from refbackprop.sized import check_at_size
from refbackprop.sized import sized_inputs as sized_matrices


def sized_inputs(n, d, m, dtype, bias=True, seed=0):
    """x, w, b, dy as nested lists (b a flat list or None)."""
    got = sized_matrices(n, d, m, dtype, bias, seed)
    return tuple(None if got[k] is None else got[k].lists() for k in ("x", "w", "b", "dy"))
from refbackprop.reference import backward, forward
from refbackprop.registry import get_backend
from refbackprop.runner import run_case

import wrong_backends


@pytest.fixture(params=["packed", "floats", "loops"])
def sums(request, monkeypatch):
    """W's ± sums through packed integers (CPython), floats through builtins
    (MicroPython's way, and the fallback for W beyond the packed range), or
    floats in plain loops (PyPy's way)."""
    import refbackprop.freivalds as freivalds
    if request.param == "floats":
        monkeypatch.setattr(packed, "_available", False)
    if request.param == "loops":
        monkeypatch.setattr(freivalds, "_JIT", True)
    return request.param


def failing_outputs(result):
    assert result.verification is not None, result.problems
    return sorted(o.name for o in result.verification.outputs if not o.passed)


def test_reference_outputs_pass_with_every_output_checked():
    x, w, b, dy = sized_inputs(5, 7, 3, "float64", seed=1)
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    v = verify(x, w, b, dy, y, dx, dw, db, "float64", trials=20)
    assert v.passed and [o.name for o in v.outputs] == ["y", "dx", "dw", "db"]
    assert v.miss_probability == 2.0 ** -20
    assert all(o.worst_ratio <= 1 for o in v.outputs)


@pytest.mark.parametrize("name,dtype", [("python", "float64"), ("numba", "float64"),
                                        ("numba", "float32")])
@pytest.mark.parametrize("size", [(1, 1, 1), (3, 17, 5), (16, 300, 203), (2, 1, 9)])
def test_correct_backends_pass_at_any_size(name, dtype, size, sums):
    result = check_at_size(get_backend(name), *size, dtype=dtype, trials=12)
    assert result.passed, "\n".join(result.lines())


def test_a_correct_float32_backend_with_another_summation_order_passes(sums):
    result = check_at_size(wrong_backends.NumpyFloat32(), 64, 1000, 700, "float32", trials=16)
    assert result.passed, "\n".join(result.lines())


def test_catches_a_backend_wrong_only_for_large_d(sums):
    backend = wrong_backends.WrongForLargeD()
    assert all(run_case(backend, c).passed for c in catalogue(("float64",)))
    result = check_at_size(backend, 3, 2100, 5, "float64")
    assert not result.passed and failing_outputs(result) == ["y"]
    assert "exceeds the tolerance" in result.verification.outputs[0].message


def test_catches_a_single_corrupted_dw_element(sums):
    result = check_at_size(wrong_backends.CorruptsOneDwElement(), 16, 300, 203, "float64")
    assert failing_outputs(result) == ["dw"]


def test_catches_a_float32_backend_that_drops_the_last_tile(sums):
    result = check_at_size(wrong_backends.DropsLastTile32(), 16, 300, 203, "float32")
    assert failing_outputs(result) == ["dw"]


def test_wrong_shapes_and_exceptions_are_reported():
    result = check_at_size(wrong_backends.Raises(), 2, 3, 4, "float64")
    assert len(result.problems) == 1
    assert result.problems[0].startswith("backward raised RuntimeError: kernel launch failed (at ")
    assert not result.passed


def test_cli_size_json_and_text():
    result = CliRunner().invoke(cli, ["check", "--backend", "python", "--size", "4", "50", "6",
                                      "--trials", "5", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["mode"] == "size" and doc["size"] == [4, 50, 6] and doc["trials"] == 5
    ver = doc["results"][0]["verification"]
    assert ver["miss_probability"] == 2.0 ** -5
    assert set(doc["results"][0]["seconds"]) == {"generate", "to_native", "compute",
                                                  "to_lists", "verify"}
    text = CliRunner().invoke(cli, ["check", "--backend", "python", "--size", "4", "50", "6"])
    assert "escapes all trials with probability at most 2^-12" in text.output
    assert text.output.splitlines()[-1] == "1 passed, 0 failed"


def test_cli_size_failure_has_a_repro(monkeypatch):
    import os
    monkeypatch.chdir(os.path.dirname(os.path.abspath(__file__)))
    result = CliRunner().invoke(cli, ["check", "--backend", "wrong_backends:CorruptsOneDwElement",
                                      "--size", "8", "40", "12"])
    assert result.exit_code == 1
    assert ("repro:  refbackprop check --backend wrong_backends:CorruptsOneDwElement "
            "--size 8 40 12 --dtype float64 --seed 0 --trials 12") in result.output
    assert "dw  FAIL" in result.output


@pytest.mark.parametrize("args,needle", [
    (["--seed-size", "--size", "1", "2", "3"], "give --size or --seed-size, not both"),
    (["--size", "1", "2", "3", "--case", "N2"], "--case selects catalogue cases"),
    (["--trials", "3"], "--trials goes with --size or --seed-size"),
    (["--size", "0", "2", "3"], "Invalid value for '--size'"),
])
def test_cli_size_usage_errors(args, needle):
    result = CliRunner().invoke(cli, ["check", "--backend", "python"] + args)
    assert result.exit_code == 2 and needle in result.output


def test_seed_size_end_to_end_with_numba_float32():
    """The notes' size, 64×4096×4096, for real (about 10 s here)."""
    result = CliRunner().invoke(cli, ["check", "--backend", "numba", "--seed-size",
                                      "--dtype", "float32", "--json"])
    assert result.exit_code == 0, result.output[-2000:]
    doc = json.loads(result.output)
    assert doc["size"] == [64, 4096, 4096] and doc["passed"] == 1
    outputs = doc["results"][0]["verification"]["outputs"]
    assert [o["output"] for o in outputs] == ["y", "dx", "dw", "db"]
    assert all(o["passed"] for o in outputs)


def _exact_magnitudes(w, dy):
    rowabs = [sum(map(abs, row)) for row in w]
    colabs = [sum(abs(row[j]) for row in w) for j in range(len(w[0]))] if w else []
    return rowabs, [sum(abs(a) * c for a, c in zip(row, colabs)) for row in dy]


@pytest.mark.parametrize("scale", [1.0, 1e-160, 1e-300, 1e150, 1e200, 1e305, 1e307])
def test_tolerance_magnitudes_bound_the_exact_sums(scale):
    """Cauchy–Schwarz bounds from squares, and the exact fallback when squares
    overflow, never fall below Σ|W| and |dY| |W|ᵀ 1 (no false alarm), and stay
    within a factor of the exact sums (detection)."""
    from refbackprop.freivalds import _magnitudes
    x, w, b, dy = sized_inputs(7, 40, 30, "float64", seed=3)
    w = [[v * scale for v in row] for row in w]
    w[3] = [0.0] * 30                                  # a zero row
    w[5][7] = 1e-310 * scale if scale < 1 else w[5][7]  # a subnormal among normals
    rowabs, dyw, wmax = _magnitudes(w, dy, 30, 40)
    exact_rows, exact_dyw = _exact_magnitudes(w, dy)
    for got, exact in list(zip(rowabs, exact_rows)) + list(zip(dyw, exact_dyw)):
        assert exact <= got <= 2.5 * exact, (got, exact)


@pytest.mark.parametrize("scale", [1e-300, 1e200])
def test_extreme_magnitudes_verify_without_false_alarms_and_catch_errors(scale, sums):
    x, w, b, dy = sized_inputs(6, 33, 20, "float64", seed=4)
    w = [[v * scale for v in row] for row in w]
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    assert verify(x, w, b, dy, y, dx, dw, db, "float64").passed
    y[2][5] += abs(y[2][5]) * 1e-6 + 1e-30 * scale    # far above any rounding
    dx[4][10] *= 1.0 + 1e-6
    result = verify(x, w, b, dy, y, dx, dw, db, "float64")
    assert sorted(o.name for o in result.outputs if not o.passed) == ["dx", "y"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_packing_barely_moves_the_tolerances(dtype, monkeypatch):
    """The grid adds its rounding to the Y and dX line tolerances: under 2% of
    what summing floats allows (whose own rounding is bounded instead).
    Compared on one line of each, made the worst by an error well inside it."""
    x, w, b, dy = sized_inputs(8, 700, 500, dtype, seed=2)
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    first = verify(x, w, b, dy, y, dx, dw, db, dtype)
    y[3][0] += 0.1 * first.outputs[0].tolerance
    dx[5][0] += 0.1 * first.outputs[1].tolerance
    fast = verify(x, w, b, dy, y, dx, dw, db, dtype)
    monkeypatch.setattr(packed, "_available", False)
    slow = verify(x, w, b, dy, y, dx, dw, db, dtype)
    assert fast.passed and slow.passed
    for f, s, row in zip(fast.outputs, slow.outputs, (3, 5)):
        assert f.worst_row == s.worst_row == row
        assert s.tolerance <= f.tolerance <= 1.02 * s.tolerance, (f.name, f.tolerance, s.tolerance)


def test_w_sums_agree_packed_as_floats_and_in_loops(monkeypatch):
    """W r and Wᵀ r all three ways, within the bounds of each other."""
    import refbackprop.freivalds as freivalds
    from refbackprop.freivalds import _WSums, _codes, _magnitudes
    from refbackprop.rng import Rng
    x, w, b, dy = sized_inputs(3, 60, 45, "float64", seed=5)
    wmax = _magnitudes(w, dy, 45, 60)[2]
    grid, floats = _WSums(w, 45, wmax), _WSums(w, 45, None)
    monkeypatch.setattr(freivalds, "_JIT", True)
    loops = _WSums(w, 45, wmax)
    assert grid.step > 0 and floats.step == 0 and loops.step == 0
    rng = Rng(9)
    for length, along in ((45, "along_rows"), (60, "down_columns")):
        batches = [(0, _codes(rng, length, 5), 5), (5, _codes(rng, length, 2), 2)]
        got = getattr(grid, along)(batches)
        ref = getattr(floats, along)(batches)
        looped = getattr(loops, along)(batches)
        assert len(got) == len(ref) == len(looped) == 7
        for g, r, lp in zip(got, ref, looped):
            assert len(g) == len(r) == len(lp) == (60 if along == "along_rows" else 45)
            for a, c, e in zip(g, r, lp):
                # the grid's error, and the floats' rounding (well under 1e-12 here)
                assert abs(a - c) <= grid.error(length) + 1e-12
                assert abs(e - c) <= 1e-12


def test_w_sums_fall_back_to_floats_beyond_the_packed_range():
    from refbackprop.freivalds import _WSums
    w = [[1e300, -2e300], [3e300, 0.5]]
    assert _WSums(w, 2, 1.7e308).step == 0 and _WSums(w, 2, None).step == 0
    assert _WSums(w, 2, 4e300).step > 0
    assert _WSums(w, 2, 1.7e308).along_rows([(0, [1, 0], 1)]) == [[3e300, 3e300 - 0.5]]
