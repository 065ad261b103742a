"""Timing backends: forward, dX and dW in milliseconds and GFLOP/s.

Conversion (array() from lists, tolist() back) is timed separately from the
kernels.  Each product of an (N, D) @ (D, M)-sized layer is 2·N·D·M flops.
The best of `repeat` runs is reported (least disturbed by the machine), after
one untimed run of each product (where a JIT compiles for the shape).  A
backend's optional synchronize() is called before the clock is read: JAX and
CUDA return from a call before the device has finished.
"""

import time

from .freivalds import sized_inputs


def _no_sync():
    pass


def _best(fn, repeat, sync=_no_sync):
    """The least of `repeat` timings of fn(), each ending when sync() returns
    (a device's queue drained: JAX and CUDA return before they finish)."""
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        dt = time.perf_counter() - t0
        if best is None or dt < best:
            best = dt
    return best


def random_inputs(n, d, m, seed=0):
    """x (N, D), w (D, M), dy (N, M): seeded uniforms in [-1, 1), drawn at C
    speed (freivalds.sized_inputs), so 64×4096×4096 takes about a second."""
    x, w, b, dy = sized_inputs(n, d, m, "float64", bias=False, seed=seed)
    return x, w, dy


def bench_backend(backend, n, d, m, dtype="float64", repeat=3, inputs=None):
    """Seconds (best of repeat) for 'forward', 'dx' and 'dw' (or 'backward'
    when the backend has no separate dx/dw members), 'to_native' (array() of
    x, w, dy) and 'to_lists' (tolist() of y), and GFLOP/s for each product."""
    x, w, dy = inputs if inputs is not None else random_inputs(n, d, m)
    sync = getattr(backend, "synchronize", None) or _no_sync
    t0 = time.perf_counter()
    xa = backend.array(x, (n, d), dtype)
    wa = backend.array(w, (d, m), dtype)
    dya = backend.array(dy, (n, m), dtype)
    sync()
    to_native = time.perf_counter() - t0
    warm = getattr(backend, "warmup", None)
    if warm is not None:
        warm(dtype)
    y = backend.forward(xa, wa)
    products = {"forward": lambda: backend.forward(xa, wa)}
    if hasattr(backend, "dx") and hasattr(backend, "dw"):
        products["dx"] = lambda: backend.dx(xa, wa, dya)
        products["dw"] = lambda: backend.dw(xa, wa, dya)
    else:
        products["backward"] = lambda: backend.backward(xa, wa, dya)
    times = {}
    for key in products:
        if key != "forward":           # forward ran once above
            products[key]()            # untimed: a JIT compiles for this shape here
        sync()
        times[key] = _best(products[key], repeat, sync)
    t0 = time.perf_counter()
    backend.tolist(y)
    to_lists = time.perf_counter() - t0
    flops = 2.0 * n * d * m
    gflops = {}
    for key in times:
        work = 2 * flops if key == "backward" else flops
        gflops[key] = work / times[key] / 1e9 if times[key] > 0 else float("inf")
    return {"seconds": times, "gflops": gflops, "to_native": to_native,
            "to_lists": to_lists, "flops_per_product": flops}
