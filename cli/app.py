"""The click app: a thin shell over refbackprop's library functions.

Exit status: 0 every selected check ran and passed; 1 a check failed; 2 a
usage error, or a backend that is unknown, ambiguous, unavailable or broken
(one line with the reason, no traceback); 130 interrupted (Ctrl-C), after
printing what was checked so far (143, 129: stopped by SIGTERM, SIGHUP).
Backends run in supervised worker processes (refbackprop.supervisor) unless
--in-process is given.
"""

import json
import sys

import click

from refbackprop import oracle
from refbackprop.budget import Budget, TooLarge, parse_bytes
from refbackprop.cases import DTYPES, Case
from refbackprop.conformance import whole_case
from refbackprop.conformance.session import CheckSession
from refbackprop.formatting import group_digits, terminal_text
from refbackprop.freivalds import FALSE_ALARM, MAX_TRIALS
from refbackprop.inputs import CHOICES as INPUT_KINDS, DEFAULT as DEFAULT_INPUTS
from refbackprop.inputs import allowed as input_kind_problem
from refbackprop.registry import BackendError
from refbackprop.sized import SEED_SIZE, SizedSession
from refbackprop.supervisor import DEFAULT_TIMEOUT, list_backends, open_backends

EXIT_INTERRUPTED = 130


class _StopSignals:
    """SIGTERM and SIGHUP stop a check as Ctrl-C does: what was checked so far
    is still reported (a backend that signals the process holding the verdict
    gets the summary, not a silent end); the exit status is then 128 + the
    signal's number."""

    NAMES = ("SIGTERM", "SIGHUP")

    def __init__(self):
        self.received = None
        self.saved = {}

    def __enter__(self):
        import signal

        for name in self.NAMES:
            number = getattr(signal, name, None)
            if number is not None:
                try:
                    self.saved[number] = signal.signal(number, self._stop)
                except (ValueError, OSError):  # not the main thread, or not allowed
                    pass
        return self

    def _stop(self, number, frame):
        if self.received is None:
            self.received = number
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        import signal

        for number, handler in self.saved.items():
            signal.signal(number, handler)
        return False

    def exit_status(self):
        """Exit status and a one-line note for an interrupted run."""
        if self.received is None:
            return EXIT_INTERRUPTED, None
        import signal

        name = signal.Signals(self.received).name
        return 128 + self.received, "refbackprop: stopped by %s" % name


class UsageFailure(click.ClickException):
    """A one-line error with exit status 2 (click's own usage errors are 2)."""

    exit_code = 2


def echo(text="", err=False, nl=True):
    """click.echo, in ASCII notation where the stream cannot encode ours."""
    stream = sys.stderr if err else sys.stdout
    click.echo(terminal_text(text, getattr(stream, "encoding", None)), err=err, nl=nl)


def _emit_json(doc):
    click.echo(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False, default=str))


def _progress_wanted(as_json):
    return not as_json and sys.stderr.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="refbackprop")
def cli():
    """refbackprop: the reference for backpropagation through a linear layer."""


class Seconds(click.ParamType):
    """A positive number of seconds; inf means no limit, NaN is refused."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail("%r is not a number of seconds" % (value,), param, ctx)
        if not v > 0:
            self.fail("%r is not a positive number of seconds" % (value,), param, ctx)
        return v


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of text."
)
backend_option = click.option(
    "--backend",
    "-b",
    "backend_names",
    multiple=True,
    metavar="NAME|module:attr",
    help="A registered backend or an import path; repeatable. Default: every "
    "registered backend that can run.",
)
dtype_option = click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default=None,
    help="Only this dtype (default: every dtype each backend declares).",
)
timeout_option = click.option(
    "--timeout",
    type=Seconds(),
    default=None,
    metavar="SECONDS",
    help="Seconds each backend call may take before its worker is "
    "killed and the check fails (default: %g s plus a term scaled with the call's "
    "work)." % DEFAULT_TIMEOUT,
)
in_process_option = click.option(
    "--in-process",
    is_flag=True,
    help="Run backends in this process, unsupervised (for debugging with pdb): a "
    "backend that exits or crashes then ends the run itself.",
)
memory_option = click.option(
    "--max-memory",
    default=None,
    metavar="SIZE",
    help="Refuse sizes whose estimated memory exceeds SIZE (e.g. 8G; default: half "
    "the memory available).",
)
seconds_option = click.option(
    "--max-seconds",
    type=Seconds(),
    default=None,
    metavar="SECONDS",
    help="Refuse sizes whose estimated pure-Python time exceeds this (default 600).",
)
example_seed_option = click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the example's small integers.",
)


def size_option(help):
    """--size N D M, a layer size (None when not given)."""
    return click.option(
        "--size", nargs=3, type=click.IntRange(min=1), default=None, metavar="N D M", help=help
    )


def _budget(max_memory, max_seconds):
    try:
        max_bytes = None if max_memory is None else parse_bytes(max_memory)
    except ValueError as e:
        raise UsageFailure("--max-memory: %s" % e)
    return Budget(max_bytes, max_seconds)


def _open(backend_names, in_process, timeout, dtype):
    try:
        return open_backends(list(backend_names), not in_process, timeout, dtype)
    except BackendError as e:
        raise UsageFailure(str(e))


@cli.command()
@backend_option
@dtype_option
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the case catalogue (default 0); with --size, of the inputs, "
    "signs and samples (default: drawn fresh for each run and printed).",
)
@click.option(
    "--case",
    "pattern",
    default=None,
    metavar="PATTERN",
    help="Only checks whose id contains PATTERN (or matches it, with * "
    "and ?); a whole case id runs that case at any shape.",
)
@size_option(
    "Verify at this size instead of the catalogue: "
    "randomized projections, no Jacobian, time linear in the data."
)
@click.option(
    "--seed-size", is_flag=True, help="Shorthand for --size 64 4096 4096, the notes' size."
)
@click.option(
    "--trials",
    type=click.IntRange(min=1, max=200),
    default=None,
    help="Random sign trials for --size (default: as many as cost 1/40 of the "
    "layer's multiply-adds, 1 to %d); an element beyond its cell's "
    "detection threshold escapes with probability at most 2^-trials." % MAX_TRIALS,
)
@click.option(
    "--inputs",
    "input_kind",
    type=click.Choice(INPUT_KINDS),
    default=None,
    help="Kind of inputs for --size (default %s: row bands of normal, wide, "
    "integers, tiny and same-sign values; overflow, for float16 storage: "
    "sums past 65520 in a row of Y and of dX)." % DEFAULT_INPUTS,
)
@click.option(
    "--false-alarm",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=None,
    metavar="P",
    help="For --size: the probability that a correct backend "
    "fails the check, at most (default %g)." % FALSE_ALARM,
)
@click.option(
    "--worst-case",
    is_flag=True,
    help="For --size: cell tolerances from the worst-case sum of element "
    "bounds (never a false alarm; thresholds several times higher).",
)
@click.option(
    "--fingerprint-check",
    is_flag=True,
    help="For --size: fail an output whose sampled errors are larger than "
    "correct rounding makes them (false alarm at most --false-alarm under "
    "the rounding model of docs/verification.md).",
)
@timeout_option
@in_process_option
@memory_option
@seconds_option
@click.option(
    "--report",
    "report_file",
    default=None,
    metavar="FILE.html",
    help="Also write the run as one self-contained HTML page, with an error "
    "map of every failing output.",
)
@json_option
def check(
    backend_names,
    dtype,
    seed,
    pattern,
    size,
    seed_size,
    trials,
    input_kind,
    false_alarm,
    worst_case,
    fingerprint_check,
    timeout,
    in_process,
    max_memory,
    max_seconds,
    report_file,
    as_json,
):
    """Check backends against the reference, with rounding-error bounds.

    Runs the case catalogue on each backend, cross-checks every pair of
    backends, and checks the reference itself against the explicit-Jacobian
    oracle.  With --size or --seed-size, verifies each backend at that size
    with randomized projections instead.  Ends with 'N passed, N failed'.
    """
    budget = _budget(max_memory, max_seconds)
    if report_file:
        _check_report_path(report_file)
    if seed_size:
        if size:
            raise UsageFailure("give --size or --seed-size, not both")
        size = SEED_SIZE
    if size and pattern:
        raise UsageFailure("--case selects catalogue cases; it does not go with --size")
    for given, flag in (
        (trials is not None, "--trials"),
        (input_kind is not None, "--inputs"),
        (false_alarm is not None, "--false-alarm"),
        (worst_case, "--worst-case"),
        (fingerprint_check, "--fingerprint-check"),
    ):
        if given and not size:
            raise UsageFailure("%s goes with --size or --seed-size" % flag)
    if size and input_kind and dtype:
        why = input_kind_problem(input_kind, dtype)
        if why:
            raise UsageFailure("--inputs: %s" % why)
    case = whole_case(pattern)
    try:
        if case is not None:
            budget.case(case)
    except TooLarge as e:
        raise UsageFailure(str(e))
    with _StopSignals() as stop:
        executors, not_run = _open(backend_names, in_process, timeout, dtype)
        try:
            if size:
                try:
                    budget.sized(size[0], size[1], size[2], [e.info for e in executors])
                except TooLarge as e:
                    raise UsageFailure(str(e))
                session = SizedSession(
                    executors,
                    size,
                    dtype,
                    seed,
                    trials,
                    not_run,
                    input_kind or DEFAULT_INPUTS,
                    FALSE_ALARM if false_alarm is None else false_alarm,
                    worst_case,
                    fingerprint_check,
                )
                _run_sized(session, as_json)
            else:
                try:
                    session = CheckSession(
                        executors, dtype, seed or 0, pattern, not_run, selected=bool(backend_names)
                    )
                except ValueError as e:
                    raise UsageFailure(str(e))
                _run_catalogue(session, as_json)
        finally:
            for runs in executors:
                runs.close()
    if report_file:
        _write_report(report_file, session, bool(size))
    if session.ok:
        sys.exit(0)
    if not session.interrupted:
        sys.exit(1)
    status, note = stop.exit_status()
    if note:
        echo(note, err=True)
    sys.exit(status)


def _check_report_path(path):
    """Refuse a --report path that cannot be written before the run, not after it."""
    import os

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageFailure("--report: %s is a folder; give a file name such as report.html" % path)
    if not os.path.isdir(folder):
        raise UsageFailure(
            "--report: cannot write %s: the folder %s does not exist" % (path, folder)
        )
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageFailure("--report: cannot write %s: permission denied" % path)


def _write_report(path, session, sized):
    from refbackprop.report import catalogue_report, sized_report
    from refbackprop.runner import quote

    command = " ".join(["refbackprop"] + [quote(a) for a in sys.argv[1:]])
    page = (sized_report if sized else catalogue_report)(session, command)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        raise UsageFailure("--report: cannot write %s: %s" % (path, e))
    echo("report: %s" % path, err=True)


def _run_catalogue(session, as_json):
    if _progress_wanted(as_json):
        with click.progressbar(length=len(session), label="checking", file=sys.stderr) as bar:
            session.run(bar.update)
    else:
        session.run()
    if as_json:
        _emit_json(session.to_dict())
        return
    for line in session.backend_lines() + session.table() + session.report_lines():
        echo(line)
    echo(session.summary())


def _run_sized(session, as_json):
    progress = None
    if _progress_wanted(as_json):
        progress = lambda label, stage: echo("%s: %s" % (label, stage), err=True)
    session.run(progress)
    if as_json:
        _emit_json(session.to_dict())
        return
    for line in session.lines():
        echo(line)


@cli.command()
@timeout_option
@in_process_option
@json_option
def backends(timeout, in_process, as_json):
    """List the registered backends: status, dtypes and origin.

    Each backend is loaded in its own worker process (unless --in-process), so
    a plugin that crashes while loading is listed as broken.
    """
    infos = list_backends(not in_process, timeout)
    if as_json:
        _emit_json({"backends": [i.to_dict() for i in infos]})
        return
    rows = [(i.name, i.status, ", ".join(i.dtypes) or "-", i.origin) for i in infos]
    widths = [
        max([len(h)] + [len(r[k]) for r in rows])
        for k, h in enumerate(("name", "status", "dtypes"))
    ]
    line = "%%-%ds  %%-%ds  %%-%ds  %%s" % tuple(widths)
    echo(line % ("name", "status", "dtypes", "origin"))
    for info, row in zip(infos, rows):
        echo(line % row)
        if info.reason:  # why it cannot run, on its own line
            echo("    reason: %s" % info.reason)
        for dt in sorted(info.dtype_reasons):
            echo("    %s not declared: %s" % (dt, info.dtype_reasons[dt]))


@cli.command()
@click.argument("n", type=click.IntRange(min=0))
@click.argument("d", type=click.IntRange(min=0))
@click.argument("m", type=click.IntRange(min=0))
@click.option("--bias", is_flag=True, help="Include b (M,) and dY/db.")
@click.option(
    "--show", is_flag=True, help="Print the Jacobians of a seeded case (small shapes only)."
)
@example_seed_option
@json_option
def jacobian(n, d, m, bias, show, seed, as_json):
    """Size of the explicit Jacobians of Y = X W (+ b) for N D M.

    X is (N, D), W is (D, M); dY/dX is (N·M, N·D), dY/dW (N·M, D·M),
    dY/db (N·M, M).
    """
    size = oracle.jacobian_size(n, d, m, bias)
    mats = _small_case_jacobians(n, d, m, bias, seed) if show else None
    if as_json:
        doc = {
            "N": n,
            "D": d,
            "M": m,
            "bias": bias,
            "entries": size["entries"],
            "budget": oracle.JACOBIAN_BUDGET,
            "jacobians": {},
        }
        for key in ("dy_dx", "dy_dw", "dy_db"):
            if size[key] is not None:
                r, c = size[key]
                doc["jacobians"][key] = {
                    "shape": [r, c],
                    "entries": r * c,
                    "bytes_float32": 4 * r * c,
                    "bytes_float64": 8 * r * c,
                }
        if mats is not None:
            doc.update(mats)
        _emit_json(doc)
        return
    for line in oracle.describe_size(n, d, m, bias):
        echo(line)
    echo(
        "in all: %s entries (budget %s)"
        % (group_digits(size["entries"]), group_digits(oracle.JACOBIAN_BUDGET))
    )
    if mats is None:
        return
    for label in ("x", "w", "dy_dx", "dy_dw", "dy_db"):
        if mats[label] is not None:
            echo("\n%s =" % _LABELS[label])
            _print_matrix(mats[label])
        if label == "w" and mats["b"] is not None:
            echo("\nb = [%s ]" % _fmt_row(mats["b"]))


_LABELS = {"x": "X", "w": "W", "dy_dx": "dY/dX", "dy_dw": "dY/dW", "dy_db": "dY/db"}


def _small_case_jacobians(n, d, m, bias, seed):
    """{x, w, b, dy_dx, dy_dw, dy_db} for a seeded small-integer case."""
    if n * m > 64 or n * d > 64 or d * m > 64:
        entries = oracle.jacobian_size(n, d, m, bias)["entries"]
        raise UsageFailure(
            "--show prints small Jacobians only (N·M, N·D and D·M at "
            "most 64); N=%d, D=%d, M=%d has %s entries, too many to read"
            % (n, d, m, group_digits(entries))
        )
    if d == 0 and not bias:
        raise UsageFailure("with D = 0, M is undetermined without --bias")
    inputs = Case("forward", "float64", n, d, m, bias, "integers", seed).inputs()
    ints = lambda rows: [[int(v) for v in r] for r in rows]  # exact small integers
    x, w = ints(inputs["x"]), ints(inputs["w"])
    b = None if inputs["b"] is None else [int(v) for v in inputs["b"]]
    dy_dx, dy_dw, dy_db = oracle.jacobian(x, w, b)
    return {"x": x, "w": w, "b": b, "dy_dx": dy_dx, "dy_dw": dy_dw, "dy_db": dy_db}


@cli.command()
@click.argument("n", type=int)
@click.argument("d", type=int)
@click.argument("m", type=int)
@click.option("--bias", is_flag=True, help="Include b and dL/db.")
@click.option("--latex", is_flag=True, help="Emit a LaTeX fragment (needs amsmath).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Write the derivation as one standalone HTML page "
    "(MathML and SVG; no script, no network) to FILE.",
)
@click.option(
    "--element",
    nargs=2,
    type=int,
    default=(1, 1),
    show_default=True,
    metavar="I J",
    help="The element x_{I,J} (1-based) whose Jacobian slice is shown (eq. 8).",
)
@example_seed_option
@click.option(
    "--width",
    type=int,
    default=None,
    metavar="COLUMNS",
    help="Wrap text to this many columns (default: the terminal's width, at least 60).",
)
@click.option(
    "--ascii",
    "ascii_only",
    is_flag=True,
    help="ASCII notation (dL/dx[1,1]); automatic when the output cannot encode the Unicode one.",
)
def explain(n, d, m, bias, latex, html_file, element, seed, width, ascii_only):
    """The notes' derivation for N D M, proved symbolically, with numbers.

    Y = XW element by element, the Jacobian slices dY/dx_{i,j}, dY/dw_{i,j},
    dY/db_j, pictures of the whole Jacobians, each dL/dx_{i,j} one element at
    a time with a worked example's numbers, and the symbolic proof that
    dL/dX = dL/dY W^T and dL/dW = X^T dL/dY, in the notes' notation.  Shapes
    up to 4 in each dimension.
    """
    import shutil

    from refbackprop.explain import MIN_WIDTH, can_encode
    from refbackprop.explain import explain as derive_text
    from refbackprop.symbolic import ASCII, TEXT

    if latex and html_file:
        raise UsageFailure("--latex and --html: choose one format")
    try:
        if html_file:
            from refbackprop.page import html_page

            page = html_page(n, d, m, bias, tuple(element), seed)
            with open(html_file, "w", encoding="utf-8") as f:
                f.write(page)
            click.echo("wrote %s (%d bytes)" % (html_file, len(page.encode("utf-8"))))
            return
        unicode_ok = can_encode(getattr(sys.stdout, "encoding", None))
        style = TEXT if unicode_ok and not ascii_only else ASCII
        if width is None:
            width = max(MIN_WIDTH, shutil.get_terminal_size((80, 24)).columns)
        text = derive_text(n, d, m, bias, latex, tuple(element), width, style, seed)
    except (ValueError, OSError) as e:
        raise UsageFailure(str(e))
    echo(text, nl=False)


def _bench_sweep(backend_names, size, dtype, repeat, timeout, as_json):
    """bench --sweep: refbackprop.bench.sweep per backend (by default every
    available one but the interpreted ones, which would take hours here)."""
    from refbackprop.bench import SWEEP_SHAPES, sweep, sweep_lines

    executors, _ = _open(backend_names, False, timeout, dtype)  # clear errors, supervised
    for runs in executors:
        runs.close()
    pairs = [
        (runs.selector, runs.label, runs.info.dtypes)
        for runs in executors
        if backend_names or runs.info.seconds_per_madd is None
    ]
    shapes = [tuple(size)] if size else list(SWEEP_SHAPES)
    docs = []
    for selector, label, declared in pairs:
        dtypes = [dtype] if dtype else [d for d in declared if d in ("float64", "float32")]
        progress = None if as_json else (lambda text: echo("  ... " + text, err=True))
        rows = sweep(selector, shapes, dtypes, repeat, progress=progress)
        docs.append({"backend": label, "rows": rows})
        if not as_json:
            echo(
                "%s vs NumPy: forward + backward with bias, median [low-high] "
                "of %d samples, each side in its own process" % (label, repeat)
            )
            blas = next((r["numpy"]["blas"] for r in rows if r["numpy"]), None)
            echo("NumPy's BLAS: %s" % (blas or "NumPy is not installed"))
            for line in sweep_lines(rows, label):
                echo(line)
    if as_json:
        _emit_json({"repeat": repeat, "sweep": docs})
    if any(r["error"] for doc in docs for r in doc["rows"]):
        raise SystemExit(1)


def _fmt_row(row):
    return " ".join("%5s" % v for v in row)


def _print_matrix(mat):
    for row in mat:
        echo("  [" + _fmt_row(row) + " ]")


@cli.command()
@backend_option
@size_option(
    "Layer size (default: 64 4096 4096 for compiled backends, 64 256 256 for pure Python)."
)
@dtype_option
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Best of this many runs (with --sweep: median of this many samples).",
)
@click.option(
    "--sweep",
    is_flag=True,
    help="Forward + backward with bias at the shapes people use (or --size), "
    "each backend and NumPy in a fresh process of its own: medians, "
    "spread and the ratio to NumPy.",
)
@timeout_option
@memory_option
@seconds_option
@json_option
def bench(backend_names, size, dtype, repeat, sweep, timeout, max_memory, max_seconds, as_json):
    """Milliseconds and GFLOP/s for forward, dX and dW per backend.

    Each backend runs in its own worker process.  Conversion to and from
    lists is timed separately.  NumPy (its BLAS) is timed on the same sizes,
    in its own process, as a baseline column when it is installed ("vs NumPy"
    above 1 means faster than NumPy).
    """
    if sweep:
        _bench_sweep(backend_names, size, dtype, repeat, timeout, as_json)
        return
    from refbackprop.backends.numpy_baseline import SELECTOR
    from refbackprop.bench import default_size
    from refbackprop.supervisor import Supervised

    budget = _budget(max_memory, max_seconds)
    executors, not_run = _open(backend_names, False, timeout, dtype)
    plan = []
    try:
        for runs in executors:
            dt = dtype or runs.info.dtypes[0]
            shape = tuple(size) if size else default_size(runs.info.seconds_per_madd)
            try:
                budget.bench(shape[0], shape[1], shape[2], runs.info)
            except TooLarge as e:
                raise UsageFailure(str(e))
            plan.append((runs, dt, shape))
        baseline = Supervised(SELECTOR, timeout)
        if baseline.load().status != "available":
            baseline = None
        rows, numpy_times, failed = [], {}, 0
        for runs, dt, shape in plan:
            args = {"n": shape[0], "d": shape[1], "m": shape[2], "dtype": dt, "repeat": repeat}
            r, problem, _ = runs.request(
                "bench",
                args,
                8 * repeat * shape[0] * shape[1] * shape[2],
                max(shape[0] * shape[1], shape[1] * shape[2]),
            )
            runs.close()
            if problem:
                failed += 1
                rows.append((runs.label, dt, shape, None, None, problem))
                continue
            if baseline is not None and (shape, dt) not in numpy_times:
                base, _, _ = baseline.request("bench", args)
                numpy_times[(shape, dt)] = base["seconds"] if base else None
            rows.append((runs.label, dt, shape, r, numpy_times.get((shape, dt)), None))
        if baseline is not None:
            baseline.close()
    finally:
        for runs in executors:
            runs.close()
    _bench_report(rows, size, baseline is not None, not_run, repeat, as_json)
    sys.exit(1 if failed else 0)


def _bench_report(rows, size, have_numpy, not_run, repeat, as_json):
    if as_json:
        _emit_json(
            {
                "repeat": repeat,
                "numpy": have_numpy,
                "not_run": [{"backend": b, "why": w} for b, w in not_run],
                "results": [
                    {
                        "backend": name,
                        "dtype": dt,
                        "size": list(shape),
                        "error": problem,
                        "seconds": r["seconds"] if r else None,
                        "gflops": r["gflops"] if r else None,
                        "to_native_seconds": r["to_native"] if r else None,
                        "to_lists_seconds": r["to_lists"] if r else None,
                        "numpy_seconds": base,
                    }
                    for name, dt, shape, r, base, problem in rows
                ],
            }
        )
        return
    for b, why in not_run:
        echo("not run: %s (%s)" % (b, why))
    if not size:
        echo("default sizes: 64 4096 4096 (compiled), 64 256 256 (pure Python)")
    echo(
        "%-10s %-8s %-15s %-9s %10s %9s %10s %8s %14s"
        % (
            "backend",
            "dtype",
            "N D M",
            "product",
            "ms",
            "GFLOP/s",
            "NumPy ms",
            "vs NumPy",
            "conversion ms",
        )
    )
    for name, dt, shape, r, base, problem in rows:
        if problem:
            echo("%-10s %-8s %-15s FAILED: %s" % (name, dt, "%d %d %d" % shape, problem))
            continue
        conv = "%.1f + %.1f" % (1e3 * r["to_native"], 1e3 * r["to_lists"])
        for key in r["seconds"]:
            t = r["seconds"][key]
            b = base.get(key) if base else None
            echo(
                "%-10s %-8s %-15s %-9s %10.3f %9.2f %10s %8s %14s"
                % (
                    name,
                    dt,
                    "%d %d %d" % shape,
                    key,
                    1e3 * t,
                    r["gflops"][key],
                    "-" if b is None else "%.3f" % (1e3 * b),
                    "-" if b is None else "%.2fx" % (b / t),
                    conv,
                )
            )
            conv = ""
    if not have_numpy:
        echo("(NumPy is not installed: no baseline column)")
