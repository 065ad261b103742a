"""Verification at any size without the Jacobian: randomized projections."""

import json
import math

import pytest

from refbackprop import packed
from refbackprop.cases import catalogue
from refbackprop.freivalds import verify
from refbackprop.sized import check_at_size
from refbackprop.sized import sized_inputs as sized_matrices

from refbackprop.reference import backward, forward
from refbackprop.registry import get_backend
from refbackprop.runner import run_case

import wrong_backends
from front_ends import run_cli


def sized_inputs(n, d, m, dtype, bias=True, seed=0):
    """x, w, b, dy as nested lists (b a flat list or None), uniform-like."""
    got = sized_matrices(n, d, m, dtype, bias, seed, "uniform")
    return tuple(None if got[k] is None else got[k].lists() for k in ("x", "w", "b", "dy"))


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
    assert v.miss_probability == 2.0**-20
    assert all(o.worst_ratio <= 1 for o in v.outputs)


@pytest.mark.parametrize(
    "name,dtype", [("python", "float64"), ("numba", "float64"), ("numba", "float32")]
)
@pytest.mark.parametrize("size", [(1, 1, 1), (3, 17, 5), (16, 300, 203), (2, 1, 9)])
def test_correct_backends_pass_at_any_size(name, dtype, size, sums):
    result = check_at_size(get_backend(name), *size, dtype=dtype, trials=12)
    assert result.passed, "\n".join(result.lines())


@pytest.mark.slow
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
    result = run_cli("check --backend python --size 4 50 6 --trials 5 --json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["mode"] == "size" and doc["size"] == [4, 50, 6] and doc["trials"] == 5
    ver = doc["results"][0]["verification"]
    assert ver["miss_probability"] == 2.0**-5
    assert set(doc["results"][0]["seconds"]) == {
        "generate",
        "prepare",
        "to_native",
        "compute",
        "to_lists",
        "verify",
    }
    text = run_cli("check --backend python --size 4 50 6")
    assert "its own bound (median over sampled elements" in text.output
    assert "escapes with probability ≤ 2^-12" in text.output
    assert text.output.splitlines()[-1] == "1 passed, 0 failed"


def test_cli_size_failure_has_a_repro(monkeypatch):
    import os

    monkeypatch.chdir(os.path.dirname(os.path.abspath(__file__)))
    result = run_cli("check --backend wrong_backends:CorruptsOneDwElement --size 8 40 12 --seed 0")
    assert result.exit_code == 1
    assert (
        "repro:  refbackprop check --backend wrong_backends:CorruptsOneDwElement "
        "--size 8 40 12 --dtype float64 --seed 0 --inputs mixed --trials 12"
    ) in result.output
    assert "dw  FAIL" in result.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--seed-size", "--size", "1", "2", "3"], "give --size or --seed-size, not both"),
        (["--size", "1", "2", "3", "--case", "N2"], "--case selects catalogue cases"),
        (["--trials", "3"], "--trials goes with --size or --seed-size"),
        (["--size", "0", "2", "3"], "Invalid value for '--size'"),
    ],
)
def test_cli_size_usage_errors(args, needle):
    result = run_cli("check --backend python", *args)
    assert result.exit_code == 2 and needle in result.output


@pytest.mark.slow
def test_seed_size_end_to_end_with_numba_float32():
    """The notes' size, 64×4096×4096, for real (about 10 s here)."""
    result = run_cli("check --backend numba --seed-size --dtype float32 --json")
    assert result.exit_code == 0, result.output[-2000:]
    doc = json.loads(result.output)
    assert doc["size"] == [64, 4096, 4096] and doc["passed"] == 1
    outputs = doc["results"][0]["verification"]["outputs"]
    assert [o["output"] for o in outputs] == ["y", "dx", "dw", "db"]
    assert all(o["passed"] for o in outputs)


@pytest.mark.parametrize("scale", [1.0, 1e-160, 1e-300, 1e150, 1e200, 1e305])
@pytest.mark.parametrize("hypot", [True, False])
def test_cell_bounds_bound_the_exact_sums_of_element_bounds(scale, hypot, monkeypatch):
    """Each cell's B ≥ ‖β‖₂ of its element bounds, and T ≥ Σβ where T uses the
    worst case (no false alarm), for every scale of W (norms through
    math.hypot, or sums of squares rescaled by 2^±600), and stays within a
    small factor of the exact ‖β‖₂ (detection)."""
    import refbackprop.freivalds as freivalds
    from refbackprop.bounds import element_bound, exact_dot
    from refbackprop.freivalds import prepare

    monkeypatch.setattr(freivalds, "_HYPOT", hypot and freivalds._HYPOT)
    x, w, b, dy = sized_inputs(5, 40, 37, "float64", seed=3)
    w = [[v * scale for v in row] for row in w]
    w[3] = [0.0] * 37  # a zero row
    plan = prepare(x, w, b, dy, "float64", trials=1, samples=False, cell=8)
    cy, cdx, cdw = plan.checks
    cols = [[w[k][j] for k in range(40)] for j in range(37)]
    for check, elements in (
        (cy, [((i, j), x[i], cols[j], b[j], 41) for i in range(5) for j in range(37)]),
        (cdx, [((i, k), dy[i], w[k], None, 37) for i in range(5) for k in range(40)]),
        (
            cdw,
            [
                ((k, j), [r[k] for r in x], [r[j] for r in dy], None, 5)
                for k in range(40)
                for j in range(37)
            ],
        ),
    ):
        cells = {}
        for index, a, c, extra, k in elements:
            ref, mag = exact_dot(a, c, extra)
            cells.setdefault(check.cell_index(*index), []).append(
                element_bound(k, mag, ref, "float64")
            )
        for cell, bounds in cells.items():
            t, v, big = check.tolerances(cell)
            exact2 = math.hypot(*bounds)
            assert exact2 <= big <= 3.0 * exact2, (check.name, cell, big, exact2)
            assert sum(bounds) <= t


@pytest.mark.parametrize("scale", [1e-300, 1e200])
def test_extreme_magnitudes_verify_without_false_alarms_and_catch_errors(scale, sums):
    x, w, b, dy = sized_inputs(6, 33, 20, "float64", seed=4)
    w = [[v * scale for v in row] for row in w]
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    assert verify(x, w, b, dy, y, dx, dw, db, "float64").passed
    y[2][5] += abs(y[2][5]) * 1e-6 + 1e-30 * scale  # far above any rounding
    dx[4][10] *= 1.0 + (1e-2 if scale < 1 else 1e-6)  # beyond K·λ, the underflow term
    result = verify(x, w, b, dy, y, dx, dw, db, "float64")
    assert sorted(o.name for o in result.outputs if not o.passed) == ["dx", "y"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_packing_barely_moves_the_thresholds(dtype, monkeypatch):
    """W's grid adds its rounding to Y's and dX's cell tolerances: a few
    percent at most of what summing floats allows (whose own rounding is
    bounded instead)."""
    from refbackprop.freivalds import prepare

    x, w, b, dy = sized_inputs(8, 700, 500, dtype, seed=2)
    fast = prepare(x, w, b, dy, dtype, trials=1, seed=4, samples=False)
    monkeypatch.setattr(packed, "_available", False)
    slow = prepare(x, w, b, dy, dtype, trials=1, seed=4, samples=False)
    for f, s in zip(fast.checks[:2], slow.checks[:2]):
        for cell in (0, 7, f.cells - 1):
            assert f.detect(cell) <= 1.05 * s.detect(cell), (f.name, cell)


def test_w_block_sums_agree_packed_and_as_floats(monkeypatch):
    """W_J r_J and W_Kᵀ r_K through the per-block grid and as floats, within
    the stated error of each other."""
    from refbackprop.flat import as_matrix
    from refbackprop.freivalds import _Context

    x, w, b, dy = sized_inputs(3, 60, 45, "float64", seed=5)
    w[7] = [v * 1e-9 for v in w[7]]  # a row block of small entries
    args = [as_matrix(v) for v in (x, w, b, dy)] + [3, 60, 45, "float64", None, 8, 8]
    grid = _Context(*args)
    monkeypatch.setattr(packed, "_available", False)
    floats = _Context(*args)
    assert grid.grid is not None and floats.grid is None
    r45 = [1.0 if (j * 7) % 3 else -1.0 for j in range(45)]
    r60 = [1.0 if (k * 5) % 4 else -1.0 for k in range(60)]
    wide = [1e9] * 8  # block norms: not used on the grid
    got, err = grid._w_block_sums_along(r45, 8, wide)
    ref, _ = floats._w_block_sums_along(r45, 8, wide)
    for c in range(len(got)):
        for k in range(60):
            step = grid.grid.row_step(k)
            assert abs(got[c][k] - ref[c][k]) <= 9 * step + 1e-13 * abs(ref[c][k]) + 1e-300
    got, err = grid._w_block_sums_down(r60, 8, wide)
    ref, _ = floats._w_block_sums_down(r60, 8, wide)
    for c in range(len(got)):
        step = grid.grid.steps[c]
        for j in range(45):
            assert (
                abs(got[c][j] - ref[c][j])
                <= packed.grid_error(8, step) + 1e-13 * abs(ref[c][j]) + 1e-300
            )


def test_w_block_sums_fall_back_to_floats_beyond_the_packed_range():
    from array import array
    from refbackprop.flat import Matrix

    with pytest.raises(ValueError, match="beyond the packed range"):
        packed.Packed(Matrix(array("d", [1e300, -2e300]), (1, 2)), [1.7e308], 1, 2)
    x = [[1.0, 2.0]]
    w = [[1e300, -2e300], [3e300, 0.5]]
    dy = [[1.0, -1.0]]
    from refbackprop.reference import backward, forward

    y = forward(x, w)
    dx, dw, _ = backward(x, w, dy)
    assert verify(x, w, None, dy, y, dx, dw, None, "float64", trials=3).passed


def test_an_unknown_option_is_named_with_the_known_ones():
    from refbackprop.freivalds import OPTIONS, prepare

    one = [[1.0]]
    with pytest.raises(TypeError) as e:
        prepare(one, one, None, one, "float64", trails=3)
    assert "unknown option trails" in str(e.value)
    assert all(name in str(e.value) for name in OPTIONS)


def test_scaled_dots_stay_in_range_and_lift_tiny_products_out_of_subnormals():
    from refbackprop.freivalds import SCALED_TOP, _scale

    for a, b in [(1.0, 1.0), (2.0**-511 * 64, 2.0**-511 * 64), (1e300, 1e300), (3.0, 2.0**-1070)]:
        up, down = _scale(a, b)
        assert up * down == 1.0 and up >= 1.0
        assert up * a * b <= 2.0**SCALED_TOP or up == 1.0
    up, _ = _scale(2.0**-511 * 64, 2.0**-511 * 64)
    assert up * 2.0**-519 * 2.0**-519 >= 2.0**-1022  # a tiny × tiny product, now normal
    assert _scale(0.0, 5.0) == (1.0, 1.0)


def test_tiny_inputs_verify_with_scaled_dots_and_catch_one_element():
    """float64 'tiny' inputs (|v| < 2^-511, every product subnormal): the
    verifier's dots run scaled; correct outputs pass, one element of each
    output off by 100 times its own bound fails that output (Y's elements
    are the bias's, 8 binades apart: the cell's largest one)."""
    from refbackprop.bounds import element_bound

    got = sized_matrices(40, 64, 40, "float64", True, 3, "tiny")
    x, w, b, dy = (got[k].lists() for k in ("x", "w", "b", "dy"))
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    assert verify(x, w, b, dy, y, dx, dw, db, "float64").passed
    j = max(range(32), key=lambda j: abs(b[j]))  # y is b's: the largest bound of its cell
    mag = sum(abs(x[3][k] * w[k][j]) for k in range(64)) + abs(b[j])
    y[3][j] += 100 * element_bound(65, mag, y[3][j], "float64")
    mag = sum(abs(dy[5][j] * w[9][j]) for j in range(40))
    dx[5][9] += 100 * element_bound(40, mag, dx[5][9], "float64")
    mag = sum(abs(x[i][2] * dy[i][30]) for i in range(40))
    dw[2][30] += 100 * element_bound(40, mag, dw[2][30], "float64")
    result = verify(x, w, b, dy, y, dx, dw, db, "float64")
    assert sorted(o.name for o in result.outputs if not o.passed) == ["dw", "dx", "y"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_row_below_the_bias_is_checked_element_by_element(dtype, monkeypatch):
    """Where X_i is tiny, y_ij is b_j up to rounding and its bound is about
    γ_K·|b_j|: an element whose bias is 64 times below its cellmates' hides
    in a cell (its threshold is their sum, about 2000 times its bound);
    checked on its own, one at 3 times its bound fails, and is named."""
    import refbackprop.freivalds as freivalds
    from refbackprop.bounds import element_bound

    x, w, b, dy = sized_inputs(3, 50, 64, dtype, seed=2)
    x[1] = [v * 2.0**-100 for v in x[1]]
    b = [2.0**-5 if j == 5 else 2.0 for j in range(64)]
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    assert verify(x, w, b, dy, y, dx, dw, db, dtype).passed
    mag = sum(abs(x[1][k] * w[k][5]) for k in range(50)) + abs(b[5])
    y[1][5] += 3 * element_bound(51, mag, y[1][5], dtype)
    result = verify(x, w, b, dy, y, dx, dw, db, dtype)
    out = result.outputs[0].to_dict()
    assert not out["passed"] and out["failed_elements"] == 1 and out["failed_cells"] == 0
    assert out["elements_checked"] == 64 and out["message"].startswith("y[1][5] = ")
    assert any("each against its own tolerance: 1 FAILED; y[1][5] = " in s for s in result.lines())
    monkeypatch.setattr(freivalds._Context, "_bias_rows", lambda *a: {})
    assert verify(x, w, b, dy, y, dx, dw, db, dtype).passed  # the cells alone


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cell_tolerances_bound_and_stay_near_the_sums_of_bounds_on_mixed_inputs(dtype):
    """On the mixed inputs (bands of normal, wide, integer, tiny and same-sign
    rows, where Cauchy–Schwarz on a whole row loses up to 2.3 on each side),
    every cell's T is at least the exact Σ of its element bounds (no false
    alarm) and at most a small factor above it (the Hölder bounds of Y and
    dX; dW's sums exact up to their 20-bit grids, packed.product_sums):
    every element is caught near n times its bound."""
    from refbackprop.bounds import element_bound, exact_dot
    from refbackprop.freivalds import prepare

    n, d, m = 8, 200, 96
    got = sized_matrices(n, d, m, dtype, True, 5, "mixed")
    x, w, b, dy = (got[k].lists() for k in ("x", "w", "b", "dy"))
    cy, cdx, cdw = prepare(x, w, b, dy, dtype, trials=1, samples=False).checks
    cols = [[w[k][j] for k in range(d)] for j in range(m)]
    for check, most, elements in (
        (cy, 2.5, [((i, j), x[i], cols[j], b[j], d + 1) for i in range(n) for j in range(m)]),
        (cdx, 2.5, [((i, k), dy[i], w[k], None, m) for i in range(n) for k in range(d)]),
        (
            cdw,
            1.5,
            [
                ((k, j), [r[k] for r in x], [r[j] for r in dy], None, n)
                for k in range(d)
                for j in range(m)
            ],
        ),
    ):
        cells = {}
        for index, a, c, extra, k in elements:
            ref, mag = exact_dot(a, c, extra)
            cells.setdefault(check.cell_index(*index), []).append(element_bound(k, mag, ref, dtype))
        for cell, bounds in cells.items():
            t = check.tolerances(cell)[0]
            assert sum(bounds) <= t <= most * sum(bounds), (check.name, cell, t / sum(bounds))


@pytest.mark.parametrize("where", ["w-inf", "w-nan", "x-nan", "dy-inf"])
def test_non_finite_inputs_leave_every_product_unverified_and_failed(where):
    """An infinite or NaN input (found by the norms, W's by Y's pass over its
    columns) fails y, dx and dw with the reason, never a pass."""
    x, w, b, dy = sized_inputs(4, 40, 36, "float64", seed=6)
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    name, kind = where.split("-")
    bad = {"inf": float("inf"), "nan": float("nan")}[kind]
    {"w": w, "x": x, "dy": dy}[name][2][5] = bad
    result = verify(x, w, b, dy, y, dx, dw, db, "float64")
    outs = dict((o.name, o) for o in result.outputs)
    for key in ("y", "dx", "dw"):
        assert not outs[key].passed
        assert "not verified: an input has an infinite or NaN entry" in outs[key].message


def _prepared_state(plan):
    """What a Prepared holds that the verdict depends on: every cell's
    tolerances (T, V and B), before any output is seen."""
    out = []
    for check in plan.checks:
        out.append([check.tolerances(c) for c in range(0, check.cells, 7)])
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dx_and_dw_prepared_in_forked_children_are_the_same_verdict(dtype):
    """parallel=True prepares dX's cells and dW's reference dots in forked
    children: the same tolerances, references and verdicts as in this
    process, for correct and wrong outputs alike."""
    from refbackprop import forked
    from refbackprop.freivalds import prepare

    x, w, b, dy = sized_inputs(9, 70, 45, dtype, seed=8)
    y = forward(x, w, b)
    dx, dw, db = backward(x, w, dy, b)
    plans = [prepare(x, w, b, dy, dtype, seed=5, parallel=p) for p in (False, True)]
    child = forked.start(lambda: [1.5])
    assert child is not None and child.result() == [1.5]  # this runtime forks
    assert _prepared_state(plans[0]) == _prepared_state(plans[1])
    dx[3][40] *= 1.001
    dw[50][7] *= 1.001
    results = [p.finish(y, dx, dw, db) for p in plans]
    assert [o.to_dict() for o in results[0].outputs] == [o.to_dict() for o in results[1].outputs]
    assert [o.name for o in results[1].outputs if not o.passed] == ["dx", "dw"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dw_started_before_w_exists_is_the_same_verdict(dtype):
    """start_dw forks dW's reference dots from X and dY alone (the sized
    runner then draws W); prepare takes that child: the same tolerances and
    verdicts as preparing everything in this process."""
    from refbackprop.freivalds import prepare, start_dw

    g = sized_matrices(9, 70, 45, dtype, True, 8, "mixed")
    x, w, b, dy = (g[k] for k in ("x", "w", "b", "dy"))
    early = start_dw(x, dy, dtype, seed=5, parallel=True)
    assert early is not None and early.child.pid is not None
    plans = [
        prepare(x, w, b, dy, dtype, seed=5, parallel=False),
        prepare(x, w, b, dy, dtype, early, seed=5, parallel=True),
    ]
    assert early.child is None  # taken, read and reaped by prepare
    assert _prepared_state(plans[0]) == _prepared_state(plans[1])
    lists = [m.lists() for m in (x, w, b, dy)]
    y = forward(lists[0], lists[1], lists[2])
    dx, dw, db = backward(lists[0], lists[1], lists[3], lists[2])
    dw[50][7] *= 1.001
    results = [p.finish(y, dx, dw, db) for p in plans]
    assert [o.to_dict() for o in results[0].outputs] == [o.to_dict() for o in results[1].outputs]
    assert [o.name for o in results[1].outputs if not o.passed] == ["dw"]
    # small sizes prepare in one process: nothing is started
    assert start_dw(x, dy, dtype, seed=5) is None


def test_an_early_dw_for_other_inputs_or_options_is_refused_and_stopped():
    """An Early started with another seed, trials or cell size, or for other
    X or dY, is a caller's error: prepare raises ValueError naming both keys
    and kills the child; nothing of it reaches a verdict."""
    from refbackprop.freivalds import prepare, start_dw

    g = sized_matrices(9, 70, 45, "float64", True, 8, "mixed")
    x, w, b, dy = (g[k] for k in ("x", "w", "b", "dy"))
    other = sized_matrices(9, 70, 45, "float64", True, 9, "mixed")["dy"]
    for started, given, why in [
        ({"seed": 5}, {"seed": 6}, ", 5, 32, .*, 6, 32, "),
        ({"seed": 5, "trials": 2}, {"seed": 5}, "'float64', 2, 5, .*'float64', 12, 5, "),
        ({"seed": 5, "cell": 16}, {"seed": 5}, ", 16, .*, 32, "),
        ({"seed": 5, "dy": other}, {"seed": 5}, "other X or dY objects"),
    ]:
        early = start_dw(x, started.pop("dy", dy), "float64", parallel=True, **started)
        child = early.child
        with pytest.raises(ValueError, match="early= was started for other inputs.*" + why):
            prepare(x, w, b, dy, "float64", early, parallel=True, **given)
        assert child.pid is None and early.child is None
    with pytest.raises(TypeError, match="flat.Matrix"):
        start_dw(x.lists(), dy, "float64", parallel=True)
    with pytest.raises(TypeError, match="unknown option trails"):
        start_dw(x, dy, "float64", trails=2)


def _dw_outputs(x, w, b, dy, wrong=None):
    """y, dx (lists), dW as a flat.Matrix, db, from the reference; wrong:
    (k, j, value) put into dW."""
    from refbackprop.flat import as_matrix

    lists = [None if v is None else v.lists() for v in (x, w, b, dy)]
    y = forward(lists[0], lists[1], lists[2])
    dx, dw, db = backward(lists[0], lists[1], lists[3], lists[2])
    if wrong is not None:
        dw[wrong[0]][wrong[1]] = wrong[2]
    return y, dx, as_matrix(dw), db


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
@pytest.mark.parametrize(
    "wrong", [None, (50, 7, 1.5), (3, 0, float("inf")), (60, 44, float("nan"))], ids=str
)
def test_dw_got_side_summed_in_a_child_is_the_same_verdict(dtype, wrong, forked_children):
    """start_dw_got sums dW's cells in a forked child once dW is in; finish
    reads those sums: the same verdict as summing in finish, for a correct
    dW, one element off, and one ±inf or NaN (then the child's sums are not
    finite, and finish settles dW and sums it itself)."""
    from refbackprop.freivalds import prepare, start_dw_got

    g = sized_matrices(9, 70, 45, dtype, True, 8, "mixed")
    x, w, b, dy = (g[k] for k in ("x", "w", "b", "dy"))
    y, dx, dw, db = _dw_outputs(x, w, b, dy, wrong)
    got = start_dw_got(x, dy, dw, dtype, seed=5, parallel=True)
    assert got is not None and len(forked_children) == 1
    results = [
        prepare(x, w, b, dy, dtype, seed=5, parallel=False).finish(y, dx, dw, db),
        prepare(x, w, b, dy, dtype, seed=5, parallel=True).finish(y, dx, dw, db, got=got),
    ]
    assert got.child is None and all(c.pid is None for c in forked_children)
    assert [o.to_dict() for o in results[0].outputs] == [o.to_dict() for o in results[1].outputs]
    assert [o.name for o in results[1].outputs if not o.passed] == ([] if wrong is None else ["dw"])
    # small sizes verify in one process: nothing is started
    assert start_dw_got(x, dy, dw, dtype, seed=5) is None


def test_dw_got_sums_are_finish_s_own_and_say_whether_they_are_finite():
    """_DwInputs.dw_got: for each trial and cell block, Σ_{k∈K} r_k·dW_k,:
    exactly as finish makes it (_signed_sum in the same mode), flagged
    finite; (False,) once an element is ±inf or NaN, and where fsum would
    raise on it (inf − inf)."""
    from refbackprop import freivalds
    from refbackprop.flat import Matrix

    g = sized_matrices(6, 70, 45, "float64", True, 4, "mixed")
    x, dy = g["x"], g["dy"]
    inputs = freivalds._DwInputs(x, dy, 6, 70, 45, "float64", 32)
    rng = freivalds._sign_rng(6, 70, 45, "float64", 5)
    signs = freivalds._draw_signs(rng, 2, 70, 45)[2]
    dw = sized_matrices(6, 70, 45, "float64", True, 9, "mixed")["w"]  # any (D, M)
    finite, cells, exact, extended, sums = inputs.dw_got(dw, signs)
    assert finite and cells == inputs.dw_cells() and exact
    assert extended == (inputs.dw_sum_mode()[1] or not exact)
    v, m = dw.values, 45
    for t, r in enumerate(signs):
        for c, rows in enumerate(cells):
            want = freivalds._signed_sum(
                [v[k * m : (k + 1) * m] for k in rows], [r[k] for k in rows], m, exact, extended
            )
            assert sums[t][c].typecode == "d" and list(sums[t][c]) == want
    for bad in ([float("inf")], [float("nan")], [float("inf"), float("-inf")]):
        values = v[:]
        for i, value in enumerate(bad):  # in one cell: the first two rows of cell 0
            values[cells[0][i] * m + 3] = value
        assert inputs.dw_got(Matrix(values, (70, 45)), signs) == (False,)


def test_a_got_for_other_inputs_or_options_is_refused_and_stopped(forked_children):
    """finish's got= started on another dW object (even with equal values),
    another X, or another seed, trials or cell size is a caller's error:
    ValueError naming what differs, the child killed and reaped; dW given
    as lists cannot be matched with it at all."""
    from refbackprop.flat import Matrix
    from refbackprop.freivalds import prepare, start_dw_got

    g = sized_matrices(9, 70, 45, "float64", True, 8, "mixed")
    x, w, b, dy = (g[k] for k in ("x", "w", "b", "dy"))
    y, dx, dw, db = _dw_outputs(x, w, b, dy)
    copy = Matrix(dw.values[:], dw.shape)
    other_x = Matrix(x.values[:], x.shape)
    for started, given, why in [
        ({"seed": 5}, {"seed": 6}, r", 5, 32\), not .*, 6, 32\)"),
        ({"seed": 5, "trials": 2}, {"seed": 5}, r"'float64', 2, 5, 32\), not .*'float64', 12, 5"),
        ({"seed": 5, "cell": 16}, {"seed": 5}, r", 16\), not .*, 32\)"),
        ({"seed": 5, "dw": copy}, {"seed": 5}, "other X, dY or dW objects"),
        ({"seed": 5, "x": other_x}, {"seed": 5}, "other X, dY or dW objects"),
    ]:
        on = started.pop("x", x), dy, started.pop("dw", dw)
        got = start_dw_got(*on, "float64", parallel=True, **started)
        child = got.child
        plan = prepare(x, w, b, dy, "float64", parallel=True, **given)
        with pytest.raises(ValueError, match="finish's got= was started for other inputs.*" + why):
            plan.finish(y, dx, dw, db, got=got)
        assert child.pid is None and got.child is None
    got = start_dw_got(x, dy, dw, "float64", seed=5, parallel=True)
    with pytest.raises(ValueError, match="needs dw as the flat.Matrix it was started on"):
        prepare(x, w, b, dy, "float64", seed=5).finish(y, dx, dw.lists(), db, got=got)
    assert got.child is None and all(c.pid is None for c in forked_children)
    with pytest.raises(TypeError, match="flat.Matrix"):
        start_dw_got(x, dy, dw.lists(), "float64", parallel=True)
    with pytest.raises(ValueError, match="not \\(N, D\\), \\(N, M\\) and \\(D, M\\)"):
        start_dw_got(x, dy, Matrix(dw.values[: 45 * 69], (69, 45)), "float64", parallel=True)


@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_failing_got_child_is_an_error_never_a_verdict(monkeypatch, how, forked_children):
    """dW's got child raising, or dying without a word: finish raises
    RuntimeError with the child's error (the sized runner reports it as
    refbackprop's own failure), and nothing is left running."""
    import os
    import signal

    import refbackprop.freivalds as freivalds

    def fail(self, *args):
        if how == "raises":
            raise ValueError("boom in the got child")
        os.kill(os.getpid(), signal.SIGKILL)

    g = sized_matrices(4, 40, 30, "float64", True, 2, "mixed")
    x, w, b, dy = (g[k] for k in ("x", "w", "b", "dy"))
    y, dx, dw, db = _dw_outputs(x, w, b, dy)
    monkeypatch.setattr(freivalds._DwInputs, "dw_got", fail)
    got = freivalds.start_dw_got(x, dy, dw, "float64", parallel=True)
    plan = freivalds.prepare(x, w, b, dy, "float64", parallel=True)
    why = "child process failed: ValueError: boom" if how == "raises" else "ended without a result"
    with pytest.raises(RuntimeError, match=why):
        plan.finish(y, dx, dw, db, got=got)
    assert all(c.pid is None for c in forked_children)


def test_a_child_sends_arrays_as_arrays_and_everything_else_as_it_was():
    """array.array in a child's result crosses as its bytes and arrives as an
    array of its typecode, wherever it is (marshal alone would send it as
    plain bytes); lists, tuples and dicts arrive as they were."""
    from array import array

    from refbackprop import forked

    nan = float("nan")
    value = {
        "sums": {3: array("d", [1.5, -0.0, 2.0**-1074, float("inf")])},
        "blocks": [(array("f", [0.25, 3.0]), 0.5, float("inf")), (array("d"), 1.0, 2.0)],
        "cells": [[0, 2], [1, 3]],
        "norms": [1.0, 2.5, nan],
        "flag": (True, "text", None),
    }
    got = forked.start(lambda: value).result()
    sums = got["sums"][3]
    assert type(sums) is array and sums.typecode == "d"
    assert sums.tobytes() == value["sums"][3].tobytes()
    (a, x, y), (b, z, w) = got["blocks"]
    assert (a.typecode, list(a), x, y) == ("f", [0.25, 3.0], 0.5, float("inf"))
    assert (b.typecode, len(b), z, w) == ("d", 0, 1.0, 2.0)
    assert got["cells"] == [[0, 2], [1, 3]] and type(got["norms"]) is list
    assert got["norms"][:2] == [1.0, 2.5] and got["norms"][2] != got["norms"][2]
    assert got["flag"] == (True, "text", None)
    mixed = forked.start(lambda: [1.0, array("d", [2.0]), (b"raw",)]).result()
    assert mixed[0] == 1.0 and type(mixed[1]) is array and list(mixed[1]) == [2.0]
    assert mixed[2] == (b"raw",)


def test_a_child_computes_without_cyclic_collections_and_this_process_keeps_them():
    import gc

    from refbackprop import forked

    assert gc.isenabled()
    child = forked.start(gc.isenabled)
    assert child is not None and child.result() is False
    assert gc.isenabled()


def test_finish_interrupted_before_dw_stops_the_got_child(monkeypatch, forked_children):
    """Ctrl-C (or any failure) in finish before it reaches dW: the got child
    is killed and reaped, not left to block writing its result."""
    import refbackprop.freivalds as freivalds

    g = sized_matrices(4, 40, 30, "float64", True, 2, "mixed")
    x, w, b, dy = (g[k] for k in ("x", "w", "b", "dy"))
    y, dx, dw, db = _dw_outputs(x, w, b, dy)
    got = freivalds.start_dw_got(x, dy, dw, "float64", parallel=True)
    plan = freivalds.prepare(x, w, b, dy, "float64", parallel=True)

    def interrupted(self, check, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(freivalds.Prepared, "_settle", interrupted)
    with pytest.raises(KeyboardInterrupt):
        plan.finish(y, dx, dw, db, got=got)
    assert got.child is None and all(c.pid is None for c in forked_children)


def test_children_started_from_two_threads_keep_their_pipes_apart(monkeypatch):
    """forked.start from two threads at once (the sized runner forks dW's
    got side from its main thread while prepare forks from another): a
    child forked while another's pipe is being set up must not inherit that
    pipe's writing end, else reading the other child's result waits for
    this one to exit (and this one may wait for its own result to be read).
    Here thread A's os.pipe() waits for thread B to fork; B's child lists
    the pipes it holds open for writing: never A's."""
    import os
    import threading

    from refbackprop import forked

    real_pipe = os.pipe
    b_forked = threading.Event()
    a_piped = threading.Event()

    def slow_pipe():
        fds = real_pipe()
        if threading.current_thread().name == "A":
            a_piped.set()
            b_forked.wait(2)  # (the lock makes B wait for A instead)
        return fds

    def writing_pipes():
        held = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                with open("/proc/self/fdinfo/%s" % fd) as f:
                    flags = int(f.read().split("flags:")[1].split()[0], 8)
                held.append((os.fstat(int(fd)).st_ino, flags & 3))
            except (OSError, IndexError, ValueError):
                pass
        return [ino for ino, mode in held if mode == os.O_WRONLY]

    monkeypatch.setattr(os, "pipe", slow_pipe)
    children = {}

    def a():
        children["a"] = forked.start(lambda: "a")

    def b():
        a_piped.wait(2)
        children["b"] = forked.start(writing_pipes)
        b_forked.set()

    threads = [threading.Thread(target=a, name="A"), threading.Thread(target=b, name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a_pipe = os.fstat(children["a"].read).st_ino
    held = children["b"].result()
    assert children["a"].result() == "a"
    assert a_pipe not in held


def test_a_sized_run_stops_the_early_dw_it_does_not_use(monkeypatch, forked_children):
    """At large sizes the sized runner forks dW's references before W is
    drawn; where the backend fails first (here it raises) prepare never
    runs, and the runner kills and reaps that child: none outlives the run."""
    from refbackprop import freivalds

    started = forked_children
    monkeypatch.setattr(freivalds, "PARALLEL_MADDS", 1)  # as at the seed size
    result = check_at_size(wrong_backends.Raises(), 4, 40, 30, "float64", seed=3)
    assert not result.passed and "kernel launch failed" in " ".join(result.problems)
    # dW's early two (its dots', its terms')
    assert len(started) == 2 and all(child.pid is None for child in started)
    started[:] = []
    result = check_at_size(get_backend("python"), 4, 40, 30, "float64", seed=3)
    # dW's early two (taken by prepare), then dX's and the sampled elements'
    assert result.passed and len(started) == 4
    assert all(child.pid is None for child in started)


@pytest.mark.parametrize("part", ["dx_data", "dw_references", "dw_terms", "sampled values"])
def test_a_failing_child_is_an_error_never_a_verdict(monkeypatch, part):
    """dX's, dW's or the sampled elements' child raising, or dying without
    a word: prepare raises RuntimeError with the child's error (the sized
    runner reports it as refbackprop's own failure); no child is left
    behind."""
    import os
    import signal

    import refbackprop.forked as forked
    import refbackprop.freivalds as freivalds
    import refbackprop.sampling as sampling

    x, w, b, dy = sized_inputs(4, 30, 20, "float64", seed=2)
    children = []
    start = forked.start
    monkeypatch.setattr(forked, "start", lambda f: children.append(start(f)) or children[-1])

    def replace(how):
        if part == "sampled values":
            monkeypatch.setattr(sampling, "values", lambda *args: how(None))
        else:
            monkeypatch.setattr(freivalds._Context, part, how)

    def boom(self, *args):
        raise ValueError("boom in the child")

    replace(boom)
    with pytest.raises(RuntimeError, match="child process failed: ValueError: boom in the child"):
        freivalds.prepare(x, w, b, dy, "float64", parallel=True)

    def die(self, *args):
        os.kill(os.getpid(), signal.SIGKILL)

    replace(die)
    with pytest.raises(RuntimeError, match="ended without a result"):
        freivalds.prepare(x, w, b, dy, "float64", parallel=True)
    # dX's, dW's two and the sampled elements' children, twice: all reaped
    assert len(children) == 8 and all(c.pid is None for c in children)


def test_without_fork_dx_is_prepared_here(monkeypatch):
    """Where os.fork is missing (Windows, MicroPython, Pyodide) parallel=True
    prepares everything in this process, with the same tolerances."""
    import refbackprop.forked as forked
    from refbackprop.freivalds import prepare

    x, w, b, dy = sized_inputs(5, 40, 33, "float64", seed=3)
    here = _prepared_state(prepare(x, w, b, dy, "float64", parallel=False))
    monkeypatch.delattr(forked.os, "fork")
    assert forked.start(lambda: 1) is None
    assert _prepared_state(prepare(x, w, b, dy, "float64", parallel=True)) == here


@pytest.mark.parametrize("part", ["dx_data", "dw_references", "dw_terms"])
def test_an_interrupted_wait_stops_the_children_at_once(monkeypatch, part):
    """A signal that stops the run (Ctrl-C, the CLI's SIGTERM) while this
    process waits for dX's or dW's child: every child is killed and
    reaped at once, not waited for."""
    import signal
    import time

    import refbackprop.forked as forked
    import refbackprop.freivalds as freivalds

    x, w, b, dy = sized_inputs(4, 30, 20, "float64", seed=2)
    children = []
    start = forked.start
    monkeypatch.setattr(forked, "start", lambda f: children.append(start(f)) or children[-1])
    monkeypatch.setattr(freivalds._Context, part, lambda *a: time.sleep(60))

    def stop(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, stop)
    t0 = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            freivalds.prepare(x, w, b, dy, "float64", parallel=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    # dX's, dW's two (dots, terms) and the sampled elements'
    assert time.monotonic() - t0 < 10 and len(children) == 4
    assert all(c.pid is None for c in children)


def test_accurate_dots_meet_their_stated_bound():
    """dW's float64 reference dots (_accurate_dots: math.sumprod's extended
    precision where a probe confirms it, else fsum of the products): every
    dot within ρ(n)·Σ|u_i c_i| of the exact one, on cancelling sums where a
    plain dot is far off."""
    from fractions import Fraction

    from refbackprop import freivalds
    from refbackprop.rng import Rng

    dots, rho = freivalds._accurate_dots()
    rng = Rng(4)
    n = 64
    for trial in range(40):
        u = [(rng.uniform() - 0.5) * 2.0 ** (trial % 9 * 7) for _ in range(n)]
        # each column cancels almost all of u·c: the last entry undoes the rest
        cols = []
        for _ in range(8):
            c = [rng.uniform() - 0.5 for _ in range(n - 1)]
            rest = -math.fsum(a * b for a, b in zip(u, c)) / u[-1]
            cols.append(c + [rest])
        for c, got in zip(cols, dots(u, cols)):
            exact = sum(Fraction(a) * Fraction(b) for a, b in zip(u, c))
            mags = sum(abs(Fraction(a) * Fraction(b)) for a, b in zip(u, c))
            err = abs(Fraction(got) - exact)
            assert err <= Fraction(rho(n)) * mags, (trial, float(err / mags))
    assert rho(n) <= 2.0 * 2.0**-53 * (1 + 2.0**-40)  # far below a plain dot's γ_66


def _polar_or_skip():
    from refbackprop import freivalds

    if not (freivalds._POLAR and freivalds._polar_probe()):
        pytest.skip("polarized dots are CPython 3.10 and 3.11's (math.dist faithfully rounded)")
    return freivalds


def _polar_cases(rng, n):
    """(a, b) pairs where a polarized dot is hardest: near-orthogonal
    (the exact dot tiny against ‖a‖‖b‖), parallel and opposite, norms far
    apart, entries spanning float64's range down to subnormals (some below
    the flush), zeros, and the mixed inputs' 'tiny' band."""

    def vec(scale):
        return [(rng.uniform() - 0.5) * scale for _ in range(n)]

    cases = []
    for e in (0, 40, -600, 400, -900):
        a, b = vec(2.0**e), vec(2.0 ** (-e // 2))
        # b made almost orthogonal to a: the exact dot cancels to its last bits
        k = max(range(n), key=lambda i: abs(a[i]))
        b[k] -= math.fsum(x * y for x, y in zip(a, b)) / a[k]
        cases += [(a, b), (a, a), (a, [-v for v in a]), (a, [0.0] * n)]
    wide = [(rng.uniform() - 0.5) * 2.0 ** (rng.uniform() * 1100 - 1074) for _ in range(n)]
    tiny = [v * 2.0**-519 for v in vec(1.0)]
    cases += [(wide, vec(1.0)), (wide, wide[::-1]), (tiny, vec(1.0)), (tiny, tiny[::-1])]
    cases.append(([2.0**-1074] * n, [2.0**-1074] * n))  # all subnormal, all flushed
    return cases


def test_polar_dots_meet_their_stated_bound():
    """CPython 3.10/3.11's Y and dX reference dots (and dW's outside float64):
    a·b = (‖a + b‖² − ‖a‖² − ‖b‖²)/2 from one math.dist and two hypot,
    within ρ·‖a‖·‖b‖ (ρ = _polar_rho, about 26u; the chunked dots it
    replaces had γ_130) of the exact dot, plus 2^-1075 for a subnormal
    result."""
    from fractions import Fraction

    from refbackprop.rng import Rng

    freivalds = _polar_or_skip()
    rng = Rng(11)
    u = 2.0**-53
    for n in (1, 2, 7, 64, 1000):
        worst = 0.0
        for case, (a, b) in enumerate(_polar_cases(rng, n)):
            na, nb = freivalds._norm(a), freivalds._norm(b)
            # a as a row against b and a·1.5 (one call, several vectors)
            c = [v * 1.5 for v in a]
            got, rho = freivalds._polar_dots([a, b], [na, nb], [b, c], [nb, na * 1.5])
            assert rho <= 27 * u and rho == freivalds._polar_rho(n)
            for i, (left, nl) in enumerate(((a, na), (b, nb))):
                for j, (right, nr) in enumerate(((b, nb), (c, na * 1.5))):
                    exact = sum(Fraction(x) * Fraction(y) for x, y in zip(left, right))
                    err = abs(Fraction(got[i][j]) - exact)
                    allowed = Fraction(rho) * Fraction(nl) * Fraction(nr) + Fraction(1, 2**1075)
                    assert err <= allowed, (n, case, i, j, float(err), float(allowed))
                    if nl * nr > 0:  # (beyond a subnormal result's own rounding)
                        rel = (err - Fraction(1, 2**1075)) / (Fraction(nl) * Fraction(nr))
                        worst = max(worst, float(rel))
        assert 0.0 < worst <= 27 * u  # the cases do round (the bound is not vacuous)
    zero = freivalds._polar_dots([[0.0, 0.0]], [0.0], [[1.0, 2.0]], [3.0])[0]
    assert zero == [[0.0]]


def test_lane_dots_meet_their_stated_bound():
    """float64's dW reference dots on CPython 3.8-3.11: each y_i packed in
    integer lanes, Σ_i A_i·Y_i exact, within ρ·‖a‖·‖y_{:,j}‖ (ρ = _lane_rho,
    about 1.13u) of the exact dot, zero on a zero column; where the lanes
    would be too wide, a value is not finite or the norms' product is out
    of range, None (fsum of the products then)."""
    from fractions import Fraction

    from refbackprop import freivalds
    from refbackprop.rng import Rng

    if freivalds._LOOPS:
        pytest.skip("no integer lanes on this runtime (its dots are plain loops)")
    rng = Rng(12)
    u = 2.0**-53
    taken, refused = 0, []
    for n in (1, 2, 7, 64, 300):
        worst = 0.0
        for case, (a, b) in enumerate(_polar_cases(rng, n)):
            # a against b and a zero column; b against a and 1.5·a
            for row, columns in ((a, [b, [0.0] * n]), (b, [a, [v * 1.5 for v in a]])):
                ys = [list(entries) for entries in zip(*columns)]  # y (N, 2) as rows
                norm, cn = freivalds._norm(row), [freivalds._norm(col) for col in columns]
                got = freivalds._lane_dots([row], [norm], ys, cn)
                if got is None:  # only where ‖a‖·‖y_{:,j}‖ is below LANE_FLOOR
                    assert norm * min(c for c in cn if c > 0) < freivalds.LANE_FLOOR
                    refused.append(case)
                    continue
                (dots,), rho = got
                assert rho == freivalds._lane_rho() and rho <= 1.2 * u
                for j, col in enumerate(columns):
                    exact = sum(Fraction(x) * Fraction(y) for x, y in zip(row, col))
                    err = abs(Fraction(dots[j]) - exact)
                    allowed = Fraction(rho) * Fraction(norm) * Fraction(cn[j])
                    assert err <= allowed, (n, case, j, float(err), float(allowed))
                    if allowed:
                        worst = max(worst, float(err / allowed))
                    taken += 1
        assert 0.0 < worst <= 1.0  # the cases do round (the bound is not vacuous)
    # refused: a·a and a·(−a) at 2^-600 and 2^-900, the 'tiny' band against
    # itself and the all-subnormal case
    assert taken > 300 and set(refused) == {9, 10, 17, 18, 23, 24}, refused


def test_lane_dots_refuse_what_their_bound_does_not_cover():
    from refbackprop import freivalds

    if freivalds._LOOPS:
        pytest.skip("no integer lanes on this runtime (its dots are plain loops)")
    a, ys = [[1.0, 2.0, 3.0]], [[4.0], [5.0], [6.0]]
    assert freivalds._lane_dots(a, [4.0], ys, [9.0])[0] == [[32.0]]
    assert freivalds._lane_dots(a, [2.0**600], ys, [2.0**500]) is None  # beyond POLAR_TOP
    assert freivalds._lane_dots([[1.0, float("nan"), 3.0]], [4.0], ys, [9.0]) is None
    assert freivalds._lane_dots(a, [4.0], ys, [None]) is None  # a column not finite
    assert freivalds._lane_dots(a, [4.0], ys, [float("inf")]) is None
    assert freivalds._lane_dots(a, [2.0**-500], ys, [2.0**-500]) is None  # below LANE_FLOOR
    # column norms 2^-300 and 9: lanes of over LANE_BITS bits
    wide = [[4.0, 2.0**-300], [5.0, 0.0], [6.0, 0.0]]
    assert freivalds._lane_dots(a, [4.0], wide, [9.0, 2.0**-300]) is None
    assert freivalds._lane_dots(a, [4.0], [[0.0], [0.0], [0.0]], [0.0])[0] == [[0.0]]
    # a subnormal column beside a normal one, against a row of 2^200: the
    # lanes would span 1100 binades (refused, not truncated at 2^-2 as a
    # scale taken from an underflowed product of norm and δu/(2√N) was)
    big = [[2.0**200, 3.0 * 2.0**199]]
    ys, cn = [[1.0, 2.0**-1074], [0.5, 0.0]], [1.2, 2.0**-1074]
    assert freivalds._lane_dots(big, [freivalds._norm(big[0])], ys, cn) is None


def test_lane_dots_take_subnormal_columns_at_their_own_scale():
    """Columns wholly in the subnormal range against a row of 2^100 (the
    norms' product far above LANE_FLOOR): the scale of y comes from the
    exponents, so these dots are within the bound too."""
    from fractions import Fraction

    from refbackprop import freivalds

    if freivalds._LOOPS:
        pytest.skip("no integer lanes on this runtime (its dots are plain loops)")
    a = [2.0**100, -3.0 * 2.0**99, 2.0**98 + 1.0]
    columns = [[2.0**-1030, 5 * 2.0**-1074, -(2.0**-1040)], [3 * 2.0**-1074, 0.0, 2.0**-1035]]
    ys = [list(entries) for entries in zip(*columns)]
    norm, cn = freivalds._norm(a), [freivalds._norm(col) for col in columns]
    dots, rho = freivalds._lane_dots([a], [norm], ys, cn)
    for j, col in enumerate(columns):
        exact = sum(Fraction(x) * Fraction(y) for x, y in zip(a, col))
        assert abs(Fraction(dots[0][j]) - exact) <= Fraction(rho) * Fraction(norm) * Fraction(cn[j])


def test_polar_dots_refuse_an_inaccurate_dist_and_bounds_beyond_range(monkeypatch):
    """A math.dist that is the square root of a float sum of squares fails
    the probe, and norm bounds whose product passes POLAR_TOP are refused:
    either way _polar_dots gives None and the reference dots are the
    chunked ones, with the chunked bound."""
    freivalds = _polar_or_skip()
    a, b = [[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]
    assert freivalds._polar_dots(a, [4.0], b, [9.0]) is not None
    assert freivalds._polar_dots(a, [2.0**600], b, [2.0**500]) is None
    assert freivalds._polar_dots(a, [float("inf")], b, [9.0]) is None

    def naive(p, q):
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(p, q)))

    monkeypatch.setattr(freivalds, "_POLAR_PROBED", [])
    monkeypatch.setattr(math, "dist", naive)
    assert freivalds._polar_probe() is False
    assert freivalds._polar_dots(a, [4.0], b, [9.0]) is None
    dots, rho = freivalds._reference_dots(a, [4.0], b, [9.0])
    assert dots == [[32.0]] and rho == freivalds._chunked_gamma(3)


def test_accurate_dots_fall_back_where_sumprod_is_plain(monkeypatch):
    """A math.sumprod that rounds like a plain loop fails the probe: the dots
    are then fsum's, with fsum's bound (never the extended one)."""
    from refbackprop import freivalds

    def plain(p, q):
        return sum(a * b for a, b in zip(p, q))

    monkeypatch.setattr(freivalds, "_ACCURATE", None)
    monkeypatch.setattr(freivalds, "_EXTENDED", [])
    monkeypatch.setattr(math, "sumprod", plain, raising=False)
    assert freivalds._extended_sumprod() is None
    dots, rho = freivalds._accurate_dots()
    assert rho(64) == 2 * 2.0**-53 * (1 + 2.0**-53)
    assert dots([1.0, 2.0**60, 1.0], [[2.0**-60, 1.0, -(2.0**60)]]) == [2.0**-60]
    # the signed sums then go the old way: fsum of each sign (2^60 + 1 rounds
    # to 2^60), one subtraction
    rows = [[2.0**60, 1.0], [1.0, 2.0], [2.0**60, 3.0]]
    assert freivalds._signed_sum(rows, [1.0, 1.0, -1.0], 2, exact=True) == [0.0, 0.0]


def test_a_double_length_sumprod_fails_the_probe(monkeypatch):
    """A sumprod with an error-free product and sum but a rounding second
    word (Ogita–Rump–Oishi's Dot2) is less accurate than the bound the
    extended one is trusted with: the probe's third case refuses it."""
    from refbackprop import freivalds

    def two_sum(a, b):
        x = a + b
        z = x - a
        return x, (a - (x - z)) + (b - z)

    def dot2(p, q):
        hi = lo = 0.0
        for a, b in zip(p, q):
            x = a * b
            ah, al = a * 134217729.0, 0.0
            ah = ah - (ah - a)
            al = a - ah
            bh = b * 134217729.0
            bh = bh - (bh - b)
            bl = b - bh
            err = ((ah * bh - x) + ah * bl + al * bh) + al * bl  # Dekker: x + err = a·b
            hi, s = two_sum(hi, x)
            lo = lo + (s + err)
        return hi + lo

    a = 1.0 + 2.0**-30
    assert dot2([a, a * a], [a, -1.0]) == 2.0**-60  # the error-free product
    assert dot2([2.0**60, 1.0, -(2.0**60)], [1.0] * 3) == 1.0  # the error-free sum
    assert dot2([1.0, 2.0**-60, 2.0**-113, 2.0**-113, -1.0], [1.0] * 5) == 2.0**-60  # no third word
    monkeypatch.setattr(freivalds, "_EXTENDED", [])
    monkeypatch.setattr(math, "sumprod", dot2, raising=False)
    assert freivalds._extended_sumprod() is None


def test_signed_sums_through_the_extended_sumprod_where_there_is_one():
    """CPython 3.12+: a block's ± sums are one math.sumprod per column, exact
    here where summing each sign apart rounds 2^60 + 1."""
    from refbackprop import freivalds

    if freivalds._extended_sumprod() is None:
        pytest.skip("no extended-precision math.sumprod on this runtime (CPython 3.12+ has one)")
    rows = [[2.0**60, 1.0], [1.0, 2.0], [2.0**60, 3.0]]
    assert freivalds._signed_sum(rows, [1.0, 1.0, -1.0], 2) == [1.0, 0.0]


def test_float64_dw_verifier_rounding_is_a_small_part_of_its_tolerance():
    """float64 dW at N = 64 on mixed inputs: the verifier's own rounding V is
    under a tenth of T in every cell (the reference dots are accurate: the
    integer lanes, ρ ≈ 1.13u in norms, or fsum's 2u through the exact
    Σ_i C_iK·|dY_ij|); with plain dots of N terms it was a quarter to a
    half (docs/verification.md, "V")."""
    from refbackprop.freivalds import prepare

    got = sized_matrices(64, 256, 96, "float64", True, 5, "mixed")
    x, w, b, dy = (got[k] for k in ("x", "w", "b", "dy"))
    cdw = prepare(x, w, b, dy, "float64", trials=1, samples=False).checks[2]
    ratios = [v / t for t, v, _ in map(cdw.tolerances, range(cdw.cells)) if t > 0]
    assert len(ratios) == cdw.cells and max(ratios) < 0.1, max(ratios)
