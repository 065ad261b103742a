"""The core's own checks, runnable with nothing but the standard library.

    python -S -m refbackprop          (or: import refbackprop.selftest; main())

Prints one line per check ('ok', 'FAIL' or 'skip' with its reason), a digest of
the reference's float results (identical on every interpreter), and ends with
'N passed, N failed' (', N skipped' where a runtime lacks something).
main() returns the exit status: 0 only when nothing failed.
"""

from . import oracle, reference
from .bounds import bits
from .rng import Rng, seed_from

try:
    from fractions import Fraction
except ImportError:  # MicroPython has no fractions module
    Fraction = None


class Skip(Exception):
    """Raised by a check that cannot run on this runtime; carries the reason."""


def _expect(cond, what):
    if not cond:
        raise AssertionError(what)


def _raises(exc_type, needle, fn, *args):
    try:
        fn(*args)
    except exc_type as e:
        _expect(needle in str(e), "message %r lacks %r" % (str(e), needle))
        return
    raise AssertionError("%s was not raised" % exc_type.__name__)


def notes_case():
    """The notes' N=2, D=2, M=3 example with distinct integer entries."""
    x = [[1, 2], [3, 4]]  # (N, D) = (2, 2)
    w = [[5, 6, 7], [8, 9, 10]]  # (D, M) = (2, 3)
    b = [11, 12, 13]  # (M,)
    dy = [[14, 15, 16], [17, 18, 19]]  # (N, M) = (2, 3)
    return x, w, b, dy


def check_notes_forward():
    x, w, b, dy = notes_case()
    y = reference.forward(x, w)
    # eq. 3: y_ij = x_i1 w_1j + x_i2 w_2j
    want = [[x[i][0] * w[0][j] + x[i][1] * w[1][j] for j in range(3)] for i in range(2)]
    _expect(y == want == [[21, 24, 27], [47, 54, 61]], "Y = XW (eq. 3): %r" % y)
    _expect(reference.forward(x, w, b) == [[32, 36, 40], [58, 66, 74]], "Y = XW + b")


def check_notes_jacobian_slice():
    x, w, b, dy = notes_case()
    dy_dx = oracle.jacobian(x, w)[0]
    # eq. 8: ∂Y/∂x_11 is column 0 of dY/dX, reshaped (N, M)
    col = [row[0] for row in dy_dx]
    _expect(col == [5, 6, 7, 0, 0, 0], "∂Y/∂x_11 (eq. 8): %r" % col)


def check_notes_backward():
    x, w, b, dy = notes_case()
    dx, dw, db = reference.backward(x, w, dy, b)
    # eqs. 11, 14, 17, 20: ∂L/∂x_kl = Σ_j ∂L/∂y_kj · w_lj
    for k in range(2):
        for l in range(2):
            want = dy[k][0] * w[l][0] + dy[k][1] * w[l][1] + dy[k][2] * w[l][2]
            _expect(dx[k][l] == want, "dL/dx_%d%d" % (k + 1, l + 1))
    _expect(dx == [[272, 407], [326, 488]], "dX = dY Wᵀ (eq. 24): %r" % dx)
    _expect(dw == [[65, 69, 73], [96, 102, 108]], "dW = Xᵀ dY (eq. 25): %r" % dw)
    _expect(db == [31, 33, 35], "db = Σ_i dY: %r" % db)
    _expect(
        oracle.jacobian_backward(x, w, dy, b) == (dx, dw, db), "jacobian_backward equals backward"
    )


def _random_case(rng, n, d, m, bias, draw):
    x = [[draw() for _ in range(d)] for _ in range(n)]
    w = [[draw() for _ in range(m)] for _ in range(d)]
    b = [draw() for _ in range(m)] if bias else None
    dy = [[draw() for _ in range(m)] for _ in range(n)]
    return x, w, b, dy


SHAPES = ((1, 1, 1), (2, 3, 4), (4, 3, 2), (3, 1, 5), (1, 4, 2), (5, 2, 1))
EMPTY = ((0, 3, 2), (3, 2, 0), (2, 0, 3))  # a zero dimension: empty sums and outputs


def check_jacobian_ints():
    rng = Rng(seed_from("selftest/ints"))
    for n, d, m in SHAPES + EMPTY:
        for bias in (False, True):
            if d == 0 and not bias:
                continue  # M is undetermined without b when D = 0
            x, w, b, dy = _random_case(rng, n, d, m, bias, lambda: rng.integer(-9, 9))
            got = oracle.jacobian_backward(x, w, dy, b)
            _expect(
                got == reference.backward(x, w, dy, b), "N=%d D=%d M=%d bias=%s" % (n, d, m, bias)
            )


def check_jacobian_fractions():
    if Fraction is None:
        raise Skip("no fractions module on this runtime: exact rational checks need it")
    rng = Rng(seed_from("selftest/fractions"))
    for n, d, m in SHAPES:
        x, w, b, dy = _random_case(
            rng, n, d, m, True, lambda: Fraction(rng.integer(-50, 50), rng.integer(1, 9))
        )
        _expect(
            oracle.jacobian_backward(x, w, dy, b) == reference.backward(x, w, dy, b),
            "N=%d D=%d M=%d" % (n, d, m),
        )
        fd = oracle.finite_differences(x, w, dy, b)
        _expect(fd == reference.backward(x, w, dy, b), "finite differences")


def check_finite_differences_float():
    rng = Rng(seed_from("selftest/fd"))
    for n, d, m in SHAPES:
        x, w, b, dy = _random_case(rng, n, d, m, True, rng.normal)
        exact = reference.backward(x, w, dy, b)
        fd = oracle.finite_differences(x, w, dy, b)
        bound = oracle.finite_difference_bound(x, w, dy, b)
        for got, want in zip(fd, exact):
            flat_got = [v for row in got for v in (row if isinstance(row, list) else [row])]
            flat_want = [v for row in want for v in (row if isinstance(row, list) else [row])]
            for g, e in zip(flat_got, flat_want):
                _expect(abs(g - e) <= bound, "|%r - %r| > %r" % (g, e, bound))


def check_zero_sizes():
    w = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]  # (D, M) = (3, 2)
    _expect(reference.forward([], w) == [], "N = 0 forward")
    dx, dw, db = reference.backward([], w, [], [0.5, 0.5])
    _expect(dx == [] and dw == [[0, 0]] * 3 and db == [0, 0], "N = 0 backward")
    x = [[1, 2, 3]]
    y = reference.forward(x, [[], [], []])  # M = 0
    _expect(y == [[]], "M = 0 forward: %r" % y)
    _expect(reference.forward([[], []], [], [1, 2]) == [[1, 2], [1, 2]], "D = 0")
    _raises(ValueError, "M is undetermined", reference.forward, [[], []], [])


def check_validation():
    fwd, bwd = reference.forward, reference.backward
    a23 = [[1, 2, 3]] * 2  # a (2, 3) matrix: x in the first call, w in the others
    # one bad call a line: (exception, what its message says, function, arguments)
    for exc, text, fn, args in (
        (ValueError, "w is (4, 5) but x is (2, 3): w needs 3 rows", fwd, (a23, [[1] * 5] * 4)),
        (ValueError, "x is ragged", fwd, ([[1, 2], [3]], [[1], [2]])),
        (TypeError, "x[0][1] is True (bool)", fwd, ([[1, True]], [[1], [2]])),
        (TypeError, "wrong nesting depth", fwd, ([1, 2], [[1]])),
        (ValueError, "b is (2,) but w is (2, 3)", fwd, ([[1, 2]], a23, [1, 2])),
        (ValueError, "dy is (1, 2) but w is (2, 3)", bwd, ([[1, 2]], a23, [[1, 2]])),
    ):
        _raises(exc, text, fn, *args)


def check_size_refusal():
    _raises(
        oracle.JacobianTooLarge,
        "68,719,476,736 entries, 256 GiB at float32",
        oracle.check_budget,
        64,
        4096,
        4096,
    )


def check_inputs_untouched():
    x, w, b, dy = notes_case()
    copies = [[list(r) for r in x], [list(r) for r in w], list(b), [list(r) for r in dy]]
    reference.forward(x, w, b)
    dx, dw, db = reference.backward(x, w, dy, b)
    oracle.jacobian_backward(x, w, dy, b)
    _expect([x, w, b, dy] == copies, "inputs modified")
    _expect(db is not b and all(r is not s for r in dw for s in w), "aliasing")


def check_engine_judges_the_reference():
    from .cases import parse_case_id
    from .compare import exact_outputs, judge_output

    ids = (
        "forward/float64/N7-D13-M11/bias/normal/seed0",
        "backward/float64/N5-D3-M17/bias/nonfinite/seed0",
        "backward/float32/N9-D6-M10/nobias/tiny/seed0",
        "forward/float32/N2-D2-M3/bias/large/seed0",
        "backward/float64/N3-D5-M1/nobias/signed_zeros/seed0",
    )
    for case_id in ids:
        case = parse_case_id(case_id)
        inp = case.inputs()
        if case.op == "forward":
            outs = {"y": reference.forward(inp["x"], inp["w"], inp["b"])}
        else:
            dx, dw, db = reference.backward(inp["x"], inp["w"], inp["dy"], inp["b"])
            outs = {"dx": dx, "dw": dw, "db": db}
        specs = exact_outputs(case)
        for name in outs:
            if specs[name] is None:
                continue
            dtype = "float64"  # the reference computes in float64
            verdict = judge_output(name, outs[name], specs[name], dtype)
            _expect(verdict.passed, "%s %s: %s" % (case_id, name, verdict.message))
            _expect(verdict.ratio <= 1.0, "ratio %r" % verdict.ratio)


def check_symbolic_proof():
    from .explain import derive

    for n, d, m in ((2, 2, 3), (1, 3, 2)):
        parts = derive(n, d, m, bias=True)
        _expect(
            parts["dx_proved"] and parts["dw_proved"] and parts["db_proved"],
            "symbolic proof for N=%d D=%d M=%d" % (n, d, m),
        )
        structure = parts["structure_proved"]
        _expect(
            structure["dy_dx"] and structure["dy_dw"] and structure["dy_db"],
            "Kronecker forms for N=%d D=%d M=%d: %r" % (n, d, m, structure),
        )
    _expect(
        str(parts["dx"][0][0]) == "∂L/∂y_{1,1} w_{1,1} + ∂L/∂y_{1,2} w_{1,2}",
        "notation: %s" % parts["dx"][0][0],
    )


def check_freivalds():
    """Verification without the Jacobian (freivalds.py): the reference's own
    outputs pass, and one wrong element in each of Y, dX and dW is caught,
    whichever way this runtime forms W's ± sums (packed integers or floats)."""
    from .freivalds import verify

    rng = Rng(seed_from("selftest/freivalds"))
    x, w, b, dy = _random_case(rng, 3, 40, 17, True, rng.normal)
    y = reference.forward(x, w, b)
    dx, dw, db = reference.backward(x, w, dy, b)
    result = verify(x, w, b, dy, y, dx, dw, db, "float64", trials=8)
    _expect(result.passed, "; ".join(o.message for o in result.outputs if o.message))
    y[1][5] += 1e-6
    dx[2][33] -= 1e-6
    dw[7][3] += 1e-6
    result = verify(x, w, b, dy, y, dx, dw, db, "float64", trials=8)
    caught = [o.name for o in result.outputs if not o.passed]
    _expect(caught == ["y", "dx", "dw"], "caught %r" % caught)


def check_precision_contracts():
    """formats.round_to on hand-computed values (ties to even, subnormals,
    overflow) with frexp/ldexp alone, and the bfloat16 contract's judge: the
    exact value rounded once to bfloat16 passes, left unrounded it fails."""
    from . import formats

    inf = float("inf")
    for v, fmt, want in (
        (1 + 2.0**-8, "bfloat16", 1.0),
        (1 + 3 * 2.0**-8, "bfloat16", 1 + 2.0**-6),
        (0.1, "bfloat16", 0.10009765625),
        (3 * 2.0**-25, "float16", 2.0**-23),
        (2.0**-25, "float16", 0.0),
        (65519.99, "float16", 65504.0),
        (65520.0, "float16", inf),
        (-65520.0, "float16", -inf),
        (3 * 2.0**-137, "tf32", 2.0**-135),
        (3 * 2.0**-150, "float32", 2.0**-148),
        (0.1, "float32", 0.10000000149011612),
        (464.0, "float8_e4m3fn", 448.0),
        (61440.0, "float8_e5m2", inf),
    ):
        got = formats.round_to(v, fmt)
        _expect(got == want, "round_to(%r, %s) = %r, not %r" % (v, fmt, got, want))
        _expect(formats._float32_portable(v) == formats.to_float32(v), "to_float32(%r)" % v)
    _expect(formats.round_to(-(2.0**-26), "float16") == 0.0, "-0.0")
    _expect(
        formats.first_unrepresentable([1.0, 2.0**-24, 2.0**-25], "float16") == 2,
        "first_unrepresentable",
    )
    _expect(
        formats.round_to(465.0, "float8_e4m3fn") != formats.round_to(465.0, "float8_e4m3fn"),
        "e4m3fn overflow is NaN",
    )
    from .cases import parse_case_id
    from .compare import exact_outputs, judge_output

    case = parse_case_id("forward/bfloat16/N7-D13-M11/bias/normal/seed0")
    shape, refs, mags, k = spec = exact_outputs(case)["y"]
    rows = lambda vals: [vals[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])]
    rounded = [formats.round_to(r, "bfloat16") for r in refs]
    verdict = judge_output("y", rows(rounded), spec, "bfloat16")
    _expect(verdict.passed, verdict.message)
    verdict = judge_output("y", rows([formats.to_float32(r) for r in refs]), spec, "bfloat16")
    _expect(
        not verdict.passed and "is not a bfloat16 value" in verdict.message,
        "unrounded outputs: %s" % verdict.message,
    )


CHECKS = (
    check_notes_forward,
    check_notes_jacobian_slice,
    check_notes_backward,
    check_jacobian_ints,
    check_jacobian_fractions,
    check_finite_differences_float,
    check_zero_sizes,
    check_validation,
    check_size_refusal,
    check_inputs_untouched,
    check_engine_judges_the_reference,
    check_symbolic_proof,
    check_freivalds,
    check_precision_contracts,
)


def float_digest():
    """FNV-1a over the IEEE bytes of the reference's results on a seeded case.

    Equal digests on two interpreters mean bit-identical reference results.
    """
    rng = Rng(seed_from("selftest/digest"))
    x, w, b, dy = _random_case(rng, 7, 13, 11, True, rng.normal)
    outs = [reference.forward(x, w, b)] + list(reference.backward(x, w, dy, b))
    h = 0xCBF29CE484222325
    for out in outs:
        for row in out:
            for v in row if isinstance(row, list) else [row]:
                for ch in bits(v):
                    h = ((h ^ ch) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def main(out=print):
    passed = failed = skipped = 0
    for check in CHECKS:
        name = check.__name__[len("check_") :]
        try:
            check()
        except Skip as e:
            skipped += 1
            out("skip %s: %s" % (name, e))
        except Exception as e:  # a failing check is reported, never fatal
            failed += 1
            out("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        else:
            passed += 1
            out("ok   %s" % name)
    out("reference digest: %s" % float_digest())
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    out(line)
    return 1 if failed else 0
