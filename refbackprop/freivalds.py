"""Verify a backend's outputs at any size without the Jacobian (Freivalds).

At N=64, D=M=4096 the explicit Jacobian is 256 GiB and exact products cost
N·D·M; instead each output is cut into cells of CELL consecutive elements
along a line and every cell is multiplied by random signs r ∈ {±1} and
compared with the reference's factored product (docs/verification.md
derives every term below):

    Y:  cell (i, J), J a block of columns:   Σ_{j∈J} r_j Y_ij  vs  X_i·(W_J r_J) + b_J·r_J
    dX: cell (i, K), K a block of columns:   Σ_{k∈K} r_k dX_ik vs  dY_i·(W_Kᵀ r_K)
    dW: cell (K, j), K a block of rows:      Σ_{k∈K} r_k dW_kj vs  (X_{:,K} r_K)·dY_{:,j}
    db: every element against its own bound (exact; it is only O(N·M))

Tolerance of a cell.  A correct backend's errors satisfy |E| ≤ β_e element by
element (bounds.element_bound, whose every term is linear: β_e ≤ α·mag +
κ, mag = Σ|terms| of that element; linear_bound).  The signs are drawn after
the backend has computed, independently of it, so a cell's Σ r_e E_e is a
Rademacher sum with fixed coefficients: Hoeffding gives

    P(|Σ r_e E_e| ≥ t·‖β‖₂) ≤ 2·exp(−t²/2),

and t = √(2 ln(2L/p)) makes the chance that any of the L cell tests of a whole
check fails a correct backend at most p (false_alarm, default 1e-9).  ‖β‖₂
over a cell is bounded by α·‖mag‖₂ + κ·√n, with ‖mag‖₂ bounded by
Cauchy–Schwarz from row and column norms (‖X_i‖₂·‖W_{:,J}‖_F + ‖b_J‖₂ for Y,
‖dY_i‖₂·‖W_{K,:}‖_F for dX, ‖X_{:,K}‖_F·‖dY_{:,j}‖₂ for dW): T = t·‖β‖₂ bound.
worst_case=True uses T = Σ_e β_e instead (bounded by α·√n·‖mag‖₂ + κ·n):
no false alarm at all, at √n/t times the threshold.

Precision contracts (linear_terms): where outputs are rounded to bfloat16 or
float16 the output term u_out·|ref| is bounded through the cell's outputs
(‖ref‖ ≤ ‖got‖ + ‖β‖, so ‖β‖₂ ≤ (α‖mag‖ + κ√n)/(1 − β) + β/(1 − β)·‖got‖),
float16's λ_out only for the elements that may be subnormal; under tf32 the
norms are of the clamped operands max(|v|, λ).  Non-finite outputs are
judged element by element first (Prepared._settle: float16 may overflow to
±inf where the exact value allows it).

The verifier's own float64 rounding V (the cell's signed sum, the reference
dot product, W's ± sums on packed.py's grid or as floats, the last
subtraction) is bounded per cell and trial, and a cell passes when
|got·r − reference·r| ≤ T + V.

Detection: if an element has |E| > T + 2V (its cell's detection threshold),
the cell fails a trial with probability ≥ 1/2 whatever else is wrong (fix
every sign but that element's: the two outcomes are 2|E| apart, and the
passing interval is narrower); with t trials it escapes with probability
≤ 2^-trials.  If the other elements of its cell are within their bounds,
one off by c·β escapes a trial with probability ≤ 2·exp(−(c·β − T − 2V)²/(2B²)),
B the cell's ‖β‖₂ bound (Hoeffding on the rest of the cell).

Cost: every cell needs one reference dot product of the reduction length,
so a trial costs about 3·N·D·M/CELL multiply-adds: the cell size trades the
detection threshold (∝ √CELL) against time.  W is read once, packed onto a
grid (packed.py): every W_J r_J and W_Kᵀ r_K is an exact ± sum of big
integers.  Where packing is not available (MicroPython, PyPy's JIT, W not
finite or beyond 2^1021) W's block sums are floats and their rounding joins V.
"""

import math
import sys
from array import array

from . import packed
from .bounds import UNIT_ROUNDOFF, SMALLEST_NORMAL, element_bound, fsum, gamma, is_finite
from .flat import _STEPPED, Matrix, _tolist, as_matrix
from .formatting import json_float
from .ops import add, le, lt, mul, repeat, sub, truediv
from .rng import Rng, seed_from

_U = UNIT_ROUNDOFF["float64"]
_UP = 1.0 + 2.0**-40  # on every tolerance: covers its own float evaluation
CELL = 32  # elements per projected cell (along a line)
FALSE_ALARM = 1e-9  # default chance that a correct backend fails a whole check
MAX_TRIALS = 12
PARALLEL_MADDS = 1 << 28  # from this N·D·M on, prepare forks children (dX's, dW's, samples')
PACK_TRIALS = 3  # from this many trials on, W's block sums go through packed.py
TRIAL_BUDGET = 1 << 25  # multiply-adds all trials may take at least (default trials)

_JIT = getattr(sys.implementation, "name", "") == "pypy"
# PyPy's JIT and MicroPython: a plain loop costs no more than nested maps
_LOOPS = _JIT or getattr(sys.implementation, "name", "") == "micropython"
_HYPOT = getattr(sys.implementation, "name", "") == "cpython" and sys.version_info >= (
    3,
    10,
)  # math.hypot: error < 1 ulp, documented


_dot = getattr(math, "sumprod", None)  # CPython 3.12+: one C loop
if _dot is None and _JIT:

    def _dot(a, b):
        s = 0.0
        for i in range(len(a)):
            s += a[i] * b[i]
        return s
elif _dot is None:

    def _dot(a, b):
        return sum(map(mul, a, b))


CHUNK = 64  # the reference dots of Y and dX are summed in chunks of this many


def _chunks(v):
    """v cut into consecutive pieces of CHUNK."""
    return [v[a : a + CHUNK] for a in range(0, len(v), CHUNK)] or [v]


def _chunked_gamma(length):
    """The error factor of Σ of the chunks' dots (γ_L each, then a sum of q
    = ⌈length/L⌉ partials, γ_{q−1}): γ_L + γ_{q−1}(1 + γ_L) ≤ γ_{L+q}, plus
    the 2 of the old γ_{length+2} for the last rounding and the bias.  A
    dot of 4096 terms: γ_130 instead of γ_4098, which takes the float64
    verifier's own rounding from about a fifth of T to under 1%."""
    chunk = min(CHUNK, max(length, 1))
    return gamma(chunk + (length + chunk - 1) // chunk + 2, _U)


def _reference_dots(rows, norms, vectors, vector_norms):
    """([[row·v for v in vectors] for row in rows], rho), norms ≥ the rows'
    and vector_norms ≥ the vectors' ‖·‖₂: each row scaled by a power of two
    out of the subnormal range first (_scale); every dot within
    rho·Σ|row||v| + 16·len·2^-1074 (subnormal roundings), rho including
    the 2u of a last rounding and the bias.  Where math.sumprod is the
    extended one and no scaled value exceeds EXTENDED_TOP, one sumprod a
    dot (_extended_rho(len) + γ_2); on CPython 3.10 and 3.11 one distance
    a dot (_polar_dots: rho·‖row‖·‖v‖ with the bounds given, which is what
    the callers charge); else each dot summed in chunks (_chunked_gamma(len))."""
    if _extended_sumprod() is None:
        polar = _polar_dots(rows, norms, vectors, vector_norms)
        if polar is not None:
            return polar[0], polar[1] + 2 * _U  # (+ the bias, as γ_2 above)
    top = max(vector_norms) if vector_norms else 0.0
    scales = [_scale(norm, top) for norm in norms]
    length = len(vectors[0]) if vectors else 0
    sumprod = _extended_sumprod()
    if (
        sumprod is not None
        and all(norm * up <= EXTENDED_TOP for norm, (up, _) in zip(norms, scales))
        and top <= EXTENDED_TOP
    ):
        count = len(vectors)
        out = []
        for row, (up, down) in zip(rows, scales):
            if up != 1.0:
                row = list(map(mul, row, repeat(up, len(row))))
            dots = map(sumprod, repeat(row, count), vectors)
            out.append(list(dots) if down == 1.0 else list(map(mul, dots, repeat(down, count))))
        return out, _extended_rho(length) + gamma(2, _U)
    chunked = [_chunks(v) for v in vectors]
    out = []
    for row, (up, down) in zip(rows, scales):
        if up != 1.0:
            row = list(map(mul, row, repeat(up, len(row))))
        pieces = _chunks(row)
        if _LOOPS:
            out.append([sum(map(_dot, pieces, vc)) * down for vc in chunked])
        else:  # no Python frame a chunk
            q = len(pieces)
            out.append(
                [sum(map(sum, map(map, repeat(mul, q), pieces, vc))) * down for vc in chunked]
            )
    return out, _chunked_gamma(length)


# CPython 3.10 and 3.11: math.dist shares hypot's vector_norm, faithfully
# rounded (3.12+ has the extended sumprod, which is as fast and tighter)
_POLAR = _HYPOT and sys.version_info < (3, 12) and hasattr(math, "dist")
_POLAR_PROBED = []  # [whether math.dist passed _polar_probe()], settled once
POLAR_TOP = 2.0**1000  # polarized dots where (row bound)·(vector bound) ≤ this
POLAR_FLUSH = 2.0**-500  # scaled entries below this are dropped (_polar_rho: 4n·2^-500)


def _polar_rho(n):
    """The polarized dot's error factor for n terms (docs/verification.md,
    "V"): |computed − a·b| ≤ _polar_rho(n)·‖a‖·‖b‖ with the norm bounds the
    dots were scaled by, plus 2^-1075 where the result is subnormal."""
    u = _U
    # (each (1 + x)(1 + y) − 1 expanded: 1 + x − 1 would round x in floats)
    eta = 3 * u + 2 * u * u  # ‖a + b‖ from dist: the sums' u, then under 1 ulp
    mu_s = 2 * eta + eta * eta + u * (1 + eta) ** 2  # its square, rounded
    mu_a = 4 * u + 4 * u * u + u * (1 + 2 * u) ** 2  # ‖a‖², ‖b‖² from hypot, rounded
    r = mu_a + u * (1 + mu_a)  # their sum, rounded
    c = 2 * mu_s + r  # |S − R − 2a·b| ≤ c·(‖a‖² + ‖b‖²), as ‖a + b‖² ≤ 2(‖a‖² + ‖b‖²)
    twice = c + u * (1 + c)  # the subtraction, rounded: |S − R| ≤ (1 + c)(‖a‖² + ‖b‖²)
    return twice / 2 * 2.5 * (1 + 2.0**-50) + n * (4 * POLAR_FLUSH + 2.0**-1060)


def _polar_probe():
    """Whether math.dist is the accurate one its bound takes: the distance
    of (1, 2^-27 ×1024) from 0 is √(1 + 2^-44), just below 1 + 2^-45; a
    faithful result is 1 + 2^-45 or the float below it, while the square
    root of a float sum of the squares is 1 (1 + 2^-54 rounds to 1 at
    every step)."""
    if not _POLAR_PROBED:
        ok = False
        try:
            v = (1.0,) + (2.0**-27,) * 1024
            got = math.dist(v, (0.0,) * len(v))
            ok = got in (1.0 + 2.0**-45, 1.0 + 2.0**-45 - 2.0**-52)
        except Exception:
            ok = False
        _POLAR_PROBED.append(ok)
    return _POLAR_PROBED[0]


def _polar_dots(rows, norms, vectors, vector_norms):
    """[[row·v for v in vectors] for row in rows] from one distance a dot,

        a·b = (‖a + b‖² − ‖a‖² − ‖b‖²)/2,

    ‖a + b‖ one math.dist at C speed, ‖a‖ and ‖b‖ one math.hypot each per
    row and per vector, on copies of a and b scaled by powers of two so
    that their norm bounds (norms, vector_norms, ≥ each ‖·‖₂) lie in
    [1, 2); None where this is not CPython 3.10/3.11 or the largest bounds'
    product exceeds POLAR_TOP (the caller sums products then).  Every dot
    within _polar_rho(len)·(its row's bound)·(its vector's bound), plus
    2^-1075 where it is subnormal."""
    if not (_POLAR and rows and vectors and _polar_probe()):
        return None
    if not max(norms) * max(vector_norms) <= POLAR_TOP:  # (inf and NaN fail too)
        return None
    frexp, ldexp, dist, hypot = math.frexp, math.ldexp, math.dist, math.hypot
    count, length = len(vectors), len(vectors[0])
    flush = POLAR_FLUSH

    def scaled(v, bound):
        e = frexp(bound)[1] - 1  # bound·2^-e in [1, 2)
        if -1000 <= e <= 1000:  # 2^-e a float: one product, exact unless subnormal
            sv = list(map(mul, v, repeat(ldexp(1.0, -e), length)))
        else:
            sv = list(map(ldexp, v, repeat(-e, length)))
        # entries below POLAR_FLUSH become 0 (subnormal ones among them):
        # their squares would be subnormal inside dist, where every x86
        # multiply takes a microcode assist
        sv = tuple([x if x >= flush or x <= -flush else 0.0 for x in sv])
        h = hypot(*sv)
        return e, sv, h * h

    exps, scaled_vectors, squares = [], [], []
    for v, bound in zip(vectors, vector_norms):
        e, sv, q = scaled(v, bound)
        exps.append(e - 1)  # with the 1/2
        scaled_vectors.append(sv)
        squares.append(q)
    out = []
    for row, bound in zip(rows, norms):
        e, a, q = scaled(row, bound)
        s = list(map(dist, repeat(tuple([-x for x in a]), count), scaled_vectors))  # ‖a + b‖
        twice = map(sub, map(mul, s, s), map(add, repeat(q, count), squares))
        out.append(list(map(ldexp, twice, map(add, exps, repeat(e, count)))))
    return out, _polar_rho(length)


LANE_DELTA = 0.125  # δ: the lanes' truncations, in units of u·‖a‖₂·‖b‖₂ (_lane_rho)
LANE_BITS = 256  # lanes wider than this: the caller sums products (fsum) instead
LANE_FLOOR = 2.0**-960  # ‖a‖·‖b‖ from which a subnormal result's 2^-1075 is in _lane_rho


def _lane_rho():
    """_lane_dots' error factor: |computed − exact| ≤ ρ·‖a‖₂·‖b‖₂ with
    ρ = u(1 + δ(1 + u) + 2^-50) (docs/verification.md "V", lanes)."""
    return _U * (1 + LANE_DELTA * (1 + _U) + 2.0**-50)


def _lane_dots(rows, norms, ys, column_norms):
    """[[a·y_{:,j} for every column j] for a in rows] for y (N, M) given as
    its rows ys, exactly in integer lanes: every entry of y truncated to a
    multiple of 2^E and every entry of a to a multiple of 2^e_a (powers of
    two chosen from the norms so that the truncations cost at most
    δ·u·‖a‖·‖y_{:,j}‖ a dot), each y_i packed into one integer of M lanes,
    Σ_i A_i·Y_i summed exactly (Python integers), each lane rounded once
    to a float.  norms ≥ ‖a‖₂ (rows) and column_norms ≥ ‖y_{:,j}‖₂, each
    within a few u.  Every dot within _lane_rho()·‖a‖·‖y_{:,j}‖ (zero where
    y_{:,j} is zero); float64's dW reference dots on CPython 3.8-3.11,
    three times as fast as math.fsum of the products.  None where a value
    is not finite, the largest ‖a‖·‖y_{:,j}‖ exceeds POLAR_TOP, the
    smallest nonzero one is below LANE_FLOOR, or the lanes would exceed
    LANE_BITS (widely spread column norms): the caller sums products then."""
    n, m = len(ys), len(column_norms)
    if _LOOPS or not (rows and n and m) or len(rows[0]) != n:
        return None
    frexp, ldexp = math.frexp, math.ldexp
    if None in norms or None in column_norms:  # (_norm's word for not finite)
        return None
    if not all(is_finite(v) for row in rows for v in row):
        return None
    if not max(norms) * max(column_norms) <= POLAR_TOP:  # (inf and NaN fail too)
        return None
    nonzero = [c for c in column_norms if c > 0]
    if not nonzero:  # y is zero: every dot is
        return [[0.0] * m for _ in rows], _lane_rho()
    small = [b for b in norms if b > 0]
    if small and min(small) * min(nonzero) < LANE_FLOOR:
        return None
    # 2^E ≤ δu·min‖y_{:,j}‖/(2√N), 2^e_a ≤ δu·‖a‖/(2√N): each side's
    # truncations cost ≤ (δu/2)·‖a‖·‖y_{:,j}‖ (Cauchy–Schwarz over N terms).
    # Exponents added, not the product taken (it may underflow): for
    # v = f·2^p and c = g·2^q (f, g in [1/2, 1)), 2^(p + q − 3) ≤ v·c/2,
    # and the norms given are within a few u of the true ones
    c_exp = frexp(LANE_DELTA * _U / (2.0 * math.sqrt(n) * (1.0 + 2.0**-40)))[1]
    e_y = frexp(min(nonzero))[1] + c_exp - 3
    # Σ_i |A_i| < 16N/(δu) for every a (its truncation's scale): the lanes
    # hold |Σ_i A_i·Y_ij| < 2^(bits − 1) with a bit to spare
    abits = int(16 * n / (LANE_DELTA * _U)).bit_length() + 1
    # |y_ij| ≤ ‖y_{:,j}‖ < 2^p for p the largest norm's exponent: |Y_ij| <
    # 2^(p − E), and lanes wider than LANE_BITS are refused before any
    # conversion (which could overflow then)
    if frexp(max(column_norms))[1] - e_y + abits + 2 > LANE_BITS:
        return None
    ints = []  # Y_i = trunc(y_i / 2^E), exact (ldexp scales up, or to below 1)
    top = 0
    for y in ys:
        row = list(map(int, map(ldexp, y, repeat(-e_y, m))))
        top = max(top, max(row), -min(row))
        ints.append(row)
    width = (top.bit_length() + abits + 2 + 7) // 8  # bytes a lane
    if 8 * width > LANE_BITS:
        return None
    half = 1 << (8 * width - 1)
    bias = int.from_bytes((bytes(width - 1) + b"\x80") * m, "little")  # half in every lane
    packed_rows = [
        int.from_bytes(b"".join([(v + half).to_bytes(width, "little") for v in row]), "little")
        - bias
        for row in ints
    ]
    from_bytes = int.from_bytes
    out = []
    for a, bound in zip(rows, norms):
        if not bound > 0:
            out.append([0.0] * m)
            continue
        e_a = frexp(bound)[1] + c_exp - 3
        big_a = list(map(int, map(ldexp, a, repeat(-e_a, n))))
        if sum(map(abs, big_a)).bit_length() > abits - 1:
            return None
        total = bias
        for k, p in zip(big_a, packed_rows):
            if k:
                total += k * p
        view = memoryview(total.to_bytes(width * m, "little"))
        lanes = [
            from_bytes(view[j : j + width], "little") - half for j in range(0, width * m, width)
        ]
        out.append(list(map(ldexp, map(float, lanes), repeat(e_a + e_y, m))))
    return out, _lane_rho()


def _dots(u, columns):
    """[u·c for c in columns] without a Python frame per dot where the
    runtime allows (sumprod, or nested maps of mul summed by sum)."""
    count = len(columns)
    if getattr(math, "sumprod", None) is not None:
        return list(map(math.sumprod, repeat(u, count), columns))
    if _LOOPS:
        return [_dot(u, c) for c in columns]
    return _summed_products(u, columns, sum)


def _summed_products(u, columns, total):
    """[total(u_i·c_i for each i) for c in columns], nested maps: no Python
    frame per dot (total: sum, or fsum for correctly rounded sums)."""
    count = len(columns)
    return list(map(total, map(map, repeat(mul, count), repeat(u, count), columns)))


_EXTENDED = []  # [math.sumprod or None], settled once by _extended_sumprod()
EXTENDED_TOP = 2.0**990  # the extended sumprod's bound holds while no value exceeds this


def _extended_sumprod():
    """math.sumprod where it is CPython's extended-precision one (3.12+),
    else None.  Its floats go through an error-free product (Dekker) and a
    triple-length accumulator, so its only roundings are the third word's
    (second order) and the last two additions: for n terms, none beyond
    EXTENDED_TOP, |computed − exact| ≤ _extended_rho(n)·Σ|terms| + 16n·2⁻¹⁰⁷⁴
    (subnormal roundings); docs/verification.md "V".  Trusted only after a
    probe sees an error-free product, an error-free sum and the third word
    (a double-length accumulator, whose second word rounds, fails it)."""
    if not _EXTENDED:
        sumprod = getattr(math, "sumprod", None)
        a = 1.0 + 2.0**-30
        probe = False
        if sumprod is not None and getattr(sys.implementation, "name", "") == "cpython":
            # a·a − fl(a·a) = 2^-60; 2^60 + 1 − 2^60 = 1; and 1 + 2^-60 + 2^-113
            # + 2^-113 − 1, whose second word rounds 2^-60 + 2^-113 to 2^-60
            # twice: the third word keeps both halves, 2^-60 + 2^-112
            third = [1.0, 2.0**-60, 2.0**-113, 2.0**-113, -1.0]
            try:
                probe = (
                    sumprod([a, a * a], [a, -1.0]) == 2.0**-60
                    and sumprod([2.0**60, 1.0, -(2.0**60)], [1.0, 1.0, 1.0]) == 1.0
                    and sumprod(third, [1.0] * 5) == 2.0**-60 + 2.0**-112
                )
            except Exception:
                probe = False
        _EXTENDED.append(sumprod if probe else None)
    return _EXTENDED[0]


def _extended_rho(n):
    """The extended sumprod's error factor for n terms: u(1 + 3u) + 16n³u³."""
    return _U * (1 + 3 * _U) + 16.0 * n**3 * _U**3


_ACCURATE = None  # (dots, error factor ρ(n)), chosen once by _accurate_dots()


def _accurate_dots():
    """(dots, rho): dots(u, columns) gives [u·c for c in columns] with
    |computed − exact| ≤ rho(n)·Σ_i|u_i c_i| + 16n·2⁻¹⁰⁷⁴ where no value
    exceeds EXTENDED_TOP; dW's float64 reference dots, docs/verification.md "V".

    - the extended math.sumprod (_extended_sumprod), rho = _extended_rho;
    - else math.fsum of the rounded products: rho = 2u(1 + u);
    - MicroPython (no fsum in C), PyPy: the plain dot, rho = γ_{n+2}."""
    global _ACCURATE
    if _ACCURATE is None:
        u = _U
        if _extended_sumprod() is not None:
            _ACCURATE = (_dots, _extended_rho)
        elif _LOOPS:  # MicroPython's fsum is Python code; PyPy keeps plain loops
            _ACCURATE = (_dots, lambda n: gamma(n + 2, u))
        else:
            _ACCURATE = (
                lambda v, columns: _summed_products(v, columns, fsum),
                lambda n: 2 * u * (1 + u),
            )
    return _ACCURATE


def linear_bound(k, dtype):
    """(alpha, kappa): element_bound(k, mag, ref, dtype) ≤ alpha·mag + kappa
    for every mag ≥ |ref| (an exact value never exceeds its Σ|terms|).

    Through bounds.linear_bound where it exists (precision contracts plug in
    there: (alpha, beta, kappa) with a |ref| term folded into alpha here);
    else from the float64/float32 bound: γ_K(u)·(1 + 2⁻²⁰)·mag + K·λ +
    2·2⁻⁵³·|ref| + 4K·λ₆₄."""
    coeffs = getattr(_bounds(), "linear_bound", None)
    if coeffs is not None:
        alpha, beta, kappa = coeffs(k, dtype)
    else:
        from .bounds import SAFETY

        alpha = gamma(k, UNIT_ROUNDOFF[dtype]) * SAFETY
        beta = 2 * _U
        kappa = k * SMALLEST_NORMAL[dtype] + 4 * k * SMALLEST_NORMAL["float64"]
    return (alpha + beta) * _UP, kappa * _UP


def _bounds():
    from . import bounds

    return bounds


def _contract(dtype):
    """The precision contract of dtype, or None where contracts do not exist."""
    try:
        from . import contracts

        return contracts.get(dtype)
    except (ImportError, ValueError):
        return None


def linear_terms(k, dtype):
    """(alpha, beta, kappa, under): element_bound(k, mag, ref, dtype) ≤
    alpha·mag + beta·|ref| + kappa + under·[|ref| < under + bound].

    Where the contract rounds its outputs to a narrower format (bfloat16,
    float16) beta is its output rounding u_out (and the reference's 2u),
    kept apart: a cell bounds Σ|ref| through the outputs themselves (|ref| ≤
    |got| + β_e for a correct backend), about √K times sharper than folding
    |ref| ≤ mag.  Elsewhere beta is folded into alpha (linear_bound) and
    returned as 0.  under is the output's underflow term λ_out where it is
    above the accumulation's (float16: 2^-14), charged only to the elements
    of a cell that may round below it (counted from the outputs); 0 elsewhere
    (bfloat16's 2^-126 stays in kappa)."""
    c = _contract(dtype)
    if c is None or not c.rounds_output:
        alpha, kappa = linear_bound(k, dtype)
        return alpha, 0.0, kappa, 0.0
    alpha, beta, kappa, under = _bounds().linear_bound_parts(k, c)
    if not c.output.smallest_normal > c.accumulate.smallest_normal:
        kappa, under = kappa + under, 0.0
    return alpha * _UP, beta * _UP, kappa * _UP, under * _UP


def _operand_floor(dtype):
    """λ where the contract converts operands (tf32: mag is Σ max(|a|, λ)·
    max(|b|, λ), bounds.exact_dot's floor), else 0.0.  Cauchy–Schwarz on the
    clamped vectors: ‖max(|v|, λ)‖₂ ≤ ‖v‖₂ + λ·√len(v)."""
    c = _contract(dtype)
    if c is None or not c.operand_rounding:
        return 0.0
    return c.multiply.smallest_normal


def _beta_factors(beta):
    """(1/(1 − β), β/(1 − β)), rounded up; (1.0, 0.0) for β = 0, bit for bit.
    A cell's ‖β‖₂ ≤ α‖mag‖ + β‖ref‖ + κ√n and ‖ref‖ ≤ ‖got‖ + ‖β‖₂ give
    ‖β‖₂ ≤ (α‖mag‖ + κ√n)/(1 − β) + β/(1 − β)·‖got‖."""
    if not beta:
        return 1.0, 0.0
    inv = (1.0 / (1.0 - beta)) * (1 + 4 * _U)
    return inv, beta * inv * (1 + 2 * _U)


def _cell_terms(k, dtype):
    """(α, β, κ, λ_out, 1/(1 − β), β/(1 − β), λ) of the cells of a product
    with k-term dot products in dtype: linear_terms with λ_out divided by
    1 − β (as B is, _beta_factors), and the operands' floor λ (_operand_floor)."""
    alpha, beta, kappa, under = linear_terms(k, dtype)
    inv, gfac = _beta_factors(beta)
    return alpha, beta, kappa, under * inv * _UP, inv, gfac, _operand_floor(dtype)


def hoeffding_t(tests, false_alarm):
    """t with tests·2·exp(−t²/2) = false_alarm."""
    if tests <= 0:
        return 0.0
    return math.sqrt(2.0 * math.log(2.0 * tests / false_alarm))


def default_trials(n, d, m, cell=CELL):
    """Trials whose cost fits max(TRIAL_BUDGET, N·D·M·3/40) multiply-adds
    (1/40 of computing the layer), between 1 and MAX_TRIALS."""
    per = _trial_cost(n, d, m, cell)
    if per <= 0:
        return MAX_TRIALS
    budget = max(TRIAL_BUDGET, 3 * n * d * m // 40)
    return max(1, min(MAX_TRIALS, budget // per))


def _trial_cost(n, d, m, cell):
    b = max(1, cell)
    return n * _blocks(m, b) * d + n * _blocks(d, b) * m + _blocks(d, b) * m * n + d * m


def _blocks(length, cell):
    return (length + cell - 1) // cell if length else 0


def _cell_sizes(length, cell):
    """The length of each cell when a line of `length` is cut into cells of
    `cell` (the last one shorter): (blocks,)."""
    return [min(cell, length - c * cell) for c in range(_blocks(length, cell))]


def _norm(values):
    """An upper bound on ‖values‖₂ (a list or an array), or None if not finite."""
    if _HYPOT:
        v = math.hypot(*values)
        return v * (1.0 + 2.0**-51) if is_finite(v) else None
    return _norm_bound(values)


_TINY = 2.0**-1074
_INF = float("inf")
_SMALL = 2.0**-900


def _norm_bound(row):
    """‖row‖₂ from its sum of squares, rounding and underflow included;
    rows whose squares underflow or overflow are scaled by 2^±600 first."""
    k = len(row)
    squares = _dot(row, row)
    scale = 1.0
    if not (is_finite(squares) and squares >= _SMALL):
        scale = 2.0**600 if is_finite(squares) else 2.0**-600
        scaled = [v * scale for v in row]
        squares = _dot(scaled, scaled)
        if not is_finite(squares):
            return None
    bound = math.sqrt((squares + k * _TINY) * (1.0 + 2.0 * gamma(k + 2, _U)))
    return bound * (1.0 + 4.0 * _U) / scale


def _abs_sum(values):
    """An upper bound on Σ|v| (its computed value, rounded up)."""
    return sum(map(abs, values)) * (1.0 + 2.0 * gamma(len(values) + 2, _U))


def _block_norms(norms, cell):
    """‖·‖₂ of consecutive blocks of norms (upper bounds), None if not finite."""
    return [_norm(norms[a : a + cell]) for a in range(0, len(norms), cell)]


SCALED_TOP = 500  # the verifier's dots are scaled so that Σ|a_k·b_k| ≤ 2^SCALED_TOP


def _scale(left_norm, right_norm):
    """(2^s, 2^-s), s ≥ 0, for the dots of a vector of norm ≤ left_norm with
    vectors of norms ≤ right_norm: scaled by 2^s, every product and partial
    sum stays below 2^SCALED_TOP (Σ|a_k b_k| ≤ ‖a‖‖b‖: no overflow), and the
    products of tiny entries leave float64's subnormal range, where x86
    multiplies take a microcode assist (the 'tiny' inputs' 2^-519 × 2^-519:
    three times slower dots).  Scaling by a power of two is exact; the
    descaled result adds at most 2^-1075 (a subnormal result's rounding)."""
    if not (left_norm > 0 and right_norm > 0):
        return 1.0, 1.0
    s = SCALED_TOP - math.frexp(left_norm)[1] - math.frexp(right_norm)[1]
    s = min(max(s, 0), 1000)
    return math.ldexp(1.0, s), math.ldexp(1.0, -s)


def _signs(rng, count):
    """count random signs as floats ±1.0, 64 from each draw."""
    out = []
    while len(out) < count:
        bits = rng.next64()
        for _ in range(min(64, count - len(out))):
            out.append(1.0 if bits & 1 else -1.0)
            bits >>= 1
    return out


FAILED_CELLS_KEPT = 1 << 16  # failed cells remembered per output (for a report's map)


class OutputCheck:
    """One output's cells: trials run, worst |diff|/tolerance and where, and
    what the cell size lets through."""

    def __init__(self, name, lines, blocks, cell, k, trials, cell_index):
        self.name = name
        self.lines, self.blocks = lines, blocks  # cells = lines × blocks
        self.cell, self.k, self.trials = cell, k, trials
        self.cell_index = cell_index  # element index -> cell number
        self.cell_rows = None  # dW: the rows of each cell (_Context.dw_cells)
        self.worst_ratio = 0.0
        self.worst_cell = None
        self.worst_trial = None
        self.failed_cells = 0
        self.message = ""
        self.t = None  # Hoeffding's t (None: worst case)
        self.tolerances = None  # cell -> (T, V max over trials, B)
        self.sampled = None  # sampling.Sample of this output
        self.fingerprint = None  # sampling.Fingerprint
        self.failed = {}  # cell -> worst |diff|/tolerance (capped)
        self.problems = []  # elements judged one by one: non-finite
        self.settled = 0  # ±inf a correct kernel may return
        self.elements_checked = 0  # elements checked on their own (Y's bias rows)
        self.failed_elements = 0
        self.element_message = ""  # the first element that failed its own check
        self.element_thresholds = {}  # line -> [detection threshold of each element]

    @property
    def cells(self):
        return self.lines * self.blocks

    @property
    def passed(self):
        return (
            self.failed_cells == 0
            and self.failed_elements == 0
            and not self.problems
            and (self.sampled is None or self.sampled.passed)
            and (self.fingerprint is None or self.fingerprint.passed)
        )

    @property
    def projections_passed(self):
        return self.failed_cells == 0

    def note(self, trial, cell, diff, tol):
        ratio = diff / tol if tol > 0 else (0.0 if diff == 0 else float("inf"))
        if not ratio <= 1.0:  # NaN counts as a failure
            self.failed_cells += 1
            if not self.message:
                self.message = (
                    "%s cell %s, trial %d: |got·r − reference·r| = %.6g exceeds "
                    "the tolerance %.6g" % (self.name, self.describe(cell), trial, diff, tol)
                )
            if ratio != ratio:
                ratio = float("inf")
            if cell in self.failed or len(self.failed) < FAILED_CELLS_KEPT:
                self.failed[cell] = max(ratio, self.failed.get(cell, 0.0))
        if ratio > self.worst_ratio or self.worst_cell is None:
            self.worst_ratio, self.worst_cell, self.worst_trial = ratio, cell, trial

    def note_many(self, trial, first, diffs, tols):
        """note() for cells first, first + 1, ... at C speed when all pass."""
        ratios = list(map(truediv, diffs, tols)) if 0.0 not in tols else None
        if ratios is not None:
            total = sum(ratios)
            if total == total and total != float("inf"):
                top = max(ratios) if ratios else 0.0
                if top <= 1.0:
                    if top > self.worst_ratio or self.worst_cell is None:
                        k = ratios.index(top)
                        self.worst_ratio, self.worst_cell, self.worst_trial = top, first + k, trial
                    return
        for k in range(len(diffs)):
            self.note(trial, first + k, diffs[k], tols[k])

    def note_elements(self, line, got, diffs, tols, why):
        """Elements of one line checked each on its own: |diffs[j]| against
        tols[j] (at C speed when all pass; NaN fails)."""
        self.elements_checked += len(diffs)
        if all(map(le, diffs, tols)):
            return
        for j in range(len(diffs)):
            if not diffs[j] <= tols[j]:
                self.failed_elements += 1
                if not self.element_message:
                    self.element_message = (
                        "%s[%d][%d] = %r: %s = %.6g exceeds its tolerance %.6g"
                        % (
                            self.name,
                            line,
                            j,
                            got[j],
                            why,
                            diffs[j],
                            tols[j],
                        )
                    )
                    self.message = self.message or self.element_message

    def detect_at(self, index):
        """The detection threshold of the element at index: its cell's
        detect(), or, where the element is also checked on its own, the
        smaller of that and the element's own threshold."""
        cell = self.detect(self.cell_index(*index))
        own = self.element_thresholds.get(index[0])
        return cell if own is None else min(cell, own[index[1]])

    def escape_at(self, index, error):
        """escape() of one element off by error; 0 where it is checked on its
        own and error is above its own threshold (no signs involved)."""
        own = self.element_thresholds.get(index[0])
        if own is not None and error > own[index[1]]:
            return 0.0
        return self.escape(self.cell_index(*index), error)

    def grid(self):
        """(rows, columns) of the cells laid over the output: y and dx have a
        row of cells per row, dW a column of cells per column."""
        if self.name == "dw":
            return self.blocks, self.lines
        return self.lines, self.blocks

    def grid_index(self, cell):
        """The cell's place in grid(), row-major."""
        if self.name == "dw":
            line, block = cell % self.lines, cell // self.lines
            return block * self.lines + line
        return cell

    def describe(self, cell):
        """'(i, columns a..b)' for a cell number."""
        if cell is None:
            return "-"
        line, block = (
            divmod(cell, self.blocks)
            if self.name != "dw"
            else (cell % self.lines, cell // self.lines)
        )
        if self.name == "dw" and self.cell_rows is not None:
            rows = sorted(self.cell_rows[block])
            shown = ", ".join(str(k) for k in rows[:4])
            more = " and %d more" % (len(rows) - 4) if len(rows) > 4 else ""
            return "(rows %s%s, column %d)" % (shown, more, line)
        a = block * self.cell
        if self.name == "dw":
            return "(rows %d..%d, column %d)" % (a, a + self.cell - 1, line)
        return "(row %d, columns %d..%d)" % (line, a, a + self.cell - 1)

    def detect(self, cell):
        """T + 2V: an element off by more is caught in a trial with
        probability ≥ 1/2, whatever else is wrong."""
        t, v, _ = self.tolerances(cell)
        return (t + 2 * v) * _UP

    def escape(self, cell, error):
        """Per-trial escape probability of one element off by `error` in a
        cell whose other elements are within their bounds."""
        t, v, b = self.tolerances(cell)
        margin = error - (t + 2 * v) * _UP
        if not margin > 0:
            return 1.0
        if b <= 0:
            return 0.0
        z = margin / b
        return min(0.5, 2.0 * math.exp(-0.5 * z * z))

    def to_dict(self):
        t, v = (None, None) if self.worst_cell is None else self.tolerances(self.worst_cell)[:2]
        out = {
            "output": self.name,
            "passed": self.passed,
            "projections_passed": self.projections_passed,
            "cells": self.cells,
            "cell_size": self.cell,
            "reduction": self.k,
            "failed_cells": self.failed_cells,
            "elements_checked": self.elements_checked,
            "failed_elements": self.failed_elements,
            "worst_ratio": json_float(self.worst_ratio),
            "worst_cell": self.describe(self.worst_cell),
            "worst_trial": self.worst_trial,
            "tolerance": json_float(None if t is None else (t + v) * _UP),
            "detect_above": json_float(None if t is None else self.detect(self.worst_cell)),
            "message": self.message,
            "problems": list(self.problems),
            "overflowed": self.settled,
        }
        if self.sampled is not None:
            out["sampled"] = self.sampled.to_dict(self)
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint.to_dict()
        return out


class Verification:
    """What was verified, with the probabilities that state what it means."""

    def __init__(self, n, d, m, dtype, trials, seed, false_alarm, worst_case, cell):
        self.n, self.d, self.m, self.dtype = n, d, m, dtype
        self.trials, self.seed = trials, seed
        self.false_alarm = 0.0 if worst_case else false_alarm
        self.requested_false_alarm = false_alarm
        self.worst_case, self.cell = worst_case, cell
        self.t = None
        self.tests = 0
        self.hoeffding_tests = 0
        self.outputs = []
        self.fingerprint_false_alarm = 0.0

    @property
    def passed(self):
        return all(o.passed for o in self.outputs)

    @property
    def miss_probability(self):
        """Upper bound on P(an element beyond its cell's detection threshold
        went unseen), per element: 2^-trials."""
        return 0.5**self.trials

    def lines(self):
        from .sampling import report_lines

        return report_lines(self)

    def to_dict(self):
        return {
            "N": self.n,
            "D": self.d,
            "M": self.m,
            "dtype": self.dtype,
            "trials": self.trials,
            "seed": self.seed,
            "passed": self.passed,
            "cell_size": self.cell,
            "worst_case": self.worst_case,
            "hoeffding_t": json_float(self.t),
            "tests": self.tests,
            "hoeffding_tests": self.hoeffding_tests,
            "false_alarm": self.false_alarm,
            "requested_false_alarm": self.requested_false_alarm,
            "fingerprint_false_alarm": self.fingerprint_false_alarm,
            "miss_probability": self.miss_probability,
            "outputs": [o.to_dict() for o in self.outputs],
        }


def _shapes(x, w, b, dy):
    """(N, D, M) from Matrix or list arguments."""
    if isinstance(x, Matrix):
        n, d = x.shape
    else:
        n, d = len(x), len(w)
    if isinstance(w, Matrix):
        m = w.shape[1]
    elif dy and not isinstance(dy, Matrix):
        m = len(dy[0])
    elif isinstance(dy, Matrix):
        m = dy.shape[1]
    else:
        m = len(w[0]) if w else (len(b) if b is not None else 0)
    return n, d, m


def verify(x, w, b, dy, y, dx, dw, db, dtype, **options):
    """Verify y (N, M), dx (N, D), dw (D, M), db (M,) or None for x (N, D),
    w (D, M), b (M,) or None, dy (N, M), computed in dtype.

    Arguments are flat.Matrix objects or nested lists (a vector: a flat
    list).  Options, by keyword (defaults in OPTIONS): trials: sign trials
    (default: default_trials); seed: of the signs and sampled elements
    (0); false_alarm: the chance that a correct backend fails, at most,
    over the whole check (projections; the sampled elements never raise
    one; FALSE_ALARM); worst_case: sums of bounds instead of Hoeffding;
    cell: elements per projected cell (CELL); samples: a sampling.Plan
    (default: Plan.default(...)), or False for none; fingerprint_check:
    fail an output whose sampled errors are larger than correct rounding
    makes them (sampling.py), with false-alarm probability
    fingerprint_false_alarm (default: false_alarm).  Shapes must already be
    right (the caller checks them).  Returns a Verification.

    Same as prepare(x, w, b, dy, dtype, **options).finish(y, dx, dw, db)."""
    return Prepared(x, w, b, dy, dtype, **options).finish(y, dx, dw, db)


def prepare(x, w, b, dy, dtype, early=None, **options):
    """Everything of a verification that the inputs and the signs decide:
    the signs, the reference side of every cell, the tolerances' input
    terms, the sampled elements' exact values.  The sized runner does this
    in its own process while the backend computes in its worker (the signs
    are never sent there).  Arguments and options as verify's, and early:
    start_dw's Early for these x and dy, if dW's reference dots were
    started before W existed; returns a Prepared."""
    return Prepared(x, w, b, dy, dtype, early, **options)


def _merged(options, who):
    """OPTIONS updated with options; TypeError naming an unknown one."""
    unknown = sorted(k for k in options if k not in OPTIONS)
    if unknown:
        raise TypeError(
            "unknown option %s; %s %s" % (", ".join(unknown), who, ", ".join(sorted(OPTIONS)))
        )
    o = dict(OPTIONS)
    o.update(options)
    return o


def _cell_and_trials(n, d, m, o):
    """(cell size, trials) of merged options: trials None is default_trials."""
    cell = max(1, int(o["cell"]))
    return cell, (o["trials"] if o["trials"] is not None else default_trials(n, d, m, cell))


def forks(n, d, m, option=None):
    """Whether prepare forks its children at (N, D, M) (where os.fork
    works): the `parallel` option, or, None, from PARALLEL_MADDS on."""
    return n * d * m >= PARALLEL_MADDS if option is None else option


def _sign_rng(n, d, m, dtype, seed):
    """The Rng of a verification's signs and sampled elements (start_dw
    draws dW's signs from the same one, in the same order)."""
    return Rng(seed_from("freivalds/N%d-D%d-M%d/%s" % (n, d, m, dtype), seed))


def _draw_signs(rng, trials, d, m):
    """(sy, sdx, sdw): r ∈ {±1}^M for Y, r ∈ {±1}^D for dX and for dW, a
    trial each, drawn in this order whatever runs where (a seed repeats a
    run, and start_dw draws the same)."""
    sy = [_signs(rng, m) for _ in range(trials)]
    sdx = [_signs(rng, d) for _ in range(trials)]
    return sy, sdx, [_signs(rng, d) for _ in range(trials)]


def _early_key(n, d, m, dtype, trials, seed, bd, t):
    """What decides dW's reference dots and terms besides X and dY."""
    return (n, d, m, dtype, trials, seed, bd, t)


def _tests_and_t(n, d, m, trials, cell, false_alarm, worst_case):
    """(the number of cell tests of a check, Hoeffding's t for them, None
    for worst_case) with cells of `cell` along M and D."""
    nby, nbd = _blocks(m, min(cell, m) or 1), _blocks(d, min(cell, d) or 1)
    tests = trials * (n * nby + n * nbd + nbd * m)
    return tests, (None if worst_case else hoeffding_t(tests, false_alarm))


def start_dw(x, dy, dtype, **options):
    """dW's reference dots and its tolerances' input side
    (_DwInputs.dw_references, dw_terms), started in two forked children
    (_Both) from X (N, D) and dY (N, M) alone, flat.Matrix each, before W
    exists: the sized runner draws W and b meanwhile.  Returns an Early for
    prepare(x, w, b, dy, dtype, early=..., the same options), or None where
    prepare would not fork (below PARALLEL_MADDS unless parallel=True; no
    os.fork).  Whoever starts
    one calls its cancel() when done: nothing once prepare has taken it."""
    o = _merged(options, "start_dw takes")
    if not (isinstance(x, Matrix) and isinstance(dy, Matrix)):
        raise TypeError("start_dw takes x (N, D) and dy (N, M) as flat.Matrix")
    (n, d), m = x.shape, dy.shape[1]
    if dy.shape[0] != n:
        raise ValueError("x is %dx%d and dy %dx%d: N differs" % (n, d, dy.shape[0], m))
    started = _dw_start(x, dy, dtype, o)
    if started is None:
        return None
    inputs, sdw, cell, trials = started
    t = _tests_and_t(n, d, m, trials, cell, o["false_alarm"], o["worst_case"])[1]
    child = _Both.start(lambda: inputs.dw_references(sdw), lambda: inputs.dw_terms(t))
    if child is None:
        return None
    return Early(_early_key(n, d, m, dtype, trials, o["seed"], inputs.bd, t), (x, dy), child)


def _dw_start(x, dy, dtype, o):
    """What a child started on X (N, D) and dY (N, M) before prepare or
    finish needs it shares (start_dw, start_dw_got), from merged options
    o: (_DwInputs, dW's signs, cell size, trials), drawn as prepare draws
    them; None where prepare would not fork, or false_alarm is out of
    range (prepare says why)."""
    (n, d), m = x.shape, dy.shape[1]
    if not forks(n, d, m, o["parallel"]) or not 0 < o["false_alarm"] < 1:
        return None
    cell, trials = _cell_and_trials(n, d, m, o)
    sdw = _draw_signs(_sign_rng(n, d, m, dtype, o["seed"]), trials, d, m)[2]
    return _DwInputs(x, dy, n, d, m, dtype, min(cell, d) or 1), sdw, cell, trials


def start_dw_got(x, dy, dw, dtype, **options):
    """dW's got side, Σ_{k∈K} r_k·dW_kj for every cell (K, j) and trial
    (_DwInputs.dw_got: what Prepared.finish would sum), in a forked child
    started as soon as dW is in, while prepare may still be running: the
    sized runner's finish then has only to compare.  x (N, D), dy (N, M),
    dw (D, M), flat.Matrix each, and prepare's options.  Returns an Early
    for finish(..., got=...), or None where prepare would not fork.
    Whoever starts one calls its cancel() when done (nothing once finish
    has taken it)."""
    o = _merged(options, "start_dw_got takes")
    if not all(isinstance(v, Matrix) for v in (x, dy, dw)):
        raise TypeError("start_dw_got takes x (N, D), dy (N, M) and dw (D, M) as flat.Matrix")
    (n, d), m = x.shape, dy.shape[1]
    if dy.shape[0] != n or dw.shape != (d, m):
        raise ValueError(
            "x is %dx%d, dy %dx%d and dw %s: they are not (N, D), (N, M) and (D, M)"
            % (n, d, dy.shape[0], m, "x".join(str(v) for v in dw.shape))
        )
    started = _dw_start(x, dy, dtype, o)
    if started is None:
        return None
    inputs, sdw, _, trials = started
    from . import forked

    child = forked.start(lambda: inputs.dw_got(dw, sdw))
    if child is None:
        return None
    key = _got_key(n, d, m, dtype, trials, o["seed"], inputs.bd)
    return Early(key, (x, dy, dw.values), child, "finish's got=", "X, dY or dW")


def _got_key(n, d, m, dtype, trials, seed, bd):
    """What decides dW's got side besides X, dY and dW (start_dw_got)."""
    return (n, d, m, dtype, trials, seed, bd)


class _Both:
    """dW's two forked children (forked.Child), its reference dots and its
    tolerances' input side, read as one: result() is the pair of their
    results, and a failure of either stops both.  Two, not one doing both:
    the terms ran alone at the end of float64's prepare at the seed size
    (0.45 s on one core), since the dots take the longest of its children."""

    @staticmethod
    def start(first, second):
        from . import forked

        a = forked.start(first)
        if a is None:
            return None
        b = forked.start(second)
        if b is None:
            a.cancel()
            return None
        return _Both(a, b)

    def __init__(self, a, b):
        self.a, self.b = a, b

    @property
    def pid(self):
        return self.a.pid if self.a.pid is not None else self.b.pid

    def result(self):
        try:
            return self.a.result(), self.b.result()
        finally:
            self.cancel()

    def cancel(self):
        self.a.cancel()
        self.b.cancel()


class Early:
    """Work on a verification's inputs under way in forked children before
    prepare or finish needs it: dW's reference dots and terms (start_dw),
    dW's got side (start_dw_got)."""

    def __init__(self, key, given, child, who="prepare's early=", names="X or dY"):
        self.key, self.given, self.child = key, given, child
        self.who, self.names = who, names  # (for the error: whose, and given's names)

    def take(self, given, key):
        """The child, for prepare or finish to read (None if already taken
        or cancelled); ValueError, after cancelling it, if it was started
        for other inputs (given: the objects it was started on, compared by
        identity), shapes, dtype, seed, trials or cells."""
        if self.child is None:
            return None
        if len(given) != len(self.given) or any(a is not b for a, b in zip(given, self.given)):
            self.cancel()
            why = "other %s objects" % self.names
        elif key != self.key:
            self.cancel()
            why = "%r, not %r" % (self.key, key)
        else:
            child, self.child = self.child, None
            return child
        raise ValueError(
            "%s was started for other inputs or options (N, D, M, dtype, trials, seed, "
            "cell, ...): %s" % (self.who, why)
        )

    def cancel(self):
        """Stop the child if it has not been taken."""
        if self.child is not None:
            self.child.cancel()
            self.child = None


# verify's and prepare's options (by keyword), and their defaults: the one
# place they live (verify's docstring says what each means)
OPTIONS = {
    "trials": None,  # None: default_trials
    "seed": 0,
    "false_alarm": FALSE_ALARM,
    "worst_case": False,
    "cell": CELL,
    "samples": None,  # None: sampling.Plan.default; False: none
    "fingerprint_check": False,
    "fingerprint_false_alarm": None,  # None: false_alarm
    "parallel": None,  # None: from PARALLEL_MADDS on, where os.fork exists
}


class Prepared:
    """A verification prepared from the inputs (prepare); finish() judges outputs."""

    def __init__(self, x, w, b, dy, dtype, early=None, **options):
        x_in, dy_in = x, dy  # (what start_dw was given, if early)
        o = _merged(options, "verify and prepare take")
        trials, seed, false_alarm = o["trials"], o["seed"], o["false_alarm"]
        worst_case, cell, samples = o["worst_case"], o["cell"], o["samples"]
        fingerprint_check = o["fingerprint_check"]
        fingerprint_false_alarm = o["fingerprint_false_alarm"]
        parallel = o["parallel"]
        n, d, m = _shapes(x, w, b, dy)
        x, w, dy = as_matrix(x, (n, d)), as_matrix(w, (d, m)), as_matrix(dy, (n, m))
        b = as_matrix(b, (m,)) if b is not None else None
        if not false_alarm > 0 or false_alarm >= 1:
            raise ValueError("false_alarm must be in (0, 1), not %r" % (false_alarm,))
        cell, trials = _cell_and_trials(n, d, m, o)
        self.n, self.d, self.m, self.dtype = n, d, m, dtype
        self.trials, self.seed, self.false_alarm = trials, seed, false_alarm
        self.worst_case, self.cell = worst_case, cell
        self.fingerprint_check = fingerprint_check
        self.fingerprint_false_alarm = (
            fingerprint_false_alarm if fingerprint_false_alarm is not None else false_alarm
        )
        rng = _sign_rng(n, d, m, dtype, seed)
        by, bd = min(cell, m) or 1, min(cell, d) or 1  # cell sizes along M and D
        self.by, self.bd = by, bd
        nby, nbd = _blocks(m, by), _blocks(d, bd)
        self.tests, self.t = _tests_and_t(n, d, m, trials, cell, false_alarm, worst_case)
        pairs = [(size, trials * n) for size in _cell_sizes(m, by)]
        pairs += [(size, trials * (n + m)) for size in _cell_sizes(d, bd)]
        self.hoeffding_tests = hoeffding_cells(self.t, pairs)
        # what a correct backend risks: 2·exp(−t²/2) for each cell that uses t
        self.risk = (false_alarm * self.hoeffding_tests / self.tests) if self.tests else 0.0
        self.bias = b is not None
        self._given = (x_in, dy_in)  # (what start_dw_got was given, if finish gets got=)
        ctx = self.ctx = _Context(x, w, b, dy, n, d, m, dtype, self.t, by, bd, trials)
        self.checks = [
            OutputCheck(
                "y",
                n,
                nby,
                by,
                d + (1 if b is not None else 0),
                trials,
                lambda i, j: i * nby + j // by,
            ),
            OutputCheck("dx", n, nbd, bd, m, trials, lambda i, k: i * nbd + k // bd),
            OutputCheck("dw", m, nbd, bd, n, trials, lambda k, j: (k // bd) * m + j),
        ]
        for c in self.checks:
            c.t = self.t
        self.samples = plan = None
        if samples is not False:
            from . import sampling

            plan = samples if samples is not None else sampling.Plan.default(n, d, m, dtype)
        if ctx.finite:
            sy, sdx, sdw = _draw_signs(rng, trials, d, m)
            parallel = forks(n, d, m, parallel)
            # dX's reference side and dW's reference dots in forked children
            # while this process does Y's and the rest of dW's (data only
            # comes back; the closures are made here); dW's may have been
            # started before W existed (start_dw)
            key = _early_key(n, d, m, dtype, trials, seed, bd, self.t)
            children = [None, early.take((x_in, dy_in), key) if early is not None else None, None]
            if parallel:
                from . import forked

                children[0] = forked.start(lambda: ctx.dx_data(self.checks[1], sdx))
                if children[1] is None:
                    children[1] = _Both.start(
                        lambda: ctx.dw_references(sdw), lambda: ctx.dw_terms(self.t)
                    )
            try:
                # the sampled elements' exact values in a third child (their
                # draw follows the signs', in this order whatever runs where)
                drawn = sampling.draw(plan, ctx, self.checks, rng) if plan is not None else None
                if parallel and drawn:
                    children[2] = forked.start(lambda: sampling.values(ctx, drawn))
                self.parts = [ctx.prepare_y(self.checks[0], sy)]
                if ctx.finite:  # W's finiteness may be settled by Y's pass
                    refs = terms = None
                    if children[1] is not None:
                        refs, terms = children[1].result()
                        children[1] = None
                    dw_part = ctx.prepare_dw(self.checks[2], sdw, refs, terms)
                    data = children[0].result() if children[0] else ctx.dx_data(self.checks[1], sdx)
                    children[0] = None
                    self.parts += [ctx.finish_dx(self.checks[1], sdx, data), dw_part]
                    if drawn is not None:
                        got = children[2].result() if children[2] else sampling.values(ctx, drawn)
                        children[2] = None
                        self.samples = sampling.attach(drawn, got)
            finally:
                for child in children:
                    if child is not None:
                        child.cancel()
        if not ctx.finite:
            why = "an input has an infinite or NaN entry"
            self.parts = [ctx.unverifiable(c, why) for c in self.checks]
        if plan is not None and self.samples is None:  # (none drawn: not finite)
            self.samples = sampling.prepare(plan, ctx, self.checks, rng)
        ctx.release()

    def finish(self, y, dx, dw, db, got=None):
        """The Verification of these outputs: y (N, M), dx (N, D), dw (D, M),
        db (M,) or None (flat.Matrix or nested lists).  got: start_dw_got's
        Early for this prepare's x and dy and this dw (flat.Matrix), whose
        sums finish then reads instead of making them."""
        n, d, m = self.n, self.d, self.m
        y, dx, dw_in = as_matrix(y, (n, m)), as_matrix(dx, (n, d)), dw
        dw = as_matrix(dw, (d, m))
        db = as_matrix(db, (m,)) if db is not None else None
        result = Verification(
            n, d, m, self.dtype, self.trials, self.seed, self.risk, self.worst_case, self.cell
        )
        result.t, result.tests = self.t, self.tests
        result.hoeffding_tests = self.hoeffding_tests
        result.requested_false_alarm = self.false_alarm
        sums = None  # dW's got side, from the child (dw_got) if it has it
        try:
            if got is not None and dw_in is not dw:
                raise ValueError("finish's got= needs dw as the flat.Matrix it was started on")
            for check, out, part in zip(self.checks[:2], (y, dx), self.parts):
                part(self._settle(check, out))
            if got is not None:
                key = _got_key(n, d, m, self.dtype, self.trials, self.seed, self.bd)
                child = got.take(self._given + (dw.values,), key)
                if child is not None and self.ctx.finite:
                    sums = child.result()
                elif child is not None:
                    child.cancel()
        finally:
            if got is not None:
                got.cancel()  # (nothing once taken; else it was refused, or this failed)
        if sums is not None and sums[0]:  # every sum finite: so is every element
            self.parts[2](dw, sums[1:])
        else:
            self.parts[2](self._settle(self.checks[2], dw))
        result.outputs = list(self.checks)
        if self.bias:
            result.outputs.append(_check_db(self.ctx.dy, db, n, m, self.dtype))
        if self.samples is not None:
            from . import sampling

            sampling.finish(
                self.samples,
                {"y": y, "dx": dx, "dw": dw},
                self.dtype,
                self.fingerprint_check,
                self.fingerprint_false_alarm,
            )
            if self.fingerprint_check:
                result.fingerprint_false_alarm = self.fingerprint_false_alarm
        return result

    def _settle(self, check, out):
        """out, with every ±inf that a correct kernel may return replaced by the
        element's exact value (so its cell sees no error there); non-finite
        elements a correct kernel cannot return become check.problems.

        A correct kernel may return ±inf (with the exact value's sign) where
        the sum may reach the output format's overflow threshold, and any
        non-finite value where a partial sum may overflow the accumulation
        (bounds.overflow_outcome: float16 outputs from 65520).  Each
        non-finite element is judged against its exact value (one exact dot
        product of its K terms), within MAX_NONFINITE_PRODUCTS."""
        values = out.values
        total = sum(values)
        if total - total == 0 or not self.ctx.finite:  # every element finite
            return out  # (else: unverifiable anyway)
        cols = out.shape[1]
        where = _nonfinite_indices(values)
        products = len(where) * check.k
        limit = max(MAX_NONFINITE_PRODUCTS, (self.n * self.d * self.m) // 4)
        if products > limit:
            check.problems.append(
                "%s has %d non-finite elements: judging each against its exact value "
                "would take %d products, more than the verifier's %d; not verified"
                % (check.name, len(where), products, limit)
            )
            return out
        from . import bounds
        from .compare import _overflow_ratio
        from .sampling import exact_value

        judged = array("d", values)  # a copy, float64 ('f' too)
        wrong = []
        for index in where:
            i, j = divmod(index, cols)
            ref, mag = exact_value(self.ctx, check.name, i, j)[:2]
            got = values[index]
            outcome = "finite"
            if bounds.is_finite(ref):
                outcome = bounds.overflow_outcome(check.k, mag, ref, self.dtype)
            if outcome != "finite" and _overflow_ratio(outcome, got, ref, 0.0, 1.0)[0] == 0:
                judged[index] = ref
                check.settled += 1
                continue
            wrong.append((i, j, got, ref, outcome))
        if wrong:
            check.problems.append(_nonfinite_text(check.name, wrong, self.dtype))
        return Matrix(judged, out.shape)


MAX_NONFINITE_PRODUCTS = 1 << 26  # at least; N·D·M/4 where that is more
COUNT_BELOW = 16  # float16's λ_out is counted where above B/16


def _nonfinite_indices(values):
    """Indices of the non-finite entries of an array (C speed where the
    runtime has math.isfinite and itertools.compress)."""
    try:
        from itertools import compress
        from operator import not_

        return list(compress(range(len(values)), map(not_, map(math.isfinite, values))))
    except (ImportError, AttributeError):
        return [k for k in range(len(values)) if not is_finite(values[k])]


def _nonfinite_text(name, wrong, dtype):
    """What is wrong with non-finite elements a correct kernel cannot return."""
    from . import contracts

    out_format = contracts.get(dtype).output
    i, j, got, ref, outcome = wrong[0]
    if outcome == "finite":
        why = (
            "no correct %s kernel returns a non-finite value there (the sum cannot "
            "reach %s's overflow threshold %r)"
            % (dtype, out_format.name, out_format.overflow_threshold)
        )
        if contracts.get(dtype).legacy:
            why = "a finite exact value must give a finite %s output" % out_format.name
    elif got != got:
        why = "an overflow gives ±inf with the exact value's sign, not NaN"
    else:
        why = "an overflow keeps the exact value's sign"
    more = "" if len(wrong) == 1 else " (and %d more non-finite elements)" % (len(wrong) - 1)
    return "%s[%d][%d] = %r, but its exact value is %r: %s%s" % (name, i, j, got, ref, why, more)


class _DwInputs:
    """What dW's reference dots need, from X (N, D) and dY (N, M) alone:
    _Context's base, and all a forked child needs to compute them before W
    exists (start_dw)."""

    def __init__(self, x, dy, n, d, m, dtype, bd):
        self.x, self.dy = x, dy
        self.n, self.d, self.m, self.dtype, self.bd = n, d, m, dtype, bd
        self._xt = self._dyt = self._dyr = None
        self._dw_cells = None  # dW's cells: the rows of each (dw_cells)
        self._dcn = None  # ‖dY_{:,j}‖₂ (M,): _dy_column_norms
        self._xf = None  # ‖X_{:,K}‖_F (blocks,): _x_block_norms

    def xt(self):
        if self._xt is None:
            self._xt = self.x.col_lists()  # (D, N)
        return self._xt

    def dyt(self):
        if self._dyt is None:
            self._dyt = self.dy.col_lists()  # (M, N)
        return self._dyt

    def dy_rows(self):
        if self._dyr is None:
            self._dyr = self.dy.row_lists()  # (N, M)
        return self._dyr

    def dw_cells(self):
        """The rows k of dW in each of its cells (blocks of bd): all rows in
        order of ‖X_{:,k}‖₁ (ties by k), cut into blocks, so that a cell holds
        rows of like bounds (β_kj ∝ Σ_i |X_ik|·|dY_ij|): an element's
        threshold is its cell's Σβ over its own β (docs/verification.md,
        "Cells").  Deterministic: a forked child computes the same."""
        if self._dw_cells is None:
            l1 = [_abs_sum(col) for col in self.xt()]
            order = sorted(range(self.d), key=lambda k: (l1[k], k))
            self._dw_cells = [order[a : a + self.bd] for a in range(0, self.d, self.bd)]
        return self._dw_cells

    def _dy_column_norms(self):
        """‖dY_{:,j}‖₂ (M,), rounded up; computed once (dW's references and
        its cells both use them)."""
        if self._dcn is None:
            self._dcn = [_norm(c) for c in self.dyt()]
        return self._dcn

    def _x_block_norms(self):
        """‖X_{:,K}‖_F for every cell K of dW (dw_cells), None where not
        finite; computed once."""
        if self._xf is None:
            colnorm = [_norm(c) for c in self.xt()]  # ‖X_{:,k}‖₂ (D,)
            xf = []
            for rows in self.dw_cells():
                norms = [colnorm[k] for k in rows]
                xf.append(None if None in norms else _norm(norms))
            self._xf = xf
        return self._xf

    def dw_sum_mode(self):
        """How dW's cells are summed at finish, (exact, extended): in float64
        (u ≤ 2^-30) accurately (_signed_sum: the extended sumprod,
        _extended_rho(s), where no correct value exceeds EXTENDED_TOP; else
        math.fsum of the + and of the − rows, then one subtraction, 3u),
        else the builtin sum, γ_{n+1}.  None where X or dY is not finite."""
        xf, dcn = self._x_block_norms(), self._dy_column_norms()
        if None in xf or None in dcn:
            return None
        alpha, beta = _cell_terms(self.n, self.dtype)[:2]  # (dW's k = N)
        exact = UNIT_ROUNDOFF.get(self.dtype, 1.0) <= 2.0**-30
        top = (1 + alpha + beta) * max(xf + [0.0]) * max(dcn + [0.0]) * _UP  # ≥ |dW_kj|
        return exact, exact and _extended_sumprod() is not None and top <= EXTENDED_TOP

    def dw_got(self, dw, signs):
        """dW's got side as prepare_dw's finish sums it, plain data (a forked
        child computes it: start_dw_got): (finite, cells, exact, extended,
        sums), sums[t][c] = Σ_{k∈K_c} r_k·dW_k,: (M,), an array('d'), for
        trial t (signs[t] is r) and cell block c (arrays cross from a child
        as their bytes: forked._encode), and finite whether all of them are: then so
        is every element of dW, since a non-finite element makes its cell's
        sum non-finite (a finite sum that overflows only sends finish back
        to its own pass).  (False,) without sums where some are not finite,
        or X or dY is not (finish then settles dW and sums it itself)."""
        mode = self.dw_sum_mode()
        if mode is None:
            return (False,)
        exact, extended = mode[0], mode[1] or not mode[0]
        values, m, cells = dw.values, self.m, self.dw_cells()
        sums, total = [], 0.0
        try:  # (math.fsum raises on ±inf − ±inf and on an overflowing sum)
            for r in signs:
                blocks = []
                for rows in cells:
                    got = _signed_sum(
                        [values[k * m : (k + 1) * m] for k in rows],
                        [r[k] for k in rows],
                        m,
                        exact,
                        extended,
                    )
                    total += sum(got)
                    blocks.append(array("d", got))
                sums.append(blocks)
        except (OverflowError, ValueError):
            return (False,)
        if not total - total == 0:
            return (False,)
        return (True, cells, exact, extended, sums)

    def dw_references(self, signs):
        """dW's reference dots, plain data (a forked child may compute them):
        [[(u·dY_{:,j} for every j (M,) as an array('d'), slope·‖u‖, slope)
        for every block K of D] for every trial], u = X_{:,K}ᵀ r_K (N,) summed exactly, slope
        the dots' error factor with u's own rounding (prepare_dw's V_ref)."""
        n, m = self.n, self.m
        xt, dyt = self.xt(), self.dyt()
        cells = self.dw_cells()
        dcn = self._dy_column_norms()
        dtop = max(dcn) if dcn else 0.0
        up3 = _UP * _UP * _UP
        # in float64 the accurate dots where no value exceeds EXTENDED_TOP
        # (_accurate_dots), else the plain ones, γ_{N+2}
        exact = UNIT_ROUNDOFF.get(self.dtype, 1.0) <= 2.0**-30
        dots_of, rho = _accurate_dots() if exact else (_dots, None)
        plain_slope = (1 + 2 * _U) * (gamma(n + 2, _U) + 2 * _U) * up3  # times ‖u‖·dcn
        slope = (1 + 2 * _U) * (rho(n) + 2 * _U) * up3 if exact else plain_slope
        # float32 and the other contracts on CPython 3.10 and 3.11: polarized
        # dots (_polar_dots), within ρ·‖u‖·dcn only, no S_Kj form
        # (prepare_dw's min then takes the Cauchy–Schwarz one; srow > 0, so
        # inf·srow stays inf).  Not float64: even a ρ of 10.5u against fsum's
        # 2u took V from about 6% of T to 10–16% (tests/test_freivalds.py).
        polar = not exact and _extended_sumprod() is None and _POLAR
        polar_slope = (1 + 2 * _U) * (_polar_rho(n) + 2 * _U) * up3
        # float64 where its accurate dots are fsum's (CPython 3.8-3.11): the
        # exact integer lanes (_lane_dots), within ρ·‖u‖·dcn only, like the
        # polarized ones, ρ ≈ 1.13u
        lanes = exact and _extended_sumprod() is None and not _LOOPS
        lane_slope = (1 + 2 * _U) * (_lane_rho() + 2 * _U) * up3
        dyr = self.dy_rows() if lanes else None
        out = []
        for r in signs:
            # X_{:,K} r_K (N,) for every block K, each entry summed exactly:
            # error ≤ u·|entry|; un ≥ ‖exact X_{:,K} r_K‖₂ and ≥ ‖u‖₂
            us = [[fsum([r[k] * xt[k][i] for k in rows]) for i in range(n)] for rows in cells]
            uns = [(_norm(u) or 0.0) * (1 + 2 * _U) for u in us]
            got = _polar_dots(us, uns, dyt, dcn) if polar else None
            if got is not None:
                out.append(
                    [(array("d", dots), polar_slope * un, _INF) for dots, un in zip(got[0], uns)]
                )
                continue
            got = _lane_dots(us, uns, dyr, dcn) if lanes else None
            if got is not None:
                out.append(
                    [(array("d", dots), lane_slope * un, _INF) for dots, un in zip(got[0], uns)]
                )
                continue
            blocks = []
            for u, un in zip(us, uns):
                up, down = _scale(un, dtop)  # keep tiny products out of subnormals
                dots, sl = dots_of, slope
                if exact and (un * up > EXTENDED_TOP or dtop > EXTENDED_TOP):
                    dots, sl = _dots, plain_slope  # beyond the accurate dots' range
                if up == 1.0:
                    blocks.append((array("d", dots(u, dyt)), sl * un, sl))  # (M,)
                else:
                    prods = dots(list(map(mul, u, repeat(up, n))), dyt)
                    blocks.append((array("d", map(mul, prods, repeat(down, m))), sl * un, sl))
            out.append(blocks)
        return out

    def dw_terms(self, t):
        """The input side of dW's cells' tolerances, plain data (a forked
        child may compute them; prepare_dw makes its closures from them):
        the cells, ‖dY_{:,j}‖₂, each block's coefficients and, where packing
        is available, the exact Σβ rows; t as the Prepared's."""
        n, m = self.n, self.m
        alpha, beta, kappa, under, inv, gfac, lam = _cell_terms(n, self.dtype)  # (dW's k = N)
        xt = self.xt()
        cells = self.dw_cells()  # the rows K of each cell
        xf = self._x_block_norms()  # ‖X_{:,K}‖_F
        dcn = self._dy_column_norms()  # ‖dY_{:,j}‖₂, (M,)
        sizes = [len(rows) for rows in cells]
        nb = len(cells)
        dl = lam * math.sqrt(n)  # tf32: ‖dY_{:,j}‖ + λ√N
        exact, extended = self.dw_sum_mode()
        # Every term is affine in ‖dY_{:,j}‖₂ = dcn[j] for a block K = c:
        #   B = α‖X_{:,K}‖_F·dcn·UP + κ√n                      (≥ ‖β‖₂)
        #     (tf32: norms of the clamped operands, + λ√len; output
        #     rounding: divided by 1 − β, plus β/(1 − β)·‖dW_{K,j}‖₂ and
        #     float16's λ_out·√s/(1 − β) at finish, as _refine_line)
        #   T = f·B, f = min(t, √n)·UP
        #   V_got: Σ_{k∈K}|dW_kj| ≤ (1 + α + β)·√n·‖mag‖ + n·κ for a correct
        #     backend (an incorrect one only meets a stricter test), times
        #     g = _extended_rho(n) (sumprod), 3u (fsum) or γ_{n+1}
        #     (where the exact Σβ below is known: g·((1 + α + β)·S_Kj + n·κ),
        #     S_Kj ≥ Σ_i C_iK·|dY_ij| ≥ Σ_{k∈K}|dW_kj|, C_iK = Σ_{k∈K}|X_ik|)
        #   V_ref: the dot's ρ_N·Σ|u||dY_{:,j}| ≤ ρ_N‖u‖·dcn (ρ_N = γ_{N+2}, or in
        #     float64 _accurate_dots's: u(1 + 3u) + 16N³u³ or 2u(1 + u)), plus
        #     16N·2^-1074 of subnormal roundings; u's own u‖u‖·dcn (the slope
        #     dw_references gives).  Where S_Kj is known, also
        #     ≤ (ρ_N + 2u)·(1 + u)·S_Kj (|u_i| ≤ (1 + u)·C_iK): the smaller
        #   tolerance = (T + ((1 + 2u)(V_got + V_ref) + u·T)·UP)·UP
        #             = (p_c + s·‖u‖)·dcn + q_c   (rounded up by the UPs)
        #   Where T is the worst case (f = √n) and nothing is rounded or
        #   clamped, Σβ ≤ α·Σ_i C_iK·|dY_ij| + κn ≤ α‖C_K‖₂·dcn + κn with
        #   C_iK = Σ_{k∈K}|X_ik| (Cauchy–Schwarz over i only, exact over k;
        #   ‖C_K‖ ≤ √n‖X_{:,K}‖_F): T's slope is the smaller of the two.
        up3 = _UP * _UP * _UP
        plain = not (beta or gfac or under or lam)
        bcoef, bconst, pc, qc, gc, tc, tslope = [], [], [], [], [], [], []
        vg, vq, exact_blocks, exact_coefs = [], [], [], []
        for c in range(nb):
            root = math.sqrt(sizes[c])
            g_k = gamma(sizes[c] + 1, _U)
            if exact:
                g_k = _extended_rho(sizes[c]) if extended else 3 * _U
            f = _factor(t, sizes[c]) * _UP
            xfc = xf[c] + lam * math.sqrt(n * sizes[c])
            a1, a0 = alpha * xfc * _UP, kappa * root + alpha * xfc * dl * _UP
            if beta:
                a1, a0 = a1 * inv, a0 * inv  # B = a1·dcn + a0
            bcoef.append(a1)
            bconst.append(a0)
            ta1 = f * a1  # T = ta1·dcn + f·a0
            if plain and (t is None or root * (1 + 2 * _U) <= t):
                # C_{:,K} = Σ_{k∈K} |X_{:,k}| (N,), rounded up as _abs_sum
                grow = 1.0 + 2.0 * gamma(sizes[c] + 2, _U)
                cols = [v * grow for v in map(sum, zip(*[list(map(abs, xt[k])) for k in cells[c]]))]
                ck = _norm(cols)
                if ck is not None:
                    ta1 = min(ta1, alpha * ck * _UP * _UP)
                    exact_blocks.append(c)
                    exact_coefs.append(cols)
            tslope.append(ta1)
            got1 = (1 + 2 * _U) * g_k * (1 + alpha + beta) * root * xfc * _UP
            got0 = (1 + 2 * _U) * g_k * sizes[c] * (kappa + under)
            if lam:
                got0 = got0 + got1 * dl
            vg.append((1 + 2 * _U) * g_k * (1 + alpha + beta) * _UP * _UP * up3)  # times S_Kj
            vq.append((got0 + (2 + 16 * (n + sizes[c])) * _TINY) * _UP * up3)
            pc.append((ta1 * (1 + _U * _UP) + got1 * _UP) * up3)
            qc.append(
                (f * a0 * (1 + _U * _UP) + (got0 + (2 + 16 * (n + sizes[c])) * _TINY) * _UP) * up3
            )
            gc.append(f * gfac * (1 + _U * _UP) * up3 * _UP)  # times ‖dW_{K,j}‖₂
            tc.append(f * (1 + _U * _UP) * up3 * _UP)  # times λ_out·√s
        # Where packing is available the same cells also get their exact Σβ
        # from above: Σ_i C_iK·|dY_ij| for every (K, j) through big integers
        # (packed.product_sums, every term rounded up), T the smaller.
        tmin, tbase, srow = {}, {}, {}
        tfac = (1 + _U * _UP) * up3  # T's share of the tolerance
        if exact_blocks and not _JIT and packed.available():
            dy_abs = [list(map(abs, row)) for row in self.dy_rows()]
            sums = packed.product_sums(exact_coefs, dy_abs)
            for c, row in zip(exact_blocks, sums):
                fb = _factor(t, sizes[c]) * _UP * bconst[c]
                # (tslope·dcn + fb)·UP and (α·(v + 2·2^-1074)·UP + κn)·UP, at C speed
                cs = map(
                    mul,
                    map(add, map(mul, dcn, repeat(tslope[c], m)), repeat(fb, m)),
                    repeat(_UP, m),
                )
                srow[c] = array("d", map(add, row, repeat(2 * _TINY, m)))  # ≥ S_Kj
                ex = map(
                    add,
                    map(mul, srow[c], repeat(alpha * _UP * _UP, m)),
                    repeat(kappa * sizes[c] * _UP, m),
                )
                tmin[c] = array("d", map(min, cs, ex))
                # T's share of the tolerance and V_got, g·(1 + α + β)·S_Kj
                tbase[c] = array(
                    "d",
                    map(
                        add,
                        map(mul, tmin[c], repeat(tfac, m)),
                        map(mul, srow[c], repeat(vg[c], m)),
                    ),
                )
        return {
            "cells": cells,
            "dcn": dcn,
            "sizes": sizes,
            "exact": exact,
            "extended": extended,
            "coefficients": [bcoef, bconst, pc, qc, gc, tc, tslope, vq],
            "exact_sums": [tmin, tbase, srow],
        }


class _Context(_DwInputs):
    """Everything the cells of one verification share: the inputs as lists,
    their norms, W packed (or not), the bound coefficients."""

    def __init__(self, x, w, b, dy, n, d, m, dtype, t, by, bd, trials=MAX_TRIALS):
        _DwInputs.__init__(self, x, dy, n, d, m, dtype, bd)
        self.w, self.b, self.t, self.by = w, b, t, by
        self.xr = x.row_lists()  # (N, D)
        self.dyr = self.dy_rows()  # (N, M)
        self.bl = b.lists() if b is not None else None  # (M,)
        self.x_norms = [_norm(r) for r in self.xr]  # ‖X_i‖₂, (N,)
        self.dy_norms = [_norm(r) for r in self.dyr]  # ‖dY_i‖₂
        self.dy_abs = [_abs_sum(r) for r in self.dyr]
        # ‖W_k‖₂ (D,): here where W's grid needs them or where Y's pass cannot
        # give them; else prepare_y takes them from its row segments' norms
        # (one pass over W less) and settles W's finiteness there.
        packing = not _JIT and trials >= PACK_TRIALS and packed.available()
        w_rows = None
        if packing or not (_HYPOT and _STEPPED):
            w_rows = self._w_row_norms()
        self.finite = (
            (w_rows is None or None not in w_rows)
            and None not in self.x_norms
            and None not in self.dy_norms
            and (self.bl is None or None not in [_norm(self.bl)])
        )
        self.w_row_norms = w_rows
        self.grid = None
        # W on a grid pays from PACK_TRIALS trials on (one conversion, then
        # cheap exact sums a trial); fewer trials sum W's blocks as floats.
        if self.finite and packing:
            bounds = [max(w_rows[a : a + bd]) for a in range(0, d, bd)]  # ≥ max |W| a block
            try:
                self.grid = packed.Packed(w, bounds, bd, max(by, bd))
            except ValueError:  # beyond the packed range
                pass
        # Σ_K step_K·Σ_{k∈K}|X_ik|: what W's grid adds to X_i·(W_J r_J), per entry of J
        self.x_grid = [0.0] * n
        if self.grid is not None:
            steps = self.grid.steps
            for i in range(n):
                row = self.xr[i]
                self.x_grid[i] = sum(
                    [_abs_sum(row[c * bd : c * bd + bd]) * steps[c] for c in range(len(steps))]
                ) * (1 + 2.0**-50)

    def _w_row_norms(self):
        """‖W_k‖₂ for every row k (D,), None where not finite: a pass over W."""
        w, m = self.w.values, self.m
        return [_norm(w[k * m : (k + 1) * m]) for k in range(self.d)]

    def x_block_l1(self, size):
        """[[‖X_{i,K}‖₁ for each block K of `size` columns] for each row i]
        (N, blocks), rounded up, for Y's Hölder bound."""
        return [[_abs_sum(row[a : a + size]) for a in range(0, self.d, size)] for row in self.xr]

    def release(self):
        """Drop what only preparing needed (W's grid)."""
        self.grid = None

    # -- shared pieces ----------------------------------------------------------

    def _w_columns(self, signs, block):
        """(wf, segs, sums): wf = [‖W_{:,J}‖_F for every block J of columns]
        (blocks,), None where not finite; segs = [[‖W_{k,J}‖₂ for every row k]
        (D,) for every J] where math.hypot's error bound holds (CPython 3.10+),
        else None; sums = [[W_J r_J (D,) for each J] for each r in signs].
        One pass over W's columns, each a strided copy, a block at a time; a
        block's + and − columns are summed (zip and the builtin sum) in every
        trial, as floats.  The row segments' norms come from one hypot per
        row of the block (map over the columns), cheaper than one per column."""
        w, d, m = self.w, self.d, self.m
        segmented = _HYPOT and _STEPPED
        wf, segs = [], ([] if segmented else None)
        sums = [[] for _ in signs]
        for a in range(0, m, block):
            cols = [w.values[j::m] if _STEPPED else w.col(j) for j in range(a, min(m, a + block))]
            if segmented:
                seg = list(map(math.hypot, *cols))  # each within 1 ulp
                v = math.hypot(*seg) * (1.0 + 2.0**-51) ** 2
                wf.append(v if is_finite(v) else None)
                segs.append(seg)
            else:
                norms = [_norm(_tolist(col)) for col in cols]
                wf.append(None if None in norms else _norm(norms))
            for t in range(len(signs)):
                r = signs[t]
                sums[t].append(_signed_sum(cols, r[a : a + len(cols)], d))
        return wf, segs, sums

    def _holder_y(self, tt, segs, sizes, alpha, kappa):
        """Lowers Y's T to a bound on the cell's Σβ from the rows' ℓ1 norms
        where that is smaller (tt[line][block], in place):

            Σ_{j∈J} Σ_k |x_ik||w_kj| ≤ Σ_g ‖X_{i,g}‖₁·max_{k∈g} Σ_{j∈J}|w_kj|
                                     ≤ Σ_g ‖X_{i,g}‖₁·√n·max_{k∈g} ‖W_{k,J}‖₂

        over groups g of CELL consecutive k (Hölder, then Cauchy–Schwarz
        inside each row segment): exact on X's side, where Cauchy–Schwarz on
        the whole row loses rms/mean of |x| (2.3 on values spread over 15
        binades).  T = α·(that + Σ_{j∈J}|b_j|) + κn bounds Σβ whatever the
        signs.  Only for contracts whose bound folds into α·mag + κ (no
        output rounding, no operand clamping)."""
        d, g, bl, by = self.d, CELL, self.bl, self.by
        heads = []  # [√n·max_{k∈g}‖W_{k,J}‖₂ for each group g] for each J
        for c, seg in enumerate(segs):
            root = math.sqrt(sizes[c]) * (1 + 2 * _U) * (1.0 + 2.0**-51) * _UP
            heads.append([max(seg[a : a + g]) * root for a in range(0, d, g)])
        groups = len(heads[0]) if heads else 0
        babs = [_abs_sum(bl[c * by : c * by + by]) if bl else 0.0 for c in range(len(segs))]
        grow = 1 + gamma(groups + 1, _U)  # a dot of non-negative terms, any order
        floor = 2 * groups * _TINY  # its products' underflow
        for i, xg in enumerate(self.x_block_l1(g)):  # ‖X_{i,g}‖₁
            trow = tt[i]
            for c in range(len(trow)):
                s = (_dot(xg, heads[c]) + floor) * grow
                th = (alpha * (s + babs[c]) * _UP + kappa * sizes[c]) * _UP
                if th < trow[c]:
                    trow[c] = th

    @staticmethod
    def unverifiable(check, why):
        """finish() of an output that cannot be verified: it fails, saying why."""
        check.tolerances = lambda cell: (0.0, 0.0, 0.0)

        def finish(out):
            check.failed_cells = check.cells or 1
            check.message = "%s not verified: %s" % (check.name, why)
            check.worst_ratio = float("inf")

        return finish

    # -- Y = X W + b: cells (i, J) ------------------------------------------------

    def prepare_y(self, check, signs):
        """Reference side of Y's cells (finite inputs only), signs [r ∈ {±1}^M
        a trial]; returns finish(y)."""
        n, d, m, by = self.n, self.d, self.m, self.by
        nb = check.blocks
        trials = len(signs)
        alpha, beta, kappa, under, inv, gfac, lam = _cell_terms(check.k, self.dtype)
        # W's block and row-segment norms, and (without the grid) W_J r_J, in one pass
        wf, segs, along = self._w_columns(signs if self.grid is None else [], by)
        if self.w_row_norms is None and None not in wf:  # ‖W_k‖₂ from the segments
            rows = [v * (1.0 + 2.0**-51) ** 2 for v in map(math.hypot, *segs)] if segs else []
            self.w_row_norms = [v if is_finite(v) else None for v in rows] or [0.0] * d
        if None in wf or None in self.w_row_norms:  # ‖W_{:,J}‖_F, (blocks,)
            self.finite = False
            return self.unverifiable(check, "W has a column with no finite norm")
        bl = self.bl
        bn = _block_norms([abs(v) for v in bl], by) if bl is not None else [0.0] * nb
        # ‖W_{:,j}‖₂ ≤ ‖W_{:,J}‖_F for the bias rows
        wcols = [wf[j // by] for j in range(m)]
        elements = self._bias_rows(check, wcols, lam) if bl is not None else {}
        sizes = _cell_sizes(m, by)
        # T per cell: t·‖β‖₂ (or Σβ), ‖β‖₂ ≤ α(‖X_i‖‖W_J‖_F + ‖b_J‖) + κ√n
        # (tf32: the norms of the clamped operands, + λ√len; output rounding:
        # divided by 1 − β, and β/(1 − β)·‖Y_{i,J}‖₂ added when y arrives)
        xl, wl = lam * math.sqrt(d), [lam * math.sqrt(d * size) for size in sizes]
        bmag = [
            [
                alpha * ((xn + xl) * (wf[c] + wl[c]) + bn[c]) * _UP + kappa * math.sqrt(sizes[c])
                for c in range(nb)
            ]
            for xn in self.x_norms
        ]
        base, bmag = self._output_terms(bmag, inv, under, sizes)
        tt = self._t_of(bmag, sizes, by_line=True)
        if segs is not None and not (beta or gfac or under or lam):
            self._holder_y(tt, segs, sizes, alpha, kappa)
        g_n = [gamma(size + 1, _U) for size in sizes]
        bias_err = [
            g_n[c] * bn[c] * math.sqrt(sizes[c]) if bl is not None else 0.0 for c in range(nb)
        ]
        runs = []
        for trial in range(trials):
            r = signs[trial]
            vs, grid_err = self._w_block_sums_along(
                r,
                by,
                wf,  # W_J r_J, (blocks,) of (D,)
                along[trial] if along else None,
            )
            vnorm = [_norm(v) or 0.0 for v in vs]
            bsum = [0.0] * nb
            if bl is not None:
                br = list(map(mul, bl, r))
                bsum = [sum(br[c * by : c * by + by]) for c in range(nb)]
            refs, vrefs = [], []
            dots, g_d = _reference_dots(self.xr, self.x_norms, vs, vnorm)  # X_i·(W_J r_J)
            for i in range(n):
                xn = self.x_norms[i]
                ref = list(map(add, dots[i], bsum))
                refs.append(ref)
                vrefs.append(
                    [
                        (g_d + 2 * _U) * xn * vnorm[c]
                        + grid_err(i, c)
                        + bias_err[c]
                        + _U * abs(ref[c])
                        + (1 + 16 * d) * _TINY
                        for c in range(nb)
                    ]
                )
            runs.append((r, refs, vrefs))
        return self._finish_lines(check, runs, by, sizes, tt, bmag, base, gfac, under, elements)

    def _bias_rows(self, check, cols, lam):
        """{i: tolerances of |y_ij − b_j| (M,)} for the rows of Y whose X·W
        part may be below the bias; sets check.element_thresholds.

        There y_ij = b_j + s_ij with |s_ij| ≤ σ_ij = ‖X_i‖₂·cols[j], cols[j]
        ≥ ‖W_{:,j}‖₂ (the norm of j's block of columns: Cauchy–Schwarz;
        σ_ij also bounds Σ_k|x_ik||w_kj|, and under tf32 the norms are the
        clamped operands', + λ√D), so a correct backend
        has |y_ij − b_j| ≤ β(K, |b_j| + σ_ij, |b_j| + σ_ij) + σ_ij, β by
        the linear form (linear_terms, every term charged).  Each element of
        such a row is checked on its own against that: one off by more than
        its tolerance plus σ_ij fails, whatever the signs.  The cells alone
        let such an element hide behind its cell's larger biases: its bound
        is γ_K·|b_j|, and |b_j| varies 64-fold across a cell of normal values
        (docs/verification.md).  Rows whose X·W part reaches the bias
        everywhere are left to the cells."""
        bl, d = self.bl, self.d
        top = max(map(abs, bl)) if bl else 0.0
        floor = lam * math.sqrt(d)  # tf32: ‖max(|v|, λ)‖₂ ≤ ‖v‖₂ + λ√D
        wcol = [(c + floor) * _UP for c in cols]  # (M,)
        wmax = max(wcol) if wcol else 0.0
        alpha, beta, kappa, under = linear_terms(check.k, self.dtype)
        coef, const = (alpha + beta) * _UP, (kappa + under) * _UP
        babs = [abs(v) for v in bl]  # (M,)
        rows = {}
        for i in range(self.n):
            xs = (self.x_norms[i] + floor) * _UP
            if not xs * wmax <= top:
                continue
            sig = [xs * c * _UP for c in wcol]  # σ_ij, (M,)
            tol = [((coef * ((v + s) * _UP) + const) * _UP + s) * _UP for v, s in zip(babs, sig)]
            rows[i] = tol
            # caught once |E| > tol + σ (|y − b| ≥ |E| − σ; the computed
            # difference is within u of the exact one, far inside 2^-40)
            check.element_thresholds[i] = [(t * _UP + s) * _UP for t, s in zip(tol, sig)]
        return rows

    def _finish_lines(self, check, runs, block, sizes, tt, bmag, base, gfac, under, elements=None):
        """The outputs' side of Y and dX, whose cells (i, c) are blocks of a
        row: sets check.tolerances and returns finish(out), which checks
        every trial's r · out_{i, c} against its reference.  runs: a trial's
        (r, refs, vrefs), refs[i][c] = the reference sum of cell (i, c), vrefs
        its V_ref; tt, bmag, base: T, B and B before the outputs, [line][block]
        (refined at finish where the outputs are rounded, gfac)."""
        n, nb = len(tt), len(sizes)
        g_n = [gamma(size + 1, _U) for size in sizes]  # the got side's sums
        factors = [_factor(self.t, size) * _UP for size in sizes]
        vmax = [[0.0] * nb for _ in range(n)]
        check.tolerances = lambda cell: (
            tt[cell // nb][cell % nb],
            vmax[cell // nb][cell % nb],
            bmag[cell // nb][cell % nb],
        )

        def finish(out):
            rows = out.row_lists()
            for i in range(n):
                row = rows[i]  # (len,) of cells of `block`
                if elements and i in elements:  # Y's bias rows: each element
                    tols = [t * _UP for t in elements[i]]
                    diffs = list(map(abs, map(sub, row, self.bl)))
                    check.note_elements(i, row, diffs, tols, "|y − b|")
                if gfac:
                    self._refine_line(tt[i], bmag[i], base[i], row, block, gfac, under, factors)
                gabs = [g_n[c] * _abs_sum(row[c * block : c * block + block]) for c in range(nb)]
                for trial, (r, refs, vrefs) in enumerate(runs):
                    signed = list(map(mul, row, r))
                    got = [sum(signed[c * block : c * block + block]) for c in range(nb)]
                    diffs = list(map(abs, map(sub, got, refs[i])))
                    tols = self._tolerances(tt[i], gabs, vrefs[i], vmax[i])
                    check.note_many(trial, i * nb, diffs, tols)

        return finish

    @staticmethod
    def _output_terms(bmag, inv, under, sizes):
        """(base, bmag) per cell: base = B without the outputs' terms,
        divided by 1 − β where the output is rounded (inv); bmag = base with
        λ_out charged to every element of the cell (under·√n), the bound
        before the outputs are seen.  Without output rounding: bmag, bmag."""
        if inv == 1.0 and not under:
            return bmag, bmag
        base = [[v * inv for v in row] for row in bmag]
        roots = [under * math.sqrt(size) for size in sizes]
        return base, [[row[c] + roots[c] for c in range(len(row))] for row in base]

    @staticmethod
    def _refine_line(trow, brow, base, row, block, gfac, under, factors):
        """B and T of the cells of one line of Y or dX once its outputs are
        known: B = base + β/(1 − β)·‖got_cell‖₂ (+ λ_out·√s/(1 − β), s the
        cell's elements that may be subnormal or flushed: |got| < λ_out +
        2·B with λ_out charged to all, since β_e ≤ B), T = f·B."""
        for c in range(len(trow)):
            cell = row[c * block : c * block + block]
            b = base[c]
            if gfac:
                b = b + gfac * (_norm(cell) or 0.0) * _UP
            if under:
                charged = under * math.sqrt(len(cell))
                full = b + charged
                if charged * COUNT_BELOW < b:  # at most 1/16 of B: keep it
                    b = full
                else:
                    small = sum(map(lt, map(abs, cell), repeat(under + 2 * full, len(cell))))
                    b = b + under * math.sqrt(small)
            brow[c] = b
            trow[c] = factors[c] * b * _UP

    @staticmethod
    def _tolerances(trow, vgot, vref, vmax):
        """T + V per cell of a line, V = (1 + 2u)(V_got + V_ref) + u·T; keeps
        the largest V of each cell in vmax."""
        out = []
        for c in range(len(trow)):
            v = ((1 + 2 * _U) * (vgot[c] + vref[c]) + _U * trow[c]) * _UP
            if v > vmax[c]:
                vmax[c] = v
            out.append((trow[c] + v) * _UP)
        return out

    # -- dX = dY Wᵀ: cells (i, K) ------------------------------------------------

    def dx_data(self, check, signs):
        """The reference side of dX's cells (finite inputs only), signs [r ∈
        {±1}^D a trial], as plain data (lists of floats, what a forked child
        sends back): {'refs', 'vrefs': [a trial's [line][block]], 'tt',
        'bmag', 'base': [line][block]}, or None if W is not finite."""
        n, d, m, bd = self.n, self.d, self.m, self.bd
        nb = check.blocks
        alpha, beta, kappa, under, inv, gfac, lam = _cell_terms(check.k, self.dtype)
        if self.w_row_norms is None:  # before Y's pass (a child): their own pass
            self.w_row_norms = self._w_row_norms()
        if None in self.w_row_norms:
            return None
        wf = _block_norms(self.w_row_norms, bd)  # ‖W_{K,:}‖_F
        sizes = _cell_sizes(d, bd)
        dl, wl = lam * math.sqrt(m), [lam * math.sqrt(m * size) for size in sizes]
        bmag = [
            [
                alpha * (dn + dl) * (wf[c] + wl[c]) * _UP + kappa * math.sqrt(sizes[c])
                for c in range(nb)
            ]
            for dn in self.dy_norms
        ]
        base, bmag = self._output_terms(bmag, inv, under, sizes)
        tt = self._t_of(bmag, sizes, by_line=True)
        if _HYPOT and _STEPPED and not (beta or gfac or under or lam):
            self._holder_dx(tt, sizes, alpha, kappa)
        out = {"refs": [], "vrefs": [], "tt": tt, "bmag": bmag, "base": base}
        for r in signs:
            us, grid_err = self._w_block_sums_down(r, bd, wf)  # W_Kᵀ r_K, (blocks,) of (M,)
            unorm = [_norm(u) or 0.0 for u in us]
            refs, g_m = _reference_dots(self.dyr, self.dy_norms, us, unorm)  # dY_i·(W_Kᵀ r_K)
            vrefs = []
            for i in range(n):
                dn = self.dy_norms[i]
                vrefs.append(
                    [
                        (g_m + 2 * _U) * dn * unorm[c] + grid_err(i, c) + (1 + 16 * m) * _TINY
                        for c in range(nb)
                    ]
                )
            out["refs"].append(refs)
            out["vrefs"].append(vrefs)
        return out

    def finish_dx(self, check, signs, data):
        """finish(dx) from dx_data's data (None: W not finite, unverifiable)."""
        if data is None:
            self.finite = False
            return self.unverifiable(check, "an input has an infinite or NaN entry")
        _, _, _, under, _, gfac, _ = _cell_terms(check.k, self.dtype)
        runs = list(zip(signs, data["refs"], data["vrefs"]))
        sizes = _cell_sizes(self.d, self.bd)
        tt, bmag, base = data["tt"], data["bmag"], data["base"]
        return self._finish_lines(check, runs, self.bd, sizes, tt, bmag, base, gfac, under)

    def _holder_dx(self, tt, sizes, alpha, kappa):
        """_holder_y for dX's cells (i, K), tt[line][block] lowered in place.
        With B_Kj = Σ_{k∈K}|w_kj| (exact sums of |W|'s rows, below) and
        groups h of CELL consecutive j:

            Σ_{k∈K} Σ_j |dy_ij||w_kj| = Σ_h Σ_{j∈h} |dy_ij|·B_Kj
                ≤ Σ_h ‖dY_{i,h}‖₁·max_{j∈h} B_Kj

        (Hölder, group by group; B_Kj, a sum of 32 magnitudes, varies little
        inside a group): exact over the block's rows, where Cauchy–Schwarz on W loses rms/mean
        of |w| (2.3 on the mixed inputs' wide band).  |W|'s rows are made a
        block at a time by clearing the sign bits of their bytes (C speed);
        a computed sum of n non-negative floats is within γ_{n−1} of the
        exact one, so B is taken (1 + 2γ_{n+1}) up."""
        m, g, bd = self.m, CELL, self.bd
        w = self.w.values
        groups = _blocks(m, g)
        grow = 1 + gamma(groups + 2, _U)  # a dot of non-negative terms, any order
        floor = 2 * groups * _TINY  # the products' underflow
        dg1 = [[_abs_sum(row[h : h + g]) for h in range(0, m, g)] for row in self.dyr]
        for c in range(len(sizes)):
            a = c * bd
            rows = _abs_rows(w, a, sizes[c], m)
            b = _column_sums(rows, m)  # B_{K,:} (M,)
            lift = (1 + 2 * gamma(sizes[c] + 1, _U)) * _UP
            top = [max(b[h : h + g]) * lift for h in range(0, m, g)]
            for i in range(len(dg1)):
                s = _dot(dg1[i], top)
                th = (alpha * (s + floor) * grow * _UP + kappa * sizes[c]) * _UP
                if th < tt[i][c]:
                    tt[i][c] = th

    # -- dW = Xᵀ dY: cells (K, j) ------------------------------------------------

    def prepare_dw(self, check, signs, references=None, terms=None):
        """Reference side of dW's cells (finite inputs only), signs [r ∈ {±1}^D
        a trial], references dw_references(signs) and terms dw_terms(t) if
        already computed; returns finish(dw)."""
        d, m = self.d, self.m
        trials = len(signs)
        nb = check.blocks
        _, _, _, under, _, gfac, _ = _cell_terms(check.k, self.dtype)
        if terms is None:
            terms = self.dw_terms(self.t)
        cells, dcn, sizes = terms["cells"], terms["dcn"], terms["sizes"]
        exact, extended = terms["exact"], terms["extended"]
        bcoef, bconst, pc, qc, gc, tc, tslope, vq = terms["coefficients"]
        tmin, tbase, srow = terms["exact_sums"]
        cell_of = [0] * d
        for c, rows in enumerate(cells):
            for k in rows:
                cell_of[k] = c
        check.cell_index = lambda k, j: cell_of[k] * m + j
        check.cell_rows = cells
        tt_of = lambda c, j: (
            (tslope[c] * dcn[j] + _factor(self.t, sizes[c]) * _UP * bconst[c]) * _UP
        )
        if references is None:
            references = self.dw_references(signs)
        runs = list(zip(signs, references))
        # the largest slope·‖u‖ and slope of a block over the trials
        vmax = [max([blocks[c][1] for blocks in references] + [0.0]) for c in range(nb)]
        smax = [max([blocks[c][2] for blocks in references] + [0.0]) for c in range(nb)]
        gnorm, small = [], []  # [block][column] at finish

        def tolerances(cell):
            c, j = divmod(cell, m)
            if c in tmin:
                t = tmin[c][j]
                vref = min(vmax[c] * dcn[j], smax[c] * _SROW * srow[c][j])
                total = tbase[c][j] + vref + vq[c]
                return t, total / _UP - t, bcoef[c] * dcn[j] + bconst[c]
            g = gfac * gnorm[c][j] * _UP + small[c][j] if gnorm else 0.0
            t = tt_of(c, j) + _factor(self.t, sizes[c]) * _UP * g
            total = (pc[c] + vmax[c]) * dcn[j] + qc[c]
            if gnorm:
                total = total + gc[c] * gnorm[c][j] + tc[c] * small[c][j]
            return t, total / _UP - t, bcoef[c] * dcn[j] + bconst[c] + g

        check.tolerances = tolerances

        def finish(dw, got=None):
            """got: dw_got's (cells, exact, extended, sums) for this dw, its
            first three checked against this check's."""
            values = dw.values
            if got is not None and list(got[:3]) != [cells, exact, extended or not exact]:
                raise ValueError("dW's got side was summed over other cells or another way")
            if gfac:
                for c in range(nb):
                    rows = [values[k * m : (k + 1) * m] for k in cells[c]]
                    gn = [v or 0.0 for v in map(_norm, zip(*rows))] if rows else [0.0] * m
                    gnorm.append(gn)
                    small.append(
                        self._small_counts(
                            rows, gn, dcn, bcoef[c], bconst[c], gfac, under, math.sqrt(sizes[c]), m
                        )
                    )
            for trial in range(trials):
                r, blocks = runs[trial]
                for c in range(nb):
                    if got is not None:
                        sums = got[3][trial][c]
                    else:
                        rows = [values[k * m : (k + 1) * m] for k in cells[c]]
                        rk = [r[k] for k in cells[c]]
                        sums = _signed_sum(rows, rk, m, exact, extended or not exact)
                    ref, vref, sl = blocks[c]
                    diffs = list(map(abs, map(sub, sums, ref)))
                    if c in tmin:
                        vrefs = map(
                            min,
                            map(mul, dcn, repeat(vref, m)),
                            map(mul, srow[c], repeat(sl * _SROW, m)),
                        )
                        tols = map(add, tbase[c], vrefs)
                        check.note_many(trial, c * m, diffs, list(map(add, tols, repeat(vq[c], m))))
                        continue
                    coef = pc[c] + vref
                    tols = list(map(add, map(mul, dcn, repeat(coef, m)), repeat(qc[c], m)))
                    if gfac:
                        tols = list(map(add, tols, map(mul, gnorm[c], repeat(gc[c], m))))
                    if under:
                        tols = list(map(add, tols, map(mul, small[c], repeat(tc[c], m))))
                    check.note_many(trial, c * m, diffs, tols)

        return finish

    @staticmethod
    def _small_counts(rows, gn, dcn, a1, a0, gfac, under, root, m):
        """[λ_out·√s_j for each column j] of a block of dW's rows: s_j its
        elements with |dW_kj| < λ_out + 2·B_j (B_j the cell's bound with
        λ_out charged to all), the only ones whose bound may hold λ_out
        (_refine_line); zeros without that term."""
        if not under or not rows:
            return [0.0] * m
        charged = under * root
        rest = [a1 * dcn[j] + a0 + gfac * gn[j] * _UP for j in range(m)]
        if charged * COUNT_BELOW < min(rest):  # at most 1/16 of every B
            return [charged] * m
        thr = [under + 2 * (v + charged) for v in rest]
        counts = [0] * m
        for row in rows:
            counts = list(map(add, counts, map(lt, map(abs, row), thr)))
        return [under * math.sqrt(v) for v in counts]

    def _t_of(self, bmag, sizes, by_line):
        """T per cell from its ‖β‖₂ bound B: min(t, √n)·B — Hoeffding's t·B,
        or √n·B ≥ Σβ (the worst case, no false alarm) where that is smaller
        or where worst_case is set (t None).  bmag[line][block] (by_line) or
        bmag[block][line]."""
        t = self.t
        out = []
        for a in range(len(bmag)):
            row = bmag[a]
            if by_line:
                out.append([_factor(t, sizes[c]) * row[c] * _UP for c in range(len(row))])
            else:
                f = _factor(t, sizes[a]) * _UP
                out.append([f * v for v in row])
        return out

    # -- W's block sums ----------------------------------------------------------

    def _w_block_sums_along(self, r, block, wf, floats=None):
        """([W_J r_J (D,) for each block J], error(i, J)): error bounds
        Σ_k |X_ik|·|entry k's error|.  On the grid: (n + 1)/2·Σ_K s_K·Σ_{k∈K}|X_ik|.
        As floats, entry k's error is ≤ γ_{n+1}·Σ_{j∈J}|w_kj|, and
        Σ_k |X_ik| Σ_{j∈J}|w_kj| ≤ √n·‖X_i‖₂·‖W_{:,J}‖_F (wf[J])."""
        m, d = self.m, self.d
        nb = _blocks(m, block)
        sizes = [min(block, m - c * block) for c in range(nb)]
        if self.grid is not None:
            sums = self.grid.along_rows([r], block)[0]
            xg = self.x_grid
            half = [0.5 * (size + 1) * (1 + 2.0**-52) for size in sizes]
            return sums, lambda i, c: half[c] * xg[i]
        if floats is not None:  # from _w_columns
            sums = floats
        else:
            sums = [[0.0] * d for _ in range(nb)]
            w = self.w.values
            for k in range(d):
                row = list(map(mul, w[k * m : (k + 1) * m], r))
                for c in range(nb):
                    sums[c][k] = sum(row[c * block : c * block + block])
        coef = [gamma(size + 1, _U) * math.sqrt(size) * wf[c] * _UP for c, size in enumerate(sizes)]
        xn = self.x_norms
        return sums, lambda i, c: coef[c] * xn[i]

    def _w_block_sums_down(self, r, block, wf):
        """([W_Kᵀ r_K (M,) for each block K], error(i, K)): error bounds
        Σ_j |dY_ij|·|entry j's error|.  On the grid: ‖dY_i‖₁·(n + 1)·s_K/2.
        As floats, entry j's error is ≤ γ_{n+1}·Σ_{k∈K}|w_kj|, and
        Σ_j |dY_ij| Σ_{k∈K}|w_kj| ≤ √n·‖dY_i‖₂·‖W_{K,:}‖_F (wf[K])."""
        m, d = self.m, self.d
        nb = _blocks(d, block)
        sizes = [min(block, d - c * block) for c in range(nb)]
        if self.grid is not None:
            sums = self.grid.down_columns([r])[0]
            err = [packed.grid_error(size, self.grid.steps[c]) for c, size in enumerate(sizes)]
            d1 = self.dy_abs
            return sums, lambda i, c: d1[i] * err[c]
        w = self.w.values
        sums = []
        for c in range(nb):
            a = c * block
            rows = [w[k * m : (k + 1) * m] for k in range(a, a + sizes[c])]
            sums.append(_signed_sum(rows, r[a : a + sizes[c]], m))
        coef = [gamma(size + 1, _U) * math.sqrt(size) * wf[c] * _UP for c, size in enumerate(sizes)]
        dn = self.dy_norms
        return sums, lambda i, c: coef[c] * dn[i]


_SROW = (1 + _U) * _UP  # V_ref through S_Kj: |u_i| ≤ (1 + u)·C_iK


def _factor(t, n):
    """min(t, √n): Hoeffding's t, or the worst case's √n when smaller."""
    root = math.sqrt(n) * (1 + 2 * _U)
    return root if t is None or root <= t else t


def hoeffding_cells(t, sizes_and_counts):
    """How many cell tests rest on Hoeffding (√n > t), from (n, count) pairs."""
    if t is None:
        return 0
    return sum(count for n, count in sizes_and_counts if _factor(t, n) == t)


def _signed_sum(rows, signs, width, exact=False, extended=True):
    """Σ_k signs[k]·rows[k] for signs ±1.0, (width,): by the extended
    math.sumprod of each column with the signs where there is one and
    extended is true (error ≤ _extended_rho(n)·Σ|terms| while no value
    exceeds EXTENDED_TOP; beyond, its fallback adds partial sums as floats,
    within γ_{n+1}), else the rows of each sign summed apart (_column_sums;
    exact: each sum correctly rounded, 3u·Σ|terms| in all, whatever the
    values), then one subtraction."""
    sumprod = _extended_sumprod() if extended and len(rows) > 1 else None
    if sumprod is not None:
        return list(map(sumprod, zip(*rows), repeat(signs, width)))
    plus = [row for row, s in zip(rows, signs) if s > 0]
    minus = [row for row, s in zip(rows, signs) if s <= 0]
    acc = _column_sums(plus, width, exact)
    if minus:
        acc = list(map(sub, acc, _column_sums(minus, width, exact)))
    return acc


_SIGN_BYTE = 7 if sys.byteorder == "little" else 0
_CLEAR_SIGN = bytes(b & 0x7F for b in range(256))


def _abs_rows(values, first, count, width):
    """|rows first .. first + count − 1| of a row-major array('d') of rows
    of `width`, as arrays: the sign bits cleared in a copy of their bytes."""
    raw = bytearray(values[first * width : (first + count) * width])
    raw[_SIGN_BYTE::8] = raw[_SIGN_BYTE::8].translate(_CLEAR_SIGN)
    out = array("d")
    out.frombytes(raw)
    return [out[k * width : (k + 1) * width] for k in range(count)]


def _column_sums(rows, width, exact=False):
    """Σ of equal-length rows (arrays or lists), (width,); exact: each
    correctly rounded (math.fsum)."""
    if not rows:
        return [0.0] * width
    if len(rows) == 1:
        return rows[0].tolist() if hasattr(rows[0], "tolist") else list(rows[0])
    if exact:
        return list(map(fsum, zip(*rows)))
    if _JIT:
        out = list(rows[0])
        for k in range(1, len(rows)):
            v = rows[k]
            for j in range(width):
                out[j] += v[j]
        return out
    return list(map(sum, zip(*rows)))


def _check_db(dy, db, n, m, dtype):
    """db[j] = Σ_i dY[i][j], every element against its own bound (O(N·M))."""
    check = OutputCheck("db", m, 1, 1, n, 1, lambda j: j)
    check.tolerances = lambda cell: (0.0, 0.0, 0.0)
    from .bounds import overflow_outcome
    from .compare import _overflow_ratio

    dbl = db.lists()
    for j in range(m):
        col = dy.col(j)
        ref = fsum(col)  # correctly rounded exact sum
        mag = fsum([abs(v) for v in col])
        got, bound = dbl[j], element_bound(n, mag, ref, dtype)
        diff = abs(got - ref)
        outcome = overflow_outcome(n, mag, ref, dtype) if is_finite(ref) else "finite"
        if outcome != "finite":  # float16: ±inf may, or must, be
            ratio, note = _overflow_ratio(outcome, got, ref, diff, bound)
            diff = 0.0 if ratio == 0 else (diff if ratio < float("inf") else float("inf"))
            if note:
                check.problems.append(
                    "db[%d] = %r %s: its exact value %r is beyond the "
                    "output format's overflow threshold by more than "
                    "the bound" % (j, got, note, ref)
                )
        check.note(0, j, diff, bound)
    return check
