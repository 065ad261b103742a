"""Timing backends: forward, dX and dW in milliseconds and GFLOP/s.

Conversion (array() from lists, tolist() back) is timed separately from the
kernels.  Each product of an (N, D) @ (D, M)-sized layer is 2·N·D·M flops.
The best of `repeat` runs is reported (least disturbed by the machine).
"""

import time

from .freivalds import sized_inputs


def _best(fn, repeat):
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
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
    t0 = time.perf_counter()
    xa = backend.array(x, (n, d), dtype)
    wa = backend.array(w, (d, m), dtype)
    dya = backend.array(dy, (n, m), dtype)
    to_native = time.perf_counter() - t0
    warm = getattr(backend, "warmup", None)
    if warm is not None:
        warm(dtype)
    y = backend.forward(xa, wa)
    times = {"forward": _best(lambda: backend.forward(xa, wa), repeat)}
    if hasattr(backend, "dx") and hasattr(backend, "dw"):
        times["dx"] = _best(lambda: backend.dx(xa, wa, dya), repeat)
        times["dw"] = _best(lambda: backend.dw(xa, wa, dya), repeat)
    else:
        times["backward"] = _best(lambda: backend.backward(xa, wa, dya), repeat)
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
