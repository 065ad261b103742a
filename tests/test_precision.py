"""Precision contracts: the bounds, the catalogue per contract, the emulated
backend, and kernels of our own that keep or break each contract."""

import hashlib
import math
import random
from fractions import Fraction

import pytest

from refbackprop import bounds, contracts, formats
from refbackprop.backends.emulated import EmulatedBackend
from refbackprop.cases import DTYPES, VALUE_SHAPES, Case, catalogue, parse_case_id
from refbackprop.compare import exact_outputs, judge_output
from refbackprop.conformance import failure_report, run
from refbackprop.runner import run_case

import precision_kernels as K

LOW = ("tf32", "bfloat16", "float16", "bfloat16-f32out", "float16-f32out")
INF = float("inf")
U64 = 2.0**-53


# -- contracts -------------------------------------------------------------------


def test_the_contract_table():
    assert (
        DTYPES
        == contracts.NAMES
        == (
            "float64",
            "float32",
            "tf32",
            "bfloat16",
            "float16",
            "bfloat16-f32out",
            "float16-f32out",
        )
    )

    def row(name):
        c = contracts.get(name)
        return tuple(f.name for f in (c.storage, c.multiply, c.accumulate, c.output))

    assert row("tf32") == ("float32", "tf32", "float32", "float32")
    assert row("bfloat16") == ("bfloat16", "bfloat16", "float32", "bfloat16")
    assert row("float16-f32out") == ("float16", "float16", "float32", "float32")
    assert contracts.get("tf32").operand_rounding == 2.0**-10
    assert [n for n in DTYPES if contracts.get(n).rounds_output] == ["bfloat16", "float16"]
    with pytest.raises(ValueError, match="unknown precision contract 'int8'; known: float64, "):
        contracts.get("int8")


# -- bounds ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float64_and_float32_bounds_are_the_old_formula(dtype):
    u = {"float64": 2.0**-53, "float32": 2.0**-24}[dtype]
    lam = {"float64": 2.0**-1022, "float32": 2.0**-126}[dtype]
    for k, mag, ref in [(3, 7.5, -2.25), (4096, 1e5, 3.0), (1, 0.0, 0.0)]:
        old = (
            bounds.gamma(k, u) * mag * bounds.SAFETY
            + k * lam
            + 2 * U64 * abs(ref)
            + 4 * k * 2.0**-1022
        )
        assert bounds.element_bound(k, mag, ref, dtype) == old
        assert bounds.overflow_outcome(k, mag, ref, dtype) == "finite"


def test_contract_bound_terms_by_hand():
    # bfloat16, K = 4, Σ|a||b| = 8, ref = 2: accumulation, then output rounding
    g = 4 * 2.0**-24 / (1 - 4 * 2.0**-24)
    b = g * 8 * bounds.SAFETY + 4 * 2.0**-126 * (1 + g) + 2 * U64 * 2 + 16 * 2.0**-1022
    assert bounds.accumulation_bound(4, 8.0, 2.0, "bfloat16") == b
    assert bounds.element_bound(4, 8.0, 2.0, "bfloat16") == b + 2.0**-8 * (2 + b) * bounds.SAFETY
    # the f32out twin has no output term
    assert bounds.element_bound(4, 8.0, 2.0, "bfloat16-f32out") == b
    # tf32 adds (2δ + δ²)·mag and grows the accumulated magnitude by (1 + δ)²
    d = 2.0**-10
    t = (
        g * ((1 + d) * (1 + d)) * 8 * bounds.SAFETY
        + 4 * 2.0**-126 * (1 + g)
        + 2 * U64 * 2
        + 16 * 2.0**-1022
    ) + (2 * d + d * d) * 8 * bounds.SAFETY
    assert bounds.element_bound(4, 8.0, 2.0, "tf32") == t


def test_output_underflow_term_only_near_the_bottom_of_the_range():
    lam16 = 2.0**-14
    # comfortably normal: u·|ref| and nothing of λ
    assert bounds.element_bound(1, 1.0, 1.0, "float16") < 2.0**-11 + 2.0**-22
    # a subnormal float16 output: λ, so that flush-to-zero passes
    assert bounds.element_bound(1, 1e-6, 1e-6, "float16") > lam16
    assert bounds.element_bound(1, 1e-6, 1e-6, "float16-f32out") < 1e-12
    # an empty sum is exactly zero under every contract
    assert all(bounds.element_bound(0, 0.0, 0.0, c) == 0.0 for c in DTYPES)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_bound_dominates_the_element_bound(dtype):
    rng = random.Random(dtype)
    for _ in range(3000):
        k = rng.choice((1, 2, 7, 100, 4097))
        mag = math.ldexp(rng.random(), rng.randint(-140, 40))
        ref = rng.choice((1, -1)) * mag * rng.random()
        alpha, beta, kappa = bounds.linear_bound(k, dtype)
        assert bounds.element_bound(k, mag, ref, dtype) <= alpha * mag + beta * abs(ref) + kappa


@pytest.mark.parametrize(
    "ref,want",
    [
        (80000.0, "must"),
        (-80000.0, "must"),
        (65530.0, "must"),
        (65520.0, "may"),
        (65510.0, "finite"),
        (60000.0, "finite"),
        (1.0, "finite"),
    ],
)
def test_float16_overflow_outcomes(ref, want):
    assert bounds.overflow_outcome(3, abs(ref), ref, "float16") == want
    assert bounds.overflow_outcome(3, abs(ref), ref, "float16-f32out") == "finite"


def test_accumulator_overflow_accepts_any_nonfinite():
    assert bounds.overflow_outcome(2, 4e38, 1.0, "bfloat16") == "any"
    assert bounds.overflow_outcome(2, 1e38, 1.0, "bfloat16") == "finite"


# -- emulating float32 -------------------------------------------------------------


def exact32(x):
    """x (a Fraction) rounded to float32, nearest even, from the definition."""
    if x == 0:
        return 0.0
    sign = -1.0 if x < 0 else 1.0
    x = abs(x)
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while Fraction(2) ** (e - 1) > x:
        e -= 1
    while Fraction(2) ** e <= x:
        e += 1  # 2^(e-1) ≤ x < 2^e
    q = max(e, -125) - 24  # float32's last place there
    s = x / Fraction(2) ** q
    n = s.numerator // s.denominator
    rest = s - n
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and n % 2):
        n += 1
    r = float(Fraction(n) * Fraction(2) ** q)
    return sign * (INF if r > formats.max_finite("float32") else r)


def test_float64_sums_and_products_of_float32_values_round_correctly():
    """docs/precision.md, 'Emulating float32': round32(a + b) computed in
    float64 is the correctly rounded float32 sum, whatever the exponents."""
    rng = random.Random(32)
    f32 = formats.to_float32
    for _ in range(20000):
        a = f32(math.ldexp(rng.random(), rng.randint(-150, 128)) * rng.choice((1, -1)))
        gap = rng.choice((0, 1, 5, 24, 25, 26, 28, 29, 30, 40, 60, 200))
        b = f32(math.ldexp(rng.random(), math.frexp(a)[1] - gap) * rng.choice((1, -1)))
        if not (formats.is_representable(a, "float32") and math.isfinite(a + b)):
            continue
        assert f32(a + b) == exact32(Fraction(a) + Fraction(b)), (a, b)
        assert f32(a * b) == exact32(Fraction(a) * Fraction(b)), (a, b)
    # the tie cases: b exactly half a float32 ulp of a, and just beyond it
    for a in (1.0, 1.0 + 2**-23, 3.0, 2.0**100):
        half = math.ldexp(1.0, math.frexp(a)[1] - 25)
        for b in (half, -half, half * (1 + 2**-23)):
            b = f32(b)
            assert f32(a + b) == exact32(Fraction(a) + Fraction(b))


def test_the_fast_float32_loop_is_the_general_one():
    """_dot32 (array('f') stores) against round-every-step in Fractions, over
    products and sums that underflow, overflow or land on ties."""
    from refbackprop.backends.emulated import _dot32

    rng = random.Random(5)
    for trial in range(300):
        fmt = rng.choice(("bfloat16", "float16", "float32"))
        n = rng.randint(0, 40)
        lo, hi = {"bfloat16": (-75, 70), "float16": (-24, 15), "float32": (-75, 70)}[fmt]
        a = [
            formats.round_to(math.ldexp(rng.random() - 0.5, rng.randint(lo, hi)), fmt)
            for _ in range(n)
        ]
        b = [
            formats.round_to(math.ldexp(rng.random() - 0.5, rng.randint(lo, hi)), fmt)
            for _ in range(n)
        ]
        extra = rng.choice((None, formats.round_to(rng.random(), fmt)))
        terms = [exact32(Fraction(a[k]) * Fraction(b[k])) for k in range(n)]
        if extra is not None:
            terms.append(extra)
        acc = 0.0
        for t in terms:
            if math.isfinite(acc) and math.isfinite(t):
                acc = exact32(Fraction(acc) + Fraction(t))
            else:
                acc = acc + t  # IEEE: inf stays, inf - inf is NaN
        got = _dot32(a, b, extra, fmt == "float32")
        assert got == acc or (got != got and acc != acc), (fmt, trial)


# -- the catalogue per contract ----------------------------------------------------


def test_float64_and_float32_catalogue_unchanged():
    """The ids and inputs of the default catalogue, pinned: contracts add
    cases of their own and move none of these."""
    h = hashlib.sha256()
    cases = catalogue()
    for c in cases:
        h.update(c.id.encode())
        h.update(repr(c.inputs()).encode())
    assert len(cases) == 304
    assert h.hexdigest() == "85e49fd0f154e0bfc1c47ce1d2abc0077fdcfed0b2bd77a5ab6a8b433e944806"
    assert [c.id for c in cases] == [c.id for c in catalogue(("float64", "float32"))]


@pytest.mark.parametrize("dtype", LOW)
def test_contract_catalogue_ids_inputs_and_long_reductions(dtype):
    cases = catalogue((dtype,))
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    assert "forward/%s/N7-D13-M11/bias/normal/seed0" % dtype in ids
    assert parse_case_id(ids[5]).inputs() == cases[5].inputs()
    storage = contracts.get(dtype).storage
    for c in cases:
        if c.n * c.d * c.m > 5000:
            continue
        inp = c.inputs()
        for name in ("x", "w", "dy"):
            for row in inp[name] or []:
                assert all(formats.is_representable(v, storage) for v in row), c.id
                assert all(abs(v) <= storage.max or v != v for v in row if v not in (INF, -INF)), (
                    c.id
                )
    # K ≥ 1024 and ≥ 4096 in Y (K = D), dX (K = M) and dW (K = N)
    for need in (1024, 4096):
        assert any(c.op == "forward" and c.d >= need for c in cases)
        assert any(c.op == "backward" and c.m >= need for c in cases)
        assert any(c.op == "backward" and c.n >= need for c in cases)
    for n, d, m in VALUE_SHAPES:
        assert "forward/%s/N%d-D%d-M%d/nobias/tiny/seed0" % (dtype, n, d, m) in ids
    assert (dtype.startswith("float16")) == any("/overflow/" in i for i in ids)


@pytest.mark.parametrize(
    "dtype,bottom", [("float16", 2.0**-14), ("bfloat16", 2.0**-126), ("tf32", 2.0**-126)]
)
def test_tiny_cases_have_subnormal_outputs_and_large_ones_stay_finite(dtype, bottom):
    subnormal = 0
    for c in catalogue((dtype,)):
        if c.values not in ("tiny", "large"):
            continue
        for spec in exact_outputs(c).values():
            if spec is None:
                continue
            refs = spec[1]
            assert all(
                math.isfinite(r)
                and abs(r) < formats.overflow_threshold(contracts.get(dtype).output)
                for r in refs
            ), c.id
            if c.values == "tiny":
                subnormal += sum(1 for r in refs if 0 < abs(r) < bottom)
    assert subnormal > 20


def test_float16_overflow_cases_pass_65520_and_stay_below_it():
    over = under = 0
    for c in catalogue(("float16",)):
        if c.values == "overflow":
            for spec in exact_outputs(c).values():
                if spec is not None:
                    over += sum(1 for r in spec[1] if abs(r) > 70000)
                    under += sum(1 for r in spec[1] if abs(r) < 60000)
            assert all(abs(v) <= 65504 for row in c.inputs()["x"] for v in row)
    assert over > 50 and under > 50


# -- the emulated backend: the living definition ----------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_emulated_backend_passes_its_whole_catalogue(dtype):
    results = list(run(EmulatedBackend(), dtypes=(dtype,), oracle=False))
    assert {"case", "repeat"} <= set(r.kind for r in results)
    assert len([r for r in results if r.kind == "case"]) == len(catalogue((dtype,)))
    assert [r.check_id for r in results if not r.passed] == []


def test_emulated_backend_is_plain_float64_under_float64():
    from refbackprop.backends.reference import ReferenceBackend

    case = Case("backward", "float64", 7, 13, 11, True, "normal")
    a = run_case(EmulatedBackend(), case).values
    b = run_case(ReferenceBackend(), case).values
    assert a == b


def test_emulated_backend_rounds_once_to_bfloat16_by_hand():
    be = EmulatedBackend()
    # 1 + 2^-8 + 2^-9: in float32 exactly 1.005859375, then one rounding to
    # bfloat16 gives 1 + 2^-7 (above the tie); rounding each partial sum to
    # bfloat16 would give 1 + 2^-8 -> 1.0 (tie to even), then 1.0.
    x = be.array([[1.0, 2.0**-8, 2.0**-9]], (1, 3), "bfloat16")
    w = be.array([[1.0], [1.0], [1.0]], (3, 1), "bfloat16")
    assert be.tolist(be.forward(x, w)) == [[1 + 2.0**-7]]
    x16 = be.array([[60000.0, 6000.0]], (1, 2), "float16")
    w16 = be.array([[1.0], [1.0]], (2, 1), "float16")
    assert be.tolist(be.forward(x16, w16)) == [[INF]]
    x16 = be.array([[60000.0, 6000.0]], (1, 2), "float16-f32out")
    w16 = be.array([[1.0], [1.0]], (2, 1), "float16-f32out")
    assert be.tolist(be.forward(x16, w16)) == [[66000.0]]
    with pytest.raises(ValueError, match="entry 0, 1 is 0.1, not a bfloat16 value"):
        be.array([[1.0, 0.1]], (1, 2), "bfloat16")


def test_emulated_tf32_rounds_the_operands():
    be = EmulatedBackend()
    a = 1 + 2.0**-11 + 2.0**-20  # a float32 value; TF32 keeps 1 + 2^-10
    x = be.array([[a]], (1, 1), "tf32")
    w = be.array([[1.0]], (1, 1), "tf32")
    assert be.tolist(be.forward(x, w)) == [[1 + 2.0**-10]]
    x = be.array([[a]], (1, 1), "float32")
    w = be.array([[1.0]], (1, 1), "float32")
    assert be.tolist(be.forward(x, w)) == [[a]]


# -- the judge ------------------------------------------------------------------------


def test_outputs_must_be_values_of_the_output_format():
    case = Case("forward", "bfloat16", 2, 3, 2, False, "normal")
    spec = exact_outputs(case)["y"]
    refs = spec[1]
    v = judge_output("y", [refs[0:2], refs[2:4]], spec, "bfloat16")
    assert not v.passed
    assert (
        "is not a bfloat16 value: the backend computed in another precision "
        "(the bfloat16 contract's outputs are bfloat16 values)"
    ) in v.message
    rounded = [formats.round_to(r, "bfloat16") for r in refs]
    assert judge_output("y", [rounded[0:2], rounded[2:4]], spec, "bfloat16").passed
    # the same float32-rounded values are fine where the output is float32
    case32 = Case("forward", "bfloat16-f32out", 2, 3, 2, False, "normal")
    spec32 = exact_outputs(case32)["y"]
    f32 = [formats.to_float32(r) for r in spec32[1]]
    assert judge_output("y", [f32[0:2], f32[2:4]], spec32, "bfloat16-f32out").passed


def test_float16_overflow_must_and_may_be_inf():
    spec = ((1, 3), [80000.0, 65520.0, -65530.0], [80000.0, 65520.0, 65530.0], 1)
    assert judge_output("y", [[INF, INF, -INF]], spec, "float16").passed
    assert judge_output("y", [[INF, 65504.0, -INF]], spec, "float16").passed
    v = judge_output("y", [[INF, 65504.0, -65504.0]], spec, "float16")
    assert not v.passed and v.worst == "y[0][2]"
    assert (
        "y[0][2] = -65504.0 should overflow to -inf: its exact value -65530.0 is "
        "beyond float16's overflow threshold 65520.0"
    ) in v.message
    v = judge_output("y", [[-INF, INF, -INF]], spec, "float16")
    assert not v.passed and v.worst == "y[0][0]"
    # float16 storage with float32 outputs: inf is wrong there
    assert not judge_output("y", [[INF, 65520.0, -65530.0]], spec, "float16-f32out").passed


def test_a_bias_added_after_rounding_to_bfloat16_fails_by_hand():
    """x = [1, 2^-9], w = [1, 1]ᵀ, b = -1: XW + b = 2^-9 exactly; rounding XW
    to bfloat16 first (1 + 2^-9 -> 1) and then adding b gives 0."""
    be = EmulatedBackend()
    x = be.array([[1.0, 2.0**-9]], (1, 2), "bfloat16")
    w = be.array([[1.0], [1.0]], (2, 1), "bfloat16")
    b = be.array([-1.0], (1,), "bfloat16")
    assert be.tolist(be.forward(x, w, b)) == [[2.0**-9]]
    spec = ((1, 1), [2.0**-9], [2.0 + 2.0**-9], 3)
    assert judge_output("y", [[2.0**-9]], spec, "bfloat16").passed
    v = judge_output("y", [[0.0]], spec, "bfloat16")
    assert not v.passed and v.worst == "y[0][0]" and v.ratio > 100


# -- wrong kernels: each fails, naming the output and the element -------------------

_CASES = {}


def cases(dtype, which):
    """The contract's catalogue cases: 'long' (K ≥ 1024), 'long4096' (the
    signed K = 4096 ones), 'values' (VALUE_SHAPES, every kind) or 'edge'
    (everything but the long ones).  Shared, so exact values are computed once."""
    key = (dtype, which)
    if key not in _CASES:
        every = catalogue((dtype,))
        long_ = [c for c in every if max(c.n, c.d, c.m) >= 1024]
        pick = {
            "long": long_,
            "long4096": [c for c in long_ if max(c.n, c.d, c.m) == 4096 and c.values == "normal"],
            "values": [c for c in every if (c.n, c.d, c.m) in VALUE_SHAPES],
            "edge": [c for c in every if c not in long_],
        }
        _CASES[key] = pick[which]
    return _CASES[key]


def failed(kernel, dtype, which):
    """The CaseResults of kernel (under dtype) that fail, on those cases."""
    backend = K.backend(kernel, kernel.__name__.lower(), (dtype,))
    results = [run_case(backend, c) for c in cases(dtype, which)]
    assert results
    return [r for r in results if not r.passed]


def assert_names_elements(results):
    """Each failure names its output and element, in the report too."""
    for r in results:
        bad = [o for o in r.outputs if not o.passed]
        assert bad, r.messages()
        report = "\n".join(failure_report(r))
        for o in bad:
            assert o.name in ("y", "dx", "dw", "db") and o.worst.startswith(o.name + "[")
            assert "%s: worst element %s" % (o.name, o.worst) in report
        assert "repro:  refbackprop check --backend" in report


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "bfloat16-f32out", "float16-f32out"])
def test_accumulating_in_the_storage_format_fails_every_long_case(dtype):
    bad = failed(K.AccumulatesInStorage, dtype, "long")
    assert [r.case_id for r in bad] == [c.id for c in cases(dtype, "long")]
    assert min(r.ratio for r in bad) > 2
    assert_names_elements(bad)


def test_tf32_multiplies_fail_the_float32_contract():
    bad = failed(K.Tf32Multiplies, "float32", "edge")
    assert len(bad) > 50
    assert "forward/float32/N7-D13-M11/bias/normal/seed0" in [r.case_id for r in bad]
    assert_names_elements(bad)
    assert failed(K.Tf32Multiplies, "tf32", "values") == []  # it keeps tf32's


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_unrounded_outputs_fail_the_storage_output_contracts(dtype):
    bad = failed(K.UnroundedOutputs, dtype, "values")
    assert len(bad) > 40
    messages = "\n".join(m for r in bad for m in r.messages())
    assert "is not a %s value" % dtype in messages
    assert_names_elements(bad)
    assert failed(K.UnroundedOutputs, dtype + "-f32out", "values") == []


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "bfloat16-f32out", "float16-f32out"])
def test_a_dropped_term_at_k_4096_fails(dtype):
    bad = failed(K.DropsTermAt4096, dtype, "long")
    ids = [r.case_id for r in bad]
    assert ids and all("4096" in i for i in ids)
    assert any(i.startswith("backward/") for i in ids)
    assert_names_elements(bad)


def test_float16_saturation_instead_of_inf_fails():
    bad = failed(K.SaturatesFloat16, "float16", "values")
    ids = [r.case_id for r in bad]
    assert ids and all("/overflow/" in i or "/nonfinite/" in i for i in ids)
    assert "forward/float16/N7-D13-M11/bias/overflow/seed0" in ids
    assert_names_elements(bad)
    r = [r for r in bad if r.case_id == "forward/float16/N7-D13-M11/bias/overflow/seed0"][0]
    assert "= 65504.0 should overflow to inf: its exact value" in "\n".join(r.messages())
    # with float32 outputs nothing overflows: only the planted infinities fail
    ids = [r.case_id for r in failed(K.SaturatesFloat16, "float16-f32out", "values")]
    assert ids and all("/nonfinite/" in i for i in ids)


# -- correct kernels: other orders, blocking, FMA, flush-to-zero, many seeds --------


def correct_kernels(dtype):
    out = [K.Reversed, K.Blocked, K.Pairwise, K.Fused, K.FlushToZero, K.WideAccumulation]
    if contracts.get(dtype).operand_rounding:
        out += [K.Tf32Truncated, K.Tf32Skipped]
    return [K.backend(k, k.__name__.lower(), (dtype,)) for k in out]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_correct_kernels_pass_over_many_seeds(dtype):
    """Every correct kernel on the value-kind cases of 10 seeds."""
    kernels = correct_kernels(dtype)
    worst = 0.0
    for seed in range(1, 11):
        for case in catalogue((dtype,), seed):
            if (case.n, case.d, case.m) not in VALUE_SHAPES:
                continue
            for backend in kernels:
                result = run_case(backend, case)
                assert result.passed, (backend.name, case.id, result.messages())
                worst = max(worst, result.ratio)
    assert 0.05 < worst <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("dtype", LOW)
def test_correct_kernels_pass_the_long_reductions(dtype):
    for backend in correct_kernels(dtype):
        if backend.name not in ("reversed", "flushtozero", "tf32truncated"):
            continue
        for case in cases(dtype, "long4096"):
            result = run_case(backend, case)
            assert result.passed, (backend.name, case.id, result.messages())
