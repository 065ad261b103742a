"""Exact reference values and the rounding-error bound every verdict uses.

A correct kernel computes each output element as a dot product of K terms in
some order, perhaps blocked, perhaps with fused multiply-adds.  For any such
order (Higham, Accuracy and Stability of Numerical Algorithms, §3.1):

    |got - exact| ≤ γ_K(u) · Σ_k |a_k|·|b_k|,      γ_K(u) = K·u / (1 - K·u)

with u the unit roundoff of the dtype the kernel computes in (2⁻⁵³ for
float64, 2⁻²⁴ for float32).  K is D for Y (D + 1 with a bias, whose |b_j| joins
the sum), M for dX, N for dW and N for db (terms |dY_ij|).

What refbackprop adds, each term stated:
- underflow: a product below the smallest normal may lose all its digits
  (gradual underflow, or flush-to-zero on GPUs): + K·λ, λ the smallest normal;
- the exact value itself is a float64 (correctly rounded from the exact sum,
  see exact_dot): + 2·2⁻⁵³·|ref| + 4K·λ₆₄;
- Σ|a||b| and γ are evaluated in float64: the γ term is multiplied by the
  safety factor 1 + 2⁻²⁰.

Under a precision contract (contracts.py: storage, multiply, accumulate and
output formats) the same bound is built from the accumulation format's u and
λ, with an operand-conversion term for TF32 multiplies and an output-rounding
term where the output format is narrower; docs/precision.md derives every
term.  float64 and float32 are computed exactly as above.
"""

import math
import struct

from . import contracts

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
SMALLEST_NORMAL = {"float64": 2.0**-1022, "float32": 2.0**-126}
SAFETY = 1.0 + 2.0**-20
_U64 = 2.0**-53
_SPLIT = 134217729.0  # 2^27 + 1, Veltkamp's splitter for float64
_SPLIT_LIMIT = 2.0**995  # beyond this the splitter overflows

try:
    fsum = math.fsum
except AttributeError:  # MicroPython: Shewchuk's exact partials

    def fsum(values):
        partials = []
        for x in values:
            i = 0
            for y in partials:
                if abs(x) < abs(y):
                    x, y = y, x
                hi = x + y
                lo = y - (hi - x)
                if lo:
                    partials[i] = lo
                    i += 1
                x = hi
            partials[i:] = [x]
        acc = 0.0
        for p in partials:
            acc = acc + p
        return acc


def gamma(k, u):
    """γ_K(u) = K·u / (1 - K·u); refuses K·u ≥ 1, where no bound exists."""
    ku = k * u
    if ku >= 1:
        raise ValueError("no rounding-error bound for K=%d at u=%r (K·u ≥ 1)" % (k, u))
    return ku / (1 - ku)


def bits(v):
    """The IEEE binary64 bytes of v: equal exactly when the floats are the same
    bit for bit (NaN payloads, -0.0 and 0.0 told apart)."""
    return struct.pack("<d", v)


def is_nan(v):
    return v != v


def is_finite(v):
    return v == v and v not in (float("inf"), float("-inf"))


def _split(v):
    """v = hi + lo exactly, each with at most 26 significant bits."""
    c = _SPLIT * v
    hi = c - (c - v)
    return hi, v - hi


def _nonfinite_sum(products):
    """The IEEE outcome of summing products that include NaN or ±Inf.

    Independent of the order: NaN stays NaN, +Inf with -Inf gives NaN,
    otherwise the sign of the infinities.
    """
    pos = neg = False
    for p in products:
        if p != p:
            return float("nan")
        if p == float("inf"):
            pos = True
        elif p == float("-inf"):
            neg = True
    if pos and neg:
        return float("nan")
    return float("inf") if pos else float("-inf")


def exact_dot(a, b, extra=None, exact_products=False, floor=None):
    """(ref, mag): Σ_k a[k]·b[k] (+ extra) and Σ|a[k]·b[k]| (+ |extra|).

    ref is the exact sum correctly rounded to float64 (math.fsum of exact
    terms).  Products of values with at most 26 significant bits (float32,
    tf32, bfloat16, float16) are exact in float64 (exact_products=True);
    float64 products are split (Veltkamp) into four exact partial products
    first.  Non-finite outcomes follow IEEE (_nonfinite_sum) and mag is then
    inf.  With floor (the tf32 contract's smallest normal), mag is
    Σ max(|a[k]|, floor)·max(|b[k]|, floor) (+ |extra|) instead: the
    magnitude the operand-conversion term needs (docs/precision.md).
    """
    products = [a[k] * b[k] for k in range(len(a))]
    if extra is not None:
        products.append(extra)
    if floor is None:
        mag = fsum([abs(p) for p in products])
    else:
        mags = [max(abs(a[k]), floor) * max(abs(b[k]), floor) for k in range(len(a))]
        if extra is not None:
            mags.append(abs(extra))
        mag = fsum(mags)
    if not is_finite(mag):
        for p in products:
            if not is_finite(p):
                return _nonfinite_sum(products), float("inf")
    if exact_products:
        return fsum(products), mag
    terms = []
    for k in range(len(a)):
        x, y = a[k], b[k]
        if abs(x) >= _SPLIT_LIMIT or abs(y) >= _SPLIT_LIMIT:
            return _exact_rational(a, b, extra), mag
        xh, xl = _split(x)
        yh, yl = _split(y)
        terms.extend((xh * yh, xh * yl, xl * yh, xl * yl))
    if extra is not None:
        terms.append(extra)
    return fsum(terms), mag


def _exact_rational(a, b, extra):
    """The exact sum in Fractions, for magnitudes the splitter cannot take."""
    try:
        from fractions import Fraction
    except ImportError:
        raise ValueError(
            "the exact reference for entries of magnitude 2^995 or "
            "more needs exact rationals: the fractions module is "
            "missing on this runtime"
        )
    acc = Fraction(0) if extra is None else Fraction(extra)
    for k in range(len(a)):
        acc += Fraction(a[k]) * Fraction(b[k])
    return float(acc)


def element_bound(k, mag, ref, dtype):
    """The allowed |got - ref| for an element with K terms and Σ|terms| = mag.

    dtype is a precision contract's name (contracts.NAMES) or a Contract.
    """
    c = contracts.get(dtype)
    if c.legacy:
        u = UNIT_ROUNDOFF[c.name]
        lam = SMALLEST_NORMAL[c.name]
        return (
            gamma(k, u) * mag * SAFETY
            + k * lam
            + 2 * _U64 * abs(ref)
            + 4 * k * SMALLEST_NORMAL["float64"]
        )
    return _contract_bounds(k, mag, ref, c)[1]


def accumulation_bound(k, mag, ref, dtype):
    """B: the allowed |s - ref| for the kernel's sum s before its output is
    rounded (the whole bound where the output format is the accumulation's)."""
    c = contracts.get(dtype)
    if c.legacy:
        return element_bound(k, mag, ref, c)
    return _contract_bounds(k, mag, ref, c)[0]


def _contract_bounds(k, mag, ref, c):
    """(B, bound) under contract c, term by term as docs/precision.md derives.

    B = γ_K(u_acc)·(1+δ)²·mag        accumulation, on the converted operands
      + K·λ_acc·(1 + γ_K(u_acc))      underflow or flush-to-zero in the sums
      + 2·2⁻⁵³·|ref| + 4K·λ₆₄         ref is the exact value rounded to float64
      + (2δ + δ²)·mag                 operand conversion (TF32: δ = 2⁻¹⁰)
    bound = B + u_out·(|ref| + B)     output rounding, where the output is
                                      narrower than the accumulation
          + λ_out                     only where |ref| − B < λ_out: gradual
                                      underflow or flush-to-zero of the output
    """
    acc = c.accumulate
    g = gamma(k, acc.unit_roundoff)
    d = c.operand_rounding
    b = (
        g * ((1 + d) * (1 + d)) * mag * SAFETY
        + k * acc.smallest_normal * (1 + g)
        + 2 * _U64 * abs(ref)
        + 4 * k * SMALLEST_NORMAL["float64"]
    )
    if d:
        b = b + (2 * d + d * d) * mag * SAFETY
    if not c.rounds_output or k == 0:
        return b, b
    out = c.output
    bound = b + out.unit_roundoff * (abs(ref) + b) * SAFETY
    if abs(ref) - b < out.smallest_normal * SAFETY:
        bound = bound + out.smallest_normal
    return b, bound


def rounding_free_bound(k, mag, ref, dtype):
    """The terms of element_bound(k, mag, ref, dtype) that do not scale with
    any unit roundoff: underflow in the sums (K·λ_acc·(1 + γ_K)), the
    reference's own rounding (2·2⁻⁵³·|ref| + 4K·λ₆₄), and where the output is
    rounded to a narrower format, those terms through that rounding and
    λ_out where the output may be subnormal or flushed.  What a rounding
    model (sampling's fingerprint) subtracts from an error before reading
    the rest as rounding.  float64 and float32: element_bound(k, 0, ref)."""
    c = contracts.get(dtype)
    if c.legacy:
        return element_bound(k, 0.0, ref, c)
    acc = c.accumulate
    g = gamma(k, acc.unit_roundoff)
    under = (
        k * acc.smallest_normal * (1 + g) + 2 * _U64 * abs(ref) + 4 * k * SMALLEST_NORMAL["float64"]
    )
    if not c.rounds_output or k == 0:
        return under
    out = c.output
    under = under * (1 + out.unit_roundoff * SAFETY)
    if abs(ref) - _contract_bounds(k, mag, ref, c)[0] < out.smallest_normal * SAFETY:
        under = under + out.smallest_normal
    return under


def linear_bound(k, dtype):
    """(alpha, beta, kappa) with element_bound(k, mag, ref, dtype) ≤
    alpha·mag + beta·|ref| + kappa for every mag, ref: what a check that sees
    only sums of elements (Freivalds) can add up line by line."""
    c = contracts.get(dtype)
    if c.legacy:
        alpha = gamma(k, UNIT_ROUNDOFF[c.name]) * SAFETY
        beta = 2 * _U64
        kappa = k * SMALLEST_NORMAL[c.name] + 4 * k * SMALLEST_NORMAL["float64"]
    else:
        acc = c.accumulate
        g = gamma(k, acc.unit_roundoff)
        d = c.operand_rounding
        alpha = (g * (1 + d) * (1 + d) + 2 * d + d * d) * SAFETY
        beta = 2 * _U64
        kappa = k * acc.smallest_normal * (1 + g) + 4 * k * SMALLEST_NORMAL["float64"]
        if c.rounds_output and k:
            grow = 1 + c.output.unit_roundoff * SAFETY
            alpha, kappa = alpha * grow, kappa * grow + c.output.smallest_normal
            beta = beta * grow + c.output.unit_roundoff * SAFETY
    return alpha * SAFETY, beta * SAFETY, kappa * SAFETY


def linear_bound_parts(k, dtype):
    """(alpha, beta, kappa, under): element_bound(k, mag, ref, dtype) ≤
    alpha·mag + beta·|ref| + kappa + under·[|ref| < λ_out·(1 + 2⁻²⁰) + bound],
    where under = λ_out·(1 + 2⁻²⁰) is the output format's underflow term (only
    where the output is rounded to a narrower format; 0 elsewhere, and kappa
    is linear_bound's).  The term is needed only where the exact value may
    round to a subnormal or flushed output (the element bound adds it where
    |ref| − B < λ_out, B ≤ bound): a check that sees the outputs can count
    those elements instead of charging every one."""
    alpha, beta, kappa = linear_bound(k, dtype)
    c = contracts.get(dtype)
    if c.legacy or not (c.rounds_output and k):
        return alpha, beta, kappa, 0.0
    acc = c.accumulate
    g = gamma(k, acc.unit_roundoff)
    grow = 1 + c.output.unit_roundoff * SAFETY
    kappa = (k * acc.smallest_normal * (1 + g) + 4 * k * SMALLEST_NORMAL["float64"]) * grow * SAFETY
    return alpha, beta, kappa, c.output.smallest_normal * SAFETY


def overflow_outcome(k, mag, ref, dtype):
    """What a correct kernel may return for an element whose exact value ref
    is finite: 'finite' (a number within the bound), 'may' (that or ±inf
    with ref's sign: the sum may reach the output format's overflow
    threshold), 'must' (±inf with ref's sign: it certainly does) or 'any'
    (a partial sum may overflow the accumulation format: any non-finite
    value, or a number within the bound).

    float64 and float32 keep their old rule: always 'finite'.
    """
    c = contracts.get(dtype)
    if c.legacy:
        return "finite"
    acc = c.accumulate
    g = gamma(k, acc.unit_roundoff)
    d = c.operand_rounding
    partial = (1 + d) * (1 + d) * mag * (1 + g) * SAFETY + k * acc.smallest_normal
    if partial >= acc.overflow_threshold:
        return "any"
    b = _contract_bounds(k, mag, ref, c)[0]
    limit = c.output.overflow_threshold
    if abs(ref) - b >= limit * SAFETY:
        return "must"
    if (abs(ref) + b) * SAFETY >= limit:
        return "may"
    return "finite"
