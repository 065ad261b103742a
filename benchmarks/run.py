"""refbackprop's benchmarks, side by side in one process.

    python benchmarks/run.py                  # everything this interpreter can run
    python benchmarks/run.py --only python    # the pure-Python backend vs the idioms
    python benchmarks/run.py --only numba     # numba vs NumPy, compile and cache times
    python benchmarks/run.py --only verify    # Freivalds verification at the seed size,
                                              # next to the python backend's compute
    python benchmarks/run.py --full-python    # ... also where numba is installed

The numba-vs-NumPy table at the shapes people use (issue #18), each side in
its own process: benchmarks/sweep.py (results in docs/performance.md).

Times are medians of interleaved runs (A, B, A, B, ...), so a slow moment of
the machine hits both sides; before each compiled-code call the script sleeps
0.3 s so that the other side's spinning worker threads are idle.  Machines
that set OPENBLAS_CORETYPE (this one does, for old OpenBLAS builds) slow a
current NumPy: benchmark against NumPy's own kernel with
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py`; the
BLAS line names the kernel in use.  Works with nothing installed (the backends
are mapped from the source tree, tools/checkout.py), so any interpreter of
pyenv, or PyPy, can run the python section.
"""

import argparse
import gc
import math
import operator
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _import_backends():
    """refbackprop and refbackprop.backends from this checkout (tools/checkout.py)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from checkout import use_checkout

    use_checkout()


def median(values):
    values = sorted(values)
    k = len(values)
    return values[k // 2] if k % 2 else 0.5 * (values[k // 2 - 1] + values[k // 2])


def interleaved(fns, repeat, settle=0.0):
    """{name: median seconds}, running the functions in turn `repeat` times.

    settle: seconds to sleep before each timed call, so that the other side's
    worker threads (OpenBLAS spins for a while after a call) are idle again.
    """
    times = dict((name, []) for name in fns)
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            if settle:
                time.sleep(settle)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return dict((name, median(v)) for name, v in times.items())


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores; %s %s" % (
        cpu,
        os.cpu_count() or 0,
        platform.python_implementation(),
        platform.python_version(),
    )


# -- python backend vs the fastest idiom of this interpreter ------------------


def idiom_products(x, w, dy):
    """forward, dX, dW with the interpreter's best plain idiom, no framework."""
    pypy = sys.implementation.name == "pypy"
    if pypy:

        def matmul(a, b, cols):  # saxpy over contiguous rows
            out = []
            for ai in a:
                acc = [0.0] * cols
                for k in range(len(b)):
                    s = ai[k]
                    bk = b[k]
                    for j in range(cols):
                        acc[j] += s * bk[j]
                out.append(acc)
            return out

        m, d = len(w[0]), len(w)
        return {
            "forward": lambda: matmul(x, w, m),
            "dx": lambda: matmul(dy, [list(c) for c in zip(*w)], d),
            "dw": lambda: matmul([list(c) for c in zip(*x)], dy, m),
        }
    dot = getattr(math, "sumprod", None) or (lambda a, b: sum(map(operator.mul, a, b)))

    def nt(a, bt):  # A Bᵀ: each dot over contiguous rows
        return [[dot(ai, bj) for bj in bt] for ai in a]

    return {
        "forward": lambda: nt(x, list(zip(*w))),
        "dx": lambda: nt(dy, w),
        "dw": lambda: nt(list(zip(*x)), list(zip(*dy))),
    }


def bench_python(repeat):
    _import_backends()
    from refbackprop.backends.pure_python import IDIOM, PythonBackend
    from refbackprop.bench import random_inputs

    n, d, m = 64, 256, 256
    x, w, dy = random_inputs(n, d, m)
    be = PythonBackend()
    xa, wa, dya = (
        be.array(x, (n, d), "float64"),
        be.array(w, (d, m), "float64"),
        be.array(dy, (n, m), "float64"),
    )
    ours = {
        "forward": lambda: be.forward(xa, wa),
        "dx": lambda: be.dx(xa, wa, dya),
        "dw": lambda: be.dw(xa, wa, dya),
    }
    plain = idiom_products(x, w, dy)
    fns = {}
    for key in ("forward", "dx", "dw"):
        fns["backend " + key] = ours[key]
        fns["idiom " + key] = plain[key]
    t = interleaved(fns, repeat)
    print(
        "\n## python backend vs the fastest idiom (%s), N=%d D=%d M=%d, median of %d"
        % (IDIOM, n, d, m, repeat)
    )
    print("%-8s %12s %12s %8s" % ("product", "backend ms", "idiom ms", "ratio"))
    total_b = total_i = 0.0
    for key in ("forward", "dx", "dw"):
        b, i = t["backend " + key], t["idiom " + key]
        total_b += b
        total_i += i
        print("%-8s %12.2f %12.2f %8.3f" % (key, 1e3 * b, 1e3 * i, b / i))
    print(
        "%-8s %12.2f %12.2f %8.3f   (target: at most 1.1)"
        % ("total", 1e3 * total_b, 1e3 * total_i, total_b / total_i)
    )
    ns = total_i / (3.0 * n * d * m) * 1e9
    print("idiom cost: %.2f ns per multiply-add" % ns)


# -- numba vs NumPy ---------------------------------------------------------------


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl to name the BLAS kernel)"
    parts = []
    for lib in threadpool_info():
        parts.append(
            "%s %s (%s, %s threads)"
            % (
                lib.get("internal_api"),
                lib.get("version"),
                lib.get("architecture"),
                lib.get("num_threads"),
            )
        )
    return "; ".join(parts) or "none found"


def bench_numba(repeat):
    import numba
    import numpy as np
    from refbackprop.backends.numba_jit import NumbaBackend, _kernels_for

    be = NumbaBackend()
    n, d, m = 64, 4096, 4096
    print(
        "\n## numba vs NumPy at N=%d D=%d M=%d, median of %d interleaved runs" % (n, d, m, repeat)
    )
    print(
        "numba %s, %d threads; NumPy %s; BLAS: %s"
        % (numba.__version__, numba.get_num_threads(), np.__version__, blas_info())
    )
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        x = rng.uniform(-1, 1, (n, d)).astype(dtype)
        w = rng.uniform(-1, 1, (d, m)).astype(dtype)
        dy = rng.uniform(-1, 1, (n, m)).astype(dtype)
        be.warmup(dtype)
        # Outputs are preallocated on both sides, so that page faults of fresh
        # 128 MiB results (which vary a lot run to run) stay out of the figures.
        y, dx, dw = (np.empty((n, m), dtype), np.empty((n, d), dtype), np.empty((d, m), dtype))
        k = _kernels_for(np.dtype(dtype))
        work = n * d * m
        fns = {
            "numba forward": lambda: k.product(0, x, w, None, y, n, work),
            "numpy forward": lambda: np.matmul(x, w, out=y),
            "numba dx": lambda: k.product(1, dy, w, None, dx, n, work),
            "numpy dx": lambda: np.matmul(dy, w.T, out=dx),
            "numba dw": lambda: k.product(2, x, dy, None, dw, n, work),
            "numpy dw": lambda: np.matmul(x.T, dy, out=dw),
        }
        t = interleaved(fns, repeat, settle=0.3)
        flops = 2.0 * n * d * m
        print(
            "\n%s       %10s %10s %10s %10s %7s"
            % (dtype, "numba ms", "GFLOP/s", "NumPy ms", "GFLOP/s", "ratio")
        )
        tn = tb = 0.0
        for key in ("forward", "dx", "dw"):
            a, b = t["numba " + key], t["numpy " + key]
            tn += a
            tb += b
            print(
                "%-13s %10.2f %10.1f %10.2f %10.1f %7.2f"
                % (key, 1e3 * a, flops / a / 1e9, 1e3 * b, flops / b / 1e9, b / a)
            )
        target = "0.8" if dtype == "float64" else "1.0"
        print(
            "%-13s %10.2f %10.1f %10.2f %10.1f %7.2f   (target: at least %s)"
            % (
                "all three",
                1e3 * tn,
                3 * flops / tn / 1e9,
                1e3 * tb,
                3 * flops / tb / 1e9,
                tb / tn,
                target,
            )
        )
    # conversion, kept out of the kernel figures
    xl = np.random.default_rng(1).uniform(-1, 1, (d, m)).tolist()
    t0 = time.perf_counter()
    arr = be.array(xl, (d, m), "float64")
    t1 = time.perf_counter()
    be.tolist(arr)
    t2 = time.perf_counter()
    print(
        "\nconversion of a 4096×4096 matrix: lists -> array %.0f ms, array -> lists %.0f ms"
        % (1e3 * (t1 - t0), 1e3 * (t2 - t1))
    )
    compile_and_cache()


def compile_and_cache():
    """First-call compile of each dtype's kernels in a fresh cache, then a load."""
    code = (
        "import time; from refbackprop.backends.numba_jit import NumbaBackend; "
        "b = NumbaBackend(); import numba; "
        "t = time.perf_counter(); b.warmup('%s'); print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for dtype in ("float64", "float32"):
            first = float(subprocess.check_output([sys.executable, "-c", code % dtype], env=env))
            again = float(subprocess.check_output([sys.executable, "-c", code % dtype], env=env))
            print(
                "%s kernels: first-call compile %.2f s (target 3), load from cache %.2f s "
                "(target 0.3)" % (dtype, first, again)
            )


# -- verification at the seed size --------------------------------------------------


def bench_verify(full_python):
    """Verification at the seed size: its cost (prepare: the input side,
    while a supervised backend computes; verify: the outputs' side) next to
    the python backend's compute of the same forward and backward (on this
    interpreter), and the end-to-end CLI run with numba where numba is
    installed."""
    _import_backends()
    from refbackprop.freivalds import default_trials
    from refbackprop.sized import check_at_size

    try:
        import numba  # noqa: F401
    except ImportError:
        numba = None
    n, d, m = 64, 4096, 4096
    print(
        "\n## verification at N=%d D=%d M=%d (cells of 32, %d trial(s))"
        % (n, d, m, default_trials(n, d, m))
    )
    if numba is not None:
        from refbackprop.registry import get_backend

        for dtype in ("float64", "float32"):
            t0 = time.perf_counter()
            result = check_at_size(get_backend("numba"), n, d, m, dtype, seed=1)
            total = time.perf_counter() - t0
            print("numba %s in process, end to end %.1f s: %s" % (dtype, total, stages(result)))
    if numba is None or full_python:
        from refbackprop.backends.pure_python import PythonBackend

        result = check_at_size(PythonBackend(), n, d, m, "float64", seed=1)
        assert result.passed, "\n".join(result.lines())
        compute = result.seconds["compute"]
        verify = result.seconds["prepare"] + result.seconds["verify"]
        print("python float64 end to end: %s" % stages(result))
        print(
            "python backend forward + backward %.1f s, verification (prepare + verify) "
            "%.2f s: 1/%.0f (target: at most 1/20)" % (compute, verify, compute / verify)
        )
    else:
        print(
            "(run with --full-python to time the python backend at this size, "
            "about a minute; without numba that is the default)"
        )
    if numba is not None:
        seed_size_check(repeat=3)


def seed_size_check(repeat):
    """`refbackprop check --backend numba --seed-size` end to end (both
    dtypes, supervised), each run its own process: the median of `repeat`
    runs and the largest process's peak memory (issue #18: 8 s, 1 GB)."""
    # Each run under a small wrapper process that prints the peak resident
    # memory of the largest process of the run's tree (RUSAGE_CHILDREN: the
    # CLI, its worker and the verifier's forked children, kB on Linux).  Read
    # here instead, it would also count this process's own forked children
    # from the in-process runs above, which hold all of this process.
    # The CPU-seconds of the whole tree (user + system) move less with this
    # machine's speed than the wall time does: they are printed beside it.
    wrapper = (
        "import resource, subprocess, sys; "
        "code = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(code, u.ru_maxrss, u.ru_utime + u.ru_stime)"
    )
    cli = [sys.executable, "-m", "refbackprop.cli", "check", "--backend", "numba", "--seed-size"]
    seconds, cpu, codes, peak = [], [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", wrapper] + cli, capture_output=True, text=True, check=True
        )
        seconds.append(time.perf_counter() - t0)
        code, kb, used = proc.stdout.split()
        codes.append(int(code))
        peak = max(peak, int(kb))
        cpu.append(float(used))
    print(
        "refbackprop check --backend numba --seed-size: median %.1f s (%s), "
        "CPU-seconds %s, exit %s, largest process %d MB (targets: 8 s and 1 GB)"
        % (
            sorted(seconds)[len(seconds) // 2],
            ", ".join("%.1f" % v for v in seconds),
            ", ".join("%.1f" % v for v in cpu),
            "/".join(str(c) for c in codes),
            peak // 1024,
        )
    )


def stages(result):
    return ", ".join("%s %.2f s" % (k, v) for k, v in result.seconds.items())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["python", "numba", "verify"])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--full-python", action="store_true")
    args = p.parse_args()
    print("# refbackprop benchmarks on %s" % machine())
    if args.only in (None, "python"):
        bench_python(args.repeat)
    if args.only in (None, "numba"):
        try:
            import numba  # noqa: F401
            import numpy  # noqa: F401
        except ImportError:
            print("\n(numba section skipped: numba and NumPy are not installed here)")
        else:
            bench_numba(args.repeat)
    if args.only in (None, "verify"):
        bench_verify(args.full_python)


if __name__ == "__main__":
    main()
