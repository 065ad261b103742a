"""Run one backend on one case and judge it: the verdict a backend author reads.

run_case converts the case's inputs with the backend's array(), calls forward
or backward, and judges every output with compare.judge_output.  A backend
that raises fails that case with its exception; it never stops a run.  The
inputs are read back with tolist() after the call (they must be unchanged, to
the bit) and every output is checked for aliasing an input.
"""

from .bounds import element_bound, is_finite, is_nan
from .compare import OUTPUTS, _bits, _flat, exact_outputs, judge_output

INPUT_NAMES = {"forward": ("x", "w", "b"), "backward": ("x", "w", "dy", "b")}


class CaseResult:
    """The verdict for one (backend, case): passed, per-output verdicts, problems."""

    def __init__(self, backend_name, case):
        self.backend = backend_name
        self.case = case
        self.case_id = case.id
        self.check_id = case.id    # the conformance check's id (repeat/..., oracle/...)
        self.selector = backend_name   # how the CLI selects the backend (name or module:attr)
        self.kind = "case"
        self.outputs = []          # OutputVerdict per output
        self.problems = []         # exceptions, modified inputs, aliasing
        self.values = {}           # name -> nested lists the backend returned

    @property
    def passed(self):
        return not self.problems and all(o.passed for o in self.outputs)

    @property
    def ratio(self):
        """The worst error/bound ratio over the outputs (inf on a mismatch)."""
        worst = 0.0
        for o in self.outputs:
            if o.ratio > worst:
                worst = o.ratio
        if self.problems:
            worst = float("inf")
        return worst

    def messages(self):
        """Every reason this case failed, one line each."""
        out = list(self.problems)
        for o in self.outputs:
            if not o.passed:
                out.append(o.message)
        return out

    def repro(self, check_id=None):
        """The one-line command that runs this check (or another case id) alone."""
        seed = "" if self.case.seed == 0 else " --seed %d" % self.case.seed
        return ("refbackprop check --backend %s --case '%s'%s"
                % (_quote(self.selector), check_id or self.check_id, seed))

    def to_dict(self):
        return {"backend": self.backend, "case": self.case_id,
                "passed": self.passed, "problems": list(self.problems),
                "outputs": [o.to_dict() for o in self.outputs],
                "repro": self.repro()}


def _quote(text):
    safe = True
    for ch in text:
        if not (ch.isalpha() or ch.isdigit() or ch in "._:-/"):
            safe = False
    return text if safe else "'%s'" % text.replace("'", "'\\''")


def _exception_text(e):
    return "%s: %s" % (type(e).__name__, e)


def _snapshot(backend, native, rank):
    flat = _flat(backend.tolist(native), rank)
    return [_bits(float(v)) for v in flat]


def _may_share(backend, a, b):
    hook = getattr(backend, "shares_memory", None)
    if hook is not None:
        return hook(a, b)
    return shares_memory(a, b)


def shares_memory(a, b):
    """Whether two native arrays may share storage: identity, shared list
    rows, or overlapping __array_interface__ buffers (NumPy, Numba, CuPy-
    style host arrays) without importing any of them."""
    if a is b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        ids = set(id(r) for r in b if isinstance(r, list))
        return any(id(r) in ids for r in a if isinstance(r, list))
    sa, sb = _span(a), _span(b)
    if sa is None or sb is None:
        return False
    return sa[0] < sb[1] and sb[0] < sa[1]


def _span(a):
    ai = getattr(a, "__array_interface__", None)
    if not isinstance(ai, dict) or "data" not in ai:
        return None
    ptr = ai["data"][0]
    shape = ai.get("shape", ())
    itemsize = int(ai.get("typestr", "<f8")[2:] or 8)
    strides = ai.get("strides")
    if strides is None:
        strides = []
        step = itemsize
        for s in reversed(shape):
            strides.insert(0, step)
            step *= s
    lo = hi = ptr
    for s, st in zip(shape, strides):
        if s == 0:
            return None
        if st > 0:
            hi += (s - 1) * st
        else:
            lo += (s - 1) * st
    return lo, hi + itemsize


def run_case(backend, case):
    """Run backend on case and return its CaseResult."""
    name = getattr(backend, "name", "?")
    result = CaseResult(name, case)
    inputs = case.inputs()
    shapes = case.shapes()
    names = [k for k in INPUT_NAMES[case.op] if inputs[k] is not None]
    native = {}
    try:
        for k in names:
            native[k] = backend.array(inputs[k], shapes[k], case.dtype)
        before = dict((k, _snapshot(backend, native[k], len(shapes[k])))
                      for k in names)
    except Exception as e:
        result.problems.append("array()/tolist() raised %s" % _exception_text(e))
        return result
    try:
        if case.op == "forward":
            outs = (backend.forward(native["x"], native["w"], native.get("b")),)
        else:
            outs = backend.backward(native["x"], native["w"], native["dy"],
                                    native.get("b"))
            if not isinstance(outs, tuple) or len(outs) != 3:
                result.problems.append("backward returned %s, not a tuple "
                                       "(dx, dw, db)" % type(outs).__name__)
                return result
    except Exception as e:
        result.problems.append("%s raised %s" % (case.op, _exception_text(e)))
        return result
    _check_inputs(backend, result, native, before, shapes)
    specs = exact_outputs(case)
    for out_name, out in zip(OUTPUTS[case.op], outs):
        spec = specs[out_name]
        if spec is None:
            if out is not None:
                result.problems.append("%s should be None without a bias" % out_name)
            continue
        if out is None:
            result.problems.append("%s is None but the case has a bias" % out_name)
            continue
        for k in names:
            if _may_share(backend, out, native[k]):
                result.problems.append("%s aliases input %s: outputs must be "
                                       "new arrays" % (out_name, k))
        try:
            got = backend.tolist(out)
        except Exception as e:
            result.problems.append("tolist(%s) raised %s" % (out_name, _exception_text(e)))
            continue
        result.values[out_name] = got
        result.outputs.append(judge_output(out_name, got, spec, case.dtype))
    return result


def _check_inputs(backend, result, native, before, shapes):
    for k in sorted(native):
        try:
            after = _snapshot(backend, native[k], len(shapes[k]))
        except Exception as e:
            result.problems.append("tolist(%s) after the call raised %s"
                                   % (k, _exception_text(e)))
            continue
        if after != before[k]:
            first = 0
            while first < len(after) and after[first] == before[k][first]:
                first += 1
            result.problems.append("input %s was modified by the call (first "
                                   "change at flat index %d)" % (k, first))


def cross_check(a, b):
    """Two CaseResults of one case from different backends: every element
    must agree within the sum of the two bounds.  Returns problem lines."""
    problems = []
    specs = exact_outputs(a.case)
    for name in OUTPUTS[a.case.op]:
        spec = specs[name]
        if spec is None or name not in a.values or name not in b.values:
            continue
        shape, refs, mags, k = spec
        va, vb = _flat(a.values[name], len(shape)), _flat(b.values[name], len(shape))
        if len(va) != len(vb):
            problems.append("%s: %s and %s give different shapes"
                            % (name, a.backend, b.backend))
            continue
        for idx in range(len(va)):
            x, y = va[idx], vb[idx]
            if is_finite(refs[idx]) and is_finite(x) and is_finite(y):
                limit = 2 * element_bound(k, mags[idx], refs[idx], a.case.dtype)
                if abs(x - y) > limit:
                    problems.append("%s element %d: %s gives %r, %s gives %r, "
                                    "apart by more than the sum of their bounds %.3g"
                                    % (name, idx, a.backend, x, b.backend, y, limit))
                    break
            elif not ((is_nan(x) and is_nan(y)) or x == y):
                problems.append("%s element %d: %s gives %r, %s gives %r"
                                % (name, idx, a.backend, x, b.backend, y))
                break
    return problems
