"""Timing backends: forward, dX and dW in milliseconds and GFLOP/s.

Conversion (array() from lists, tolist() back) is timed separately from the
kernels.  Each product of an (N, D) @ (D, M)-sized layer is 2·N·D·M flops.
The best of `repeat` runs is reported (least disturbed by the machine), after
one untimed run of each product (where a JIT compiles for the shape).  A
backend with asynchronous dispatch (JAX, CUDA) has synchronize(), which is
called before every reading of the clock.  In the CLI each backend is timed
in its own worker process (refbackprop.supervisor), so one backend's threads
or memory do not slow the next.
"""

import time

PURE_PYTHON_SIZE = (64, 256, 256)      # default size when a backend declares
COMPILED_SIZE = (64, 4096, 4096)       # seconds_per_madd ≥ 1e-9, and otherwise


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
        backend.dx(xa, wa, dya)                          # untimed: a JIT compiles here
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
    return {"seconds": times, "gflops": gflops, "to_native": to_native,
            "to_lists": to_lists, "flops_per_product": flops}
