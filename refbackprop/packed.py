"""Exact ± sums of a matrix's rows or columns, through big integers.

Freivalds' checks need, for many random sign vectors r, the sums Σ_l r_l·A[k][l]
along every row of a matrix A (K, L) and Σ_k r_k·A[k] down its columns; in
freivalds.py A is W (D, M), giving W r (D,) and Wᵀ r (M,).  In CPython each
touch of a float in a nested list costs 5–30 ns, so a sum of signs over A
costs about as much as a product would.  Here A is touched once: every
entry is rounded to one grid, step = 2^e,

    q = round(a / step),      |q| ≤ 2^Q,      |a − q·step| ≤ min(|a|, step/2),

by one float addition a + 1.5·2^(52+e): for |a| ≤ 2^(Q+e) ≤ 2^(50+e) the sum
stays in the binade [2^(52+e), 2^(53+e)), whose spacing is 2^e, so IEEE
round-to-nearest makes it exactly 1.5·2^(52+e) + q·2^e and its 64-bit word
word(1.5·2^(52+e)) + q.  Each row (and each column) of words becomes one
integer whose 64-bit fields hold them, made from the words when needed and
dropped after use.  A ± sum of rows is then a ± sum of integers: exact, at
memory speed (4096 integers of 32 KiB in about 10 ms); the known offsets
are subtracted once and the fields read back.  Q leaves room for any sum of
K (or L) fields in 63 bits.

A ± sum of n entries decoded this way differs from the exact one by at most

    n·step/2 + u·(Σ|a| + n·step/2)          u = 2⁻⁵³ (the decoded float)

and step < 2^(1−Q)·bound for the bound ≥ max|a| the caller gives.  Needs
IEEE double floats, 8-byte array('d') items, int.from_bytes, and arrays that
repeat and take stepped slices: `available()` says whether this runtime has
them (MicroPython has not; callers then sum floats).
"""

import math
import sys
from array import array

_BIAS_BITS = 63                     # fields are read back as Σ + 2^63, unsigned


def _word(value):
    return int.from_bytes(array("d", [value]), sys.byteorder)


def _signed_sums(vectors, count, batches, length, step, word):
    """[Σ_k r_k·v_k for every trial]: `count` packed vectors of `length`
    fields, made one at a time by `vectors` (an iterator, so that they need
    not all be held), and batches [(codes, bits), ...]: in trial t of a
    batch r_k = +1 where bit t of codes[k] is set, −1 elsewhere.  Each
    vector is added once into its code's group in every batch; each trial
    then adds the groups whose code has bit t.  Floats, (length,) a trial."""
    groups = [[0] * (1 << bits) for codes, bits in batches]
    counts = [[0] * (1 << bits) for codes, bits in batches]
    k = 0
    for v in vectors:
        for b in range(len(batches)):
            c = batches[b][0][k]
            groups[b][c] += v
            counts[b][c] += 1
        k += 1
    ones = ((1 << (64 * length)) - 1) // ((1 << 64) - 1)       # Σ_l 2^(64 l)
    bias = 1 << _BIAS_BITS
    out = []
    for b in range(len(batches)):
        bits = batches[b][1]
        total = sum(groups[b])
        for t in range(bits):
            plus = [c for c in range(1 << bits) if (c >> t) & 1]
            offset = (2 * sum([counts[b][c] for c in plus]) - count) * word  # Σ r_k·word
            exact = 2 * sum([groups[b][c] for c in plus]) - total + (bias - offset) * ones
            fields = array("Q", exact.to_bytes(8 * length, sys.byteorder))
            out.append([(f - bias) * step for f in fields])
    return out


class Packed:
    """A (K, L) rounded to one grid, ready to be summed along rows or columns.

    rows: A as K lists of L floats; length: L; bound ≥ max |A| (finite).
    Raises ValueError if bound is beyond what the rounding trick covers
    (2^(971+Q), about 2^1021); callers then sum floats.
    """

    def __init__(self, rows, length, bound):
        bits = min(50, 62 - _bit_length(max(len(rows), length, 1)))   # Q
        exponent = _exponent(bound) - bits
        if exponent < -1074:
            exponent = -1074                # every double is a multiple of 2^-1074
        if exponent > 971:                  # 1.5·2^(52+e) must stay below 2^1024
            raise ValueError("entries up to %r are beyond the packed range" % (bound,))
        self.step = 2.0 ** exponent
        magic = 1.5 * 2.0 ** (52 + exponent)
        self._word = _word(magic)
        words = array("d", [0.0]) * (len(rows) * length)      # (K·L,), filled row by row
        start = 0
        for row in rows:
            words[start:start + length] = array("d", [v + magic for v in row])
            start += length
        self._words = words
        self.k, self.l = len(rows), length

    def along_rows(self, batches):
        """[Σ_l r_l·A[:, l] for every trial], (K,) each: ± sums along each
        row, r over A's L columns (batches: see _signed_sums)."""
        words, order, l = self._words, sys.byteorder, self.l
        columns = (int.from_bytes(words[j::l], order) for j in range(l))
        return _signed_sums(columns, l, batches, self.k, self.step, self._word)

    def down_columns(self, batches):
        """[Σ_k r_k·A[k] for every trial], (L,) each: ± sums of the rows,
        r over A's K rows."""
        view, order, l = memoryview(self._words), sys.byteorder, self.l
        rows = (int.from_bytes(view[i * l:(i + 1) * l], order) for i in range(self.k))
        return _signed_sums(rows, self.k, batches, l, self.step, self._word)


def grid_error(count, step):
    """Bound on |decoded − exact| for a ± sum of count entries on the grid
    step, less the u·Σ|a| of the decoded float (which callers' rounding
    covers): count roundings to the grid, and one more step/2 if the
    decoded value is subnormal."""
    return (count + 1) * step * 0.5 * (1.0 + 2.0 ** -52)


def _bit_length(n):
    """n.bit_length() (MicroPython lacks it)."""
    k = 0
    while n:
        n >>= 1
        k += 1
    return k


def _exponent(bound):
    """An e with bound ≤ 2^e (0 for bound 0)."""
    return math.frexp(bound)[1] if bound > 0 else 0


_available = None


def available():
    """Whether this runtime packs exactly (checked once, on a small matrix)."""
    global _available
    if _available is None:
        try:
            rows = [[1.0, -2.5, 0.375], [-0.75, 3.0, 2.0 ** -30]]
            p = Packed(rows, 3, 3.0)
            down = p.down_columns([([1, 0], 1)])                 # r = (+1, −1)
            along = p.along_rows([([0, 1, 3], 2)])               # r = (−1, +1, +1), (−1, −1, +1)
            _available = (down == [[1.75, -5.5, 0.375 - 2.0 ** -30]]
                          and along == [[-1.0 - 2.5 + 0.375, 0.75 + 3.0 + 2.0 ** -30],
                                        [-1.0 + 2.5 + 0.375, 0.75 - 3.0 + 2.0 ** -30]])
        except Exception:               # a missing typecode or method: sum floats
            _available = False
    return _available
