"""Floating-point formats: exact round-to-nearest-even from a Python float.

    round_to(0.1, "bfloat16")           -> 0.10009765625
    round_to(65520.0, "float16")        -> inf      (the overflow threshold)
    is_representable(65504.0, "float16") -> True

Each format is p (significand bits, the hidden one included), emin (the
smallest normal is 2^emin) and its largest finite value; subnormals are
multiples of 2^(emin - p + 1), as IEEE 754 has them:

    name            p    emin   largest finite          overflow
    float64        53   -1022   (2 - 2^-52)·2^1023      ±inf
    float32        24    -126   (2 - 2^-23)·2^127       ±inf
    tf32           11    -126   (2 - 2^-10)·2^127       ±inf
    bfloat16        8    -126   (2 - 2^-7)·2^127        ±inf
    float16        11     -14   65504                   ±inf from 65520
    float8_e5m2     3     -14   57344                   ±inf from 61440
    float8_e4m3fn   4      -6   448                     NaN above 464

tf32 is float32's layout with the low 13 significand bits dropped, so its
subnormals are multiples of 2^-136.  float8_e4m3fn has no infinity: an
overflow (and ±inf itself) becomes NaN, as in ml_dtypes; with
saturate=True overflows and ±inf become ±448 instead (the OCP 8-bit spec's
saturating conversion, NVIDIA's .satfinite).  saturate applies to every
format (float16: ±65504) and never touches NaN.

The arithmetic: for |v| = m·2^e (math.frexp, ½ ≤ m < 1) the last place of
the result is 2^q with q = max(e, emin + 1) - p, so |v|/2^q < 2^p ≤ 2^24 is
exact (a power-of-two scaling), and adding then subtracting 2^52 rounds it
to an integer, ties to even, by the float64 addition's own rounding.  Only
frexp, ldexp, + and comparisons: no struct 'e', no big integers, no
int.bit_length, so it runs on MicroPython as on CPython.
"""

import math

from .ops import mul as _mul

try:
    import struct

    struct.pack("<f", 1.0)
except (ImportError, AttributeError, ValueError):  # a runtime without 'f'
    struct = None

_INF = float("inf")
_NAN = float("nan")
_MAGIC = 4503599627370496.0  # 2^52


class Format:
    """One binary floating-point format: p, emin, its largest finite value."""

    __slots__ = (
        "name",
        "p",
        "emin",
        "max",
        "has_inf",
        "unit_roundoff",
        "smallest_normal",
        "smallest_subnormal",
        "overflow_threshold",
    )

    def __init__(self, name, p, emin, largest, has_inf=True):
        self.name, self.p, self.emin, self.max = name, p, emin, largest
        self.has_inf = has_inf
        self.unit_roundoff = math.ldexp(1.0, -p)
        self.smallest_normal = math.ldexp(1.0, emin)
        self.smallest_subnormal = math.ldexp(1.0, emin - p + 1)
        e = math.frexp(largest)[1]
        # largest + half its last place: magnitudes beyond it overflow, and at
        # it ties to even decide (inf where the largest significand is odd).
        self.overflow_threshold = largest + math.ldexp(1.0, e - p - 1)

    def __repr__(self):
        return "Format(%r)" % self.name


def _largest(p, emax):
    """(2 - 2^(1-p))·2^emax: every significand bit set, the top exponent."""
    return math.ldexp(2.0 - math.ldexp(1.0, 1 - p), emax)


FORMATS = {}
for _f in (
    Format("float64", 53, -1022, _largest(53, 1023)),
    Format("float32", 24, -126, _largest(24, 127)),
    Format("tf32", 11, -126, _largest(11, 127)),
    Format("bfloat16", 8, -126, _largest(8, 127)),
    Format("float16", 11, -14, _largest(11, 15)),
    Format("float8_e5m2", 3, -14, _largest(3, 15)),
    Format("float8_e4m3fn", 4, -6, 448.0, has_inf=False),
):
    FORMATS[_f.name] = _f
NAMES = ("float64", "float32", "tf32", "bfloat16", "float16", "float8_e5m2", "float8_e4m3fn")


def lookup(table, names, key, kind, what):
    """table[key] for a name, or key itself if it is already a `kind`; a
    ValueError names `what` was asked for and the known names."""
    if isinstance(key, kind):
        return key
    try:
        return table[key]
    except (KeyError, TypeError):
        raise ValueError("unknown %s %r; known: %s" % (what, key, ", ".join(names)))


def get(fmt):
    """The Format for a name (or the Format itself)."""
    return lookup(FORMATS, NAMES, fmt, Format, "floating-point format")


def _overflow(v, f, saturate):
    if saturate:
        return f.max if v > 0 else -f.max
    if f.has_inf:
        return _INF if v > 0 else -_INF
    return _NAN


def _round(v, f, saturate):
    """v (a float) rounded to nearest, ties to even, in format f."""
    if v != v or v == 0.0:
        return v  # NaN, and ±0 with its sign
    a = v if v > 0 else -v
    if a == _INF:
        return v if f.has_inf and not saturate else _overflow(v, f, saturate)
    e = math.frexp(a)[1]  # a = m·2^e, ½ ≤ m < 1
    q = (e if e > f.emin else f.emin + 1) - f.p  # the result's last place 2^q
    n = (math.ldexp(a, -q) + _MAGIC) - _MAGIC  # a/2^q < 2^p, rounded to even
    r = math.ldexp(n, q)
    if r > f.max:
        return _overflow(v, f, saturate)
    return r if v > 0 else -r


def round_to(v, fmt, saturate=False):
    """v rounded to nearest, ties to even, in the format named fmt.

    Overflow gives ±inf (NaN for float8_e4m3fn), or ±largest with saturate.
    Signs of zero are kept; NaN stays NaN.
    """
    f = get(fmt)
    v = float(v)
    if f.p == 53:
        return v
    return _round(v, f, saturate)


def is_representable(v, fmt):
    """Whether the float v is a value of the format (NaN always is; ±inf
    where the format has infinities)."""
    f = get(fmt)
    v = float(v)
    if v != v:
        return True
    if v == _INF or v == -_INF:
        return f.has_inf
    return f.p == 53 or _round(v, f, False) == v


def unit_roundoff(fmt):
    """u = 2^-p: the largest relative error of rounding to nearest (normal range)."""
    return get(fmt).unit_roundoff


def smallest_normal(fmt):
    return get(fmt).smallest_normal


def smallest_subnormal(fmt):
    return get(fmt).smallest_subnormal


def max_finite(fmt):
    return get(fmt).max


def overflow_threshold(fmt):
    """The largest finite value plus half its last place: rounding to nearest
    overflows above it (at it, ties to even decide: float16's 65520 -> inf)."""
    return get(fmt).overflow_threshold


_F32 = FORMATS["float32"]
_F32_SAFE = _F32.overflow_threshold


def _float32_struct(v):
    """float32 rounding through the C cast (one correct rounding), where the
    runtime's struct has 'f'; overflow, NaN and ±inf go the portable way."""
    if -_F32_SAFE < v < _F32_SAFE:
        return _unpack("<f", _pack("<f", v))[0]
    return _round(float(v), _F32, False)


def _float32_portable(v):
    """float32 rounding with frexp/ldexp alone."""
    return _round(float(v), _F32, False)


if struct is not None:
    _pack, _unpack = struct.pack, struct.unpack
    to_float32 = _float32_struct
else:
    to_float32 = _float32_portable
# to_float32(v): v rounded to float32 (nearest, ties to even), the fastest
# exact way this runtime has; round_to(v, "float32") gives the same bits.


try:
    from array import array as _array
    import sys as _sys

    _LITTLE = _sys.byteorder == "little"
    _array("f", [1.0]).tobytes()
except (ImportError, AttributeError):  # a runtime without array.tobytes
    _array, _LITTLE = None, False

# Significand bits a float32 value must have clear to be a value of a format
# with fewer bits (its subnormals aside): bfloat16 16, float16 and tf32 13.
_LOW_BITS = {"bfloat16": 16, "float16": 13, "tf32": 13}
_CLEAR_LOW5 = bytes(i & 0x1F for i in range(256))
# float32's top byte (sign, exponent bits 7..1): 0 where the value lies in
# [2^-13, 2^15), float16's normal range well inside, else 1
_F16_OUTSIDE = bytes(0 if 57 <= (i & 0x7F) <= 70 else 1 for i in range(256))


def first_unrepresentable(values, fmt):
    """The index of the first of values (a flat list of floats, or an
    array('d') or array('f')) that is not a value of fmt, or -1 when every
    one is.

    Where the runtime has array.tobytes and is little-endian, float32,
    bfloat16, tf32 and float16 are checked at C speed (the values as
    float32 bytes, their low significand bits tested byte-wise; float16's
    range and subnormal grid by maps over the finite values); anything that
    fast check cannot clear, and every other case, goes value by value
    through is_representable.
    """
    f = get(fmt)
    if f.p == 53:
        return -1
    if _array is not None and _LITTLE and (f.name == "float32" or f.name in _LOW_BITS):
        if _fast_clear(values, f):
            return -1
    for i in range(len(values)):
        if not is_representable(values[i], f):
            return i
    return -1


def _fast_clear(values, f):
    """True only when every value is surely a value of f (else: check slowly)."""
    code = getattr(values, "typecode", None)
    if code == "f":
        as32 = values  # float32 values already
    else:
        try:
            as32 = _array("f", values)
        except (OverflowError, TypeError, ValueError):
            return False
        # not float32 values (or NaN, which never compares equal: checked slowly)
        if (_array("d", as32) != values) if code == "d" else (as32.tolist() != values):
            return False
    if f.name == "float32":
        return True
    raw = as32.tobytes()  # little-endian: byte 0 of each value is lowest
    if any(raw[0::4]):
        return False
    if f.name == "bfloat16":
        return not any(raw[1::4])
    if any(raw[1::4].translate(_CLEAR_LOW5)):
        return False  # tf32 and float16 keep 11 bits: 13 clear
    if f.name == "tf32":
        return True
    # float16: a float32 value with 11 significant bits is a float16 value iff
    # it is at most 65504 and a multiple of 2^-24 (the subnormals' grid; every
    # normal float16 value is one too); ±inf are values, NaN is checked slowly
    return _f16_range_and_grid(as32, f, raw)


def _f16_range_and_grid(as32, f, raw):
    """Every finite value of as32 (11 significant bits at most) is at most
    65504 and a multiple of 2^-24.  Most outputs have exponents in
    [2^-13, 2^15) (float32's top byte without the sign in 57..70), which
    satisfy both: one translate and any() clear them; the rest by maps."""
    outside = raw[3::4].translate(_F16_OUTSIDE)
    count = outside.count(1)
    if count == 0:
        return True
    if count <= len(as32) // 16:  # a few: one by one, found at C speed
        k = outside.find(1)
        while k >= 0:
            if not is_representable(as32[k], f):
                return False
            k = outside.find(1, k + 1)
        return True
    isfinite = getattr(math, "isfinite", None)
    is_integer = getattr(float, "is_integer", None)
    if isfinite is None or is_integer is None:
        return False
    finite = (
        as32 if not (as32.count(_INF) or as32.count(-_INF)) else _array("f", filter(isfinite, as32))
    )
    if not finite:
        return True
    if max(map(abs, finite)) > f.max:  # NaN: max ignores it or returns it
        return False
    scale = [f.smallest_subnormal**-1] * len(finite)
    return all(map(is_integer, map(_mul, finite, scale)))
