"""The conformance suite: one set of named checks, two front ends.

    from refbackprop.conformance import run
    results = run(backend, dtypes=None, seed=0, pattern=None)

Every check is independent and seeded from its own id, so checks run in any
order, alone, or split across processes (pytest -n auto).  run() calls the
backend in this process; the pytest front end (refbackprop.conformance.plugin)
and `refbackprop check` (conformance.session) call it in a supervised worker
process (refbackprop.supervisor).  A check runs on an *executor*: anything
with execute(case, repeat) and sequence(cases) returning runner.execute's
plain data (runner.InProcess, supervisor.Supervised).

Checks:
- <case id> (the id alone): the catalogue, judged by the comparison engine
  (outputs within their bounds, shapes, values of the contract's output
  format, inputs unchanged, no aliasing); for a backend that declares
  `layouts`, also a few cases in each layout (<case id>/<layout>: the same
  numbers, inputs transposed, strided, misaligned or batched);
- repeat/<case id>: the same call twice on the same arrays gives the same bits
  (catches an output buffer reused without clearing);
- wear/<case id>: forward and backward on a small case, alternately, in one
  call sequence as long as twice the whole catalogue of the backend's dtypes,
  every result judged: a backend that goes wrong after serving a number of
  calls fails here whether the checks run serially or split across processes;
- oracle/<case id>: the reference itself, exactly, against the explicit
  Jacobian in rational arithmetic (backend-independent; never enough alone:
  a selection with no check of the backend is refused).
"""

from ..bounds import bits
from ..cases import Case, catalogue, layout_cases, parse_case_id
from ..oracle import jacobian, jacobian_size, reshape, vec_times
from ..reference import backward, flatten
from ..registry import BackendInfo, describe, dtype_problem, normalize_dtypes
from ..runner import CaseResult, judge
from ..worker import InProcess

# The case each dtype's repeat check runs (odd sizes, bias).
REPEAT_SHAPE = (7, 13, 11)
# The case of the wear check (small: its length is what matters).
WEAR_SHAPE = (2, 2, 3)
# Cases small enough for the exact-rational oracle check of the reference.
ORACLE_MAX_ENTRIES = 20000
BACKEND_KINDS = ("case", "repeat", "wear")


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
    case = whole_case(pattern)
    if case is not None:
        return [case] if case.dtype in dtypes else []
    return [c for c in catalogue(dtypes, seed) if match(pattern, c.id)]


def whole_case(pattern):
    """The Case a pattern names when it is a whole case id, else None."""
    if not pattern:
        return None
    try:
        return parse_case_id(pattern)
    except ValueError:
        return None


def executor(backend, selector=None):
    """An executor for backend: itself if it is one, else runner.InProcess.

    ValueError when the backend does not follow the protocol or cannot run.
    """
    if hasattr(backend, "execute") and hasattr(backend, "sequence"):
        return backend
    info = describe(BackendInfo(getattr(backend, "name", "?"), "", "in-process"), backend)
    if info.status != "available":
        raise ValueError("backend %r is %s: %s" % (info.name, info.status, info.reason))
    return InProcess(backend, info, selector)


class Check:
    """One named check: kind ('case', 'repeat', 'wear' or 'oracle') and its case."""

    def __init__(self, kind, case, runs=None, count=0):
        self.kind = kind
        self.case = case
        self.runs = runs  # the executor (None for oracle checks)
        self.count = count  # the wear check's number of calls
        self.id = case.id if kind == "case" else "%s/%s" % (kind, case.id)

    def __repr__(self):
        return "Check(%r)" % self.id

    @property
    def backend(self):
        """The executor this check runs on (None for oracle checks)."""
        return self.runs

    def run(self):
        """Run the check; return a CaseResult (with .kind and .check_id)."""
        if self.kind == "case":
            result = judge(self.runs.label, self.case, self.runs.execute(self.case))
        elif self.kind == "repeat":
            result = repeat_verdict(self.runs, self.case)
        elif self.kind == "wear":
            result = wear_verdict(self.runs, self.case, self.count)
        else:
            result = oracle_check(self.case)
        result.kind = self.kind
        result.check_id = self.id
        if self.runs is not None:
            result.selector = self.runs.selector
        return result


def declared(runs, dtypes=None):
    """The dtypes to check: every dtype the backend declares, or those asked
    for (ValueError naming the backend's dtypes when it lacks one)."""
    info = runs.info
    have = info.dtypes
    if dtypes is None:
        return have
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    for d in normalize_dtypes(dtypes):
        problem = dtype_problem(info, d, runs.label)
        if problem:
            raise ValueError(problem)
    return tuple(dtypes)


def build_checks(backend, dtypes=None, seed=0, pattern=None, oracle=True):
    """Every check for backend (an executor or a backend object; all its
    dtypes unless narrowed), in a fixed order.  ValueError when a pattern
    selects none of the backend's own checks: oracle checks never count."""
    runs = executor(backend)
    dtypes = declared(runs, dtypes)
    checks = [
        Check("case", c, runs)
        for c in select_cases(dtypes, seed, pattern)
        if c.layout is None or c.layout in runs.info.layouts
    ]
    if whole_case(pattern) is None:
        checks.extend(
            Check("case", c, runs)
            for c in layout_cases(dtypes, runs.info.layouts, seed)
            if match(pattern, c.id)
        )
    if whole_case(pattern) is None:
        count = wear_calls(runs.info.dtypes)
        for dtype in dtypes:
            n, d, m = REPEAT_SHAPE
            case = Case("backward", dtype, n, d, m, True, "normal", seed)
            if match(pattern, "repeat/" + case.id):
                checks.append(Check("repeat", case, runs))
            n, d, m = WEAR_SHAPE
            case = Case("backward", dtype, n, d, m, True, "normal", seed)
            if match(pattern, "wear/" + case.id):
                checks.append(Check("wear", case, runs, count))
    if pattern is not None and not checks:
        raise ValueError(
            "no check of backend %r matches %r (its checks are ids like "
            "%s); a run that checks nothing of the backend is refused"
            % (runs.label, pattern, catalogue(dtypes[:1], seed)[0].id if dtypes else "-")
        )
    if oracle:
        checks.extend(oracle_checks(seed, pattern))
    return checks


def wear_calls(dtypes):
    """The wear check's length: twice the catalogue of every declared dtype."""
    return 2 * len(catalogue(dtypes))


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


def repeat_verdict(runs, case):
    """Call backward twice on the same native arrays: the same bits, twice."""
    raw = runs.execute(case, repeat=2)
    first = dict(raw, values=raw["values"][:1])
    result = judge(runs.label, case, first)
    if not result.passed:
        result.problems.insert(0, "the first call already fails")
        return result
    if len(raw["values"]) < 2:
        return judge(runs.label, case, dict(raw, values=raw["values"][1:]))
    a, b = raw["values"][0], raw["values"][1]
    for name in sorted(a):
        if _bit_list(a[name]) != _bit_list(b.get(name)):
            result.problems.append(
                "%s differs between two identical calls: the backend keeps "
                "state between calls (an output buffer reused without clearing?)" % name
            )
    return result


def wear_verdict(runs, case, count):
    """count calls, forward and backward alternately, in one sequence; the
    first result that fails fails the check, naming its place."""
    twin = Case("forward", case.dtype, case.n, case.d, case.m, case.bias, case.values, case.seed)
    cases = [case if k % 2 else twin for k in range(count)]
    raws = runs.sequence(cases)
    if len(raws) < count:  # the sequence itself was cut short
        result = judge(runs.label, case, raws[-1] if raws else {"values": [], "problems": []})
        result.problems.insert(0, "the sequence of %d calls was cut short" % count)
        return result
    result = None
    for k in range(len(raws)):
        result = judge(runs.label, cases[k], raws[k])
        if not result.passed:
            result = _relabel(result, case)
            result.problems.insert(
                0, "call %d of a sequence of %d (%s) fails" % (k + 1, count, cases[k].op)
            )
            return result
    return _relabel(result, case)


def _relabel(result, case):
    result.case, result.case_id = case, case.id
    return result


def _bit_list(value):
    """The IEEE bytes of every element (NaN and -0.0 compare as themselves)."""
    if value is None:
        return None
    flat = flatten(value) if value and isinstance(value[0], list) else list(value)
    return [bits(v) if type(v) is float else v for v in flat]


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
        return result  # M undetermined for plain lists; nothing to form
    q = lambda rows: [[Fraction(v) for v in r] for r in rows]
    qb = None if b is None else [Fraction(v) for v in b]
    want = backward(q(x), q(w), q(dy), qb)
    dy_dx, dy_dw, dy_db = jacobian(x, w, b)
    g = flatten(q(dy))  # vec(dY): (N·M,)
    got = (
        reshape(vec_times(g, q(dy_dx), n * d), n, d),  # (N, D)
        reshape(vec_times(g, q(dy_dw), d * m), d, m),  # (D, M)
        None if b is None else vec_times(g, q(dy_db), m),
    )  # (M,)
    for name, g_out, e in zip(("dx", "dw", "db"), got, want):
        if g_out != e:
            result.problems.append(
                "%s through the explicit Jacobian differs from the closed form" % name
            )
    return result


def run(backend, dtypes=None, seed=0, pattern=None, oracle=True):
    """Run every check in this process; a list of CaseResults in a fixed order.

    ValueError when the backend cannot run or the pattern selects none of
    its checks.  Anything the backend raises (SystemExit and pytest's
    outcomes included) fails that check; KeyboardInterrupt stops the run.
    """
    return [check.run() for check in build_checks(backend, dtypes, seed, pattern, oracle)]


def shrink(backend, case, max_steps=200):
    """The smallest shape at which the case still fails (N, D, M shrunk greedily).

    Tries halving, then decrementing, each dimension while the failure stays.
    Returns the shrunk Case (the original when nothing smaller fails).
    backend: an executor or a backend object.
    """
    runs = executor(backend)
    best = case
    signature = _signature(judge(runs.label, case, runs.execute(case)))
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
                got = judge(runs.label, candidate, runs.execute(candidate))
                if _signature(got) & signature:
                    best = candidate
                    improved = True
                    break
    return best


def lost_worker(result):
    """Whether the check failed because the backend's worker was lost (not
    shrunk: every try would cost a fresh worker, or a timeout)."""
    return any(
        p.startswith(("the backend's worker", "not run:", "could not start"))
        for p in result.problems
    )


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
    for problem in result.problems:  # a backend's message may span lines
        lines.append("  %s" % problem.replace("\n", "\n    "))
    for o in result.outputs:
        if not o.passed and o.worst is None:
            lines.append("  %s: %s" % (o.name, o.message))
        elif not o.passed:
            lines.append(
                "  %s: worst element %s, expected %r, got %r, bound %.3g, "
                "error/bound %.3g" % (o.name, o.worst, o.expected, o.got, o.bound or 0.0, o.ratio)
            )
            if o.message and "outside their bound" not in o.message:
                lines.append("    %s" % o.message)
    printed = [line for line in result.output.splitlines() if line.strip()]
    if printed:
        lines.append("  the backend printed (last lines):")
        lines.extend("    | %s" % line for line in printed[-8:])
    lines.append("  repro:  %s" % result.repro())
    if shrunk is not None and shrunk.id != result.case_id:
        lines.append("  shrunk: still fails at N=%d, D=%d, M=%d" % (shrunk.n, shrunk.d, shrunk.m))
        lines.append("  repro:  %s" % result.repro(shrunk.id))
    return lines
