"""Inputs at size: kinds of numbers that do not hide bugs, drawn at C speed.

    values(kind, count, dtype, seed, limit=...) -> array('d')   (count,)
    matrix(kind, rows, cols, dtype, seed)       -> array('d')   (rows·cols,), row-major

Kinds (docs/verification.md, "Inputs"):

    normal     sign random, |v| in [2^-5, 2): binades weighted like |N(0, 1)|
               (4, 5, 3, 2, 1, 1 sixteenths for [1, 2), [1/2, 1), ... [2^-5, 2^-4))
    uniform    sign random, |v| in [2^-5, 1): binades weighted like U(0, 1)
               (8, 4, 2, 1, 1 sixteenths for [1/2, 1), ... [2^-5, 2^-4))
    integers   integers in [-R, R], R = min(31, ⌊√(2^p / K)⌋): every partial sum of
               K products is an integer below 2^p, so a correct kernel is exact
               (p = 24 for float32, 53 for float64; K the longest reduction)
    wide       sign random, |v| log-uniform over [2^-15, 1) (16 binades)
    tiny       sign random, |v| in [2^-71, 2^-63) (float32) or [2^-519, 2^-511)
               (float64): every product is below the smallest normal, where
               gradual underflow and flush-to-zero differ
    same-sign  like normal, all positive: no cancellation in any sum

    mixed      (the default) each matrix in contiguous bands of rows, one kind per
               band: normal, wide, integers (scaled by 2^-5, so |v| < 1), tiny,
               same-sign (a vector is normal).  W's bands run along D, so every
               element of Y and dX sums over all five kinds; X's and dY's along N.

Every value is made from random bytes without a Python-level loop: 8 random
bytes a value are read as an IEEE double whose two top bytes (sign, exponent
and four mantissa bits) are rewritten by bytes.translate through a table of
the kind, the other six bytes staying random mantissa bits.  float32 values
are then rounded once (array('f')).  The bytes are SHAKE-128's output for
the seed (hashlib, C speed), so a seed gives the same numbers in every
process and on every Python that has it (CPython 3.8+, PyPy); where hashlib
lacks it, random.Random's bits (the same within one Python).
"""

import random
from array import array

KINDS = ("normal", "uniform", "integers", "wide", "tiny", "same-sign")
MIXED = ("normal", "wide", "integers", "tiny", "same-sign")
DEFAULT = "mixed"
CHOICES = KINDS + ("mixed",)
_BITS = {"float64": 53, "float32": 24}


def integer_limit(k, dtype):
    """R: integers in [-R, R] whose K-term products sum exactly in dtype."""
    limit = 31
    while limit > 1 and k * limit * limit > 2 ** _BITS[dtype]:
        limit -= 1
    return limit


def _exponent_tables(kind, dtype):
    """(byte 7 table, byte 6 table): sign and exponent of each kind.

    The biased exponent e = 16·h + l: h (7 bits) and the sign live in byte 7,
    l in the top nibble of byte 6 (whose low nibble is mantissa and stays).
    h is taken from byte 7's own random bits, l from byte 6's top nibble,
    each through a table, so sign, h and l are independent."""
    signs = kind != "same-sign"
    if kind in ("normal", "same-sign"):
        hs = [63]                                     # e = 1008 + l
        ls = [15] * 4 + [14] * 5 + [13] * 3 + [12] * 2 + [11, 10]
    elif kind == "uniform":
        hs = [63]
        ls = [14] * 8 + [13] * 4 + [12] * 2 + [11, 10]
    elif kind == "wide":
        hs = [63]                                     # e in [1008, 1023)
        ls = list(range(15)) + [14]
    elif kind == "tiny":
        hs = [59] if dtype == "float32" else [31]     # e in 944 + [8, 16), 496 + [8, 16)
        ls = list(range(8, 16)) * 2
    else:
        raise ValueError("no exponent table for kind %r" % (kind,))
    t7 = bytearray(256)
    t6 = bytearray(256)
    for r in range(256):
        sign = (r & 0x80) if signs else 0
        t7[r] = sign | hs[(r & 0x7F) % len(hs)]
        t6[r] = (ls[r >> 4] << 4) | (r & 0x0F)
    return bytes(t7), bytes(t6)


def _integer_tables(limit, shift=0):
    """(byte 7, byte 6) of the doubles (-limit .. limit)·2^-shift (|v| ≤ 31:
    the mantissa after the leading 1 fits byte 6's low nibble; bytes 0-5
    zero), chosen by one random byte (modulo 2·limit + 1)."""
    t7 = bytearray(256)
    t6 = bytearray(256)
    for r in range(256):
        v = r % (2 * limit + 1) - limit
        if v == 0:
            continue
        a = abs(v)
        top = 0
        while (a >> (top + 1)) != 0:
            top += 1
        e = 1023 + top - shift
        mant = (a - (1 << top)) << (4 - top)          # 4 bits below the leading 1
        t7[r] = (0x80 if v < 0 else 0) | (e >> 4)
        t6[r] = ((e & 0x0F) << 4) | mant
    return bytes(t7), bytes(t6)


def _random_bytes(seed, count):
    """count pseudo-random bytes from an integer seed: SHAKE-128's output
    (hashlib, C speed, the same bytes on every Python), else Mersenne Twister."""
    if count == 0:
        return b""
    try:
        import hashlib
        return hashlib.shake_128(b"refbackprop-inputs/%d" % seed).digest(count)
    except (ImportError, AttributeError, ValueError):
        gen = random.Random(seed)
        return gen.getrandbits(8 * count).to_bytes(count, "little")


def values(kind, count, dtype, seed, k=1, shift=0):
    """count values of one kind (not 'mixed') as an array('d'), rounded to
    dtype; k is the longest reduction they enter (for 'integers', which
    are scaled by 2^-shift)."""
    if dtype not in _BITS:
        raise ValueError("dtype must be float64 or float32, not %r" % (dtype,))
    raw = bytearray(_random_bytes(seed, 8 * count))
    if kind == "integers":
        t7, t6 = _integer_tables(integer_limit(k, dtype), shift)
        picks = bytes(raw[7::8])
        raw = bytearray(8 * count)
        raw[7::8] = picks.translate(t7)
        raw[6::8] = picks.translate(t6)
    elif kind in KINDS:
        t7, t6 = _exponent_tables(kind, dtype)
        raw[7::8] = bytes(raw[7::8]).translate(t7)
        raw[6::8] = bytes(raw[6::8]).translate(t6)
    else:
        raise ValueError("unknown input kind %r; the kinds are %s"
                         % (kind, ", ".join(CHOICES)))
    if dtype == "float32" and kind != "integers":
        zeros = bytes(count)
        raw[0::8] = zeros                             # 29 low mantissa bits cleared:
        raw[1::8] = zeros                             # 23 remain, a float32 value
        raw[2::8] = zeros
        raw[3::8] = bytes(raw[3::8]).translate(_HIGH3)
    out = array("d")
    out.frombytes(raw)
    if _little_endian() is False:
        out.byteswap()
    return out


def matrix(kind, rows, cols, dtype, seed, k=1):
    """A (rows, cols) matrix, row-major, of one kind or 'mixed' (row bands)."""
    if kind != "mixed":
        return values(kind, rows * cols, dtype, seed, k)
    out = array("d")
    bands = len(MIXED)
    start = 0
    for band in range(bands):
        stop = (rows * (band + 1)) // bands
        if stop > start:
            out.extend(values(MIXED[band], (stop - start) * cols, dtype,
                              (seed * 8 + band) & ((1 << 64) - 1), k, 5))
        start = stop
    return out


_HIGH3 = bytes(r & 0xE0 for r in range(256))
_ENDIAN = []


def _little_endian():
    if not _ENDIAN:
        import sys
        _ENDIAN.append(sys.byteorder == "little")
    return _ENDIAN[0]
