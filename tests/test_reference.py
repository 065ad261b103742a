"""The reference core: the notes' worked example, exact oracles, shapes, errors."""

import itertools
import os
import random
import subprocess
import sys
from fractions import Fraction

import pytest

import refbackprop
from refbackprop import oracle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- the notes' example, N=2, D=2, M=3, exact in Fractions -------------------


def notes():
    F = Fraction
    x = [[F(1), F(2)], [F(3), F(5)]]  # (N, D)
    w = [[F(7), F(11), F(13)], [F(17), F(19), F(23)]]  # (D, M)
    b = [F(29), F(31), F(37)]  # (M,)
    dy = [[F(41), F(43), F(47)], [F(53), F(59), F(61)]]  # (N, M)
    return x, w, b, dy


def test_notes_eq3_forward_elementwise():
    x, w, b, dy = notes()
    y = refbackprop.forward(x, w)
    for i, j in itertools.product(range(2), range(3)):
        assert y[i][j] == x[i][0] * w[0][j] + x[i][1] * w[1][j]
    yb = refbackprop.forward(x, w, b)
    assert yb == [[y[i][j] + b[j] for j in range(3)] for i in range(2)]
    # the numbers, worked by hand: 1·7 + 2·17 = 41, ..., 3·13 + 5·23 = 154
    assert y == [[41, 49, 59], [106, 128, 154]]
    assert yb == [[70, 80, 96], [135, 159, 191]]


def test_notes_eq8_jacobian_slice():
    x, w, b, dy = notes()
    dy_dx = refbackprop.jacobian(x, w)[0]
    slice_11 = [[dy_dx[i * 3 + j][0] for j in range(3)] for i in range(2)]
    assert slice_11 == [[w[0][0], w[0][1], w[0][2]], [0, 0, 0]]


@pytest.mark.parametrize("k,l,eq", [(0, 0, 11), (0, 1, 14), (1, 0, 17), (1, 1, 20)])
def test_notes_eqs_11_14_17_20(k, l, eq):
    x, w, b, dy = notes()
    dx = refbackprop.backward(x, w, dy)[0]
    want = dy[k][0] * w[l][0] + dy[k][1] * w[l][1] + dy[k][2] * w[l][2]
    assert dx[k][l] == want, "eq. %d" % eq
    # and through the Jacobian: ∂L/∂x_kl = ∂L/∂Y · ∂Y/∂x_kl
    dy_dx = refbackprop.jacobian(x, w)[0]
    col = k * 2 + l
    assert sum(dy[i][j] * dy_dx[i * 3 + j][col] for i in range(2) for j in range(3)) == want


def test_notes_eq24_eq25_and_bias():
    x, w, b, dy = notes()
    dx, dw, db = refbackprop.backward(x, w, dy, b)
    dy_wt = [[sum(dy[i][j] * w[k][j] for j in range(3)) for k in range(2)] for i in range(2)]
    xt_dy = [[sum(x[i][k] * dy[i][j] for i in range(2)) for j in range(3)] for k in range(2)]
    assert dx == dy_wt  # eq. 24
    assert dw == xt_dy  # eq. 25
    assert db == [dy[0][j] + dy[1][j] for j in range(3)]
    # the numbers, worked by hand: 41·7 + 43·11 + 47·13 = 1371, ...
    assert dx == [[1371, 2595], [1813, 3425]]  # eq. 24
    assert dw == [[200, 220, 230], [347, 381, 399]]  # eq. 25: 1·41 + 3·53 = 200
    assert db == [94, 102, 108]
    assert refbackprop.jacobian_backward(x, w, dy, b) == (dx, dw, db)


def test_jacobian_flattening_is_row_major():
    x = [[1, 2, 3], [4, 5, 6]]  # (N, D) = (2, 3)
    w = [[1, 0], [0, 1], [1, 1]]  # (D, M) = (3, 2)
    dy_dx, dy_dw, dy_db = refbackprop.jacobian(x, w, [0, 0])
    assert (len(dy_dx), len(dy_dx[0])) == (4, 6)  # (N·M, N·D)
    assert (len(dy_dw), len(dy_dw[0])) == (4, 6)  # (N·M, D·M)
    assert (len(dy_db), len(dy_db[0])) == (4, 2)  # (N·M, M)
    # Y[1][0] is row 1·2 + 0; X[1][2] is column 1·3 + 2; W[2][0] column 2·2 + 0
    assert dy_dx[2][5] == w[2][0]
    assert dy_dw[2][4] == x[1][2]
    assert dy_db == [[1, 0], [0, 1], [1, 0], [0, 1]]


# -- properties over random shapes -------------------------------------------


def random_shapes(count, seed):
    """Distinct (N, D, M) triples, 0 and 1 included."""
    rng = random.Random(seed)
    fixed = [(0, 2, 3), (2, 3, 0), (1, 2, 3), (2, 1, 3), (3, 2, 1), (1, 1, 1), (0, 1, 2), (2, 0, 1)]
    out = list(fixed)
    while len(out) < count:
        n, d, m = rng.sample(range(0, 7), 3)
        out.append((n, d, m))
    return out


def fraction_case(rng, n, d, m, bias):
    draw = lambda: Fraction(rng.randint(-40, 40), rng.randint(1, 12))
    x = [[draw() for _ in range(d)] for _ in range(n)]
    w = [[draw() for _ in range(m)] for _ in range(d)]
    dy = [[draw() for _ in range(m)] for _ in range(n)]
    b = [draw() for _ in range(m)] if bias else None
    return x, w, b, dy


# With D = 0 and no bias, lists cannot tell M (test_zero_d_without_width_is_refused).
EXACT_CASES = [
    (n, d, m, bias) for n, d, m in random_shapes(30, 1) for bias in (False, True) if d or bias
]


@pytest.mark.parametrize("n,d,m,bias", EXACT_CASES)
def test_backward_equals_jacobian_backward_exactly(n, d, m, bias):
    x, w, b, dy = fraction_case(random.Random(n * 100 + d * 10 + m), n, d, m, bias)
    got = refbackprop.jacobian_backward(x, w, dy, b)
    want = refbackprop.backward(x, w, dy, b)
    assert got == want
    assert refbackprop.finite_differences(x, w, dy, b) == want  # exact in Q


@pytest.mark.parametrize("n,d,m", random_shapes(24, 2))
def test_finite_differences_agree_in_float(n, d, m):
    rng = random.Random(7 + n + 10 * d + 100 * m)
    x = [[rng.gauss(0, 1) for _ in range(d)] for _ in range(n)]
    w = [[rng.gauss(0, 3) for _ in range(m)] for _ in range(d)]
    b = [rng.gauss(0, 1) for _ in range(m)]
    dy = [[rng.gauss(0, 1) for _ in range(m)] for _ in range(n)]
    bound = refbackprop.finite_difference_bound(x, w, dy, b)
    fd = refbackprop.finite_differences(x, w, dy, b)
    exact = refbackprop.backward(
        [[Fraction(v) for v in r] for r in x],
        [[Fraction(v) for v in r] for r in w],
        [[Fraction(v) for v in r] for r in dy],
        [Fraction(v) for v in b],
    )
    for got, want in zip(fd, exact):
        rows = got if got and isinstance(got[0], list) else [got]
        wrows = want if want and isinstance(want[0], list) else [want]
        for gr, wr in zip(rows, wrows):
            for g, e in zip(gr, wr):
                assert abs(Fraction(g) - e) <= Fraction(bound)


def test_float_sums_run_left_to_right_on_every_interpreter():
    # sum([0.1] * 10) is 1.0 on CPython 3.12+ but 0.9999999999999999 before
    x = [[0.1] * 10]
    w = [[1.0]] * 10
    assert refbackprop.forward(x, w) == [[0.9999999999999999]]


# -- generic scalars ------------------------------------------------------------


class Tagged:
    """A scalar with only + and *: it records how it was built."""

    def __init__(self, text):
        self.text = text

    def __add__(self, other):
        return Tagged("(%s+%s)" % (self.text, _text(other)))

    def __radd__(self, other):
        return Tagged("(%s+%s)" % (_text(other), self.text))

    def __mul__(self, other):
        return Tagged("%s*%s" % (self.text, _text(other)))

    __rmul__ = __mul__


def _text(v):
    return v.text if isinstance(v, Tagged) else repr(v)


def test_any_scalar_with_add_and_mul_passes_through():
    x = [[Tagged("x11"), Tagged("x12")]]
    w = [[Tagged("w11")], [Tagged("w21")]]
    assert refbackprop.forward(x, w)[0][0].text == "(x11*w11+x12*w21)"
    dx = refbackprop.backward(x, w, [[Tagged("g")]])[0]
    assert dx[0][1].text == "g*w21"


# -- zero sizes -------------------------------------------------------------------


def test_zero_n():
    w = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]  # (D, M) = (3, 2)
    assert refbackprop.forward([], w, [1.0, 2.0]) == []
    dx, dw, db = refbackprop.backward([], w, [], [1.0, 2.0])
    assert dx == [] and dw == [[0, 0], [0, 0], [0, 0]] and db == [0, 0]
    assert refbackprop.jacobian([], w) == ([], [], None)


def test_zero_m():
    x = [[1, 2], [3, 4], [5, 6]]  # (N, D) = (3, 2)
    w = [[], []]  # (D, M) = (2, 0)
    assert refbackprop.forward(x, w) == [[], [], []]
    dx, dw, db = refbackprop.backward(x, w, [[], [], []], [])
    assert dx == [[0, 0]] * 3 and dw == [[], []] and db == []


def test_zero_d_determined_by_bias_or_dy():
    assert refbackprop.forward([[], []], [], [1, 2]) == [[1, 2], [1, 2]]
    dx, dw, db = refbackprop.backward([[], []], [], [[1, 2], [3, 4]])
    assert dx == [[], []] and dw == [] and db is None


def test_zero_d_without_width_is_refused():
    with pytest.raises(ValueError, match=r"M is undetermined: w is \(0, \?\) with no rows"):
        refbackprop.forward([[], []], [])


# -- validation: every error names the argument and the shapes -------------------


def fwd(x, w, b=None):
    return lambda: refbackprop.forward(x, w, b)


def bwd(x, w, dy, b=None):
    return lambda: refbackprop.backward(x, w, dy, b)


ERRORS = [
    (
        fwd([[1, 2, 3]] * 2, [[1] * 5] * 4),
        ValueError,
        "w is (4, 5) but x is (2, 3): w needs 3 rows, one per column of x",
    ),
    (
        fwd([[1, 2], [3]], [[1], [2]]),
        ValueError,
        "x is ragged: row 0 has 2 entries but row 1 has 1",
    ),
    (fwd([[1, 2]], [[1, 2], [3]]), ValueError, "w is ragged"),
    (fwd([1, 2], [[1]]), TypeError, "x must be a matrix (a list of rows), but x[0] is 1"),
    (fwd([[[1]]], [[1]]), TypeError, "x[0][0] is a list: x must be a 2-D matrix"),
    (fwd("ab", [[1]]), TypeError, "x must be a matrix (a list of rows), not str"),
    (fwd([[1, True]], [[1], [2]]), TypeError, "x[0][1] is True (bool), not a number"),
    (fwd([[1, "2"]], [[1], [2]]), TypeError, "x[0][1] is '2' (str), not a number"),
    (fwd([[1, None]], [[1], [2]]), TypeError, "x[0][1] is None (NoneType)"),
    (fwd([[1]], [[object()]]), TypeError, "w[0][0] is <object"),
    (
        fwd([[1, 2]], [[1, 2, 3]] * 2, [1, 2]),
        ValueError,
        "b is (2,) but w is (2, 3): b needs 3 entries, one per column of w",
    ),
    (fwd([[1]], [[1]], [[1]]), TypeError, "b[0] is a list: b must be a flat vector"),
    (fwd([[1]], [[1]], 5), TypeError, "b must be a vector"),
    (
        bwd([[1, 2]], [[1, 2, 3]] * 2, [[1, 2]]),
        ValueError,
        "dy is (1, 2) but w is (2, 3): dy needs 3 columns, one per column of w",
    ),
    (
        bwd([[1, 2]], [[1, 2, 3]] * 2, [[1, 2, 3]] * 2),
        ValueError,
        "dy is (2, 3) but x is (1, 2): dy needs 1 rows, one per row of x",
    ),
    (bwd([[1, 2]], [[1, 2, 3]] * 2, [[1, False, 3]]), TypeError, "dy[0][1] is False (bool)"),
]


@pytest.mark.parametrize("call,exc,message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_validation_errors(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


def test_oracles_validate_too():
    with pytest.raises(ValueError, match=r"w is \(4, 5\) but x is \(2, 3\)"):
        refbackprop.jacobian([[1, 2, 3]] * 2, [[1] * 5] * 4)
    with pytest.raises(ValueError, match="dy is"):
        refbackprop.jacobian_backward([[1]], [[1]], [[1, 2]])


def test_inputs_unmodified_and_outputs_fresh():
    x, w, b, dy = notes()
    snapshot = repr((x, w, b, dy))
    outs = [
        refbackprop.forward(x, w, b),
        *refbackprop.backward(x, w, dy, b),
        *refbackprop.jacobian_backward(x, w, dy, b),
        *refbackprop.finite_differences(x, w, dy, b),
    ]
    assert repr((x, w, b, dy)) == snapshot
    inputs = [x, w, b, dy] + x + w + dy
    for out in outs:
        for piece in [out] + [r for r in out if isinstance(r, list)]:
            assert all(piece is not inp for inp in inputs)


# -- size of the explicit Jacobian ----------------------------------------------


def test_jacobian_size_at_the_notes_size():
    size = refbackprop.jacobian_size(64, 4096, 4096, bias=True)
    assert size["dy_dx"] == (262144, 262144)
    assert size["dy_dx"][0] * size["dy_dx"][1] == 68719476736
    assert size["dy_dw"] == (262144, 16777216)
    assert size["dy_db"] == (262144, 4096)


def test_oracle_refuses_before_allocating():
    with pytest.raises(refbackprop.JacobianTooLarge) as info:
        oracle.check_budget(64, 4096, 4096)
    msg = str(info.value)
    assert "N=64, D=4096, M=4096" in msg
    assert "dY/dX is (262,144, 262,144): 68,719,476,736 entries, 256 GiB at float32" in msg


def test_budget_is_adjustable_per_call_and_globally(monkeypatch):
    x = [[1.0] * 4] * 3
    w = [[1.0] * 5] * 4
    need = refbackprop.jacobian_size(3, 4, 5)["entries"]
    with pytest.raises(refbackprop.JacobianTooLarge, match="over the budget of 10"):
        refbackprop.jacobian(x, w, budget=10)
    assert refbackprop.jacobian(x, w, budget=need)[0][0][0] == 1.0
    monkeypatch.setattr(oracle, "JACOBIAN_BUDGET", need - 1)
    with pytest.raises(refbackprop.JacobianTooLarge):
        refbackprop.jacobian_backward(x, w, [[1.0] * 5] * 3)


@pytest.mark.parametrize("bad", [-1, 2.0, True, "3"])
def test_jacobian_size_refuses_bad_sizes(bad):
    with pytest.raises(ValueError, match="N must be a non-negative int"):
        refbackprop.jacobian_size(bad, 1, 1)


# -- the self-test -----------------------------------------------------------------


def test_self_test_runs_with_the_standard_library_only():
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "refbackprop"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].endswith(" passed, 0 failed")
    assert "FAIL" not in proc.stdout


# -- every bad input named (issue: no traceback, no silently wrong number) -----------


def _message(fn, *args, **kw):
    with pytest.raises((TypeError, ValueError)) as e:
        fn(*args, **kw)
    return str(e.value)


def test_backward_without_dy_names_dy():
    for fn in (
        refbackprop.backward,
        refbackprop.jacobian_backward,
        refbackprop.finite_differences,
        refbackprop.finite_difference_bound,
    ):
        assert _message(fn, [[1.0]], [[2.0]], None).startswith("dy must be the (N, M) matrix")


def test_entry_types_that_cannot_meet_in_a_sum_are_named():
    from decimal import Decimal

    assert _message(refbackprop.forward, [[1.0, 2.0]], [[Decimal(1)], [3.0]]) == (
        "w[0][0] is a Decimal but x[0][0] is a float: Decimal does not mix with float; "
        "give every entry one type"
    )
    assert _message(refbackprop.forward, [[1.0]], [[2.0]], [10**400]).startswith(
        "b[0] is an int too large for a float (401 digits) but other entries are floats"
    )
    assert refbackprop.forward([[10**400]], [[2]]) == [[2 * 10**400]]  # ints alone: exact
    assert refbackprop.forward([[Decimal(1)]], [[Decimal(2)]]) == [[Decimal(2)]]


def test_numpy_booleans_and_array_entries_are_refused():
    np = pytest.importorskip("numpy")
    assert "x[0][0] is np.True_ (bool), not a number" in _message(
        refbackprop.forward, [[np.bool_(True)]], [[2.0]]
    )
    assert _message(refbackprop.forward, [[1.0]], [[np.array([1.0, 2.0])]]) == (
        "w[0][0] is ndarray, which holds several values (shape (2,)), not one number: an "
        "entry must be a scalar"
    )
    assert refbackprop.forward([[np.float64(1.5)]], [[2.0]]) == [[3.0]]  # a scalar is fine


def test_budget_and_unit_roundoff_are_checked():
    for bad in ("x", -1, 2.5):
        assert _message(refbackprop.jacobian, [[1.0]], [[2.0]], budget=bad).startswith(
            "budget must be a non-negative int"
        )
    ones = [[1.0] * 10] * 10
    assert _message(refbackprop.finite_difference_bound, ones, ones, ones, u=0.1) == (
        "no rounding-error bound for K=111 at u=0.1 (K·u ≥ 1)"
    )
    assert _message(refbackprop.finite_difference_bound, ones, ones, ones, u=-1.0).startswith(
        "u must be a unit roundoff"
    )
