"""Inputs at size: kinds of numbers that do not hide bugs, drawn at C speed.

    values(kind, count, dtype, seed, k=1, shift=0) -> array('d')   (count,)
    matrix(kind, rows, cols, dtype, seed, k=1)     -> array('d')   (rows·cols,), row-major
    matrix(..., into=buffer)                       -> the same values drawn into a buffer

dtype is a precision contract (contracts.py); every value is a value of its
storage format (float64, float32 for float32 and tf32, bfloat16, float16).
Kinds (docs/verification.md, "Inputs"):

    normal     sign random, |v| in [2^-5, 2): binades weighted like |N(0, 1)|
               (4, 5, 3, 2, 1, 1 sixteenths for [1, 2), [1/2, 1), ... [2^-5, 2^-4))
    uniform    sign random, |v| in [2^-5, 1): binades weighted like U(0, 1)
               (8, 4, 2, 1, 1 sixteenths for [1/2, 1), ... [2^-5, 2^-4))
    integers   integers in [-R, R], R = min(31, ⌊√(2^p / K)⌋): every partial sum of
               K products is an integer below 2^p, so a kernel that accumulates
               correctly is exact (p = 53 under float64, else 24, the float32
               accumulation's; float16 storage also keeps K·R² ≤ 2^15, below its
               largest value 65504; K the longest reduction)
    wide       sign random, |v| log-uniform over [2^-15, 1) (16 binades; float16
               storage: [2^-14, 2), its normal range, 15 binades)
    tiny       sign random, |v| in [2^-71, 2^-63) (float32, tf32, bfloat16) or
               [2^-519, 2^-511) (float64): every product is below the smallest
               normal of the accumulation, where gradual underflow and
               flush-to-zero differ.  float16 storage: [2^-14, 2^-12), products
               in [2^-28, 2^-24), sums below float16's smallest normal 2^-14:
               subnormal outputs (float16 products never underflow float32)
    same-sign  like normal, all positive: no cancellation in any sum

    mixed      (the default) each matrix in contiguous bands of rows, one kind per
               band: normal, wide, integers (scaled by 2^-5, so |v| < 1), tiny,
               same-sign (a vector is normal).  W's bands run along D, so every
               element of Y sums over all five kinds and each row of dX holds
               all five, band by band; X's and dY's bands run along N.  Bands
               start on multiples of 32 (BAND_ALIGN) where there is room, so
               no cell of the verifier holds two kinds.
    overflow   float16 storage only: normal values, with X's first row and dY's
               last row scaled by powers of two (overflow_scale) so that about
               half of Y's first row and of dX's last row pass float16's
               overflow threshold 65520 (every input stays below 65504): a
               correct float16 kernel returns ±inf there, a saturating one does
               not.  sized.sized_inputs applies the scaling (it knows the roles).

Every value is made from random bytes without a Python-level loop: 8 random
bytes a value are read as an IEEE double whose two top bytes (sign, exponent
and four mantissa bits) are rewritten by bytes.translate through a table of
the kind, the other six bytes staying random mantissa bits.  The low
mantissa bits the storage format lacks are then cleared (float32: 29 of 52,
bfloat16: 45, float16: 42), which leaves a value of the format exactly: the
tables keep every value in the format's normal range.  The bytes are
SHAKE-128's output for the seed (hashlib, C speed), so a seed gives the same
numbers in every process and on every Python that has it (CPython 3.8+,
PyPy); where hashlib lacks it, random.Random's bits (the same within one
Python).
"""

import math
import random
from array import array

from . import contracts

from .ops import mul as _mul


KINDS = ("normal", "uniform", "integers", "wide", "tiny", "same-sign")
MIXED = ("normal", "wide", "integers", "tiny", "same-sign")
DEFAULT = "mixed"
OVERFLOW = "overflow"
CHOICES = KINDS + ("mixed", OVERFLOW)
# The storage formats values() draws, and the low mantissa bits each lacks, as
# (bytes zeroed from byte 0, the mask of the next byte) of a little-endian double.
_CLEAR = {"float64": (0, 0xFF), "float32": (3, 0xE0), "bfloat16": (5, 0xE0), "float16": (5, 0xFC)}
_F16_RANGE = 2**15  # float16: K·R² and K·max|a·b| kept below this (< 65504)


def storage(dtype):
    """The storage format's name of a precision contract (float64, float32,
    bfloat16 or float16; tf32 stores float32)."""
    return contracts.get(dtype).storage.name


def allowed(kind, dtype):
    """'' when inputs of this kind can be drawn for the contract, else why not."""
    if kind not in CHOICES:
        return "unknown input kind %r; the kinds are %s" % (kind, ", ".join(CHOICES))
    if kind == OVERFLOW and storage(dtype) != "float16":
        return (
            "inputs 'overflow' (sums past float16's 65520) are for the float16-storage "
            "contracts float16 and float16-f32out, not %s (%s storage)" % (dtype, storage(dtype))
        )
    return ""


def kinds_for(dtype):
    """The input kinds that can be drawn for the contract, in CHOICES order."""
    return tuple(k for k in CHOICES if not allowed(k, dtype))


def integer_limit(k, dtype):
    """R: integers in [-R, R] whose K-term products sum exactly in the
    contract's accumulation format (and, for float16 storage, stay below
    2^15 < 65504 in every sum)."""
    c = contracts.get(dtype)
    top = 2**c.accumulate.p
    if c.storage.name == "float16":
        top = min(top, _F16_RANGE)
    limit = 31
    while limit > 1 and k * limit * limit > top:
        limit -= 1
    return limit


def overflow_scale(k):
    """The power of two s (at most 2^15: s·|normal| ≤ (2 − 2^-10)·2^15 = 65504)
    for which a sum of K products s·x·w of normal values has a standard
    deviation near 2^16.6 ≈ 1.5·65520 (E[v²] ≈ 0.8 for normal values): about
    half such sums pass float16's overflow threshold, most by a wide margin."""
    e = int(math.floor(16.6 - math.log(0.8 * math.sqrt(max(k, 1))) / math.log(2.0) + 0.5))
    return 2.0 ** max(0, min(15, e))


def _exponent_tables(kind, fmt):
    """(byte 7 table, byte 6 table): sign and exponent of each kind, for the
    storage format fmt.

    The biased exponent e = 16·h + l: h (7 bits) and the sign live in byte 7,
    l in the top nibble of byte 6 (whose low nibble is mantissa and stays).
    h is taken from byte 7's own random bits, l from byte 6's top nibble,
    each through a table, so sign, h and l are independent."""
    signs = kind != "same-sign"
    if kind in ("normal", "same-sign"):
        hs = [63]  # e = 1008 + l
        ls = [15] * 4 + [14] * 5 + [13] * 3 + [12] * 2 + [11, 10]
    elif kind == "uniform":
        hs = [63]
        ls = [14] * 8 + [13] * 4 + [12] * 2 + [11, 10]
    elif kind == "wide" and fmt == "float16":
        hs = [63]  # e in [1009, 1024): [2^-14, 2)
        ls = list(range(1, 16)) + [15]
    elif kind == "wide":
        hs = [63]  # e in [1008, 1023)
        ls = list(range(15)) + [14]
    elif kind == "tiny" and fmt == "float16":
        hs = [63]  # e in {1009, 1010}: [2^-14, 2^-12)
        ls = [1] * 8 + [2] * 8
    elif kind == "tiny":
        hs = [31] if fmt == "float64" else [59]  # e in 496 + [8, 16), 944 + [8, 16)
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
        mant = (a - (1 << top)) << (4 - top)  # 4 bits below the leading 1
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
    """count values of one kind (not 'mixed' or 'overflow') as an array('d'),
    values of the contract's storage format; k is the longest reduction they
    enter (for 'integers', which are scaled by 2^-shift)."""
    if _IN_PLACE and count:  # drawn in the array's own bytes
        out = array("d", [0.0]) * count
        _value_bytes(kind, count, dtype, seed, k, shift, memoryview(out).cast("B"))
        return out
    out = array("d")
    out.frombytes(_value_bytes(kind, count, dtype, seed, k, shift))
    if _little_endian() is False:
        out.byteswap()
    return out


CHUNK = 1 << 16  # values drawn at a time: small buffers, reused, not fresh pages


def _value_bytes(kind, count, dtype, seed, k, shift, into=None):
    """values()'s little-endian doubles (8·count bytes) as a bytearray, or
    written into `into` (a writable byte view of 8·count bytes) where given,
    which is returned.  Drawn CHUNK values at a time through a small
    bytearray: the only large buffers are the random bytes and the result."""
    if kind not in KINDS:
        raise ValueError("unknown input kind %r; the kinds are %s" % (kind, ", ".join(KINDS)))
    fmt = storage(dtype)
    rnd = _random_bytes(seed, 8 * count)
    view = memoryview(rnd)
    raw = into if into is not None else bytearray(8 * count)
    if kind == "integers":
        t7, t6 = _integer_tables(integer_limit(k, dtype), shift)
    else:
        t7, t6 = _exponent_tables(kind, fmt)
    zeroed, mask = _CLEAR[fmt]
    for a in range(0, count, CHUNK):
        size = min(CHUNK, count - a)
        if kind == "integers":  # bytes 0-5 zero
            picks = bytes(rnd[8 * a + 7 : 8 * (a + size) : 8])
            part = bytearray(8 * size)
            part[7::8] = picks.translate(t7)
            part[6::8] = picks.translate(t6)
        else:
            part = bytearray(view[8 * a : 8 * (a + size)])
            part[7::8] = bytes(part[7::8]).translate(t7)
            part[6::8] = bytes(part[6::8]).translate(t6)
            if zeroed:
                zeros = bytes(size)
                for byte in range(zeroed):  # the low mantissa bits cleared:
                    part[byte::8] = zeros  # what remains is a value of fmt
                part[zeroed::8] = bytes(part[zeroed::8]).translate(_MASKS[mask])
        raw[8 * a : 8 * (a + size)] = part
    return raw


def _in_place():
    """Whether a band's bytes can be copied into the matrix's own array
    (memoryview slice assignment: CPython, PyPy) on a little-endian machine:
    a 'mixed' matrix is then one array filled band by band, not arrays
    extended and copied (fewer copies, fewer page faults)."""
    try:
        out = array("d", [0.0, 0.0])
        memoryview(out).cast("B")[8:16] = array("d", [2.0]).tobytes()
        return _little_endian() is True and out[1] == 2.0
    except Exception:
        return False


BAND_ALIGN = 32  # the verifier's cell along a line (freivalds.CELL)


def _band_stop(rows, bands, band):
    """Where a 'mixed' band ends: rows spread evenly, on a multiple of
    BAND_ALIGN where every band has room for one, so that no cell of dX
    (a block of W's rows) mixes two kinds: a tiny row's bound is far below a
    normal row's, and in a shared cell it would hide behind their sum."""
    stop = (rows * (band + 1)) // bands
    if band == bands - 1 or rows < bands * BAND_ALIGN:
        return stop
    return (stop + BAND_ALIGN // 2) // BAND_ALIGN * BAND_ALIGN


def matrix(kind, rows, cols, dtype, seed, k=1, into=None):
    """A (rows, cols) matrix, row-major, of one kind or 'mixed' (row bands),
    as an array('d'); or drawn into `into` (a writable byte buffer of
    8·rows·cols bytes: native doubles, the array's bytes), which is returned."""
    if kind == OVERFLOW:
        kind = "normal"  # sized_inputs scales its rows
    count = rows * cols
    if into is not None:
        into = memoryview(into).cast("B")
        if len(into) != 8 * count:
            raise ValueError(
                "into holds %d bytes, not the 8·%d·%d = %d of a (%d, %d) matrix of doubles"
                % (len(into), rows, cols, 8 * count, rows, cols)
            )
        if not _IN_PLACE:  # drawn as an array, then copied in
            into[:] = memoryview(matrix(kind, rows, cols, dtype, seed, k)).cast("B")
            return into
    if kind != "mixed":
        if into is None:
            return values(kind, count, dtype, seed, k)
        return _value_bytes(kind, count, dtype, seed, k, 0, into)
    bands = len(MIXED)
    out = into
    if into is None:
        out = (array("d", [0.0]) * count) if _IN_PLACE and count else array("d")
    raw = memoryview(out).cast("B") if _IN_PLACE else None
    start = 0
    for band in range(bands):
        stop = _band_stop(rows, bands, band)
        if stop > start:
            size = (stop - start) * cols
            seed_band = (seed * 8 + band) & ((1 << 64) - 1)
            if _IN_PLACE:
                part = raw[8 * start * cols : 8 * stop * cols]
                _value_bytes(MIXED[band], size, dtype, seed_band, k, 5, part)
            else:
                out.extend(values(MIXED[band], size, dtype, seed_band, k, 5))
        start = stop
    return out


def scale_row(values, cols, row, factor):
    """Multiply one row of a row-major array('d') by a power of two, in place
    (exact: every value stays a value of its format while |v|·factor does)."""
    a = row * cols
    values[a : a + cols] = array("d", map(_mul, values[a : a + cols], [factor] * cols))


_MASKS = {0xE0: bytes(r & 0xE0 for r in range(256)), 0xFC: bytes(r & 0xFC for r in range(256))}
_ENDIAN = []


def _little_endian():
    if not _ENDIAN:
        import sys

        _ENDIAN.append(sys.byteorder == "little")
    return _ENDIAN[0]


_IN_PLACE = _in_place()
