"""The comparison engine: one backend, one case, a verdict with no tolerance knob.

Each output element must satisfy |got - exact| ≤ bound (bounds.element_bound:
γ_K(u)·Σ|a||b| for that element's own row and column, plus the terms of the
case's precision contract).  NaN positions must match and ±Inf must match in
sign; under a contract whose output can overflow (float16: from 65520) ±inf is
accepted where the sum may reach the threshold and required where it
certainly does.  The engine also checks output shapes, that outputs are values
of the contract's output format (float32, bfloat16, float16), that the inputs
are unchanged after the call and that no output aliases an input.  A verdict
names, per output, the worst element, expected, got, bound and error/bound
ratio.
"""

from . import bounds, contracts, formats
from .formatting import json_float
from .reference import flatten, transpose

OUTPUTS = {"forward": ("y",), "backward": ("dx", "dw", "db")}
_INF = float("inf")


def _flat(value, rank):
    """A rank-1 or rank-2 value as one flat list (None stays None)."""
    if value is None:
        return None
    return list(value) if rank == 1 else flatten(value)


def exact_outputs(case):
    """{name: (shape, refs, mags, K)} for the case's outputs, flat row-major.

    Cached on the case (case.exact): every backend checked on it shares one
    computation.
    """
    if case.exact is not None:
        return case.exact
    inp = case.inputs()
    x, w, b, dy = inp["x"], inp["w"], inp["b"], inp["dy"]
    n, d, m = case.n, case.d, case.m
    contract = contracts.get(case.dtype)
    exact_products = contract.storage.p <= 26  # a·b exact in float64
    floor = None
    if contract.operand_rounding:
        floor = contract.multiply.smallest_normal

    def dots(rows_a, cols_b, extra=None):
        refs, mags = [], []
        for ra in rows_a:
            for j in range(len(cols_b)):
                e = None if extra is None else extra[j]
                r, g = bounds.exact_dot(ra, cols_b[j], e, exact_products, floor)
                refs.append(r)
                mags.append(g)
        return refs, mags

    out = {}
    if case.op == "forward":
        refs, mags = dots(x, transpose(w, m), b)  # X W + b: (N, M)
        out["y"] = ((n, m), refs, mags, d + (1 if b is not None else 0))
    else:
        dyt = transpose(dy, m)  # (M, N)
        refs, mags = dots(dy, w)  # dY Wᵀ: (N, D)
        out["dx"] = ((n, d), refs, mags, m)
        refs, mags = dots(transpose(x, d), dyt)  # Xᵀ dY: (D, M)
        out["dw"] = ((d, m), refs, mags, n)
        if b is not None:
            refs, mags = dots([[1.0] * n], dyt)  # Σ_i dY: (M,)
            out["db"] = ((m,), refs, mags, n)
        else:
            out["db"] = None
    case.exact = out
    return out


def _index(name, shape, flat_index):
    if len(shape) == 1:
        return "%s[%d]" % (name, flat_index), (flat_index,)
    cols = shape[1]
    i, j = flat_index // cols, flat_index % cols
    return "%s[%d][%d]" % (name, i, j), (i, j)


class OutputVerdict:
    """The judgement of one output (y, dx, dw or db) of one case."""

    def __init__(self, name, shape):
        self.name = name
        self.shape = shape
        self.passed = True
        self.failures = 0  # elements outside their bound
        self.message = ""  # what went wrong, if anything
        self.worst = None  # label of the worst element, e.g. 'dx[3][4]'
        self.worst_index = None  # its index tuple
        self.expected = None
        self.got = None
        self.bound = None
        self.ratio = 0.0  # worst |got - exact| / bound (inf: mismatch)
        self.ratios = None  # every element's ratio, row-major, when it failed

    def fail(self, message):
        self.passed = False
        if not self.message:
            self.message = message

    def to_dict(self):
        return {
            "output": self.name,
            "shape": list(self.shape),
            "passed": self.passed,
            "failures": self.failures,
            "message": self.message,
            "worst": self.worst,
            "index": None if self.worst_index is None else list(self.worst_index),
            "expected": json_float(self.expected),
            "got": json_float(self.got),
            "bound": json_float(self.bound),
            "ratio": json_float(self.ratio),
        }


def _describe(v):
    return "%r" % (v,)


def _not_in_format(label, g, contract):
    text = "%s = %r is not a %s value: the backend computed in another precision" % (
        label,
        g,
        contract.output.name,
    )
    if not contract.legacy:
        text += " (the %s contract's outputs are %s values)" % (contract.name, contract.output.name)
    return text


def _overflow_ratio(outcome, g, ref, err, bound):
    """The error/bound ratio of element g under a contract whose output may
    or must overflow (bounds.overflow_outcome), and a note when it must."""
    if g != g:
        return (0.0 if outcome == "any" else _INF), ""
    if not bounds.is_finite(g):
        if outcome == "any" or (g > 0) == (ref > 0):
            return 0.0, ""
        return _INF, ""
    if outcome == "must":
        return _INF, "should overflow to %r" % (_INF if ref > 0 else -_INF,)
    return (err / bound if bound > 0 else (0.0 if err == 0 else _INF)), ""


def judge_output(name, got, spec, dtype):
    """Compare one output (nested lists from tolist) against its exact spec.

    dtype is the case's precision contract (contracts.NAMES)."""
    shape, refs, mags, k = spec
    contract = contracts.get(dtype)
    out_format = contract.output
    verdict = OutputVerdict(name, shape)
    problem = shape_problem(got, shape)
    if problem:
        verdict.fail("%s has the wrong shape: %s" % (name, problem))
        verdict.ratio = _INF
        return verdict
    flat = _flat(got, len(shape))
    worst = -1.0
    ratios = []
    for idx in range(len(refs)):
        g, ref, mag = flat[idx], refs[idx], mags[idx]
        if type(g) is not float:
            verdict.fail("%s is %s, not a float" % (_index(name, shape, idx)[0], _entry_text(g)))
            verdict.ratio = _INF
            return verdict
        if bounds.is_finite(ref):
            bound = bounds.element_bound(k, mag, ref, contract)
            err = abs(g - ref) if bounds.is_finite(g) else _INF
            ratio = err / bound if bound > 0 else (0.0 if err == 0 else _INF)
            outcome = bounds.overflow_outcome(k, mag, ref, contract)
            if outcome != "finite":
                ratio, note = _overflow_ratio(outcome, g, ref, err, bound)
                if note:
                    verdict.fail(
                        "%s = %r %s: its exact value %r is beyond %s's "
                        "overflow threshold %r by more than the bound"
                        % (
                            _index(name, shape, idx)[0],
                            g,
                            note,
                            ref,
                            out_format.name,
                            out_format.overflow_threshold,
                        )
                    )
        else:
            bound = 0.0
            same = (bounds.is_nan(ref) and bounds.is_nan(g)) or g == ref
            ratio = 0.0 if same else _INF
        ratios.append(ratio)
        if ratio > 1.0:
            verdict.failures += 1
        if ratio > worst:
            worst = ratio
            label, index = _index(name, shape, idx)
            verdict.worst, verdict.worst_index = label, index
            verdict.expected, verdict.got = ref, g
            verdict.bound, verdict.ratio = bound, ratio
        if (
            out_format.p < 53
            and bounds.is_finite(g)
            and not formats.is_representable(g, out_format)
        ):
            verdict.fail(_not_in_format(_index(name, shape, idx)[0], g, contract))
    if not verdict.passed or verdict.failures:
        verdict.ratios = ratios  # for the error map of a report
    if verdict.failures:
        verdict.fail(
            "%d of %d elements of %s outside their bound; worst %s: "
            "expected %s, got %s, bound %.3g, error/bound %.3g"
            % (
                verdict.failures,
                len(refs),
                name,
                verdict.worst,
                _describe(verdict.expected),
                _describe(verdict.got),
                verdict.bound,
                verdict.ratio,
            )
        )
    return verdict


def _entry_text(v):
    """An entry that is not a float, for a message: its repr and type.  A
    worker sends such entries as the marker ('!', type name, repr)."""
    if isinstance(v, tuple) and len(v) == 3 and v[0] == "!":
        return "%s (%s)" % (v[2], v[1])
    return "%s (%s)" % (_short(v), type(v).__name__)


def shape_problem(got, shape):
    """'' when got (nested lists) has the shape, else what is wrong with it."""
    if not isinstance(got, list):
        kind = (
            got[1]
            if isinstance(got, tuple) and len(got) == 3 and got[0] == "!"
            else type(got).__name__
        )
        return "tolist gave %s, not a list" % kind
    if len(got) != shape[0]:
        return "expected %s, got %d %s" % (
            _shape_text(shape),
            len(got),
            "rows" if len(shape) == 2 else "entries",
        )
    if len(shape) == 2:
        for i in range(len(got)):
            if not isinstance(got[i], list) or len(got[i]) != shape[1]:
                return "expected %s, row %d is %s" % (_shape_text(shape), i, _entry_text(got[i]))
    return ""


def _short(v):
    text = repr(v)
    return text if len(text) < 60 else text[:57] + "..."


def _shape_text(shape):
    if len(shape) == 1:
        return "(%d,)" % shape[0]
    return "(%d, %d)" % shape
