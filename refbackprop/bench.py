"""Timing backends: forward, dX and dW in milliseconds and GFLOP/s.

Conversion (array() from lists, tolist() back) is timed separately from the
kernels.  Each product of an (N, D) @ (D, M)-sized layer is 2·N·D·M flops.
bench_backend reports the best of `repeat` runs (least disturbed by the
machine), after one untimed run of each product (where a JIT compiles for the
shape); sweep() reports medians and spreads, each side in a fresh process.  A
backend with asynchronous dispatch (JAX, CUDA) has synchronize(), which is
called before every reading of the clock.  In the CLI each backend is timed
in its own worker process (refbackprop.supervisor), so one backend's threads
or memory do not slow the next.
"""

import os
import sys
import time

PURE_PYTHON_SIZE = (64, 256, 256)  # default size when a backend declares
COMPILED_SIZE = (64, 4096, 4096)  # seconds_per_madd ≥ 1e-9, and otherwise


def default_size(seconds_per_madd):
    """The default bench size for a backend's declared cost per multiply-add."""
    if seconds_per_madd is not None and seconds_per_madd >= 1e-9:
        return PURE_PYTHON_SIZE
    return COMPILED_SIZE


def _timer(backend):
    sync = getattr(backend, "synchronize", None)

    def best(fn, repeat):
        out = None
        for _ in range(repeat):
            if sync is not None:
                sync()
            t0 = time.perf_counter()
            fn()
            if sync is not None:
                sync()
            dt = time.perf_counter() - t0
            if out is None or dt < out:
                out = dt
        return out

    return best


def random_inputs(n, d, m, seed=0):
    """x (N, D), w (D, M), dy (N, M) as nested lists: seeded 'uniform'
    inputs (±[2^-5, 1), no subnormal products to slow a kernel down), drawn
    at C speed (sized.sized_inputs)."""
    from .sized import sized_inputs

    inputs = sized_inputs(n, d, m, "float64", bias=False, seed=seed, kind="uniform")
    return inputs["x"].lists(), inputs["w"].lists(), inputs["dy"].lists()


def bench_backend(backend, n, d, m, dtype="float64", repeat=3, inputs=None, announce=None):
    """Seconds (best of repeat) for 'forward', 'dx' and 'dw' (or 'backward'
    when the backend has no separate dx/dw members), 'to_native' (array() of
    x, w, dy) and 'to_lists' (tolist() of y), and GFLOP/s for each product."""
    say = announce or (lambda what: None)
    if inputs is None:
        say("generate inputs")
        inputs = random_inputs(n, d, m)
    x, w, dy = inputs
    best = _timer(backend)
    say("array")
    t0 = time.perf_counter()
    xa = backend.array(x, (n, d), dtype)
    wa = backend.array(w, (d, m), dtype)
    dya = backend.array(dy, (n, m), dtype)
    to_native = time.perf_counter() - t0
    warm = getattr(backend, "warmup", None)
    if warm is not None:
        say("warmup")
        warm(dtype)
    say("forward")
    y = backend.forward(xa, wa)
    times = {"forward": best(lambda: backend.forward(xa, wa), repeat)}
    if hasattr(backend, "dx") and hasattr(backend, "dw"):
        say("dx")
        backend.dx(xa, wa, dya)  # untimed: a JIT compiles here
        times["dx"] = best(lambda: backend.dx(xa, wa, dya), repeat)
        say("dw")
        backend.dw(xa, wa, dya)
        times["dw"] = best(lambda: backend.dw(xa, wa, dya), repeat)
    else:
        say("backward")
        backend.backward(xa, wa, dya)
        times["backward"] = best(lambda: backend.backward(xa, wa, dya), repeat)
    say("tolist")
    t0 = time.perf_counter()
    backend.tolist(y)
    to_lists = time.perf_counter() - t0
    flops = 2.0 * n * d * m
    gflops = {}
    for key in times:
        work = 2 * flops if key == "backward" else flops
        gflops[key] = work / times[key] / 1e9 if times[key] > 0 else float("inf")
    return {
        "seconds": times,
        "gflops": gflops,
        "to_native": to_native,
        "to_lists": to_lists,
        "flops_per_product": flops,
    }


# -- a sweep of shapes, each side in its own process ----------------------------

# The shapes of issue #18, N×D×M: the notes' size, one token and a few tokens;
# a training batch, a narrow output and ragged edges; mid-sized and small layers.
_INFERENCE = ((64, 4096, 4096), (1, 4096, 4096), (8, 4096, 4096))
_TRAINING = ((2048, 1024, 4096), (4096, 4096, 64), (63, 4095, 4097))
_SMALL = ((512, 1024, 1024), (256, 256, 256), (32, 32, 32))
SWEEP_SHAPES = _INFERENCE + _TRAINING + _SMALL

# OpenBLAS variables some machines set for old OpenBLAS builds; they slow a
# current one, so the sweep's processes run without them (docs/performance.md).
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# The selector of the NumPy (BLAS) baseline side: an import path, so that the
# core names no backend module in an import.
NUMPY = "refbackprop.backends.numpy_baseline:numpy_baseline"


def sweep(
    selector,
    shapes=SWEEP_SHAPES,
    dtypes=("float64", "float32"),
    repeat=7,
    baseline=True,
    min_sample=0.02,
    python=None,
    progress=None,
):
    """Forward + backward with bias, through the backend protocol, at each shape
    and dtype: one row (a dict) per pair, the backend and NumPy each measured
    in a fresh process of their own.

    selector: a registered backend name or an import path "module:attr" (or
    NUMPY for the baseline alone).  Each process converts seeded inputs x
    (N, D), w (D, M), b (M,), dy (N, M) (sized.sized_inputs, kind 'uniform':
    no subnormal products, rounded to dtype) with the backend's array(), calls
    warmup(dtype) if the backend has it and one untimed forward + backward,
    then takes `repeat` samples: each sample is `number` calls of
    y = forward(x, w, b); backward(x, w, dy, b), with `number` chosen so a
    sample lasts at least min_sample seconds (one call for the large shapes).

    Row keys: size [N, D, M], dtype, backend and numpy (a side's figures or
    None: seconds per call as median, low, high over the samples, forward and
    backward medians, samples, number, the process id, load averages before
    and after, and the side's `blas` attribute where it has one: NumPy's
    names its BLAS and the kernel it runs), ratio (NumPy's median / the backend's: above 1 the
    backend is faster) and error (a side that failed, with its message).
    The processes run with BLAS_OVERRIDES removed from the environment.
    python: the interpreter (default sys.executable); progress(text): called
    before each process starts.
    """
    rows = []
    for shape in shapes:
        for dtype in dtypes:
            row = {
                "size": list(shape),
                "dtype": dtype,
                "backend": None,
                "numpy": None,
                "ratio": None,
                "error": None,
            }
            sides = [("backend", selector)]
            if baseline and selector != NUMPY:
                sides.append(("numpy", NUMPY))
            for key, sel in sides:
                if progress is not None:
                    progress("%s %s %s" % (sel, "x".join(str(v) for v in shape), dtype))
                figures, error = _measure_in_child(
                    sel, shape, dtype, repeat, min_sample, python or sys.executable
                )
                row[key] = figures
                if error is not None:
                    row["error"] = "%s: %s" % (sel, error)
            if row["backend"] and row["numpy"]:
                row["ratio"] = row["numpy"]["median"] / row["backend"]["median"]
            rows.append(row)
    return rows


def _measure_in_child(selector, shape, dtype, repeat, min_sample, python):
    """(figures, None) from a fresh process, or (None, its error)."""
    import json
    import subprocess

    env = dict(os.environ)
    for name in BLAS_OVERRIDES:
        env.pop(name, None)
    spec = {
        "selector": selector,
        "size": list(shape),
        "dtype": dtype,
        "repeat": repeat,
        "min_sample": min_sample,
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    proc = subprocess.run(
        [python, "-m", "refbackprop.bench", "--child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return None, (lines[-1] if lines else "exit status %d" % proc.returncode)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["load_before"] = load
    figures["load_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return figures, None


def sweep_lines(rows, label="backend"):
    """A sweep's rows as a Markdown table, one line per shape and dtype: the
    median seconds per forward + backward with [lowest–highest] sample,
    NumPy's, the ratio (NumPy / backend: above 1 the backend is faster), the
    backend's forward / backward medians and the load average when its
    process started; a failed side gets a line with its error."""
    lines = [
        "| shape N×D×M | dtype | %s | NumPy | ratio | fw / bw (%s) | load |" % (label, label),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        b, n = r["backend"], r["numpy"]
        lines.append(
            "| %s | %s | %s | %s | %s | %s | %s |"
            % (
                "×".join(str(v) for v in r["size"]),
                r["dtype"],
                _cell(b),
                _cell(n),
                "-" if r["ratio"] is None else "%.2f" % r["ratio"],
                "-"
                if b is None
                else "%s / %s" % (_duration(b["forward"]), _duration(b["backward"])),
                "-" if b is None or b.get("load_before") is None else "%.1f" % b["load_before"],
            )
        )
        if r["error"]:
            lines.append("|   error: %s |" % r["error"])
    return lines


def _cell(side):
    if side is None:
        return "-"
    return "%s [%s–%s]" % (
        _duration(side["median"]),
        _duration(side["low"]),
        _duration(side["high"]),
    )


def _duration(seconds):
    return "%.1f µs" % (1e6 * seconds) if seconds < 1e-3 else "%.2f ms" % (1e3 * seconds)


def _median(values):
    values = sorted(values)
    k = len(values)
    return values[k // 2] if k % 2 else 0.5 * (values[k // 2 - 1] + values[k // 2])


def _child_main():
    """One side of a sweep row: reads the spec (JSON) on stdin, prints figures."""
    import json

    spec = json.loads(sys.stdin.read())
    n, d, m = spec["size"]
    dtype = spec["dtype"]
    from .registry import BackendError, Registry

    try:
        backend = Registry().get(spec["selector"])
    except BackendError as e:
        raise SystemExit(str(e))
    from .sized import sized_inputs

    inputs = sized_inputs(n, d, m, dtype, bias=True, kind="uniform")
    native = dict(
        (k, backend.array(inputs[k].lists(), inputs[k].shape, dtype)) for k in ("x", "w", "b", "dy")
    )
    xa, wa, ba, dya = native["x"], native["w"], native["b"], native["dy"]
    del inputs, native
    warm = getattr(backend, "warmup", None)
    if warm is not None:
        warm(dtype)
    forward, backward = backend.forward, backend.backward
    clock = time.perf_counter

    def sample(number):
        tf = tb = 0.0
        for _ in range(number):
            t0 = clock()
            forward(xa, wa, ba)
            t1 = clock()
            backward(xa, wa, dya, ba)
            t2 = clock()
            tf += t1 - t0
            tb += t2 - t1
        return tf / number, tb / number

    first = sum(sample(1))  # also the untimed first call
    number = 1
    while number * first < spec["min_sample"] and number < 1 << 20:
        number *= 2
        first = sum(sample(number))
    samples = [sample(number) for _ in range(spec["repeat"])]
    totals = [f + b for f, b in samples]
    out = {
        "median": _median(totals),
        "low": min(totals),
        "high": max(totals),
        "forward": _median([f for f, _ in samples]),
        "backward": _median([b for _, b in samples]),
        "samples": len(samples),
        "number": number,
        "pid": os.getpid(),
        "name": getattr(backend, "name", spec["selector"]),
        "blas": getattr(backend, "blas", None),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child_main()
