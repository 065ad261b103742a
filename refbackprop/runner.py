"""Run one backend on one case, and judge what it gave: the verdict a backend author reads.

Two halves, so that the backend can run in another process than the verdict:

- execute(backend, case) runs where the backend lives: it converts the case's
  inputs with the backend's array(), calls forward or backward, reads every
  output back with tolist(), reads the inputs back (they must be unchanged, to
  the bit) and asks whether an output shares memory with an input.  Whatever
  the backend does (raises any BaseException, returns odd objects) becomes
  plain data: lists of floats, strings.  `announce(call)` is told of every
  call before it is made, so a supervisor can name the call a backend died in.
- judge(label, case, raw) runs in the verdict's process: every output against
  its exact values and bounds (compare.judge_output), plus the problems
  execute recorded.

run_case(backend, case) does both in this process (the plain Python API, for
runtimes without processes).
"""

from .bounds import bits, element_bound, is_finite, is_nan
from .cases import LAYOUT_INPUTS
from .compare import OUTPUTS, exact_outputs, judge_output
from .reference import flatten
from . import aliasing

INPUT_NAMES = {"forward": ("x", "w", "b"), "backward": ("x", "w", "dy", "b")}
NOT_A_FLOAT = "!"  # first item of the marker that replaces a non-float


class CaseResult:
    """The verdict for one (backend, check): passed, per-output verdicts, problems."""

    def __init__(self, backend_label, case):
        self.backend = backend_label
        self.case = case
        self.case_id = case.id
        self.check_id = case.id  # the conformance check's id (repeat/..., oracle/...)
        self.selector = backend_label  # how the CLI selects the backend (name or path)
        self.kind = "case"
        self.outputs = []  # OutputVerdict per output
        self.problems = []  # exceptions, exits, modified inputs, aliasing
        self.notes = []  # what could not be checked (alias check skipped, ...)
        self.values = {}  # name -> nested lists the backend returned
        self.output = ""  # what the backend printed, when it helps

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
        return repro_command(
            self.selector, "--case", check_id or self.check_id, seed=self.case.seed
        )

    def to_dict(self):
        return {
            "backend": self.backend,
            "case": self.case_id,
            "passed": self.passed,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "output": self.output,
            "outputs": [o.to_dict() for o in self.outputs],
            "repro": self.repro(),
        }


def repro_command(selector, *args, **options):
    """'refbackprop check --backend SELECTOR ARGS... [--seed S]': the one
    place repro commands are written (catalogue checks and sized runs)."""
    words = ["refbackprop", "check", "--backend", quote(selector)]
    words.extend(quote(str(a)) for a in args)
    seed = options.get("seed", 0)
    if seed:
        words.extend(["--seed", str(seed)])
    return " ".join(words)


def quote(text):
    """text as one shell word (single quotes where it needs them)."""
    safe = bool(text)
    for ch in text:
        if not (ch.isalpha() or ch.isdigit() or ch in "._:-/,="):
            safe = False
    return text if safe else "'%s'" % text.replace("'", "'\\''")


def exception_text(e):
    """'Type: message (at file:line in function)' for any BaseException; the
    place is the deepest frame outside the standard library and pytest (where
    the backend raised it, not where pytest.skip builds its exception)."""
    text = "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
    tb = getattr(e, "__traceback__", None)
    place = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if place is None or not _library_file(code.co_filename):
            place = (code.co_filename, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    if place is not None:
        text += " (at %s:%d in %s)" % place
    return text


def _library_file(path):
    import os

    stdlib = os.path.dirname(os.__file__)
    return (
        path.startswith(stdlib + os.sep)
        and "site-packages" not in path
        or (os.sep + "_pytest" + os.sep) in path
        or (os.sep + "pluggy" + os.sep) in path
    )


class _Calls:
    """Makes each backend call: announces it, and turns anything it raises
    into a problem line.  reraise: exceptions that must stop the run
    (KeyboardInterrupt, in-process) instead of failing the check."""

    def __init__(self, raw, announce, reraise):
        self.raw, self.announce, self.reraise = raw, announce, reraise

    def __call__(self, what, fn, *args):
        """(True, result) or (False, None) with the problem recorded."""
        if self.announce is not None:
            self.announce(what)
        try:
            return True, fn(*args)
        except BaseException as e:
            if self.reraise is not None and isinstance(e, self.reraise):
                raise
            self.raw["problems"].append("%s raised %s" % (what, exception_text(e)))
            return False, None


def plain(value, rank):
    """What tolist gave, as plain data: lists of floats, with every entry that
    is not a float (or any container that is not a list) replaced by the
    marker ('!', type name, short repr).  Floats' subclasses become floats."""
    if not isinstance(value, list):
        return _marker(value)
    if rank == 1:
        return [_entry(v) for v in value]
    return [[_entry(v) for v in row] if isinstance(row, list) else _marker(row) for row in value]


def _entry(v):
    if type(v) is float:
        return v
    if isinstance(v, float):
        try:
            return float(v)
        except BaseException:
            pass
    return _marker(v)


def _marker(v):
    try:
        text = repr(v)
    except BaseException:
        text = "?"
    if len(text) > 60:
        text = text[:57] + "..."
    return (NOT_A_FLOAT, type(v).__name__, text)


def is_marker(v):
    return isinstance(v, tuple) and len(v) == 3 and v[0] == NOT_A_FLOAT


def _words(value, rank):
    """Every entry of plain() data as a comparable word (bits for floats)."""
    flat = value if rank == 1 else flatten([r for r in value if isinstance(r, list)])
    return [bits(v) if type(v) is float else v for v in flat]


def execute(backend, case, repeat=1, announce=None, reraise=KeyboardInterrupt):
    """Run case on backend here; plain data out.

    Returns {'values': [per call {output name: plain lists or None}],
    'problems': [...], 'notes': [...]}.  With repeat > 1 the op is called
    that many times on the same native arrays (the repeat check).
    """
    raw = {"values": [], "problems": [], "notes": []}
    call = _Calls(raw, announce, reraise)
    inputs, shapes = case.inputs(), case.shapes()
    names = [k for k in INPUT_NAMES[case.op] if inputs[k] is not None]
    native, before = {}, {}
    for k in names:
        ok, native[k] = call("array(%s)" % k, backend.array, inputs[k], shapes[k], case.dtype)
        if not ok:
            return raw
        if case.layout is not None and k in LAYOUT_INPUTS[case.layout]:
            ok, native[k] = call(
                "view(%s, %s)" % (k, case.layout), backend.view, native[k], case.layout
            )
            if not ok:
                return raw
    for k in names:
        ok, got = call("tolist(%s)" % k, backend.tolist, native[k])
        if not ok:
            return raw
        if not isinstance(got, list):
            raw["problems"].append("tolist(%s) gave %s, not a list" % (k, _marker(got)[1]))
            return raw
        before[k] = _words(plain(got, len(shapes[k])), len(shapes[k]))
    for _ in range(repeat):
        if case.op == "forward":
            ok, outs = call("forward", backend.forward, native["x"], native["w"], native.get("b"))
            outs = (outs,)
        else:
            ok, outs = call(
                "backward",
                backend.backward,
                native["x"],
                native["w"],
                native["dy"],
                native.get("b"),
            )
            if ok and not (isinstance(outs, tuple) and len(outs) == 3):
                raw["problems"].append(
                    "backward returned %s, not a tuple (dx, dw, db)" % _marker(outs)[2]
                )
                ok = False
        if not ok:
            return raw
        raw["values"].append(_outputs(call, raw, backend, case, native, outs))
    _check_inputs(call, raw, backend, native, before, shapes)
    return raw


def _outputs(call, raw, backend, case, native, outs):
    values = {}
    shapes = {
        "y": (case.n, case.m),
        "dx": (case.n, case.d),
        "dw": (case.d, case.m),
        "db": (case.m,),
    }
    for name, out in zip(OUTPUTS[case.op], outs):
        if name == "db" and not case.bias:
            if out is not None:
                raw["problems"].append("db should be None without a bias")
            continue
        if out is None:
            raw["problems"].append(
                "%s is None but the case %s" % (name, "has a bias" if name == "db" else "needs it")
            )
            continue
        for k in sorted(native):
            _alias(call, raw, backend, name, out, k, native[k])
        ok, got = call("tolist(%s)" % name, backend.tolist, out)
        if ok:
            values[name] = plain(got, len(shapes[name]))
    return values


def _alias(call, raw, backend, name, out, k, array):
    """Record a problem when output name shares memory with input k, a note
    when nobody can tell."""
    answer = None
    hook = getattr(backend, "shares_memory", None)
    if hook is not None:
        ok, answer = call("shares_memory(%s, %s)" % (name, k), hook, out, array)
        if not ok:
            return
    if answer is None:
        answer = aliasing.shares_memory(out, array)
    if answer is None:
        note = (
            "alias check skipped: cannot tell whether outputs share memory with "
            "inputs (%s arrays have no __array_interface__ and the backend has "
            "no shares_memory hook that decides)" % type(out).__name__
        )
        if note not in raw["notes"]:
            raw["notes"].append(note)
    elif answer:
        raw["problems"].append("%s aliases input %s: outputs must be new arrays" % (name, k))


def _check_inputs(call, raw, backend, native, before, shapes):
    for k in sorted(native):
        rank = len(shapes[k])
        ok, got = call("tolist(%s)" % k, backend.tolist, native[k])
        if not ok:
            continue
        after = _words(plain(got, rank), rank) if isinstance(got, list) else None
        if after != before[k]:
            first = 0
            old = before[k] or []
            while (
                after is not None
                and first < min(len(after), len(old))
                and after[first] == old[first]
            ):
                first += 1
            raw["problems"].append(
                "input %s was modified by the call (first change at flat index %d)" % (k, first)
            )


def judge(label, case, raw):
    """The CaseResult for raw (from execute, here or in a worker)."""
    result = CaseResult(label, case)
    result.problems.extend(raw["problems"])
    result.notes.extend(raw.get("notes", ()))
    result.output = raw.get("output", "")
    if not raw["values"]:
        if not result.problems:
            result.problems.append("the backend gave no outputs")
        return result
    values = raw["values"][0]
    specs = exact_outputs(case)
    for name in OUTPUTS[case.op]:
        spec = specs[name]
        if spec is None or name not in values:
            continue
        result.values[name] = values[name]
        result.outputs.append(judge_output(name, values[name], spec, case.dtype))
    return result


def run_case(backend, case, label=None):
    """Run backend on case in this process and return its CaseResult."""
    name = label if label is not None else getattr(backend, "name", "?")
    return judge(name, case, execute(backend, case))


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
        if not (_well_formed(a.values[name], shape) and _well_formed(b.values[name], shape)):
            continue  # already a failure of that backend's own check
        va = a.values[name] if len(shape) == 1 else flatten(a.values[name])
        vb = b.values[name] if len(shape) == 1 else flatten(b.values[name])
        for idx in range(len(va)):
            x, y = va[idx], vb[idx]
            if is_finite(refs[idx]) and is_finite(x) and is_finite(y):
                limit = 2 * element_bound(k, mags[idx], refs[idx], a.case.dtype)
                if abs(x - y) > limit:
                    problems.append(
                        "%s element %d: %s gives %r, %s gives %r, "
                        "apart by more than the sum of their bounds %.3g"
                        % (name, idx, a.backend, x, b.backend, y, limit)
                    )
                    break
            elif not ((is_nan(x) and is_nan(y)) or x == y):
                problems.append(
                    "%s element %d: %s gives %r, %s gives %r"
                    % (name, idx, a.backend, x, b.backend, y)
                )
                break
    return problems


def _well_formed(value, shape):
    """Whether value is plain lists of floats of that shape."""
    if not isinstance(value, list) or len(value) != shape[0]:
        return False
    rows = [value] if len(shape) == 1 else value
    for row in rows:
        if not isinstance(row, list) or (len(shape) == 2 and len(row) != shape[1]):
            return False
        for v in row:
            if type(v) is not float:
                return False
    return True
