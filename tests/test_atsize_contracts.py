"""Verification at size under every precision contract (issue 16).

`check --size` draws inputs in each contract's storage format, checks that
outputs are values of its output format, judges float16 overflow to ±inf
element by element, and bounds cells with the contract's own terms (TF32
operand conversion on clamped norms, output rounding through the outputs'
norms, float16's underflow only where an output may be subnormal).  Here:
the emulated backend (each contract's definition) and correct kernels of
other orders pass at K ≥ 1024 over seeds and input kinds; the wrong kernels
of tests/precision_kernels.py fail in the output where their defect is;
errors of exactly their bounds, signed against the verifier's own signs,
never raise a false alarm; a failure of refbackprop's own side is a failed
result, not a traceback.
"""

import hashlib
import json
import math
import struct
import subprocess
import sys
from array import array

import pytest

from refbackprop import bounds, contracts, formats, freivalds
from refbackprop import inputs as kinds
from refbackprop.backends.emulated import EmulatedBackend
from refbackprop.rng import Rng, seed_from
from refbackprop.sampling import Fingerprint, model
from refbackprop.sized import SizedSession, check_at_size, sized_inputs

import precision_kernels as pk
from front_ends import run_cli

NAMES = contracts.NAMES
LOW = NAMES[2:]  # tf32, bfloat16, float16, the f32outs


SEED0_KINDS = ("mixed", "uniform", "tiny", "overflow")


def f32out_slow(names):
    """names as parameters, the -f32out contracts marked slow: they share
    storage, multiplies and accumulation with their base contract and differ
    in the output format only, so the default run leaves them to the slow
    run (CI runs both)."""
    return [pytest.param(n, marks=pytest.mark.slow) if n.endswith("-f32out") else n for n in names]


LONG = ((4, 1024, 8), (4, 8, 1024), (1024, 8, 4))  # K = 1024 in y, dx, dw
LONG_OUTPUT = dict(zip(LONG, ("y", "dx", "dw")))
INF = float("inf")


def failing(result):
    assert result.verification is not None, result.problems
    return sorted(o.name for o in result.verification.outputs if not o.passed)


def text(result):
    return "\n".join(result.lines())


def output(result, name):
    return [o for o in result.verification.outputs if o.name == name][0]


def storage(dtype):
    return contracts.get(dtype).storage


# -- inputs in each storage format ---------------------------------------------------


@pytest.mark.parametrize("dtype", NAMES)
def test_every_input_kind_is_values_of_the_storage_format(dtype):
    for kind in kinds.kinds_for(dtype):
        g = sized_inputs(7, 300, 40, dtype, True, 3, kind)
        for name in ("x", "w", "b", "dy"):
            values = g[name].values
            assert formats.first_unrepresentable(values, storage(dtype)) == -1, (kind, name)
            assert all(formats.is_representable(v, storage(dtype)) for v in values[:400])
            assert all(v == v and abs(v) <= storage(dtype).max for v in values)


def _truncated(v, p):
    """v with its significand cut to p bits, toward zero (bit operations)."""
    word = struct.unpack("<Q", struct.pack("<d", v))[0]
    return struct.unpack("<d", struct.pack("<Q", word & ~((1 << (53 - p)) - 1)))[0]


@pytest.mark.parametrize(
    "dtype,p", [("float32", 24), ("tf32", 24), ("bfloat16", 8), ("float16", 11)]
)
def test_storage_values_are_the_float64_draw_with_low_bits_cleared(dtype, p):
    """The same seed gives the same bytes; each format keeps the top p bits
    of the float64 draw (the tables keep every kind in the normal range)."""
    for kind in ("normal", "uniform", "same-sign"):
        wide = kinds.values(kind, 500, "float64", 17)
        narrow = kinds.values(kind, 500, dtype, 17)
        assert list(narrow) == [_truncated(v, p) for v in wide]


def test_float16_kinds_keep_every_sum_in_range_and_tiny_gives_subnormal_outputs():
    k = 4096
    for kind in ("normal", "uniform", "same-sign", "wide"):
        v = [abs(t) for t in kinds.values(kind, 20000, "float16", 5, k=k)]
        assert k * max(v) * max(v) < 65504 and min(v) >= 2.0**-14  # normal range
    assert kinds.integer_limit(k, "float16") == 2  # K·R² ≤ 2^15
    assert kinds.integer_limit(k, "bfloat16") == kinds.integer_limit(k, "float32") == 31
    assert kinds.integer_limit(30, "float16") == 31
    tiny = [abs(t) for t in kinds.values("tiny", 20000, "float16", 5)]
    assert 2.0**-14 <= min(tiny) and max(tiny) < 2.0**-12
    # every sum of 64 products of tiny values: below float16's smallest normal
    assert 64 * max(tiny) ** 2 < 2.0**-14 * 2**-4
    wide = [abs(t) for t in kinds.values("wide", 20000, "float16", 5)]
    assert min(wide) < 2.0**-13 and max(wide) > 1.0


def test_overflow_inputs_pass_65520_in_one_row_of_y_and_of_dx():
    np = pytest.importorskip("numpy")
    n, d, m = 8, 256, 64
    g = sized_inputs(n, d, m, "float16", True, 9, "overflow")
    x, w, b, dy = [np.frombuffer(g[k].values) for k in ("x", "w", "b", "dy")]
    x, w, dy = x.reshape(n, d), w.reshape(d, m), dy.reshape(n, m)
    assert np.abs(np.concatenate([x.ravel(), w.ravel(), dy.ravel()])).max() <= 65504
    y, dx = x @ w + b, dy @ w.T
    over_y = (np.abs(y) > 65520).sum(axis=1)
    over_dx = (np.abs(dx) > 65520).sum(axis=1)
    assert 0.2 * m < over_y[0] < 0.8 * m and over_y[1:].sum() == 0
    assert 0.2 * d < over_dx[-1] < 0.8 * d and over_dx[:-1].sum() == 0
    assert kinds.overflow_scale(1) == 2.0**15 and kinds.overflow_scale(4096) == 2.0**11
    for dtype in ("float32", "bfloat16", "tf32"):
        assert "float16-storage" in kinds.allowed("overflow", dtype)
        with pytest.raises(ValueError, match="float16-storage"):
            sized_inputs(2, 3, 4, dtype, True, 0, "overflow")
    assert kinds.kinds_for("float16-f32out")[-1] == "overflow"


def test_low_precision_inputs_are_the_same_in_another_process():
    code = (
        "import hashlib; from refbackprop import inputs as k; "
        "print(hashlib.sha256(k.matrix('mixed', 30, 70, '%s', 9, 100).tobytes())"
        ".hexdigest())"
    )
    for dtype in ("bfloat16", "float16"):
        here = hashlib.sha256(kinds.matrix("mixed", 30, 70, dtype, 9, 100).tobytes())
        there = subprocess.check_output([sys.executable, "-c", code % dtype], text=True)
        assert there.strip() == here.hexdigest()


# -- outputs: values of the output format, at C speed ---------------------------------


@pytest.mark.parametrize("code", ["d", "f", "list"])
def test_first_unrepresentable_on_arrays_by_hand(code):
    def first(values, fmt):
        arg = list(values) if code == "list" else array(code, values)
        return formats.first_unrepresentable(arg, fmt)

    ok16 = [1.0, -65504.0, 2.0**-24, -3 * 2.0**-24, 2.0**-14, 1 + 2.0**-10, 0.0, -0.0, INF, -INF]
    assert first(ok16, "float16") == -1
    for bad in (65505.0 if code != "f" else 65536.0, 65536.0, 3 * 2.0**-25, 2.0**-30, 1 + 2.0**-11):
        assert first(ok16 + [bad], "float16") == len(ok16), bad
    big = formats.round_to(3.0e38, "bfloat16")
    assert first([1.0, 1 + 2.0**-7, 2.0**-133, big], "bfloat16") == -1
    assert first([1.0, 1 + 2.0**-8], "bfloat16") == 1
    assert first([1.0, 1 + 2.0**-10, 2.0**-136], "tf32") == -1
    assert first([1 + 2.0**-11], "tf32") == 0
    if code != "f":
        assert first([1.0, 0.1], "float32") == 1
        assert first([1.0, 1e300], "float32") == 1


def test_first_unrepresentable_agrees_with_is_representable_on_random_arrays():
    rng = Rng(seed_from("unrepresentable"))
    for fmt in ("float16", "bfloat16", "tf32"):
        for trial in range(30):
            values = [
                formats.round_to(rng.normal() * 2.0 ** rng.integer(-30, 17), fmt)
                for _ in range(300)
            ]
            if trial % 2:
                k = rng.integer(0, 299)
                values[k] = values[k] * (1 + 2.0 ** -rng.integer(9, 23)) + 2.0**-27
            want = next(
                (i for i, v in enumerate(values) if not formats.is_representable(v, fmt)), -1
            )
            assert formats.first_unrepresentable(array("d", values), fmt) == want
            if all(abs(v) < 3e38 for v in values):
                assert formats.first_unrepresentable(array("f", values), fmt) == want


# -- correct kernels never fail ---------------------------------------------------------


@pytest.mark.parametrize("seed", [0] + [pytest.param(s, marks=pytest.mark.slow) for s in (1, 2, 3)])
@pytest.mark.parametrize("dtype", f32out_slow(LOW))
@pytest.mark.parametrize("size", LONG, ids=["K1024-y", "K1024-dx", "K1024-dw"])
def test_the_emulated_backend_passes_at_k_1024_over_seeds_and_kinds(dtype, size, seed):
    every = kinds.kinds_for(dtype)
    # seed 0 (the default run): the mixed bands, and the kinds no band gives a
    # whole output (uniform, all tiny, float16 overflow); seeds 1-3 every kind
    for kind in every if seed else [k for k in every if k in SEED0_KINDS]:
        result = check_at_size(
            EmulatedBackend(), *size, dtype, seed=seed, inputs=kind, fingerprint_check=True
        )
        assert result.passed, text(result)


@pytest.mark.parametrize("dtype", f32out_slow(LOW))
@pytest.mark.parametrize("kernel", pk.CORRECT, ids=lambda k: k.__name__)
def test_correct_kernels_of_other_orders_pass(kernel, dtype):
    backend = pk.backend(kernel, kernel.__name__.lower(), (dtype,))
    for kind in ("mixed", "tiny") + (("overflow",) if storage(dtype).name == "float16" else ()):
        result = check_at_size(
            backend, 5, 96, 40, dtype, seed=1, inputs=kind, fingerprint_check=True
        )
        assert result.passed, text(result)


def _exact_elements(g, n, d, m, dtype):
    """{name: (refs, bounds)} row-major for y, dx, dw, from the exact values."""
    c = contracts.get(dtype)
    floor = c.multiply.smallest_normal if c.operand_rounding else None
    x, w, b, dy = g["x"], g["w"], g["b"], g["dy"]
    xt = [x.col(k) for k in range(d)]
    dyt = [dy.col(j) for j in range(m)]
    wt = [w.col(j) for j in range(m)]
    out = {"y": ([], []), "dx": ([], []), "dw": ([], [])}

    def put(name, k, a, bb, extra=None):
        ref, mag = bounds.exact_dot(a, bb, extra, True, floor)
        out[name][0].append(ref)
        out[name][1].append(bounds.element_bound(k, mag, ref, dtype))

    for i in range(n):
        for j in range(m):
            put("y", d + 1, x.row(i), wt[j], b.values[j])
    for i in range(n):
        for k in range(d):
            put("dx", m, dy.row(i), w.row(k))
    for k in range(d):
        for j in range(m):
            put("dw", n, xt[k], dyt[j])
    return out


def _rows(flat, cols):
    return [flat[a : a + cols] for a in range(0, len(flat), cols)]


@pytest.mark.parametrize("dtype", f32out_slow(LOW + ("float32",)))
@pytest.mark.parametrize("kind", ["mixed", "normal", "tiny"])
def test_errors_of_their_whole_bound_signed_like_the_verifier_never_fail(dtype, kind):
    """Every element off by 0.99 of its own bound, each with the sign the
    verifier's first trial gives it (the signs are reproduced from the seed):
    every cell's signed error sum is 0.99 of the sum of its bounds, the most
    a correct backend can put there.  Both toward and away from zero."""
    n, d, m = 6, 70, 45
    g = sized_inputs(n, d, m, dtype, True, 4, kind)
    exact = _exact_elements(g, n, d, m, dtype)
    db = [math.fsum(g["dy"].col(j)) for j in range(m)]
    for seed in range(3):
        rng = Rng(seed_from("freivalds/N%d-D%d-M%d/%s" % (n, d, m, dtype), seed))
        r = {
            "y": freivalds._signs(rng, m),
            "dx": freivalds._signs(rng, d),
            "dw": freivalds._signs(rng, d),
        }
        for direction in (1.0, -1.0):
            outs = {}
            for name, (refs, bnds) in exact.items():
                cols = {"y": m, "dx": d, "dw": m}[name]
                sign = [
                    r[name][e % cols] if name != "dw" else r[name][e // cols]
                    for e in range(len(refs))
                ]
                outs[name] = [
                    refs[e] + direction * sign[e] * 0.99 * bnds[e] for e in range(len(refs))
                ]
            v = freivalds.verify(
                g["x"],
                g["w"],
                g["b"],
                g["dy"],
                _rows(outs["y"], m),
                _rows(outs["dx"], d),
                _rows(outs["dw"], m),
                db,
                dtype,
                trials=1,
                seed=seed,
            )
            assert v.passed, "\n".join(v.lines())
            worst = max(o.worst_ratio for o in v.outputs[:3])
            assert worst > 0.05  # the cells were really loaded


def test_tf32_operands_below_float32_smallest_normal_are_clamped():
    """Under tf32, |â − a| ≤ 2^-10·max(|a|, λ): a float32 subnormal operand
    may lose all its digits (3·2^-141 rounds to 0 on TF32's 2^-136 grid).
    Times 2^40 that is far above K·λ and above 2^-9·Σ|a||b|: the emulated
    tf32 kernel's outputs pass only because the verifier clamps the norms
    (‖max(|a|, λ)‖ ≤ ‖a‖ + λ√len) as the element bound clamps mag."""
    n, d, m = 3, 40, 5
    tiny = 3 * 2.0**-141
    x = [[tiny] * d for _ in range(n)]  # (N, D)
    w = [[2.0**40] * m for _ in range(d)]  # (D, M)
    dy = [[1.0] * m for _ in range(n)]  # (N, M)
    backend = EmulatedBackend()

    def mk(v, shape):
        return backend.array(v, shape, "tf32")

    y = backend.forward(mk(x, (n, d)), mk(w, (d, m))).rows
    dx, dw, _ = backend.backward(mk(x, (n, d)), mk(w, (d, m)), mk(dy, (n, m)))
    ref, mag = bounds.exact_dot(x[0], [2.0**40] * d, None, True)
    assert y[0][0] == 0.0 and ref == d * tiny * 2.0**40
    assert bounds.element_bound(d, mag, ref, "tf32") < ref  # unclamped: fails
    v = freivalds.verify(x, w, None, dy, y, dx.rows, dw.rows, None, "tf32", trials=4, seed=1)
    assert v.passed, "\n".join(v.lines())


# -- each contract's defects, caught where they are -------------------------------------


@pytest.mark.parametrize("dtype", f32out_slow(pk.accumulates_in_storage.dtypes))
@pytest.mark.parametrize("size", LONG, ids=["K1024-y", "K1024-dx", "K1024-dw"])
def test_sums_in_the_storage_format_fail_at_k_1024(dtype, size):
    for seed in range(2):
        result = check_at_size(pk.accumulates_in_storage, *size, dtype, seed=seed)
        assert LONG_OUTPUT[size] in failing(result), text(result)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_unrounded_outputs_are_named_output_by_output(dtype):
    result = check_at_size(pk.unrounded_outputs, 4, 1024, 8, dtype, seed=2)
    assert not result.passed and result.verification is None
    for name in ("y[", "dx[", "dw[", "db["):
        assert any(
            p.startswith(name)
            and "is not a %s value" % dtype in p
            and "the %s contract's outputs are %s values" % (dtype, dtype) in p
            for p in result.problems
        ), result.problems


def test_tf32_multiplies_fail_float32_where_products_are_and_keep_tf32():
    for kind in ("mixed", "normal"):
        result = check_at_size(pk.tf32_multiplies, 16, 64, 32, "float32", seed=3, inputs=kind)
        assert failing(result) == ["dw", "dx", "y"], text(result)  # db has no products
    as_tf32 = pk.backend(pk.Tf32Multiplies, "tf32-multiplies", ("tf32",))
    assert check_at_size(as_tf32, 16, 64, 32, "tf32", seed=3).passed


def _overflowing_outputs(n, d, m, dtype, seed):
    np = pytest.importorskip("numpy")
    from refbackprop.sized import derived_seed

    g = sized_inputs(n, d, m, dtype, True, derived_seed(seed, "inputs"), "overflow")
    x, w, b, dy = [np.frombuffer(g[k].values) for k in ("x", "w", "b", "dy")]
    x, w, dy = x.reshape(n, d), w.reshape(d, m), dy.reshape(n, m)
    exact = {"y": x @ w + b, "dx": dy @ w.T, "dw": x.T @ dy, "db": dy.sum(axis=0)}
    # beyond 65520 by more than any bound (products exact, float64 sums)
    return sorted(k for k, v in exact.items() if (np.abs(v) > 65520 * 1.01).any())


@pytest.mark.parametrize("size", [(16, 64, 32), (4, 300, 8), (3, 8, 300)])
def test_float16_saturating_at_65504_fails_in_every_output_that_overflows(size):
    for seed in range(2):
        want = _overflowing_outputs(*size, "float16", seed)
        assert "y" in want and "dx" in want
        result = check_at_size(pk.saturates_float16, *size, "float16", seed=seed, inputs="overflow")
        assert failing(result) == want, text(result)
        correct = check_at_size(
            EmulatedBackend(),
            *size,
            "float16",
            seed=seed,
            inputs="overflow",
            fingerprint_check=True,
        )
        assert correct.passed, text(correct)
        assert output(correct, "y").settled > 0 and output(correct, "dx").settled > 0
        # float16-f32out: the same sums are finite float32 values
        assert check_at_size(
            EmulatedBackend(), *size, "float16-f32out", seed=seed, inputs="overflow"
        ).passed


def test_saturation_is_named_on_a_sampled_element():
    result = check_at_size(pk.saturates_float16, 16, 64, 32, "float16", seed=5, inputs="overflow")
    assert "should overflow to" in text(result)


@pytest.mark.parametrize(
    "dtype", f32out_slow(["bfloat16", "float16", "bfloat16-f32out", "float16-f32out"])
)
def test_a_term_dropped_at_k_4096_fails_y_only(dtype):
    for seed in range(2):
        result = check_at_size(pk.drops_term_at_4096, 4, 4096, 8, dtype, seed=seed, inputs="normal")
        assert failing(result) == ["y"], text(result)


def test_a_term_dropped_at_k_4096_is_below_what_tf32_can_tell():
    """The stated limit: under tf32 the operand term 2^-9·mag is larger than
    one average term at K = 4096, so the dropped term passes (on these inputs;
    a term eight times the average would not)."""
    result = check_at_size(pk.drops_term_at_4096, 4, 4096, 8, "tf32", seed=0, inputs="normal")
    assert result.passed
    y = output(result, "y")
    assert all(e.bound > 2.0**-9 * e.mag for e in y.sampled.elements)


# -- non-finite outputs, judged element by element ------------------------------------


class SetsOne(EmulatedBackend):
    """The emulated backend with one element of one output replaced."""

    name = "sets-one"

    def __init__(self, output_name, index, value=None, dtypes=None):
        EmulatedBackend.__init__(self)
        self.target, self.index, self.value = output_name, index, value
        if dtypes is not None:
            self.dtypes = tuple(dtypes)

    def _set(self, name, a):
        if name == self.target:
            i, j = self.index
            row = a.rows[i]
            row[j] = self.value(row[j]) if callable(self.value) else self.value
        return a

    def forward(self, x, w, b=None):
        return self._set("y", EmulatedBackend.forward(self, x, w, b))

    def backward(self, x, w, dy, b=None):
        dx, dw, db = EmulatedBackend.backward(self, x, w, dy, b)
        return self._set("dx", dx), self._set("dw", dw), db


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float16-f32out"])
def test_inf_where_no_sum_can_overflow_fails_naming_the_element(dtype):
    result = check_at_size(SetsOne("dx", (2, 7), INF), 4, 64, 8, dtype, seed=1, inputs="normal")
    assert failing(result) == ["dx"]
    problems = output(result, "dx").problems
    assert problems and problems[0].startswith("dx[2][7] = inf, but its exact value is")


def test_nan_or_the_wrong_sign_where_float16_overflows_fails():
    n, d, m = 4, 300, 8
    probe = check_at_size(EmulatedBackend(), n, d, m, "float16", seed=2, inputs="overflow")
    y = output(probe, "y")
    assert y.settled > 0
    # Y's first row overflows: find one of its infinities in the emulated output
    backend = EmulatedBackend()
    from refbackprop.sized import derived_seed

    g = sized_inputs(n, d, m, "float16", True, derived_seed(2, "inputs"), "overflow")
    x, w, b = [backend.array(g[k].lists(), g[k].shape, "float16") for k in ("x", "w", "b")]
    out = backend.forward(x, w, b).rows[0]
    j = [k for k in range(m) if abs(out[k]) == INF][0]
    for value, why in ((float("nan"), "not NaN"), (-out[j], "keeps the exact value's sign")):
        result = check_at_size(
            SetsOne("y", (0, j), value, ["float16"]), n, d, m, "float16", seed=2, inputs="overflow"
        )
        assert "y" in failing(result)
        assert why in " ".join(output(result, "y").problems)


# -- refbackprop's own failures are results -------------------------------------------


def test_a_verifier_exception_is_a_failed_result_and_the_session_reaches_its_summary(monkeypatch):
    from refbackprop.conformance import executor

    real = freivalds.Prepared.finish

    def finish(self, *outs):
        if self.dtype == "bfloat16":
            raise RuntimeError("boom")
        return real(self, *outs)

    monkeypatch.setattr(freivalds.Prepared, "finish", finish)
    backend = pk.backend(pk.Reversed, "two-contracts", ("float32", "bfloat16"))
    session = SizedSession([executor(backend)], (3, 40, 5), seed=1).run()
    assert [r.passed for r in session.results] == [True, False]
    problem = session.results[1].problems[0]
    assert problem.startswith("refbackprop's verifier failed: RuntimeError: boom (in finish")
    assert "not a verdict on the backend" in problem
    assert session.lines()[-1] == "1 passed, 1 failed"


# -- the fingerprint's model, per contract ----------------------------------------------


def test_the_fingerprint_model_per_contract():
    assert model("float64") == (2.0**-53, 0.0, 0.0)
    assert model("float32") == model("bfloat16-f32out") == (2.0**-24, 0.0, 0.0)
    assert model("tf32") == (2.0**-24, 2.0**-10, 0.0)
    assert model("bfloat16") == (2.0**-24, 0.0, 2.0**-8)
    assert model("float16") == (2.0**-24, 0.0, 2.0**-11)


def test_the_fingerprint_z_scale_counts_each_contracts_roundings():
    """z for one element of K = 10, error 1e-3 above its floor, mag 2: the
    scale is u·mag·√(2K + 1 + 2K(δ/u)² + (u_out/u)²)·(1 + γ)(1 + δ)²."""
    from refbackprop.sampling import Element

    k, mag = 10, 2.0
    for dtype in ("float32", "tf32", "bfloat16"):
        u, delta, u_out = model(dtype)
        e = Element((0, 0), 1.0 + 1e-3, 1.0, mag, 1.0, 1.0, 0.0)
        f = Fingerprint("y", dtype, [e], k, False, 1e-9)
        g = bounds.gamma(k + 1, u)
        first = g + 2 * delta + delta * delta + u_out
        scale = (
            u
            * mag
            * math.sqrt(2 * k + 1 + 2 * k * (delta / u) ** 2 + (u_out / u) ** 2)
            * (1 + g)
            * (1 + delta) ** 2
        )
        assert f.mean_z2 == pytest.approx(((1e-3 - first * first * mag) / scale) ** 2, rel=1e-12)


def test_rounding_free_bound_by_hand():
    g = bounds.gamma(4, 2.0**-24)
    under = 4 * 2.0**-126 * (1 + g) + 2 * 2.0**-53 * 3.0 + 16 * 2.0**-1022
    assert bounds.rounding_free_bound(4, 8.0, 3.0, "bfloat16-f32out") == under
    grown = under * (1 + 2.0**-8 * bounds.SAFETY)
    assert bounds.rounding_free_bound(4, 8.0, 3.0, "bfloat16") == grown
    # a float16 output that may be subnormal: λ_out = 2^-14 joins
    tiny = bounds.rounding_free_bound(4, 2.0**-20, 2.0**-21, "float16")
    assert tiny >= 2.0**-14 and bounds.rounding_free_bound(4, 8.0, 3.0, "float16") < 1e-10
    assert bounds.rounding_free_bound(4, 8.0, 3.0, "float32") == bounds.element_bound(
        4, 0.0, 3.0, "float32"
    )


@pytest.mark.parametrize("dtype", NAMES)
def test_linear_bound_parts_dominate_the_element_bound(dtype):
    rng = Rng(seed_from("parts/" + dtype))
    for _ in range(3000):
        k = rng.integer(1, 5000)
        mag = abs(rng.normal()) * 2.0 ** rng.integer(-40, 10)
        ref = mag * (2 * rng.uniform() - 1) * (rng.uniform() < 0.7)
        alpha, beta, kappa, under = bounds.linear_bound_parts(k, dtype)
        bound = bounds.element_bound(k, mag, ref, dtype)
        lin = alpha * mag + beta * abs(ref) + kappa
        if abs(ref) < under + bound:
            lin += under
        assert bound <= lin
        a4 = freivalds.linear_terms(k, dtype)
        lin4 = a4[0] * mag + a4[1] * abs(ref) + a4[2] + (a4[3] if abs(ref) < a4[3] + bound else 0.0)
        assert bound <= lin4


# -- the command line -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", NAMES)
def test_cli_check_size_under_every_contract_exits_0(dtype):
    r = run_cli("check --backend emulated --size 4 1024 8 --seed 3 --json --dtype", dtype)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["ok"] and [x["dtype"] for x in doc["results"]] == [dtype]


def test_cli_overflow_inputs_go_with_float16_storage_only():
    r = run_cli("check --backend emulated --size 2 3 4 --dtype bfloat16 --inputs overflow")
    assert r.exit_code == 2 and "float16-storage" in r.output
    r = run_cli("check --backend emulated --size 3 40 5 --inputs overflow --seed 1 --json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert [x["dtype"] for x in doc["results"]] == ["float16", "float16-f32out"]
    assert len(doc["not_run"]) == 5


def test_the_emulated_backend_declares_its_cost_and_the_seed_size_is_refused():
    assert EmulatedBackend.seconds_per_madd > 0
    r = run_cli("check --backend emulated --seed-size --dtype bfloat16")
    assert r.exit_code == 2 and "refused" in r.output and "emulated" in r.output


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "tf32"])
def test_cli_torch_at_size_passes_each_contract(dtype):
    pytest.importorskip("torch")
    r = run_cli("check --backend torch --size 16 1024 64 --json --dtype", dtype)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["ok"] and doc["results"][0]["dtype"] == dtype


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "tf32"])
def test_torch_linear_at_size_never_raises_a_false_alarm(dtype):
    """torch.nn.functional.linear with autograd (CPU) over seeds, input kinds
    and the three K = 1024 shapes, fingerprint checked (264 such runs
    measured, none failed)."""
    pytest.importorskip("torch")
    from refbackprop.backends.torch_backend import TorchBackend

    for kind in ("mixed", "normal", "tiny") + (("overflow",) if dtype == "float16" else ()):
        for seed, size in enumerate(((16, 1024, 64), (8, 64, 1024), (1024, 16, 8))):
            result = check_at_size(
                TorchBackend(), *size, dtype, seed=seed, inputs=kind, fingerprint_check=True
            )
            assert result.passed, text(result)
