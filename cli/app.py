"""The click app: a thin shell over refbackprop's library functions.

Exit status: 0 all passed, 1 a check failed, 2 usage error or a backend that
is unknown, unavailable or broken (one line with the reason, no traceback).
"""

import json
import sys

import click

from refbackprop import oracle
from refbackprop.cases import DTYPES, Case
from refbackprop.conformance.session import JSON_SCHEMA_VERSION, CheckSession
from refbackprop.freivalds import DEFAULT_TRIALS, SEED_SIZE, SIZED_STAGES, check_at_size
from refbackprop.registry import BackendError, Registry


class UsageFailure(click.ClickException):
    """A one-line error with exit status 2 (click's own usage errors are 2)."""
    exit_code = 2


def _emit_json(doc):
    click.echo(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False,
                          default=str))


def _progress_wanted(as_json):
    return not as_json and sys.stderr.isatty()


def _select(reg, names):
    """Backends by name or import path; all available ones when none named."""
    if not names:
        backends = reg.available()
        if not backends:
            raise UsageFailure("no backend is available: %s" % ", ".join(
                "%s (%s)" % (i.name, i.reason) for i in reg.infos))
        return backends
    if any(":" in name for name in names) and "" not in sys.path:
        sys.path.insert(0, "")       # import paths resolve from the current folder
    out = []
    for name in names:
        try:
            out.append(reg.get(name))
        except BackendError as e:
            raise UsageFailure(str(e))
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="refbackprop")
def cli():
    """refbackprop: the reference for backpropagation through a linear layer."""


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document instead of text.")
backend_option = click.option(
    "--backend", "-b", "backend_names", multiple=True, metavar="NAME|module:attr",
    help="A registered backend or an import path; repeatable. Default: every "
         "available backend.")
dtype_option = click.option("--dtype", type=click.Choice(DTYPES), default=None,
                            help="Only this dtype (default: every dtype each "
                                 "backend declares).")


@cli.command()
@backend_option
@dtype_option
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the case catalogue.")
@click.option("--case", "pattern", default=None, metavar="PATTERN",
              help="Only checks whose id contains PATTERN (or matches it, with * "
                   "and ?); a whole case id runs that case at any shape.")
@click.option("--size", nargs=3, type=click.IntRange(min=1), default=None,
              metavar="N D M", help="Verify at this size instead of the catalogue: "
              "randomized projections, no Jacobian, time linear in the data.")
@click.option("--seed-size", is_flag=True,
              help="Shorthand for --size 64 4096 4096, the notes' size.")
@click.option("--trials", type=click.IntRange(min=1, max=200), default=None,
              help="Random sign trials for --size (default %d); an error above "
                   "the tolerance escapes with probability at most 2^-trials."
                   % DEFAULT_TRIALS)
@json_option
def check(backend_names, dtype, seed, pattern, size, seed_size, trials, as_json):
    """Check backends against the reference, with rounding-error bounds.

    Runs the case catalogue on each backend, cross-checks every pair of
    backends, and checks the reference itself against the explicit-Jacobian
    oracle.  With --size or --seed-size, verifies each backend at that size
    with randomized projections instead.  Ends with 'N passed, N failed'.
    """
    reg = Registry()
    backends = _select(reg, backend_names)
    if dtype is not None:
        for b in backends:
            if dtype not in b.dtypes:
                raise UsageFailure("backend %r declares dtypes %s, not %s"
                                   % (b.name, ", ".join(b.dtypes), dtype))
    if seed_size:
        if size:
            raise UsageFailure("give --size or --seed-size, not both")
        size = SEED_SIZE
    if size:
        if pattern:
            raise UsageFailure("--case selects catalogue cases; it does not go with --size")
        selectors = dict((b.name, name) for name, b in zip(backend_names, backends))
        _check_at_size(backends, selectors, size, dtype, seed, trials or DEFAULT_TRIALS,
                       as_json)
    elif trials is not None:
        raise UsageFailure("--trials goes with --size or --seed-size")
    origins = dict((i.name, i.origin) for i in reg.infos)
    selectors = {}
    for name, backend in zip(backend_names, backends):
        selectors[backend.name] = name
        if ":" in name:
            origins[backend.name] = name
    session = CheckSession(backends, dtype, seed, pattern, origins, selectors)
    if len(session) == 0:
        raise UsageFailure("no check matches --case %r" % pattern)
    if _progress_wanted(as_json):
        with click.progressbar(length=len(session), label="checking",
                               file=sys.stderr) as bar:
            session.run(bar.update)
    else:
        session.run()
    if as_json:
        _emit_json(session.to_dict())
    else:
        for line in session.table():
            click.echo(line)
        for line in session.report_lines():
            click.echo(line)
        click.echo(session.summary())
    sys.exit(1 if session.failed else 0)


def _check_at_size(backends, selectors, size, dtype, seed, trials, as_json):
    n, d, m = size
    runs = [(b, dt) for b in backends for dt in b.dtypes if dtype in (None, dt)]
    results = []
    show = _progress_wanted(as_json)
    for backend, dt in runs:
        if show:
            label = "%s %s N=%d D=%d M=%d" % (backend.name, dt, n, d, m)
            with click.progressbar(length=len(SIZED_STAGES), label=label,
                                   file=sys.stderr) as bar:
                results.append(check_at_size(backend, n, d, m, dt, trials, seed,
                                             progress=lambda stage: bar.update(1)))
        else:
            results.append(check_at_size(backend, n, d, m, dt, trials, seed))
    passed = sum(1 for r in results if r.passed)
    failed = len(results) - passed
    if as_json:
        _emit_json({"schema": JSON_SCHEMA_VERSION, "mode": "size", "size": [n, d, m],
                    "seed": seed, "trials": trials, "results": [r.to_dict() for r in results],
                    "passed": passed, "failed": failed})
    else:
        for r in results:
            for line in r.lines():
                click.echo(line)
            if not r.passed:
                click.echo("  repro:  refbackprop check --backend %s --size %d %d %d "
                           "--dtype %s --seed %d --trials %d"
                           % (selectors.get(r.backend, r.backend), n, d, m, r.dtype,
                              seed, trials))
        click.echo("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


@cli.command()
@json_option
def backends(as_json):
    """List the registered backends: status, dtypes and origin."""
    reg = Registry()
    infos = reg.load_all()
    if as_json:
        _emit_json({"backends": [i.to_dict() for i in infos],
                    "duplicates": [{"name": n, "kept": k, "ignored": g}
                                   for n, k, g in reg.duplicates]})
        return
    click.echo("%-12s %-44s %-18s %s" % ("name", "status", "dtypes", "origin"))
    for i in infos:
        status = i.status if i.status == "available" else "%s: %s" % (i.status, i.reason)
        dtypes = ", ".join(i.backend.dtypes) if i.backend is not None else "-"
        click.echo("%-12s %-44s %-18s %s" % (i.name, status, dtypes, i.origin))
    for name, kept, ignored in reg.duplicates:
        click.echo("duplicate name %r: kept %s, ignored %s" % (name, kept, ignored))


@cli.command()
@click.argument("n", type=click.IntRange(min=0))
@click.argument("d", type=click.IntRange(min=0))
@click.argument("m", type=click.IntRange(min=0))
@click.option("--bias", is_flag=True, help="Include b (M,) and dY/db.")
@click.option("--show", is_flag=True,
              help="Print the Jacobians of a seeded case (small shapes only).")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def jacobian(n, d, m, bias, show, seed, as_json):
    """Size of the explicit Jacobians of Y = X W (+ b) for N D M.

    X is (N, D), W is (D, M); dY/dX is (N·M, N·D), dY/dW (N·M, D·M),
    dY/db (N·M, M).
    """
    size = oracle.jacobian_size(n, d, m, bias)
    mats = _small_case_jacobians(n, d, m, bias, seed) if show else None
    if as_json:
        doc = {"N": n, "D": d, "M": m, "bias": bias, "entries": size["entries"],
               "budget": oracle.JACOBIAN_BUDGET, "jacobians": {}}
        for key in ("dy_dx", "dy_dw", "dy_db"):
            if size[key] is not None:
                r, c = size[key]
                doc["jacobians"][key] = {"shape": [r, c], "entries": r * c,
                                         "bytes_float32": 4 * r * c,
                                         "bytes_float64": 8 * r * c}
        if mats is not None:
            doc.update(mats)
        _emit_json(doc)
        return
    for line in oracle.describe_size(n, d, m, bias):
        click.echo(line)
    click.echo("in all: %s entries (budget %s)" % (oracle.group_digits(size["entries"]),
                                                   oracle.group_digits(oracle.JACOBIAN_BUDGET)))
    if mats is None:
        return
    for label in ("x", "w", "dy_dx", "dy_dw", "dy_db"):
        if mats[label] is not None:
            click.echo("\n%s =" % _LABELS[label])
            _print_matrix(mats[label])
        if label == "w" and mats["b"] is not None:
            click.echo("\nb = [%s ]" % _fmt_row(mats["b"]))


_LABELS = {"x": "X", "w": "W", "dy_dx": "dY/dX", "dy_dw": "dY/dW", "dy_db": "dY/db"}


def _small_case_jacobians(n, d, m, bias, seed):
    """{x, w, b, dy_dx, dy_dw, dy_db} for a seeded small-integer case."""
    if n * m > 64 or n * d > 64 or d * m > 64:
        entries = oracle.jacobian_size(n, d, m, bias)["entries"]
        raise UsageFailure("--show prints small Jacobians only (N·M, N·D and D·M at "
                           "most 64); N=%d, D=%d, M=%d has %s entries, too many to read"
                           % (n, d, m, oracle.group_digits(entries)))
    if d == 0 and not bias:
        raise UsageFailure("with D = 0, M is undetermined without --bias")
    inputs = Case("forward", "float64", n, d, m, bias, "integers", seed).inputs()
    ints = lambda rows: [[int(v) for v in r] for r in rows]   # exact small integers
    x, w = ints(inputs["x"]), ints(inputs["w"])
    b = None if inputs["b"] is None else [int(v) for v in inputs["b"]]
    dy_dx, dy_dw, dy_db = oracle.jacobian(x, w, b)
    return {"x": x, "w": w, "b": b, "dy_dx": dy_dx, "dy_dw": dy_dw, "dy_db": dy_db}


@cli.command()
@click.argument("n", type=int)
@click.argument("d", type=int)
@click.argument("m", type=int)
@click.option("--bias", is_flag=True, help="Include b and ∂L/∂b.")
@click.option("--latex", is_flag=True, help="Emit a LaTeX fragment (needs amsmath).")
@click.option("--element", nargs=2, type=int, default=(1, 1), show_default=True,
              metavar="I J", help="The element x_{I,J} (1-based) whose Jacobian slice "
                                  "is shown (eq. 8).")
def explain(n, d, m, bias, latex, element):
    """The notes' derivation for N D M, proved symbolically.

    Y = XW element by element, the Jacobian slice ∂Y/∂x_{i,j}, each ∂L/∂x_{i,j}
    one element at a time, and the symbolic proof that ∂L/∂X = ∂L/∂Y·Wᵀ and
    ∂L/∂W = Xᵀ·∂L/∂Y, in the notes' notation.  Shapes up to 4 in each dimension.
    """
    from refbackprop.explain import explain as derive_text
    try:
        text = derive_text(n, d, m, bias, latex, tuple(element))
    except ValueError as e:
        raise UsageFailure(str(e))
    click.echo(text, nl=False)


def _bench_sweep(backend_names, size, dtype, repeat, as_json):
    """bench --sweep: refbackprop.bench.sweep per backend (by default every
    available one but the pure-Python ones, which would take hours here)."""
    from refbackprop.bench import SWEEP_SHAPES, sweep, sweep_lines
    backends = _select(Registry(), backend_names)     # a clear error for a bad name
    selectors = list(backend_names) or [b.name for b in backends]
    pairs = [(sel, b) for sel, b in zip(selectors, backends)
             if backend_names or b.name not in ("reference", "python")]
    shapes = [tuple(size)] if size else list(SWEEP_SHAPES)
    docs = []
    for selector, backend in pairs:
        dtypes = [dtype] if dtype else list(backend.dtypes)
        progress = None if as_json else (lambda text: click.echo("  ... " + text, err=True))
        rows = sweep(selector, shapes, dtypes, repeat, progress=progress)
        docs.append({"backend": backend.name, "rows": rows})
        if not as_json:
            click.echo("%s vs NumPy: forward + backward with bias, median [low-high] "
                       "of %d samples, each side in its own process" % (backend.name, repeat))
            blas = next((r["numpy"]["blas"] for r in rows if r["numpy"]), None)
            click.echo("NumPy's BLAS: %s" % (blas or "NumPy is not installed"))
            for line in sweep_lines(rows, backend.name):
                click.echo(line)
    if as_json:
        _emit_json({"repeat": repeat, "sweep": docs})
    if any(r["error"] for doc in docs for r in doc["rows"]):
        raise SystemExit(1)


def _fmt_row(row):
    return " ".join("%5s" % v for v in row)


def _print_matrix(mat):
    for row in mat:
        click.echo("  [" + _fmt_row(row) + " ]")


@cli.command()
@backend_option
@click.option("--size", nargs=3, type=click.IntRange(min=1), default=None,
              metavar="N D M", help="Layer size (default: 64 4096 4096 for "
                                    "compiled backends, 64 256 256 for pure Python).")
@dtype_option
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Best of this many runs (with --sweep: median of this many samples).")
@click.option("--sweep", is_flag=True,
              help="Forward + backward with bias at the shapes people use (or --size), "
                   "each backend and NumPy in a fresh process of its own: medians, "
                   "spread and the ratio to NumPy.")
@json_option
def bench(backend_names, size, dtype, repeat, sweep, as_json):
    """Milliseconds and GFLOP/s for forward, dX and dW per backend.

    Conversion to and from lists is timed separately.  NumPy (its BLAS) is
    timed on the same inputs as a baseline column when it is installed
    ("vs NumPy" above 1 means faster than NumPy).
    """
    if sweep:
        _bench_sweep(backend_names, size, dtype, repeat, as_json)
        return
    from refbackprop.backends.numpy_baseline import numpy_baseline
    from refbackprop.bench import bench_backend, random_inputs
    reg = Registry()
    backends = _select(reg, backend_names)
    baseline = numpy_baseline()
    rows = []
    inputs = {}
    numpy_times = {}                   # (size, dtype) -> NumPy's seconds per product
    for backend in backends:
        dt = dtype or backend.dtypes[0]
        if dt not in backend.dtypes:
            raise UsageFailure("backend %r declares dtypes %s, not %s"
                               % (backend.name, ", ".join(backend.dtypes), dt))
        pure = backend.name in ("reference", "python")
        shape = tuple(size) if size else ((64, 256, 256) if pure else (64, 4096, 4096))
        if shape not in inputs:
            inputs[shape] = random_inputs(*shape)
        r = bench_backend(backend, shape[0], shape[1], shape[2], dt, repeat, inputs[shape])
        if baseline is not None and (shape, dt) not in numpy_times:
            numpy_times[(shape, dt)] = bench_backend(
                baseline, shape[0], shape[1], shape[2], dt, repeat, inputs[shape])["seconds"]
        rows.append((backend.name, dt, shape, r, numpy_times.get((shape, dt))))
    if as_json:
        _emit_json({"repeat": repeat, "numpy": baseline is not None, "results": [
            {"backend": name, "dtype": dt, "size": list(shape), "seconds": r["seconds"],
             "gflops": r["gflops"], "to_native_seconds": r["to_native"],
             "to_lists_seconds": r["to_lists"], "numpy_seconds": base}
            for name, dt, shape, r, base in rows]})
        return
    if not size:
        click.echo("default sizes: 64 4096 4096 (compiled), 64 256 256 (pure Python)")
    click.echo("%-10s %-8s %-15s %-9s %10s %9s %10s %8s %14s" % (
        "backend", "dtype", "N D M", "product", "ms", "GFLOP/s", "NumPy ms", "vs NumPy",
        "conversion ms"))
    for name, dt, shape, r, base in rows:
        conv = "%.1f + %.1f" % (1e3 * r["to_native"], 1e3 * r["to_lists"])
        for key in r["seconds"]:
            t = r["seconds"][key]
            b = base.get(key) if base else None
            click.echo("%-10s %-8s %-15s %-9s %10.3f %9.2f %10s %8s %14s" % (
                name, dt, "%d %d %d" % shape, key, 1e3 * t, r["gflops"][key],
                "-" if b is None else "%.3f" % (1e3 * b),
                "-" if b is None else "%.2fx" % (b / t), conv))
            conv = ""
    if baseline is None:
        click.echo("(NumPy is not installed: no baseline column)")
