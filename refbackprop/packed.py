"""Exact ± sums of a matrix's rows or columns, through big integers (and,
product_sums, sums of non-negative products bounded from above the same way).

Freivalds' checks need, for random sign vectors r, the sums Σ_l r_l·A[k][l]
along every row of a matrix A (K, L) and Σ_k r_k·A[k] down its columns, each
over blocks of consecutive l (or k); in freivalds.py A is W (D, M), giving
W_J r_J (D,) for every block J of columns and W_Kᵀ r_K (M,) for every block
K of rows.  In CPython each
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
are subtracted once per block and the fields read back.  Q leaves room for any sum of
K (or L) fields in 63 bits.

Each block of rows has its own grid (step from the block's own bound), so
rows of small entries keep their digits next to rows of large ones.  A ± sum
of n entries of one row block decoded this way differs from the exact one
by at most

    n·step/2 + u·(Σ|a| + n·step/2)          u = 2⁻⁵³ (the decoded float)

and step < 2^(1−Q)·bound for the bound ≥ max|a| the caller gives.  Needs
IEEE double floats, 8-byte array('d') items, int.from_bytes, and arrays that
repeat and take stepped slices: `available()` says whether this runtime has
them (MicroPython has not; callers then sum floats).
"""

import math
import sys
from array import array

_BIAS_BITS = 63  # fields are read back as Σ + 2^63, unsigned


def _word(value):
    return int.from_bytes(array("d", [value]), sys.byteorder)


def _block_sums(vectors, count, signs, block, decode, offset):
    """[[Σ_{k in block c} r_k·v_k for each block c] for each trial]: `count`
    packed vectors, made one at a time by `vectors` (an iterator, so that
    they need not all be held), cut into blocks of `block` consecutive
    vectors; signs[t][k] is r_k (+1 or -1) in trial t.  Each vector is added
    into (or subtracted from) its block's sum once per trial; offset(c, net)
    is the integer to add to block c's sum (its bias, less net times the
    vectors' known offsets) and decode(c, integer) its floats."""
    blocks = (count + block - 1) // block
    trials = len(signs)
    acc = [[0] * blocks for _ in range(trials)]
    net = [[0] * blocks for _ in range(trials)]  # Σ r_k in the block
    k = 0
    for v in vectors:
        c = k // block
        for t in range(trials):
            if signs[t][k] > 0:
                acc[t][c] += v
                net[t][c] += 1
            else:
                acc[t][c] -= v
                net[t][c] -= 1
        k += 1
    return [
        [decode(c, acc[t][c] + offset(c, net[t][c])) for c in range(blocks)] for t in range(trials)
    ]


class Packed:
    """A (K, L) rounded to a grid per block of `block` rows, ready to be
    summed along rows (over blocks of columns) or down columns (over the
    same blocks of rows).

    matrix: a flat.Matrix of shape (K, L); bounds[c] ≥ max |A[k][l]| over
    the rows k of block c (finite); terms: the most entries one sum adds.
    Raises ValueError if a bound is beyond what the rounding trick covers
    (2^(971+Q), about 2^1021); callers then sum floats.
    """

    def __init__(self, matrix, bounds, block, terms):
        k, length = matrix.shape
        bits = min(50, 62 - _bit_length(max(terms, 1)))  # Q
        self.block, self.k, self.l = block, k, length
        self.steps, magics, self._words_of = [], [], []
        for bound in bounds:
            exponent = _exponent(bound) - bits
            if exponent < -1074:
                exponent = -1074  # every double is a multiple of 2^-1074
            if exponent > 971:  # 1.5·2^(52+e) must stay below 2^1024
                raise ValueError("entries up to %r are beyond the packed range" % (bound,))
            self.steps.append(2.0**exponent)
            magics.append(1.5 * 2.0 ** (52 + exponent))
            self._words_of.append(_word(magics[-1]))
        words = array("d", [0.0]) * (k * length)  # (K·L,), filled row by row
        values = matrix.values
        start = 0
        for row in range(k):
            magic = magics[row // block]
            stop = start + length
            words[start:stop] = array("d", [v + magic for v in values[start:stop]])
            start = stop
        self._words = words
        self._bias = 1 << _BIAS_BITS

    def row_step(self, row):
        return self.steps[row // self.block]

    def along_rows(self, signs, block):
        """[[Σ_{l in block c} r_l·A[:, l] for each block c] per trial], (K,)
        each: ± sums along each row over blocks of `block` columns; signs[t]
        is r (L,) in trial t."""
        words, order, l, k = self._words, sys.byteorder, self.l, self.k
        bias = self._bias
        ones = _ones(k)
        offsets = 0  # Σ_k word(row k)·2^(64 k)
        for r in range(k - 1, -1, -1):
            offsets = (offsets << 64) | self._words_of[r // self.block]
        steps = [self.steps[r // self.block] for r in range(k)]

        def decode(c, exact):
            fields = array("Q", exact.to_bytes(8 * k, order))
            return [(f - bias) * s for f, s in zip(fields, steps)]

        columns = (int.from_bytes(words[j::l], order) for j in range(l))
        return _block_sums(
            columns, l, signs, block, decode, lambda c, net: bias * ones - net * offsets
        )

    def down_columns(self, signs):
        """[[Σ_{k in block c} r_k·A[k] for each block c of rows] per trial],
        (L,) each; signs[t] is r (K,)."""
        view, order, l = memoryview(self._words), sys.byteorder, self.l
        bias = self._bias
        ones = _ones(l)

        def decode(c, exact):
            step = self.steps[c]
            fields = array("Q", exact.to_bytes(8 * l, order))
            return [(f - bias) * step for f in fields]

        rows = (int.from_bytes(view[i * l : (i + 1) * l], order) for i in range(self.k))
        return _block_sums(
            rows,
            self.k,
            signs,
            self.block,
            decode,
            lambda c, net: (bias - net * self._words_of[c]) * ones,
        )


def product_sums(coefs, rows, bits=20):
    """Upper bounds on Σ_i coefs[c][i]·rows[i][j] for every c and j, all
    terms non-negative: [[(M,) for each c]], rows (N, M) and coefs (C, N)
    lists of non-negative finite floats.  Each row is put on its own grid
    (step τ_i, 2^bits steps to its largest entry) and each coefficient
    vector, times the τ_i, on its own grid (step σ_c); every value is
    rounded up (floor + 1 where not 0), so the integer sums bound the real
    ones from above, and they are exact: each row is one integer of 64-bit
    fields (q ≤ 2^bits + 1, and N·(2^bits + 1)² < 2^63 for N ≤ 2^20), and
    Σ_i p_ci·row_i is C integer products and sums.  Rounding up adds at most
    one step a term: 2^-bits of the row's largest entry times its
    coefficient.  The decoded sums are σ_c·(integer) (exact below 2^53;
    within 2^-1074 where subnormal); a caller adds its own margin for
    both."""
    n = len(rows)
    m = len(rows[0]) if rows else 0
    if n > (1 << 20) or bits > 20:
        raise ValueError("product_sums: at most 2^20 rows of 20-bit fields")
    scales, packed_rows = [], []
    for row in rows:
        top = max(row) if m else 0.0
        if not top > 0:
            scales.append(0.0)
            packed_rows.append(0)
            continue
        e = _exponent(top) - bits  # τ_i = 2^e, row/τ_i ≤ 2^bits
        q = [int(math.ldexp(v, -e)) + 1 if v > 0 else 0 for v in row]
        scales.append(math.ldexp(1.0, e))
        packed_rows.append(int.from_bytes(array("Q", q).tobytes(), "little"))
    out = []
    for coef in coefs:
        z = [c * t for c, t in zip(coef, scales)]  # exact: t a power of two (or 0)
        top = max(z) if z else 0.0
        if not top > 0:
            out.append([0.0] * m)
            continue
        f = _exponent(top) - bits
        acc = 0
        for i in range(n):
            if z[i] > 0:
                acc += (int(math.ldexp(z[i], -f)) + 1) * packed_rows[i]
        words = array("Q")
        words.frombytes(acc.to_bytes(8 * m, "little"))
        sigma = math.ldexp(1.0, f)
        out.append([w * sigma for w in words])
    return out


def _ones(length):
    """Σ_l 2^(64 l) over length fields."""
    return ((1 << (64 * length)) - 1) // ((1 << 64) - 1)


def grid_error(count, step):
    """Bound on |decoded − exact| for a ± sum of count entries on the grid
    step, less the u·Σ|a| of the decoded float (which callers' rounding
    covers): count roundings to the grid, and one more step/2 if the
    decoded value is subnormal."""
    return (count + 1) * step * 0.5 * (1.0 + 2.0**-52)


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
            from .flat import Matrix

            values = array("d", [1.0, -2.5, 0.375, -0.75, 3.0, 2.0**-30])
            p = Packed(Matrix(values, (2, 3)), [3.0], 2, 3)
            down = p.down_columns([[1, -1]])  # r = (+1, −1)
            along = p.along_rows([[-1, 1, 1], [-1, -1, 1]], 2)  # blocks {0, 1}, {2}
            _available = down == [[[1.75, -5.5, 0.375 - 2.0**-30]]] and along == [
                [[-1.0 - 2.5, 0.75 + 3.0], [0.375, 2.0**-30]],
                [[-1.0 + 2.5, 0.75 - 3.0], [0.375, 2.0**-30]],
            ]
        except Exception:  # a missing typecode or method: sum floats
            _available = False
    return _available
