"""The conformance suite: one set of named checks, two front ends.

    from refbackprop.conformance import run
    results = run(backend, dtypes=None, seed=0, pattern=None)

Every check is independent and seeded from its own id, so checks run in any
order, alone, or split across processes (pytest -n auto).  The pytest front end
is refbackprop.conformance.plugin (pytest --pyargs refbackprop.conformance
--refbackprop-backend NAME); the CLI's `refbackprop check` calls run() too.

Checks:
- case/<case id> (the id alone): the catalogue, judged by the comparison engine
  (outputs within their bounds, shapes, float32-ness, inputs unchanged, no
  aliasing);
- repeat/<case id>: the same call twice on the same arrays gives the same bits
  (catches an output buffer reused without clearing);
- oracle/<case id>: the reference itself, exactly, against the explicit
  Jacobian in rational arithmetic (backend-independent).
"""

from ..cases import DTYPES, Case, catalogue, parse_case_id
from ..oracle import flatten, jacobian, jacobian_size, reshape, vec_times
from ..reference import backward
from ..compare import _bits, _flat
from ..runner import CaseResult, run_case

# The case each dtype's repeat check runs (odd sizes, bias).
REPEAT_SHAPE = (7, 13, 11)
# Cases small enough for the exact-rational oracle check of the reference.
ORACLE_MAX_ENTRIES = 20000


def match(pattern, text):
    """Shell-style match ('*' any run, '?' one character), or substring."""
    if pattern is None:
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern in text
    import fnmatch
    return fnmatch.fnmatchcase(text, pattern)


def select_cases(dtypes, seed=0, pattern=None):
    """The catalogue cases for these dtypes whose ids match the pattern.

    A pattern that is a whole case id selects that case even when it is not in
    the catalogue (a shrunk case, another seed): repro commands rely on it.
    """
    try:
        case = parse_case_id(pattern) if pattern else None
    except ValueError:
        case = None
    if case is not None:
        return [case] if case.dtype in dtypes else []
    return [c for c in catalogue(dtypes, seed) if match(pattern, c.id)]


class Check:
    """One named check: kind ('case', 'repeat' or 'oracle') and its case."""

    def __init__(self, kind, case, backend=None):
        self.kind = kind
        self.case = case
        self.backend = backend
        self.id = case.id if kind == "case" else "%s/%s" % (kind, case.id)

    def __repr__(self):
        return "Check(%r)" % self.id

    def run(self):
        """Run the check; return a CaseResult (with .kind and .check_id)."""
        if self.kind == "case":
            result = run_case(self.backend, self.case)
        elif self.kind == "repeat":
            result = repeat_check(self.backend, self.case)
        else:
            result = oracle_check(self.case)
        result.kind = self.kind
        result.check_id = self.id
        return result


def build_checks(backend, dtypes=None, seed=0, pattern=None, oracle=True):
    """Every check for backend (all its dtypes unless narrowed), in fixed order."""
    dtypes = _dtypes(backend, dtypes)
    checks = [Check("case", c, backend) for c in select_cases(dtypes, seed, pattern)]
    for dtype in dtypes:
        n, d, m = REPEAT_SHAPE
        case = Case("backward", dtype, n, d, m, True, "normal", seed)
        if match(pattern, "repeat/" + case.id):
            checks.append(Check("repeat", case, backend))
    if oracle:
        checks.extend(oracle_checks(seed, pattern))
    return checks


def oracle_checks(seed=0, pattern=None):
    """The reference against the explicit-Jacobian oracle on the small cases."""
    out = []
    for case in catalogue(("float64",), seed, ops=("backward",)):
        if case.values == "nonfinite" or case.values in ("large", "tiny"):
            continue
        size = jacobian_size(case.n, case.d, case.m, case.bias)["entries"]
        if size <= ORACLE_MAX_ENTRIES and match(pattern, "oracle/" + case.id):
            out.append(Check("oracle", case))
    return out


def _dtypes(backend, dtypes):
    declared = tuple(backend.dtypes)
    if dtypes is None:
        return declared
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    for d in dtypes:
        if d not in DTYPES:
            raise ValueError("dtype must be one of %s, not %r" % (DTYPES, d))
        if d not in declared:
            raise ValueError("backend %r declares dtypes %s, not %s"
                             % (backend.name, ", ".join(declared), d))
    return tuple(dtypes)


def repeat_check(backend, case):
    """Call backward twice on the same native arrays: the same bits, twice."""
    first = run_case(backend, case)
    result = CaseResult(first.backend, case)
    if not first.passed:
        result.problems.append("the first call already fails: %s"
                               % "; ".join(first.messages()))
        return result
    second = run_case(backend, case)
    for name in sorted(first.values):
        if _bit_list(first.values[name]) != _bit_list(second.values.get(name)):
            result.problems.append(
                "%s differs between two identical calls: the backend keeps "
                "state between calls (an output buffer reused without clearing?)"
                % name)
    result.outputs = second.outputs
    return result


def _bit_list(value):
    """The IEEE bytes of every element (NaN and -0.0 compare as themselves)."""
    if value is None:
        return None
    rank = 2 if value and isinstance(value[0], list) else 1
    return [_bits(v) for v in _flat(value, rank)]


def oracle_check(case):
    """reference.backward == vec(dY)ᵀ·J exactly, in Fractions.

    J is formed from the float inputs: its entries are products with 0 and 1
    and sums with 0 (the one-hot forward), exact for finite inputs; the
    product vec(dY)ᵀ·J and the closed form then run in Fractions.
    """
    from fractions import Fraction
    inp = case.inputs()
    x, w, b, dy = inp["x"], inp["w"], inp["b"], inp["dy"]
    n, d, m = case.n, case.d, case.m
    result = CaseResult("reference", case)
    if d == 0 and b is None:
        return result             # M undetermined for plain lists; nothing to form
    q = lambda rows: [[Fraction(v) for v in r] for r in rows]
    qb = None if b is None else [Fraction(v) for v in b]
    want = backward(q(x), q(w), q(dy), qb)
    dy_dx, dy_dw, dy_db = jacobian(x, w, b)
    g = flatten(q(dy))                                                   # vec(dY): (N·M,)
    got = (reshape(vec_times(g, q(dy_dx), n * d), n, d),                 # (N, D)
           reshape(vec_times(g, q(dy_dw), d * m), d, m),                 # (D, M)
           None if b is None else vec_times(g, q(dy_db), m))             # (M,)
    for name, g_out, e in zip(("dx", "dw", "db"), got, want):
        if g_out != e:
            result.problems.append("%s through the explicit Jacobian differs from "
                                   "the closed form" % name)
    return result


def run(backend, dtypes=None, seed=0, pattern=None, oracle=True):
    """Run every check; yields CaseResults in a fixed order (a generator)."""
    for check in build_checks(backend, dtypes, seed, pattern, oracle):
        yield check.run()


def shrink(backend, case, max_steps=200):
    """The smallest shape at which the case still fails (N, D, M shrunk greedily).

    Tries halving, then decrementing, each dimension while the failure stays.
    Returns the shrunk Case (the original when nothing smaller fails).
    """
    best = case
    signature = _signature(run_case(backend, case))
    steps = 0
    improved = True
    while improved and signature and steps < max_steps:
        improved = False
        for axis in range(3):
            dims = [best.n, best.d, best.m]
            for smaller in _candidates(dims[axis]):
                trial = list(dims)
                trial[axis] = smaller
                candidate = best.with_shape(trial[0], trial[1], trial[2])
                steps += 1
                if _signature(run_case(backend, candidate)) & signature:
                    best = candidate
                    improved = True
                    break
    return best


def _signature(result):
    """What failed, coarsely: the failing outputs and the kinds of problem."""
    out = set(o.name for o in result.outputs if not o.passed)
    for p in result.problems:
        out.add(p.split(" ")[0] + " " + p.split(" ")[1] if " " in p else p)
    return out


def _candidates(v):
    out = []
    for c in (0, 1, v // 2, v - 1):
        if 0 <= c < v and c not in out:
            out.append(c)
    return out


def failure_report(result, shrunk=None):
    """The lines a backend author reads for one failed check."""
    lines = ["FAILED %s [%s]" % (result.check_id, result.backend)]
    for problem in result.problems:
        lines.append("  %s" % problem)
    for o in result.outputs:
        if not o.passed:
            lines.append("  %s: worst element %s, expected %r, got %r, bound %.3g, "
                         "error/bound %.3g" % (o.name, o.worst, o.expected, o.got,
                                               o.bound or 0.0, o.ratio))
            if o.message and "outside their bound" not in o.message:
                lines.append("    %s" % o.message)
    lines.append("  repro:  %s" % result.repro())
    if shrunk is not None and shrunk.id != result.case_id:
        lines.append("  shrunk: still fails at N=%d, D=%d, M=%d"
                     % (shrunk.n, shrunk.d, shrunk.m))
        lines.append("  repro:  %s" % result.repro(shrunk.id))
    return lines
