"""The numba GEMM at every tile remainder, judged by the comparison engine.

Tiles (tools/gen_numba_kernels.py): float64 MR=4, NR=16, MC=64, NC=256,
KC=256; float32 MR=8, NR=32, MC=64, NC=512, KC=512.  forward is (N×D)@(D×M),
dX is (N×M)@(M×D) with W packed transposed, dW is (D×N)@(N×M) with X packed
transposed, so N, D and M each play m, n and k somewhere.
"""

import os
import subprocess
import sys

import pytest

from refbackprop.cases import Case
from refbackprop.registry import get_backend
from refbackprop.runner import run_case

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHAPES = [
    # every remainder mod MR=4/8 and around NR=16/32 in m and n
    (1, 3, 15), (2, 5, 16), (3, 7, 17), (4, 2, 31), (5, 1, 32), (7, 6, 33),
    (6, 8, 9), (8, 6, 14), (9, 10, 40),
    # around MC=64 and NC=256/512 (as m or n in some product)
    (65, 3, 9), (3, 257, 5), (2, 9, 513), (64, 4, 256),
    # around KC=256/512 (k is D for forward, M for dX, N for dW)
    (3, 255, 4), (2, 256, 3), (3, 257, 2), (2, 4, 513), (257, 2, 3),
    # dX packs Wᵀ by vector transposes: full panels (D ≥ NR) with k = M both a
    # multiple of the vector length and not (8 float64 / 16 float32 lanes)
    (3, 70, 37), (2, 33, 48), (5, 100, 16), (4, 48, 65),
    # zero-size products
    (0, 5, 7), (5, 0, 7), (5, 7, 0),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op", ["forward", "backward"])
@pytest.mark.parametrize("n,d,m", SHAPES)
def test_every_tile_remainder(n, d, m, op, dtype):
    backend = get_backend("numba")
    for values in ("normal", "nonfinite"):
        case = Case(op, dtype, n, d, m, True, values)
        result = run_case(backend, case)
        assert result.passed, "\n".join(result.messages())


def test_generated_kernels_are_up_to_date():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_numba_kernels.py"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_worker_counts_agree_bit_for_bit():
    """Blocks are computed the same whichever worker takes them."""
    import numba
    import numpy as np
    backend = get_backend("numba")
    rng = np.random.default_rng(3)
    x, w, b, dy = (rng.standard_normal(s).astype("float32")
                   for s in ((70, 600), (600, 530), (530,), (70, 530)))
    saved = numba.get_num_threads()
    try:
        outs = []
        for threads in (1, saved):
            numba.set_num_threads(threads)
            outs.append([backend.forward(x, w, b)] + list(backend.backward(x, w, dy, b)))
    finally:
        numba.set_num_threads(saved)
    for one, many in zip(*outs):
        assert np.array_equal(one, many)


def test_worker_errors_reach_the_caller():
    from refbackprop.backends.numba_jit import _run_workers
    seen = []

    def kernel(tag, worker, workers):
        seen.append((tag, worker, workers))
        if worker == 1:
            raise ValueError("worker %d of %d failed" % (worker, workers))

    with pytest.raises(ValueError, match="worker 1 of 3 failed"):
        _run_workers(kernel, ("t",), 3)
    assert sorted(seen) == [("t", 0, 3), ("t", 1, 3), ("t", 2, 3)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("b_trans", [False, True])
def test_packing_matches_the_operand_at_any_offset(dtype, b_trans):
    """pack_b's vector copies and in-register transposes (full panels, whole
    vector blocks of k) and its scalar remainders, against NumPy slicing."""
    import numpy as np
    from refbackprop.backends import _numba_kernels as k
    pack = getattr(k, "pack_b_" + dtype.replace("loat", ""))
    nr = 16 if dtype == "float64" else 32
    B = np.arange(300 * 280, dtype=dtype).reshape(300, 280)
    for j0, nb, k0, kb in ((0, 2 * nr, 0, 48), (7, 3 * nr + 5, 13, 37), (1, 5, 3, 16)):
        bp = np.full((4, 64, nr), -1, dtype)
        pack(B, b_trans, j0, nb, k0, kb, bp, bp.dtype.type(0))
        op = B.T if b_trans else B                     # op(B)[k, j]
        want = np.zeros((kb, 4 * nr), dtype)
        want[:, :nb] = op[k0:k0 + kb, j0:j0 + nb]
        panels = (nb + nr - 1) // nr
        got = np.concatenate([bp[q, :kb, :] for q in range(panels)], axis=1)
        assert np.array_equal(got, want[:, :panels * nr])


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="pinning needs Linux and at least 2 CPUs")
def test_worker_threads_are_pinned_to_distinct_cpus():
    from refbackprop.backends.numba_jit import _run_workers
    seen = {}

    def kernel(worker, workers):
        seen[worker] = os.sched_getaffinity(0)

    for _ in range(3):                                  # whichever thread takes which task
        _run_workers(kernel, (), 2)
        assert all(len(cpus) == 1 for cpus in seen.values())
        assert seen[0] != seen[1]
    assert len(os.sched_getaffinity(0)) >= 2            # the caller is not pinned


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_worker_threads():
    """The parent's worker threads are not copied by fork: the child must start
    its own instead of waiting forever on the parent's queues."""
    import multiprocessing
    import numpy as np
    backend = get_backend("numba")
    x = np.ones((3, 40), "float64")
    w = np.ones((40, 5), "float64")
    backend.forward(x, w)                               # the parent's threads exist
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        y = pool.apply_async(_forward_in_child, (x, w)).get(timeout=60)
    assert np.array_equal(y, np.full((3, 5), 40.0))


def _forward_in_child(x, w):
    return get_backend("numba").forward(x, w)
