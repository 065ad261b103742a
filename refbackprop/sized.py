"""A backend at any size: seeded inputs, the backend's run, and its verification.

    check_at_size(executor_or_backend, N, D, M, dtype, seed=None, inputs="mixed",
                  trials=None, false_alarm=1e-9, worst_case=False,
                  fingerprint_check=False) -> SizedResult

Two halves, like runner.py's, so that the backend can run in a worker:

- check_at_size, in the verdict's process, draws the seeded inputs
  (sized_inputs: the same numbers in every process) and sends a copy to
  the worker, raw (worker.Channel's out-of-band buffers: no copy, no
  pickle, nothing drawn twice); it prepares the verification while the
  worker computes, checks the outputs' sizes and that every value is a
  value of the precision contract's output format (float32, bfloat16,
  float16), and verifies them (freivalds.verify) without the Jacobian.  Any
  exception on this side is a failed result with its text, never a
  traceback (verifier_error).
- execute_sized runs where the backend lives: it converts the inputs with
  array() (or from_buffer()), calls forward and backward, and sends the
  outputs back as flat buffers: the backend's own buffer through its
  to_buffer() when it has one (no Python float is made, no copy), else
  tolist() flattened into an array('d').  It also checks, as the catalogue
  does, that the inputs read back unchanged and that no output shares
  memory with an input.  The backend gets its own copy of the inputs: what
  it does to them never reaches the verifier's.

Seeds: a run has one seed S (drawn fresh from os.urandom unless given, and
printed with the repro).  The inputs come from sha256(S, "inputs"), the
signs and sampled elements from sha256(S, "signs"); the worker is sent only
the inputs, so a backend cannot know the signs that will judge it.

SizedSession runs it for several backends and dtypes and reports, for the
CLI's `check --size`.  The optional protocol members this uses:
from_buffer(buffer, shape, dtype) (a native array from a row-major
float64 buffer), to_buffer(a) (an object with the buffer protocol holding
a's values row-major, as float64 'd' or float32 'f').
"""

import time
from array import array

from . import inputs as kinds
from .flat import Matrix
from .formatting import summary_line
from .freivalds import FALSE_ALARM, default_trials, prepare, start_dw, start_dw_got
from .rng import seed_from
from .shapes import element_count
from .compare import shape_problem
from .runner import _alias, _Calls, plain, repro_command

SEED_SIZE = (64, 4096, 4096)  # the notes' N, D, M
STAGES = ("generate", "warmup", "prepare", "to_native", "compute", "to_lists", "verify")


def fresh_seed():
    """A run seed nobody can predict (32 bits, easy to type back)."""
    import os

    return int.from_bytes(os.urandom(4), "little")


def derived_seed(seed, purpose):
    """A 64-bit seed for one purpose ('inputs', 'signs') from the run seed:
    SHA-256, so that one cannot be computed from the other."""
    try:
        import hashlib

        digest = hashlib.sha256(("refbackprop/%s/%d" % (purpose, seed)).encode()).digest()
        return int.from_bytes(digest[:8], "little")
    except ImportError:  # a runtime without hashlib: not secret
        return seed_from("refbackprop/%s" % purpose, seed)


def sized_inputs(n, d, m, dtype, bias=True, seed=0, kind=kinds.DEFAULT, then=None):
    """{'x': (N, D), 'w': (D, M), 'b': (M,) or None, 'dy': (N, M)} as Matrix,
    of one input kind (inputs.py; 'mixed' by default), values of dtype.

    seed is the inputs' own seed (derived_seed(run seed, 'inputs') in a
    run): the same numbers in every process (inputs.py).  then(x, dy), if
    given, is called once X and dY are drawn, before W (each matrix has its
    own seed: the order changes no value; ahead.py draws W and b elsewhere)."""
    x, dy = x_and_dy(n, d, m, dtype, seed, kind)
    if then is not None:
        then(x, dy)
    draw = _drawer(n, d, m, dtype, seed, kind)
    w = Matrix(draw((d, m), 2), (d, m))
    b = Matrix(draw((m,), 3), (m,)) if bias else None
    return {"x": x, "w": w, "b": b, "dy": dy}


def x_and_dy(n, d, m, dtype, seed, kind=kinds.DEFAULT):
    """sized_inputs' X (N, D) and dY (N, M), as Matrix."""
    draw = _drawer(n, d, m, dtype, seed, kind)  # (ValueError for a kind the dtype refuses)
    x = Matrix(draw((n, d), 1), (n, d))
    dy = Matrix(draw((n, m), 4), (n, m))
    if kind == kinds.OVERFLOW and n:
        # X's first row drives Y's first row past 65520, dY's last row dX's last row
        kinds.scale_row(x.values, d, 0, kinds.overflow_scale(d))
        kinds.scale_row(dy.values, m, n - 1, kinds.overflow_scale(m))
    return x, dy


def w_and_b_into(n, d, m, dtype, seed, kind, w, b=None):
    """sized_inputs' W (D, M) and b (M,) drawn into writable byte buffers of
    8·D·M and 8·M bytes (native doubles); b None: no bias."""
    draw = _drawer(n, d, m, dtype, seed, kind)
    draw((d, m), 2, w)
    if b is not None:
        draw((m,), 3, b)


def _drawer(n, d, m, dtype, seed, kind):
    """draw(shape, part, into=None): one of sized_inputs' matrices (part 1
    X, 2 W, 3 b, 4 dY), values as an array('d'), or drawn into a buffer."""
    why = kinds.allowed(kind, dtype)
    if why:
        raise ValueError(why)
    base = seed_from("sized/N%d-D%d-M%d/%s/%s" % (n, d, m, dtype, kind), seed)
    k = max(d + 1, m, n)  # the longest reduction, for 'integers'

    def draw(shape, part, into=None):
        rows, cols = shape if len(shape) == 2 else (1, shape[0])
        return kinds.matrix(kind, rows, cols, dtype, (base + part) & ((1 << 64) - 1), k, into)

    return draw


def execute_sized(
    backend,
    announce,
    reraise,
    n,
    d,
    m,
    dtype,
    seed=0,
    bias=True,
    inputs=None,
    kind=kinds.DEFAULT,
    own_inputs=False,
):
    """Run backend at (N, D, M) on sized_inputs; plain data out (module
    docstring): {'outputs': {name: (typecode, buffer)}, 'problems': [...],
    'notes': [...], 'seconds': {...}}.  own_inputs: the inputs are this
    call's to give away (a worker's copy), so from_buffer gets them
    writable and may keep them as its arrays; else read-only views (the
    verifier's own, in process)."""
    raw = {"outputs": {}, "problems": [], "notes": [], "seconds": {}}
    call = _Calls(raw, announce, reraise)
    clock = time.perf_counter
    t0 = clock()
    if announce is not None:
        announce("generate inputs")
    if inputs is None:
        inputs = sized_inputs(n, d, m, dtype, bias, seed, kind)
    inputs = wired_inputs(inputs)
    raw["seconds"]["generate_worker"] = clock() - t0
    names = [k for k in ("x", "w", "b", "dy") if inputs[k] is not None]
    in_shapes = dict((k, inputs[k].shape) for k in names)
    t0 = clock()
    native, before = {}, {}
    for k in names:
        ok, native[k] = _to_native(call, backend, k, inputs[k], dtype, own_inputs)
        if not ok:
            return raw
    inputs = None  # the backend's arrays hold them now
    scratch = {"problems": [], "notes": []}
    quiet = _Calls(scratch, announce, reraise)
    for k in names:  # what the call must leave unchanged
        # read back quietly: a backend that cannot is reported on its outputs
        before[k] = _digest(quiet, scratch, backend, k, native[k], in_shapes[k])
    raw["seconds"]["to_native"] = clock() - t0
    t0 = clock()
    ok, y = call("forward", backend.forward, native["x"], native["w"], native.get("b"))
    if not ok:
        return raw
    ok, grads = call(
        "backward", backend.backward, native["x"], native["w"], native["dy"], native.get("b")
    )
    if not ok:
        return raw
    if not (isinstance(grads, tuple) and len(grads) == 3):
        raw["problems"].append(
            "backward returned %r, not a tuple (dx, dw, db)" % (type(grads).__name__,)
        )
        return raw
    raw["seconds"]["compute"] = clock() - t0
    t0 = clock()
    shapes = {"y": (n, m), "dx": (n, d), "dw": (d, m), "db": (m,)}
    outs = {"y": y, "dx": grads[0], "dw": grads[1], "db": grads[2]}
    for name in ("y", "dx", "dw", "db"):
        out = outs[name]
        if name == "db" and not bias:
            if out is not None:
                raw["problems"].append("db should be None without a bias")
            continue
        if out is None:
            raw["problems"].append("%s is None" % name)
            continue
        for k in names:
            _alias(call, raw, backend, name, out, k, native[k])
        flat = _flat_output(call, raw, backend, name, out, shapes[name])
        if flat is not None:
            raw["outputs"][name] = flat
    for k in names:
        if before[k] is None:
            raw["notes"].append(
                "input %s could not be read back before the call: not checked for modification" % k
            )
            continue
        after = _digest(call, raw, backend, k, native[k], in_shapes[k])
        if after is not None and after != before[k]:
            raw["problems"].append("input %s was modified by the call" % k)
    raw["seconds"]["to_lists"] = clock() - t0
    return raw


def execute_warmup(backend, announce, reraise, dtype):
    """The backend's warmup(dtype) (compile or load its kernels), where it has
    one: {'problems': [...], 'seconds': seconds or None}."""
    raw = {"problems": [], "seconds": None}
    warm = getattr(backend, "warmup", None)
    if warm is not None:
        t0 = time.perf_counter()
        if _Calls(raw, announce, reraise)("warmup", warm, dtype)[0]:
            raw["seconds"] = time.perf_counter() - t0
    return raw


def _digest(call, raw, backend, name, a, shape):
    """SHA-256 of a native array's values row-major (through its buffer,
    without copying it, where the backend has to_buffer), or None with a
    problem."""
    import hashlib

    got = _buffer_of(call, raw, backend, name, a, shape)
    if got is None:
        return None
    fmt, view = got
    h = hashlib.sha256(fmt.encode())
    h.update(view)
    return h.digest()


def _to_native(call, backend, k, matrix, dtype, own):
    if hasattr(backend, "from_buffer"):
        view = memoryview(matrix.values)
        if not own and hasattr(view, "toreadonly"):
            view = view.toreadonly()
        return call("from_buffer(%s)" % k, backend.from_buffer, view, matrix.shape, dtype)
    return call("array(%s)" % k, backend.array, matrix.lists(), matrix.shape, dtype)


def _flat_output(call, raw, backend, name, out, shape):
    """(typecode, a buffer of out's values row-major in that format, not a
    copy), or None with a problem."""
    got = _buffer_of(call, raw, backend, name, out, shape)
    if got is None:
        return None
    fmt, view = got
    return fmt, view.cast(fmt)


def _out_of_band(buffer):
    """buffer wrapped to travel out of band (pickle.PickleBuffer, read into an
    array by worker.Channel); bytes where pickle has no protocol 5."""
    import pickle

    return (getattr(pickle, "PickleBuffer", None) or bytes)(buffer)


def _typed(code, data):
    """An array(code) of data's values: data itself if it is one (read from
    the pipe into an array of its own), else a copy of its bytes."""
    if isinstance(data, array) and data.typecode == code:
        return data
    values = array(code)
    values.frombytes(memoryview(data).cast("B"))
    return values


def wire_inputs(inputs):
    """The inputs as a request carries them to a worker: {name: (values, shape)
    or None}, values out of band (_out_of_band)."""
    return dict(
        (k, None if v is None else (_out_of_band(v.values), v.shape)) for k, v in inputs.items()
    )


def wired_inputs(inputs):
    """{name: Matrix or None} of what wire_inputs sent (or of Matrix already)."""
    out = {}
    for k, v in inputs.items():
        if v is not None and not isinstance(v, Matrix):
            v = Matrix(_typed("d", v[0]), v[1])
        out[k] = v
    return out


def wire_outputs(raw):
    """raw (execute_sized's), its outputs' buffers wrapped to travel out of band."""
    for name, (code, view) in list(raw["outputs"].items()):
        raw["outputs"][name] = (code, _out_of_band(view))
    return raw


def _is_seconds(value):
    return type(value) in (int, float) and value == value


def reply_bytes(n, d, m):
    """The most out-of-band bytes a sized reply brings: Y, dX, dW and db in float64."""
    return 8 * (n * m + n * d + d * m + m)


def _buffer_of(call, raw, backend, name, out, shape):
    """(typecode, a contiguous buffer) of out's values row-major: the
    backend's own buffer through to_buffer() (no copy), else tolist()
    flattened into an array('d'); or None with a problem."""
    count = element_count(shape)
    if hasattr(backend, "to_buffer"):
        ok, buf = call("to_buffer(%s)" % name, backend.to_buffer, out)
        if not ok:
            return None
        try:
            view = memoryview(buf)
            fmt, size = view.format, view.nbytes
            contiguous = view.c_contiguous
        except BaseException as e:
            raw["problems"].append(
                "to_buffer(%s) gave %s, which has no readable "
                "buffer (%s)" % (name, type(buf).__name__, e)
            )
            return None
        if fmt not in ("d", "f") or not contiguous:
            raw["problems"].append(
                "to_buffer(%s) gave a buffer of format %r%s; it must "
                "be row-major float64 'd' or float32 'f'"
                % (name, fmt, "" if contiguous else ", not contiguous")
            )
            return None
        if size != count * (8 if fmt == "d" else 4):
            raw["problems"].append(
                "%s has the wrong size: %d values, expected %s = %d"
                % (name, size // (8 if fmt == "d" else 4), _shape_text(shape), count)
            )
            return None
        return fmt, view.cast("B")
    ok, got = call("tolist(%s)" % name, backend.tolist, out)
    if not ok:
        return None
    value = plain(got, len(shape))
    problem = shape_problem(value, shape)
    if problem:
        raw["problems"].append("%s has the wrong shape: %s" % (name, problem))
        return None
    flat = array("d")
    for row in value if len(shape) == 2 else [value]:
        for j in range(len(row)):
            if type(row[j]) is not float:
                raw["problems"].append(
                    "%s has an entry %s (%s), not a float" % (name, row[j][2], row[j][1])
                )
                return None
        flat.extend(row)
    return "d", memoryview(flat).cast("B")


def _shape_text(shape):
    return "(%d,)" % shape if len(shape) == 1 else "(%d, %d)" % shape


class SizedResult:
    """A backend checked at one size and dtype: timings, problems, verification."""

    def __init__(
        self,
        label,
        n,
        d,
        m,
        dtype,
        seed=0,
        trials=None,
        selector=None,
        kind=kinds.DEFAULT,
        options=(),
    ):
        self.backend, self.n, self.d, self.m, self.dtype = label, n, d, m, dtype
        self.seed, self.trials, self.kind = seed, trials, kind
        self.options = list(options)  # repro arguments beyond the defaults
        self.selector = selector or label
        self.seconds = {}  # generate, to_native, compute, to_lists, verify
        self.problems = []  # exceptions, exits, wrong shapes
        self.notes = []  # what could not be checked
        self.output = ""  # what the backend printed
        self.verification = None

    @property
    def passed(self):
        return not self.problems and self.verification is not None and self.verification.passed

    def repro(self):
        args = [
            "--size",
            self.n,
            self.d,
            self.m,
            "--dtype",
            self.dtype,
            "--seed",
            self.seed,
            "--inputs",
            self.kind,
        ]
        if self.trials is not None:
            args.extend(["--trials", self.trials])
        return repro_command(self.selector, *(args + self.options))

    def lines(self):
        out = [
            "%s %s at N=%d, D=%d, M=%d: %s (%s inputs, seed %d)"
            % (
                self.backend,
                self.dtype,
                self.n,
                self.d,
                self.m,
                "passed" if self.passed else "FAILED",
                self.kind,
                self.seed,
            )
        ]
        out.extend("  " + p for p in self.problems)
        out.extend("  note: " + p for p in self.notes)
        if self.verification is not None:
            out.extend("  " + line for line in self.verification.lines())
        out.append(
            "  seconds: "
            + ", ".join("%s %.2f" % (k, self.seconds[k]) for k in STAGES if k in self.seconds)
        )
        if not self.passed:
            printed = [line for line in self.output.splitlines() if line.strip()]
            if printed:
                out.append("  the backend printed (last lines):")
                out.extend("    | %s" % line for line in printed[-8:])
            out.append("  repro:  %s" % self.repro())
        return out

    def to_dict(self):
        return {
            "backend": self.backend,
            "selector": self.selector,
            "N": self.n,
            "D": self.d,
            "M": self.m,
            "dtype": self.dtype,
            "inputs": self.kind,
            "seed": self.seed,
            "trials": self.trials,
            "passed": self.passed,
            "problems": self.problems,
            "notes": self.notes,
            "output": self.output,
            "seconds": self.seconds,
            "repro": self.repro(),
            "verification": None if self.verification is None else self.verification.to_dict(),
        }


def check_at_size(
    backend,
    n,
    d,
    m,
    dtype,
    trials=None,
    seed=None,
    bias=True,
    progress=None,
    inputs=kinds.DEFAULT,
    false_alarm=FALSE_ALARM,
    worst_case=False,
    fingerprint_check=False,
    cell=None,
    drawn=None,
    before_verify=None,
):
    """Run backend (an executor, or a backend object run in this process) at
    (N, D, M) on inputs of one kind and verify it (freivalds.verify: trials,
    false_alarm, worst_case, fingerprint_check, cell).  seed None draws a
    fresh run seed.  progress(stage) is called as stages begin.  Returns a
    SizedResult.

    For SizedSession: drawn is an ahead.Ahead started for this run, whose
    inputs it takes instead of drawing them (it is cancelled if unused);
    before_verify() is called once the backend's outputs are in, before
    they are verified (the session starts the next run's Ahead there)."""
    try:
        from .conformance import executor

        why = kinds.allowed(inputs, dtype)
        if why:
            raise ValueError(why)
        if seed is None:
            seed = fresh_seed()
        cell, trials = _cell_and_trials(n, d, m, cell, trials)
        options = []
        if false_alarm != FALSE_ALARM:
            options.extend(["--false-alarm", "%r" % false_alarm])
        if worst_case:
            options.append("--worst-case")
        if fingerprint_check:
            options.append("--fingerprint-check")
        runs = executor(backend)
        result = SizedResult(
            runs.label, n, d, m, dtype, seed, trials, runs.selector, inputs, options
        )
        try:
            verifying = verify_options(
                seed, trials, false_alarm, worst_case, fingerprint_check, cell
            )
            _run_and_verify(result, runs, bias, progress, verifying, drawn, before_verify)
        except Exception as e:  # refbackprop's own side failed: a result, not a traceback
            result.problems.append(verifier_error(e))
        return result
    finally:
        if drawn is not None:  # (nothing once taken)
            drawn.cancel()


def verifier_error(e):
    """The text of an exception raised on refbackprop's own side of a sized
    run (drawing inputs, preparing or verifying), with where it was raised."""
    where = ""
    tb = getattr(e, "__traceback__", None)
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        where = " (in %s, %s line %d)" % (
            code.co_name,
            code.co_filename.replace("\\", "/").split("/refbackprop/")[-1],
            tb.tb_lineno,
        )
    return (
        "refbackprop's verifier failed: %s: %s%s. This is a bug in refbackprop, "
        "not a verdict on the backend; the outputs were not judged" % (type(e).__name__, e, where)
    )


def _cell_and_trials(n, d, m, cell, trials):
    """A sized run's cell size and trials: None is freivalds.CELL and
    default_trials (check_at_size, and SizedSession drawing a run ahead)."""
    from .freivalds import CELL

    cell = CELL if cell is None else cell
    return cell, (default_trials(n, d, m, cell) if trials is None else trials)


def verify_options(seed, trials, false_alarm, worst_case, fingerprint_check, cell):
    """A sized run's options for freivalds.prepare (and start_dw) from its
    run seed: the signs' seed is derived_seed(seed, 'signs')."""
    return {
        "trials": trials,
        "seed": derived_seed(seed, "signs"),
        "false_alarm": false_alarm,
        "worst_case": worst_case,
        "cell": cell,
        "fingerprint_check": fingerprint_check,
    }


def _run_and_verify(result, runs, bias, progress, options, drawn, before_verify):
    """check_at_size's work once the result exists; fills in result (which
    holds the run's size, dtype, trials, seed and kind of inputs)."""
    mine = {}
    try:
        _run_and_verify_in(result, runs, bias, progress, options, drawn, before_verify, mine)
    finally:
        for name in ("early", "got"):  # (nothing once prepare or finish took it)
            if mine.get(name) is not None:
                mine[name].cancel()


def _run_and_verify_in(result, runs, bias, progress, options, drawn, before_verify, mine):
    """_run_and_verify's steps; mine holds what they share (the inputs, the
    Prepared, start_dw's and start_dw_got's Early, which _run_and_verify
    cancels if unused)."""
    import threading

    n, d, m, dtype = result.n, result.d, result.m, result.dtype
    inputs = result.kind

    clock = time.perf_counter
    input_seed = derived_seed(result.seed, "inputs")
    args = {
        "n": n,
        "d": d,
        "m": m,
        "dtype": dtype,
        "seed": input_seed,
        "bias": bias,
        "kind": inputs,
    }

    def early(x, dy):
        """dW's reference dots in a forked child while W is drawn (at large
        sizes: freivalds.start_dw); prepare takes it."""
        mine["early"] = start_dw(x, dy, dtype, **options)

    def generate():
        t0 = clock()
        if drawn is not None:  # drawn while the run before was verified (ahead.py)
            mine["inputs"], mine["early"] = drawn.take(n, d, m, dtype, input_seed, inputs, bias)
        else:
            mine["inputs"] = sized_inputs(n, d, m, dtype, bias, input_seed, inputs, early)
        result.seconds["generate"] = clock() - t0

    def get_ready():
        """The verification's input side: signs, references, tolerances."""
        t0 = clock()
        given = mine["inputs"]
        mine["prepared"] = prepare(
            given["x"], given["w"], given["b"], given["dy"], dtype, mine.get("early"), **options
        )
        result.seconds["prepare"] = clock() - t0

    def in_parallel():
        try:
            get_ready()
        except BaseException as e:  # reported after the worker's reply
            mine["error"] = e

    if progress is not None:
        progress("generate")
    if getattr(runs, "supervised", False):
        # The worker compiles or loads the backend's kernels for this dtype
        # (its warmup(dtype), where it has one) while this process draws the
        # inputs; then it gets a copy of them and computes while this process
        # prepares the verification (the signs stay here).
        warm = {}

        def warm_up():
            try:
                warm["reply"] = runs.request("warmup", {"dtype": dtype})
            except BaseException as e:  # raised here, after the join
                warm["error"] = e

        warming = threading.Thread(target=warm_up, daemon=True)
        warming.start()
        try:
            generate()
        except KeyboardInterrupt:
            raise  # at once: the CLI stops the worker, which ends the thread
        except BaseException:
            warming.join()  # (bounded by the warmup's time limit) the worker is free again
            raise
        warming.join()
        if "error" in warm:
            raise warm["error"]
        raw, problem, output = warm["reply"]
        if problem or raw["problems"]:
            result.output = output
            result.problems.extend([problem] if problem else raw["problems"])
            return
        if _is_seconds(raw["seconds"]):
            result.seconds["warmup"] = raw["seconds"]
        args["inputs"] = wire_inputs(mine["inputs"])
        drawing = threading.Thread(target=in_parallel)
        drawing.start()
        raw, problem, output = runs.request(
            "sized", args, 3 * n * d * m, max(n * d, d * m), reply_bytes(n, d, m)
        )
        args["inputs"] = None
        if not problem:  # dW's got side in a child while prepare may still run
            mine["got"] = _start_got(raw, mine["inputs"], d, m, dtype, options)
        drawing.join()
        if "error" in mine:
            raise mine["error"]
    else:
        generate()
        args["inputs"] = mine["inputs"]
        raw, problem, output = runs.request("sized", args)
    result.output = output
    if problem:
        result.problems.append(problem)
        return
    for key in ("to_native", "compute", "to_lists"):
        if key in raw["seconds"] and _is_seconds(raw["seconds"][key]):  # (a number, or left out)
            result.seconds[key] = raw["seconds"][key]
    result.problems.extend(raw["problems"])
    result.notes.extend(raw["notes"])
    if result.problems:
        return
    shapes = {"y": (n, m), "dx": (n, d), "dw": (d, m), "db": (m,)}
    outs = {}
    for name in ("y", "dx", "dw", "db"):
        if name == "db" and not bias:
            continue
        outs[name] = _output_matrix(result, name, raw["outputs"][name], shapes[name], dtype)
        raw["outputs"][name] = None  # the bytes: not held twice
    if result.problems:
        return
    if progress is not None:
        progress("verify")
    if before_verify is not None:
        before_verify()
    if "prepared" not in mine:  # in this process: only after the backend's call
        get_ready()
    t0 = clock()
    got = mine.get("got")  # (finish takes it, or stops it whatever happens)
    given = (outs["y"], outs["dx"], outs["dw"], outs.get("db"))
    prepared = mine["prepared"]
    result.verification = prepared.finish(*given, got=got) if got else prepared.finish(*given)
    result.verification.seed = result.seed
    result.seconds["verify"] = clock() - t0


def _start_got(raw, inputs, d, m, dtype, options):
    """start_dw_got on dW (D, M) as the worker sent it, before this process
    has looked at the reply (which _output_matrix does after prepare): None
    where dW did not come back as an array of D·M values of its format (the
    reply's checks say why), or where prepare does not fork.  finish takes
    it only for the Matrix of that same array."""
    try:
        code, data = raw["outputs"]["dw"]
    except (KeyError, TypeError, ValueError):
        return None
    if not (code in ("d", "f") and isinstance(data, array) and data.typecode == code):
        return None
    if len(data) != d * m:
        return None
    return start_dw_got(inputs["x"], inputs["dy"], Matrix(data, (d, m)), dtype, **options)


def _output_matrix(result, name, flat, shape, dtype):
    """The Matrix of an output's flat buffer, after checking that every value
    is a value of the contract's output format (formats.first_unrepresentable,
    at C speed; ±inf and NaN pass here and are judged by the verifier)."""
    from . import contracts, formats
    from .compare import _not_in_format

    code, data = flat
    count = element_count(shape)
    if code not in ("d", "f"):
        result.problems.append("%s came back in format %r, not 'd' or 'f'" % (name, code))
        return None
    values = _typed(code, data)
    if len(values) != count:
        result.problems.append(
            "%s came back with %d values, not the %d of shape %s"
            % (name, len(values), count, _shape_text(shape))
        )
        return None
    contract = contracts.get(dtype)
    if contract.output.p < 53 and not (code == "f" and contract.output.name == "float32"):
        k = formats.first_unrepresentable(values, contract.output)
        if k >= 0:
            label = (
                "%s[%d]" % (name, k)
                if len(shape) == 1
                else "%s[%d][%d]" % (name, k // shape[1], k % shape[1])
            )
            result.problems.append(_not_in_format(label, values[k], contract))
    return Matrix(values, shape)


class SizedSession:
    """check --size for several backends (executors) and dtypes."""

    def __init__(
        self,
        executors,
        size,
        dtype=None,
        seed=None,
        trials=None,
        not_run=(),
        inputs=kinds.DEFAULT,
        false_alarm=FALSE_ALARM,
        worst_case=False,
        fingerprint_check=False,
    ):
        from .conformance.session import distinct_labels

        self.executors = distinct_labels(list(executors))
        if seed is None:
            seed = fresh_seed()
        self.size, self.seed, self.trials = tuple(size), seed, trials
        self.inputs, self.false_alarm = inputs, false_alarm
        self.worst_case, self.fingerprint_check = worst_case, fingerprint_check
        self.not_run = list(not_run)
        self.plan = []
        for runs in self.executors:
            for dt in runs.info.dtypes:
                if dtype not in (None, dt):
                    continue
                why = kinds.allowed(inputs, dt)
                if why:  # 'overflow' inputs: float16 storage only
                    self.not_run.append(("%s %s" % (runs.label, dt), why))
                else:
                    self.plan.append((runs, dt))
        self.results = []
        self.interrupted = False

    def __len__(self):
        return len(self.plan)

    def run(self, progress=None):
        """progress(label, stage) as stages begin, if given.  While a run's
        outputs are verified, the next run's inputs are drawn (ahead.py)."""
        n, d, m = self.size
        ahead = {}  # index in the plan -> its Ahead, started during the run before

        def draw_ahead(index):
            """before_verify of run index - 1: start run index's Ahead."""
            if index >= len(self.plan):
                return
            from . import ahead as drawing

            dtype = self.plan[index][1]
            cell, trials = _cell_and_trials(n, d, m, None, self.trials)  # (as check_at_size's)
            options = verify_options(
                self.seed, trials, self.false_alarm, self.worst_case, self.fingerprint_check, cell
            )
            seed = derived_seed(self.seed, "inputs")
            try:
                ahead[index] = drawing.start(n, d, m, dtype, seed, self.inputs, True, options)
            except Exception:  # (that run draws its inputs itself, and reports what fails)
                ahead[index] = None

        try:
            for index, (runs, dt) in enumerate(self.plan):
                report = None
                if progress is not None:
                    label = "%s %s N=%d D=%d M=%d" % (runs.label, dt, n, d, m)
                    report = lambda stage, label=label: progress(label, stage)
                self.results.append(
                    check_at_size(
                        runs,
                        n,
                        d,
                        m,
                        dt,
                        self.trials,
                        self.seed,
                        progress=report,
                        inputs=self.inputs,
                        false_alarm=self.false_alarm,
                        worst_case=self.worst_case,
                        fingerprint_check=self.fingerprint_check,
                        drawn=ahead.pop(index, None),
                        before_verify=lambda index=index: draw_ahead(index + 1),
                    )
                )
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            for started in ahead.values():
                if started is not None:
                    started.cancel()
            for runs in self.executors:
                runs.close()
        return self

    @property
    def passed(self):
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self):
        return len(self.results) - self.passed

    @property
    def ok(self):
        return (
            not self.interrupted
            and self.failed == 0
            and self.results
            and len(self.results) == len(self.plan)
        )

    def lines(self):
        out = []
        for label, why in self.not_run:
            out.append("not run: %s (%s)" % (label, why))
        for r in self.results:
            out.extend(r.lines())
        if self.interrupted:
            out.append(
                "INTERRUPTED after %d of %d runs: the run is not complete"
                % (len(self.results), len(self.plan))
            )
        out.append(self.summary())
        return out

    def summary(self):
        return summary_line(self.passed, self.failed, self.interrupted)

    def to_dict(self):
        from .conformance.session import JSON_SCHEMA_VERSION

        n, d, m = self.size
        return {
            "schema": JSON_SCHEMA_VERSION,
            "mode": "size",
            "size": [n, d, m],
            "seed": self.seed,
            "trials": self.trials,
            "inputs": self.inputs,
            "false_alarm": 0.0 if self.worst_case else self.false_alarm,
            "worst_case": self.worst_case,
            "fingerprint_check": self.fingerprint_check,
            "not_run": [{"backend": label, "why": why} for label, why in self.not_run],
            "results": [r.to_dict() for r in self.results],
            "interrupted": self.interrupted,
            "passed": self.passed,
            "failed": self.failed,
            "ok": bool(self.ok),
        }
