"""Sampled elements at size: each against its own bound, and the precision fingerprint.

Projections (freivalds.py) see every element but only above a threshold of
some tens of element bounds.  Here a sample of elements is recomputed
exactly and each is judged by the catalogue's own rule,

    |got − ref| ≤ bounds.element_bound(K, Σ|terms|, ref, dtype),

so a bug that puts many elements a little beyond their bounds (a kernel
that rounds its operands to bfloat16) is seen wherever the sample hits it.
References: in float32 exact (float32 products are exact in float64 and
math.fsum rounds their sum correctly); in float64 a recomputation, fsum of
the rounded products, whose error u·Σ|products| (1/K of the element's
γ_K·mag) is added to the bound it is judged by.

Which elements (Plan): whole columns of Y and dX (N elements each: every
row of the output is hit), whole rows and columns of dW, and random
elements of each, drawn after the backend has computed.  A bug affecting a
fraction f of an output's elements escapes the r random elements with
probability (1 − f)^r; a whole row is hit by every sampled column, a whole
column by every sampled row; a tile of a×b elements escapes with
probability (1 − a·b/E)^r·(1 − b/C)^c·(1 − a/R)^q for c sampled columns of
C and q sampled rows of R (docs/verification.md, "Sampled elements").

The fingerprint (per output, from the sampled elements):
- the errors in units of their bounds (RMS, median, max);
- u_eff = √(Σ e'² / Σ ρ²), e' = |error| less the bound's terms that do not
  scale with rounding (underflow, the exact value's own rounding), ρ² =
  Σ_k t_k² over the element's products: the relative rounding per product
  that would explain the errors.  Reported as significand bits, −log2 u_eff:
  correct float32 kernels measure about 19–24 bits (errors of accumulation
  grow like √K), a kernel rounding its operands to bfloat16 about 8;
- z² = e'²/(u²·mag²·(2K + 1)·(1 + γ_K)²) per element.  Under the
  probabilistic model of rounding (Higham & Mary 2019: every rounding error
  of the computation independent, mean zero, at most u), a correct kernel's
  z is sub-Gaussian with variance proxy 1 (2K + 1 roundings, each scaling a
  value no larger than mag), and the mean of S independent z² exceeds τ with
  probability at most exp(−(S/2)(τ − 1 − ln τ)).  With fingerprint_check
  an output fails when its mean z² > τ(S, p/3), p the stated false-alarm
  probability; otherwise the fingerprint is only reported.
"""

import math

from .bounds import (
    UNIT_ROUNDOFF,
    element_bound,
    exact_dot,
    fsum,
    gamma,
    is_finite,
    overflow_outcome,
    rounding_free_bound,
)
from .formatting import json_float
from .ops import mul, repeat


_U64 = 2.0**-53
_TINY = 2.0**-1074  # a product's underflow, at most


class Plan:
    """How many elements to sample, per output: {name: (columns, rows, random)}."""

    def __init__(self, counts):
        self.counts = dict(counts)

    @classmethod
    def default(cls, n, d, m, dtype):
        """Whole columns of Y and dX, a whole row and column of dW, and random
        elements: fewer random ones in float64, whose exact values cost
        about four times as much."""
        random_long = 32 if dtype == "float64" else 64
        return cls({"y": (1, 0, random_long), "dx": (1, 0, random_long), "dw": (1, 1, 256)})

    @classmethod
    def none(cls):
        return cls({})


class Element:
    """One sampled element: its exact value, magnitude, bound and, once the
    outputs arrive, what the backend returned.  outcome is
    bounds.overflow_outcome's: 'finite' everywhere but where the output may
    ('may') or must ('must') overflow, or the accumulation may ('any')."""

    __slots__ = ("index", "got", "ref", "mag", "rss", "bound", "floor", "outcome")

    def __init__(self, index, got, ref, mag, rss, bound, floor, outcome="finite"):
        self.index, self.got, self.ref = index, got, ref
        self.mag, self.rss, self.bound, self.floor = mag, rss, bound, floor
        self.outcome = outcome

    @property
    def error(self):
        return abs(self.got - self.ref)

    @property
    def ratio(self):
        e = self.error
        if self.outcome != "finite":
            from .compare import _overflow_ratio

            return _overflow_ratio(self.outcome, self.got, self.ref, e, self.bound)[0]
        if not e == e:
            return float("inf")
        return e / self.bound if self.bound > 0 else (0.0 if e == 0 else float("inf"))

    @property
    def note(self):
        """'should overflow to inf' where the exact value is certainly beyond
        the output format's overflow threshold and got is finite, else ''."""
        if self.outcome == "must" and is_finite(self.got):
            return "should overflow to %s" % ("inf" if self.ref > 0 else "-inf")
        return ""

    @property
    def judged_by_rounding(self):
        """Whether the fingerprint's rounding model applies: a finite sum that
        cannot overflow (an overflowed element tells nothing of rounding)."""
        return self.outcome == "finite"


class Sample:
    """One output's sampled elements and their verdict."""

    def __init__(self, name, shape, k, columns, rows, randoms):
        self.name, self.shape, self.k = name, shape, k
        self.columns, self.rows, self.randoms = columns, rows, randoms  # what was drawn
        self.elements = []

    @property
    def failed(self):
        return [e for e in self.elements if not e.ratio <= 1.0]

    @property
    def passed(self):
        return not self.failed

    def worst(self):
        best = None
        for e in self.elements:
            if best is None or e.ratio > best.ratio:
                best = e
        return best

    def coverage(self):
        """Escape probabilities of bugs of a few shapes (module docstring)."""
        r_count, c_count = self.shape
        total = r_count * c_count
        nr = len(self.randoms)
        nc, nq = len(self.columns), len(self.rows)
        out = {}
        out["fraction_1pct"] = 0.99**nr if total else 1.0
        out["row"] = 0.0 if nc else ((1 - 1.0 / r_count) ** nr if r_count else 1.0)
        out["column"] = 0.0 if nq else ((1 - 1.0 / c_count) ** nr if c_count else 1.0)
        a, b = min(32, r_count), min(32, c_count)
        if total:
            p = (1 - float(a * b) / total) ** nr
            if c_count:
                p *= (1 - float(b) / c_count) ** nc
            if r_count:
                p *= (1 - float(a) / r_count) ** nq
            out["tile"] = p
            out["tile_shape"] = [a, b]
        return out

    def to_dict(self, check):
        w = self.worst()
        th = thresholds(check)
        return {
            "elements": len(self.elements),
            "columns": self.columns,
            "rows": self.rows,
            "random": len(self.randoms),
            "failed": len(self.failed),
            "passed": self.passed,
            "worst": None
            if w is None
            else {
                "index": list(w.index),
                "expected": json_float(w.ref),
                "got": json_float(w.got),
                "bound": json_float(w.bound),
                "ratio": json_float(w.ratio),
            },
            "threshold_units": th,
            "escape_at_100": escape_at(check, 100.0),
            "coverage": dict(
                (k, json_float(v) if not isinstance(v, list) else v)
                for k, v in self.coverage().items()
            ),
        }


def thresholds(check):
    """The cell detection threshold in units of each sampled element's own
    bound: {'median', 'max'} (None without samples)."""
    units = []
    if check.sampled is None:
        return None
    for e in check.sampled.elements:
        if e.bound > 0:
            units.append(check.detect_at(e.index) / e.bound)
    if not units:
        return None
    units.sort()
    return {"median": units[len(units) // 2], "max": units[-1]}


def escape_at(check, times):
    """{'median', 'max'} over sampled elements of the probability that an
    element off by `times` its own bound escapes all trials, the rest of its
    cell within bounds (None without samples)."""
    if check.sampled is None or not check.sampled.elements:
        return None
    probs = sorted(
        check.escape_at(e.index, times * e.bound) ** check.trials for e in check.sampled.elements
    )
    return {"median": probs[len(probs) // 2], "max": probs[-1]}


class Fingerprint:
    """Error statistics of one output's sampled elements (module docstring)."""

    def __init__(self, name, dtype, elements, k, check_it, false_alarm):
        self.name, self.dtype, self.k = name, dtype, k
        self.checked = check_it
        u, delta, u_out = model(dtype)
        ratios = sorted(e.ratio for e in elements)
        self.rms_ratio = math.sqrt(fsum([r * r for r in ratios]) / len(ratios)) if ratios else 0.0
        self.median_ratio = ratios[len(ratios) // 2] if ratios else 0.0
        self.max_ratio = ratios[-1] if ratios else 0.0
        # elements whose sum may overflow tell nothing of rounding: left out
        elements = [e for e in elements if e.judged_by_rounding]
        self.count = len(elements)
        g = gamma(k + 1, u)
        # roundings of one element (docs/verification.md): 2K + 1 in the
        # accumulation (u), 2K operand conversions (δ, tf32), the output's
        # rounding (u_out, where narrower); each scales a value ≤ mag·(1+γ)(1+δ)²
        count = 2 * k + 1 + 2 * k * (delta / u) ** 2 + (u_out / u) ** 2
        grow = (1 + g) * ((1 + delta) * (1 + delta))
        first = g + 2 * delta + delta * delta + u_out
        second = first * first
        num = den = zsum = 0.0
        for e in elements:
            err = e.error
            # the bits: the error less what is not rounding (underflow, the
            # reference's own rounding); z: less the second-order term too
            rounding = _positive(err - e.floor)
            linear = _positive(err - e.floor - second * e.mag)
            num += rounding * rounding
            den += e.rss * e.rss
            scale = u * e.mag * math.sqrt(count) * grow
            if scale > 0:
                zsum += (linear / scale) ** 2
            elif linear > 0:
                zsum = float("inf")
        self.u_eff = math.sqrt(num / den) if den > 0 else 0.0
        self.bits = -math.log(self.u_eff) / math.log(2.0) if self.u_eff > 0 else float("inf")
        self.mean_z2 = zsum / self.count if self.count else 0.0
        self.tau = tau(self.count, false_alarm / 3.0) if self.count else float("inf")
        self.false_alarm = false_alarm

    @property
    def passed(self):
        return not self.checked or self.mean_z2 <= self.tau

    def hint(self):
        """What precision the errors look like, in words."""
        if self.bits == float("inf"):
            return "no rounding error seen"
        u, delta, u_out = model(self.dtype)
        coarsest = -math.log(max(u, delta, u_out)) / math.log(2.0)
        if coarsest >= 20 and self.bits < 12:  # float32 sums, float32 outputs
            return (
                "errors typical of a %.0f-bit significand: bfloat16 or float16 operands, "
                "products or outputs?" % self.bits
            )
        if coarsest < 20 and self.bits < coarsest - 5:
            # tf32 (10 bits), bfloat16 (8), float16 (11): correct kernels measure
            # from about 3 bits below to 2 above the contract's coarsest rounding
            # (docs/verification.md, the fingerprint)
            return (
                "errors typical of a %.0f-bit significand, coarser than any rounding "
                "of the %s contract (%.0f bits): sums in a narrower format?"
                % (self.bits, self.dtype, coarsest)
            )
        if self.dtype == "float64" and self.bits < 30:
            return (
                "errors typical of a %.0f-bit significand: float32 somewhere in a "
                "float64 kernel?" % self.bits
            )
        return "errors typical of %s rounding" % self.dtype

    def to_dict(self):
        return {
            "elements": self.count,
            "rms_ratio": json_float(self.rms_ratio),
            "median_ratio": json_float(self.median_ratio),
            "max_ratio": json_float(self.max_ratio),
            "u_eff": json_float(self.u_eff),
            "bits": json_float(self.bits),
            "mean_z2": json_float(self.mean_z2),
            "tau": json_float(self.tau),
            "checked": self.checked,
            "passed": self.passed,
            "hint": self.hint(),
        }


def model(dtype):
    """(u, δ, u_out) of the fingerprint's rounding model for a dtype: u the
    accumulation's unit roundoff, δ the operands' conversion to the multiply
    format (tf32: 2⁻¹⁰, else 0), u_out the output's rounding where the output
    format is narrower than the accumulation (bfloat16, float16), else 0."""
    try:
        from . import contracts

        c = contracts.get(dtype)
    except (ImportError, ValueError):
        return unit_roundoff(dtype), 0.0, 0.0
    return (
        unit_roundoff(dtype),
        c.operand_rounding,
        c.output.unit_roundoff if c.rounds_output else 0.0,
    )


def unit_roundoff(dtype):
    """u of the format a dtype's sums are formed in: its precision contract's
    accumulation format where contracts exist (contracts.py), else the
    dtype's own (float64, float32)."""
    try:
        from . import contracts

        return contracts.get(dtype).accumulate.unit_roundoff
    except (ImportError, AttributeError, KeyError, ValueError):
        return UNIT_ROUNDOFF.get(dtype, UNIT_ROUNDOFF["float32"])


def _positive(v):
    """max(v, 0), NaN as +inf (an error that is not a number is the worst)."""
    if v != v:
        return float("inf")
    return v if v > 0 else 0.0


def tau(count, p):
    """τ with exp(−(S/2)(τ − 1 − ln τ)) = p, S = count (bisection)."""
    target = 2.0 * math.log(1.0 / p) / count
    lo, hi = 1.0, 2.0
    while hi - 1 - math.log(hi) < target:
        hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if mid - 1 - math.log(mid) < target:
            lo = mid
        else:
            hi = mid
    return hi


# -- exact values ----------------------------------------------------------------


class _Exact:
    """Each sampled element's reference: exact wherever the storage format
    has at most 26 significant bits (float32, tf32, bfloat16, float16:
    products exact in float64, math.fsum rounds their sum correctly), a
    float64 recomputation in float64: math.fsum of the rounded products,
    within u·Σ|products|·(1 + 2u) of the exact sum besides its own rounding
    (each product rounds by at most u relative; fsum adds none but the last),
    a slack far below the float64 element bound γ_K·mag for any K ≥ 2 (1/K
    of it).  Under tf32 mag is Σ max(|a|, λ)·max(|b|, λ) (+|extra|), the
    magnitude the bound's operand-conversion term is stated for."""

    def __init__(self, dtype):
        try:
            from . import contracts

            c = contracts.get(dtype)
            self.exact = c.storage.p <= 26
            self.floor = c.multiply.smallest_normal if c.operand_rounding else None
        except (ImportError, ValueError):
            self.exact, self.floor = dtype == "float32", None

    def value(self, a, b, extra=None):
        """(ref, mag, slack) of Σ a_k·b_k (+ extra): |ref − exact| ≤ slack +
        u·|ref| (the u·|ref| is in every element bound)."""
        products = list(map(mul, a, b))
        if extra is not None:
            products.append(extra)
        return self._finish(a, b, extra, products)[:3]

    def dot(self, a, b, extra=None):
        """(ref, mag, rss, slack) of Σ a_k·b_k (+ extra), as value() with the
        products' root sum of squares."""
        products = list(map(mul, a, b))
        if extra is not None:
            products.append(extra)
        ref, mag, slack = self._finish(a, b, extra, products)
        return ref, mag, _rss(products), slack

    def _finish(self, a, b, extra, products):
        mag = fsum(map(abs, products))
        if not is_finite(mag):
            ref, mag = exact_dot(a, b, extra, self.exact, self.floor)
            return ref, mag, 0.0
        if self.floor is not None:
            lam = self.floor
            mag = fsum(
                map(
                    mul,
                    map(max, map(abs, a), repeat(lam, len(a))),
                    map(max, map(abs, b), repeat(lam, len(b))),
                )
            )
            if extra is not None:
                mag = mag + abs(extra)  # rounds up below: slack
                mag = mag * (1 + 2 * _U64)
        if self.exact:
            return fsum(products), mag, 0.0
        return fsum(products), mag, _U64 * mag * (1 + 4 * _U64) + _TINY * len(products)


def exact_value(ctx, name, i, j):
    """(ref, mag, slack) of one element of y (i, j), dx (i, k=j) or dw
    (k=i, j) from a verification's inputs (freivalds._Context)."""
    return _operands(ctx, name, i, j, _Exact(ctx.dtype).value)


def _rss(values):
    """√(Σ v²) without underflow (math.hypot where it takes many arguments)."""
    try:
        return math.hypot(*values)
    except (TypeError, AttributeError):  # MicroPython: two arguments, or none
        top = max(map(abs, values)) if values else 0.0
        if not top > 0 or not is_finite(top):
            return top
        return top * math.sqrt(fsum([(v / top) * (v / top) for v in values]))


# -- drawing and judging ---------------------------------------------------------


def _pick(rng, count, limit):
    """count indices in [0, limit) (distinct when count ≤ limit)."""
    if limit <= 0:
        return []
    if count >= limit:
        return list(range(limit))
    seen, out = set(), []
    while len(out) < count:
        v = rng.next64() % limit
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def prepare(plan, ctx, checks, rng):
    """Draw each output's elements and compute their exact values and
    bounds (the inputs decide them): [(check, Sample)] whose elements have
    got = None until finish().  In three steps, which freivalds.Prepared
    takes apart to compute the values in a forked child: draw, values,
    attach."""
    drawn = draw(plan, ctx, checks, rng)
    return attach(drawn, values(ctx, drawn))


def draw(plan, ctx, checks, rng):
    """[(check, Sample without elements, [(i, j) wanted])]: the elements of
    each output to sample (whole columns, whole rows, random ones), drawn
    from rng; none where the inputs are not finite."""
    shapes = {"y": (ctx.n, ctx.m), "dx": (ctx.n, ctx.d), "dw": (ctx.d, ctx.m)}
    out = []
    for check in checks:
        name = check.name
        if name not in plan.counts:
            continue
        ncol, nrow, nrand = plan.counts[name]
        rows_count, cols_count = shapes[name]
        if rows_count == 0 or cols_count == 0 or not ctx.finite:
            continue
        columns = _pick(rng, ncol, cols_count)
        rows = _pick(rng, nrow, rows_count)
        total = rows_count * cols_count
        randoms = [divmod(v, cols_count) for v in _pick(rng, nrand, total)]
        sample = Sample(name, (rows_count, cols_count), check.k, columns, rows, randoms)
        wanted = []
        for j in columns:
            wanted.extend((i, j) for i in range(rows_count))
        for i in rows:
            wanted.extend((i, j) for j in range(cols_count))
        wanted.extend(randoms)
        out.append((check, sample, wanted))
    return out


def values(ctx, drawn):
    """Plain data (what a forked child sends back): for each of draw()'s
    outputs, [(ref, mag, rss, bound, floor, outcome) for each wanted
    element], its exact value, magnitude and bounds."""
    exact = _Exact(ctx.dtype)
    out = []
    for check, sample, wanted in drawn:
        name, got = sample.name, []
        for i, j in wanted:
            ref, mag, rss, slack = _reference(ctx, exact, name, i, j)
            bound = element_bound(check.k, mag, ref, ctx.dtype) + slack
            floor = rounding_free_bound(check.k, mag, ref, ctx.dtype) + slack
            outcome = overflow_outcome(check.k, mag, ref, ctx.dtype) if is_finite(ref) else "finite"
            got.append((ref, mag, rss, bound, floor, outcome))
        out.append(got)
    return out


def attach(drawn, computed):
    """[(check, Sample)]: draw()'s samples with values()' elements."""
    out = []
    for (check, sample, wanted), got in zip(drawn, computed):
        for index, (ref, mag, rss, bound, floor, outcome) in zip(wanted, got):
            sample.elements.append(Element(index, None, ref, mag, rss, bound, floor, outcome))
        out.append((check, sample))
    return out


def finish(prepared, outputs, dtype, fingerprint_check, false_alarm):
    """Read each sampled element from outputs ({name: flat.Matrix}), judge it,
    and attach the Sample and its Fingerprint to the output's check."""
    for check, sample in prepared:
        got = outputs[check.name]
        cols = got.shape[1]
        vals = got.values
        for e in sample.elements:
            i, j = e.index
            e.got = vals[i * cols + j]
        check.sampled = sample
        check.fingerprint = Fingerprint(
            check.name, dtype, sample.elements, check.k, fingerprint_check, false_alarm
        )


def _reference(ctx, exact, name, i, j):
    """(ref, mag, rss, slack) of one element of y (i, j), dx (i, k=j) or dw
    (k=i, j)."""
    return _operands(ctx, name, i, j, exact.dot)


def _operands(ctx, name, i, j, dot):
    """dot(a, b, extra) on the operands of one element of y, dx or dw."""
    if name == "y":
        extra = ctx.bl[j] if ctx.bl is not None else None
        return dot(ctx.xr[i], ctx.w.col(j), extra)
    if name == "dx":
        return dot(ctx.dyr[i], ctx.w.row(j))
    xt, dyt = ctx.xt(), ctx.dyt()
    return dot(xt[i], dyt[j])


# -- the report --------------------------------------------------------------------


def report_lines(v):
    """Text lines of a Verification: per output the projections, the
    thresholds, the sampled elements and the fingerprint."""
    if v.worst_case or not v.hoeffding_tests:
        how = "tolerances Σ of element bounds%s: a correct backend never fails" % (
            "" if v.worst_case else " (smaller than Hoeffding's at t = %.2f)" % v.t
        )
    else:
        how = (
            "Hoeffding, t = %.2f, on %d of %d cell tests (Σ of bounds on the rest): a "
            "correct backend fails with probability ≤ %.3g"
            % (v.t, v.hoeffding_tests, v.tests, v.false_alarm)
        )
    out = [
        "verified N=%d, D=%d, M=%d in %s: %d sign trial%s of cells of %d, %s (seed %d)"
        % (v.n, v.d, v.m, v.dtype, v.trials, "" if v.trials == 1 else "s", v.cell, how, v.seed)
    ]
    for o in v.outputs:
        status = "ok  " if o.passed else "FAIL"
        if o.name == "db":
            out.append(
                "  %-3s %s: every element exactly against its bound, worst ratio %.3g%s"
                % (o.name, status, o.worst_ratio, "; " + o.message if o.message else "")
            )
            out.extend("      " + p for p in o.problems)
            continue
        out.append(
            "  %-3s %s: %d cells × %d trials, worst |diff|/tolerance %.3g%s"
            % (
                o.name,
                status,
                o.cells,
                v.trials,
                o.worst_ratio,
                "" if o.projections_passed else "; " + o.message,
            )
        )
        out.extend("      " + p for p in o.problems)
        if o.elements_checked:
            out.append(
                "      %d elements of rows whose X·W part is below the bias, each against its "
                "own tolerance: %s"
                % (
                    o.elements_checked,
                    "ok"
                    if not o.failed_elements
                    else "%d FAILED; %s" % (o.failed_elements, o.element_message),
                )
            )
        if o.settled:
            out.append(
                "      %d element%s overflowed to ±inf where the exact value allows it "
                "(judged one by one; their cells use the exact value)"
                % (o.settled, "" if o.settled == 1 else "s")
            )
        th = thresholds(o)
        if th is not None:
            esc = escape_at(o, 100.0)
            out.append(
                "      one element off by more than %.0f× its own bound (median over "
                "sampled elements; at most %.0f×) escapes with probability ≤ 2^-%d; "
                "one off by 100× among right ones, ≤ %s (median; at most %s)"
                % (th["median"], th["max"], v.trials, _prob(esc["median"]), _prob(esc["max"]))
            )
        s = o.sampled
        if s is not None:
            cov = s.coverage()
            w = s.worst()
            what = []
            if s.columns:
                what.append(
                    "%d whole column%s" % (len(s.columns), "" if len(s.columns) == 1 else "s")
                )
            if s.rows:
                what.append("%d whole row%s" % (len(s.rows), "" if len(s.rows) == 1 else "s"))
            what.append("%d random" % len(s.randoms))
            line = (
                "      sampled %d elements (%s) against their own bounds: %s, worst ratio "
                "%.3g"
                % (
                    len(s.elements),
                    ", ".join(what),
                    "%d FAIL" % len(s.failed) if s.failed else "ok",
                    w.ratio if w else 0.0,
                )
            )
            out.append(line)
            if s.failed:
                e = s.failed[0]
                out.append(
                    "      %s%s: expected %.17g, got %.17g, bound %.3g (ratio %.3g)%s"
                    % (
                        o.name,
                        list(e.index),
                        e.ref,
                        e.got,
                        e.bound,
                        e.ratio,
                        ": " + e.note if e.note else "",
                    )
                )
            out.append(
                "      a bug in 1%% of the elements escapes the sample with probability "
                "%s; a whole row %s, a whole column %s, a %d×%d tile %s"
                % (
                    _prob(cov["fraction_1pct"]),
                    _prob(cov["row"]),
                    _prob(cov["column"]),
                    cov.get("tile_shape", [0, 0])[0],
                    cov.get("tile_shape", [0, 0])[1],
                    _prob(cov.get("tile", 1.0)),
                )
            )
        f = o.fingerprint
        if f is not None and f.count:
            out.append(
                "      fingerprint: errors %.3g× their bounds (RMS; median %.3g, max "
                "%.3g), %s bits per product (%s); mean z² %.3g (τ %.3g%s)"
                % (
                    f.rms_ratio,
                    f.median_ratio,
                    f.max_ratio,
                    "∞" if f.bits == float("inf") else "%.1f" % f.bits,
                    f.hint(),
                    f.mean_z2,
                    f.tau,
                    ", checked: %s" % ("ok" if f.passed else "FAIL")
                    if f.checked
                    else ", not checked",
                )
            )
    return out


def _prob(p):
    if p is None:
        return "-"
    if p <= 0:
        return "0"
    if p >= 1:
        return "1"
    if p < 1e-3:
        return "%.1e" % p
    return "%.3g" % p
