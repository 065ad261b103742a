"""Forward, dX and dW of the numba backend (or NumPy) one by one: wall and CPU time.

    python benchmarks/products.py 2048 1024 4096                 # this checkout's kernels
    python benchmarks/products.py 2048 1024 4096 --kernels ../other/backends
    python benchmarks/products.py 2048 1024 4096 --numpy         # NumPy (its BLAS)
    NUMBA_NUM_THREADS=1 taskset -c 1 python benchmarks/products.py 2048 1024 2048

For comparing kernel variants on a machine that others share: besides the
median wall time of each product it prints the lowest CPU time of the
process (time.process_time: all threads, not counting time spent waiting
for a CPU), which moves far less than wall time when another process takes
a CPU now and then.  --kernels DIR loads _numba_simd.py, _numba_kernels.py
and numba_jit.py from DIR (another checkout's backends/, or the generator's
output: GEMM_TARGET=DIR/_numba_kernels.py python tools/gen_numba_kernels.py),
so that variants run through the same driver code they ship with.  Run the
variants in turn, each in its own process, A B A B: docs/performance.md
("Second pass") has the method and its results.
"""

import argparse
import importlib.util
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def numba_backend(kernels=None):
    """A NumbaBackend, its kernels and driver loaded from the directory
    `kernels` when given (as refbackprop.backends' own modules)."""
    if kernels is None:
        from refbackprop.backends.numba_jit import NumbaBackend

        return NumbaBackend()
    import refbackprop.backends  # noqa: F401  (the package the modules join)

    module = None
    for name in ("_numba_simd", "_numba_kernels", "numba_jit"):
        full = "refbackprop.backends." + name
        spec = importlib.util.spec_from_file_location(full, os.path.join(kernels, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
    return module.NumbaBackend()


def measure(backend, n, d, m, dtype, repeat):
    """{product: (median wall s, lowest CPU s)} for forward (with bias), dx,
    dw and their sum; each sample is as many calls as last 20 ms."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, d)).astype(dtype)  # (N, D)
    w = rng.uniform(-1, 1, (d, m)).astype(dtype)  # (D, M)
    b = rng.uniform(-1, 1, (m,)).astype(dtype)  # (M,)
    dy = rng.uniform(-1, 1, (n, m)).astype(dtype)  # (N, M)
    calls = {
        "forward": lambda: backend.forward(x, w, b),  # (N, D) @ (D, M) + b -> (N, M)
        "dx": lambda: backend.dx(x, w, dy),  # (N, M) @ (M, D) -> (N, D)
        "dw": lambda: backend.dw(x, w, dy),  # (D, N) @ (N, M) -> (D, M)
    }
    for call in calls.values():
        call()
    walls = {key: [] for key in calls}
    cpus = {key: [] for key in calls}
    for _ in range(repeat):
        for key, call in calls.items():
            number = 1
            while True:
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(number):
                    call()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if wall >= 0.02:
                    break
                number *= 2
            walls[key].append(wall / number)
            cpus[key].append(cpu / number)
    out = {key: (sorted(walls[key])[repeat // 2], min(cpus[key])) for key in calls}
    out["sum"] = tuple(sum(out[key][i] for key in calls) for i in (0, 1))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("size", nargs=3, type=int, metavar="N D M")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--repeat", type=int, default=7)
    side = p.add_mutually_exclusive_group()
    side.add_argument("--kernels", metavar="DIR", help="load the numba modules from DIR")
    side.add_argument("--numpy", action="store_true", help="time NumPy instead")
    args = p.parse_args()
    sys.path.insert(0, ROOT)
    if args.numpy:
        from refbackprop.backends.numpy_baseline import NumpyBaseline

        backend, label = NumpyBaseline(), "numpy"
    else:
        backend = numba_backend(args.kernels)
        backend.warmup(args.dtype)
        label = "numba" if args.kernels is None else "numba (%s)" % args.kernels
    n, d, m = args.size
    out = measure(backend, n, d, m, args.dtype, args.repeat)
    print(
        "# %s, %d×%d×%d %s, load %.2f: ms, median wall / lowest CPU of %d"
        % (label, n, d, m, args.dtype, os.getloadavg()[0], args.repeat)
    )
    print("  ".join("%s %.2f / %.2f" % (k, 1e3 * v[0], 1e3 * v[1]) for k, v in out.items()))


if __name__ == "__main__":
    main()
