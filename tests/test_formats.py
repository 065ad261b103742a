"""formats.round_to against the IEEE definitions, bit for bit.

Three independent witnesses: CPython's struct ('e' is IEEE binary16, 'f'
binary32, both rounding to nearest even), an exact rational rounding written
here from the definition (Fractions, integer arithmetic only), and ml_dtypes /
NumPy where installed.  Every bfloat16 and float16 bit pattern is swept, with
the midpoints between neighbours (ties go to the even significand) and the
floats just either side of each midpoint.
"""

import math
import random
import struct
from fractions import Fraction

import pytest

from refbackprop import formats as F

INF, NAN = float("inf"), float("nan")


def bits(v):
    return struct.pack("<d", v)


def same(a, b):
    """Equal as IEEE values: bit for bit, NaN equal to NaN."""
    return (a != a and b != b) or bits(a) == bits(b)


# -- an exact reference rounding, from the definition --------------------------


def exact_round(v, fmt, saturate=False):
    """Round v to nearest, ties to even, in Fractions."""
    f = F.get(fmt)
    if v != v or v == 0 or f.p == 53:
        return v
    if abs(v) == INF:
        if saturate:
            return math.copysign(f.max, v)
        return v if f.has_inf else NAN
    x = Fraction(abs(v))
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while Fraction(2) ** (e - 1) > x:
        e -= 1
    while Fraction(2) ** e <= x:
        e += 1  # 2^(e-1) ≤ x < 2^e
    q = max(e, f.emin + 1) - f.p
    scaled = x / Fraction(2) ** q
    n = scaled.numerator // scaled.denominator
    rest = scaled - n
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and n % 2 == 1):
        n += 1
    r = Fraction(n) * Fraction(2) ** q
    if r > Fraction(f.max):
        if saturate:
            return math.copysign(f.max, v)
        return math.copysign(INF, v) if f.has_inf else NAN
    return math.copysign(float(r), v)


def random_doubles(rng, count, lo_exp, hi_exp):
    """Doubles with random 53-bit significands, signs and exponents."""
    out = []
    for _ in range(count):
        m = 1.0 + rng.getrandbits(52) * 2.0**-52
        out.append(
            math.copysign(math.ldexp(m, rng.randint(lo_exp, hi_exp)), rng.choice((1.0, -1.0)))
        )
    return out


def sweep_patterns(decode, count):
    """Every finite non-negative value of a format, in increasing order."""
    values = []
    for i in range(count):
        v = decode(i)
        if v != v or v == INF:
            break
        values.append(v)
    return values


def check_neighbours(values, fmt):
    """Every value rounds to itself; each midpoint to its even neighbour; the
    floats either side of a midpoint to the nearer neighbour."""
    for i, v in enumerate(values):
        assert same(F.round_to(v, fmt), v) and same(F.round_to(-v, fmt), -v), v
        assert F.is_representable(v, fmt) and F.is_representable(-v, fmt)
        if i + 1 == len(values):
            break
        a, b = v, values[i + 1]
        mid = (a + b) / 2  # exact: p + 1 ≤ 53 bits
        assert not F.is_representable(mid, fmt)
        even = a if i % 2 == 0 else b  # pattern i even: a's significand is even
        assert same(F.round_to(mid, fmt), even), (fmt, a, b)
        assert same(F.round_to(-mid, fmt), -even), (fmt, a, b)
        assert same(F.round_to(math.nextafter(mid, 0.0), fmt), a), (fmt, a, b)
        assert same(F.round_to(math.nextafter(mid, INF), fmt), b), (fmt, a, b)


def half(i):
    return struct.unpack("<e", struct.pack("<H", i))[0]


def bf16(i):
    return struct.unpack("<f", struct.pack("<I", i << 16))[0]


# -- exhaustive sweeps --------------------------------------------------------


def test_every_float16_pattern_and_midpoint():
    values = sweep_patterns(half, 0x8000)
    assert len(values) == 0x7C00 and values[-1] == 65504.0
    check_neighbours(values, "float16")
    # struct 'e' (CPython's IEEE binary16 packing) agrees on every midpoint
    for i in range(len(values) - 1):
        mid = (values[i] + values[i + 1]) / 2
        if mid < 65504.0:
            assert F.round_to(mid, "float16") == struct.unpack("<e", struct.pack("<e", mid))[0]


def test_every_bfloat16_pattern_and_midpoint():
    values = sweep_patterns(bf16, 0x8000)
    assert len(values) == 0x7F80 and values[-1] == F.max_finite("bfloat16")
    check_neighbours(values, "bfloat16")


def test_tf32_dense_sweep_against_the_bit_trick():
    """TF32 = float32 with its low 13 bits rounded off, nearest even: on a
    float32 pattern t, (t + 0xFFF + ((t >> 13) & 1)) with the low bits cleared."""
    rng = random.Random(7)
    patterns = list(range(0, 1 << 20, 37)) + [rng.getrandbits(31) for _ in range(50000)]
    patterns += [0x7F7FEFFF, 0x7F7FF000, 0x7F7FFFFF, 0x00000FFF, 0x00001000, 0x00001001]
    for t in patterns:
        v = struct.unpack("<f", struct.pack("<I", t))[0]
        if v != v or v == INF:
            continue
        r = (t + 0xFFF + ((t >> 13) & 1)) & ~0x1FFF
        want = INF if r >= 0x7F800000 else struct.unpack("<f", struct.pack("<I", r))[0]
        assert same(F.round_to(v, "tf32"), want), hex(t)
        assert same(F.round_to(-v, "tf32"), -want), hex(t)
    values = sweep_patterns(lambda i: struct.unpack("<f", struct.pack("<I", i << 13))[0], 1 << 18)
    assert len(values) == 0x3FC00 and values[-1] == F.max_finite("tf32")
    check_neighbours(values, "tf32")


def test_float32_against_struct_f():
    rng = random.Random(3)
    vs = random_doubles(rng, 60000, -160, 130)
    vs += [math.ldexp(2 * k + 1, -150) for k in range(200)]  # float32 subnormal ties
    vs += [
        F.max_finite("float32"),
        F.overflow_threshold("float32"),
        math.nextafter(F.overflow_threshold("float32"), 0.0),
    ]
    for v in vs:
        try:
            want = struct.unpack("<f", struct.pack("<f", v))[0]
        except OverflowError:
            want = math.copysign(INF, v)
        assert same(F.round_to(v, "float32"), want), v
        assert same(F.to_float32(v), want), v
        assert same(F._float32_portable(v), want), v


def float8_values(fmt):
    """Every finite non-negative float8 value, from its bit layout."""
    f = F.get(fmt)
    mant = f.p - 1
    exp_bits = 8 - 1 - mant
    bias = 1 - f.emin
    out = []
    for pattern in range(1 << 7):
        e, m = pattern >> mant, pattern & ((1 << mant) - 1)
        if e == 0:
            v = math.ldexp(m, f.emin - mant)
        elif e == (1 << exp_bits) - 1 and (f.has_inf or m == (1 << mant) - 1):
            break  # inf/NaN (e5m2), NaN (e4m3fn)
        else:
            v = math.ldexp((1 << mant) + m, e - bias - mant)
        out.append(v)
    return out


@pytest.mark.parametrize(
    "fmt,count,largest", [("float8_e4m3fn", 127, 448.0), ("float8_e5m2", 124, 57344.0)]
)
def test_every_float8_pattern_and_midpoint(fmt, count, largest):
    values = float8_values(fmt)
    assert len(values) == count and values[-1] == largest == F.max_finite(fmt)
    check_neighbours(values, fmt)


# -- the rational reference, every format --------------------------------------


@pytest.mark.parametrize(
    "fmt", ["float32", "tf32", "bfloat16", "float16", "float8_e5m2", "float8_e4m3fn"]
)
def test_random_doubles_against_exact_rational_rounding(fmt):
    rng = random.Random(fmt)
    f = F.get(fmt)
    top = math.frexp(f.max)[1] + 1
    vs = random_doubles(rng, 6000, f.emin - f.p - 3, top)
    vs += [
        f.overflow_threshold,
        math.nextafter(f.overflow_threshold, 0.0),
        math.nextafter(f.overflow_threshold, INF),
        f.max,
        f.smallest_subnormal / 2,
        math.nextafter(f.smallest_subnormal / 2, 1.0),
        1e-300,
        5e-324,
        1e300,
    ]
    for v in vs:
        for s in (False, True):
            assert same(F.round_to(v, fmt, saturate=s), exact_round(v, fmt, s)), (v, s)
            assert same(F.round_to(-v, fmt, saturate=s), exact_round(-v, fmt, s)), (v, s)


# -- ml_dtypes / NumPy ----------------------------------------------------------

ML_DTYPES = ["bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"]


def numpy_type(fmt):
    np = pytest.importorskip("numpy", reason="NumPy is not installed")
    if fmt == "float16":
        return np, np.float16
    ml = pytest.importorskip(
        "ml_dtypes", reason="ml_dtypes is not installed (pip install ml_dtypes, or the test extra)"
    )
    return np, getattr(ml, fmt)


@pytest.mark.parametrize("fmt", ML_DTYPES)
def test_random_doubles_against_ml_dtypes(fmt):
    np, t = numpy_type(fmt)
    rng = random.Random("ml/" + fmt)
    f = F.get(fmt)
    top = math.frexp(f.max)[1] + 1
    vs = random_doubles(rng, 100000, f.emin - f.p - 3, top)
    vs += [
        0.0,
        -0.0,
        INF,
        -INF,
        NAN,
        f.overflow_threshold,
        -f.overflow_threshold,
        math.nextafter(f.overflow_threshold, 0.0),
        f.smallest_subnormal / 2,
        -f.smallest_subnormal / 2,
        3 * f.smallest_subnormal / 2,
    ]
    with np.errstate(over="ignore", invalid="ignore"):
        theirs = np.array(vs, dtype=np.float64).astype(t).astype(np.float64).tolist()
    for v, want in zip(vs, theirs):
        assert same(F.round_to(v, fmt), want), (fmt, v, want)


@pytest.mark.parametrize("fmt", ML_DTYPES)
def test_every_pattern_is_representable_as_ml_dtypes_says(fmt):
    np, t = numpy_type(fmt)
    n = 1 << 16 if np.dtype(t).itemsize == 2 else 1 << 8
    view = np.uint16 if n > 256 else np.uint8
    with np.errstate(invalid="ignore"):  # NaN patterns
        values = np.arange(n, dtype=view).view(t).astype(np.float64).tolist()
    for v in values:
        assert F.is_representable(v, fmt), (fmt, v)
        assert same(F.round_to(v, fmt), v), (fmt, v)


@pytest.mark.parametrize("fmt", ML_DTYPES)
def test_constants_match_finfo(fmt):
    np, t = numpy_type(fmt)
    fi = np.finfo(t) if fmt == "float16" else __import__("ml_dtypes").finfo(t)
    assert F.unit_roundoff(fmt) == float(fi.eps) / 2
    assert F.smallest_normal(fmt) == float(fi.smallest_normal)
    assert F.smallest_subnormal(fmt) == float(fi.smallest_subnormal)
    assert F.max_finite(fmt) == float(fi.max)


# -- hand-computed cases --------------------------------------------------------


@pytest.mark.parametrize(
    "v,fmt,want",
    [
        (1 + 2**-8, "bfloat16", 1.0),  # tie: 1.0 is even
        (1 + 3 * 2**-8, "bfloat16", 1 + 2**-6),  # tie: up to the even one
        (1 + 2**-8 + 2**-40, "bfloat16", 1 + 2**-7),  # just past the tie
        (0.1, "bfloat16", 0.10009765625),
        (1 + 2**-11, "float16", 1.0),
        (1 + 2**-11 + 2**-40, "float16", 1 + 2**-10),
        (2**-25, "float16", 0.0),  # half the smallest subnormal: to 0
        (3 * 2**-25, "float16", 2**-23),  # 1.5 subnormals: to 2, even
        (-(2**-26), "float16", -0.0),  # underflow keeps the sign
        (2**-14 - 2**-25, "float16", 2**-14),  # the top subnormal tie: up to normal
        (65519.99, "float16", 65504.0),
        (65520.0, "float16", INF),  # the overflow threshold
        (-65520.0, "float16", -INF),
        (1e6, "float16", INF),
        (1 + 2**-11, "tf32", 1.0),
        (2**-137, "tf32", 0.0),  # tf32 subnormals are k·2^-136
        (3 * 2**-137, "tf32", 2**-135),
        (2**-150, "float32", 0.0),
        (3 * 2**-150, "float32", 2**-148),
        (464.0, "float8_e4m3fn", 448.0),  # tie: 448 is even
        (465.0, "float8_e4m3fn", NAN),  # no infinity: NaN
        (INF, "float8_e4m3fn", NAN),
        (61440.0, "float8_e5m2", INF),
        (61439.0, "float8_e5m2", 57344.0),
        (-0.0, "bfloat16", -0.0),
        (NAN, "float16", NAN),
        (-INF, "bfloat16", -INF),
    ],
)
def test_hand_computed(v, fmt, want):
    assert same(F.round_to(v, fmt), want)


@pytest.mark.parametrize(
    "v,fmt,want",
    [
        (1e6, "float16", 65504.0),
        (-1e6, "float16", -65504.0),
        (INF, "float16", 65504.0),
        (1000.0, "float8_e4m3fn", 448.0),
        (-INF, "float8_e4m3fn", -448.0),
        (NAN, "float8_e4m3fn", NAN),
        (65519.0, "float16", 65504.0),
        (1.0, "float16", 1.0),
    ],
)
def test_saturation(v, fmt, want):
    assert same(F.round_to(v, fmt, saturate=True), want)


def test_representability_and_constants():
    assert F.is_representable(65504.0, "float16") and not F.is_representable(65505.0, "float16")
    assert F.is_representable(INF, "float16") and not F.is_representable(INF, "float8_e4m3fn")
    assert F.is_representable(NAN, "float8_e4m3fn") and F.is_representable(0.1, "float64")
    assert not F.is_representable(0.1, "float32") and F.is_representable(2**-149, "float32")
    assert not F.is_representable(2**-149, "tf32") and F.is_representable(2**-136, "tf32")
    assert F.unit_roundoff("bfloat16") == 2**-8 and F.unit_roundoff("tf32") == 2**-11
    assert F.smallest_subnormal("float16") == 2**-24 and F.smallest_normal("float16") == 2**-14
    assert F.overflow_threshold("float16") == 65520.0
    assert F.overflow_threshold("float8_e4m3fn") == 464.0
    assert F.max_finite("tf32") == (2 - 2**-10) * 2.0**127
    with pytest.raises(ValueError, match="unknown floating-point format 'float12'; known: float64"):
        F.round_to(1.0, "float12")


# -- first_unrepresentable: the fast check agrees with the slow one -------------


@pytest.mark.parametrize("fmt", ["float32", "tf32", "bfloat16", "float16", "float8_e4m3fn"])
def test_first_unrepresentable_finds_the_first_offender(fmt):
    rng = random.Random("first/" + fmt)
    f = F.get(fmt)
    top = math.frexp(f.max)[1]
    clean = [
        F.round_to(math.ldexp(rng.random() - 0.5, rng.randint(f.emin - f.p, top)), fmt)
        for _ in range(3000)
    ]
    clean += [0.0, -0.0, f.max, -f.max, f.smallest_subnormal, -f.smallest_normal]
    if f.has_inf:
        clean += [INF, -INF]
    assert F.first_unrepresentable(clean, fmt) == -1
    assert F.first_unrepresentable([], fmt) == -1
    bad = [
        f.max * 2 if fmt != "float32" else 1e39,
        2.0**-160,
        0.1,
        1 + 2.0**-30,
        1 + 2.0**-20,
        1 + 2.0**-12,
        3 * 2.0**-134,
        f.smallest_subnormal * 1.5,
        65536.0 if fmt == "float16" else 2.0**-25,
    ]
    for v in bad:
        if F.is_representable(v, fmt):
            continue
        for at in (0, 1234, len(clean) - 1):
            values = clean[:at] + [v] + clean[at:]
            assert F.first_unrepresentable(values, fmt) == at, (v, at)
    nan_first = [NAN] + clean
    assert F.first_unrepresentable(nan_first, fmt) == -1


def test_first_unrepresentable_portable_path_matches():
    """The value-by-value path (runtimes without array.tobytes) finds the same."""
    values = [1.0, 2.0**-24, 2.0**-25, 0.5]
    saved = F._array
    try:
        F._array = None
        assert F.first_unrepresentable(values, "float16") == 2
    finally:
        F._array = saved
    assert F.first_unrepresentable(values, "float16") == 2
