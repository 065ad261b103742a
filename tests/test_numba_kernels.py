"""The numba kernels at every tile remainder, judged by the comparison engine.

Both strategies are forced in turn (the driver's thresholds are module
constants of numba_jit): the packed GEMM, whose tiles are MR×NR in MC×NC
blocks with KC-deep slices, and the direct kernels on unpacked operands
(DIRECT_MR×DIRECT_NR tiles, BAND-row bands of W, DOTS dot-product tiles); the
sizes come from the generated TILES table.  forward is (N×D)@(D×M), dX is
(N×M)@(M×D) with W packed transposed, dW is (D×N)@(N×M) with X packed
transposed, so N, D and M each play m, n and k somewhere.
"""

import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

from refbackprop.backends import numba_jit  # noqa: E402
from refbackprop.backends._numba_kernels import TILES  # noqa: E402
from refbackprop.cases import Case  # noqa: E402
from refbackprop.registry import get_backend  # noqa: E402
from refbackprop.runner import run_case  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The driver's thresholds, set to force one strategy (THREAD_WORK = 0: split
# every product over the worker threads, however small).
STRATEGIES = {
    "packed": {"SMALL_N": -1, "DIRECT_WORK": 0, "THREAD_WORK": 0},
    "direct": {"SMALL_N": 1 << 40, "THREAD_WORK": 0},
    "direct-inline": {"SMALL_N": 1 << 40, "THREAD_WORK": 1 << 62},
}


@pytest.fixture
def strategy(request, monkeypatch):
    for name, value in STRATEGIES[request.param].items():
        monkeypatch.setattr(numba_jit, name, value)
    return request.param


def check(n, d, m, op, dtype, values=("normal", "nonfinite")):
    backend = get_backend("numba")
    for kind in values:
        result = run_case(backend, Case(op, dtype, n, d, m, True, kind))
        assert result.passed, "\n".join(result.messages())


SHAPES = (
    [
        # every remainder mod MR = 8 and around NR = 16/32 in m and n
        (1, 3, 15),
        (2, 5, 16),
        (3, 7, 17),
        (4, 2, 31),
        (5, 1, 32),
        (7, 6, 33),
        (6, 8, 9),
        (8, 6, 14),
        (9, 10, 40),
        # around MC=64 and NC=256/512 (as m or n in some product)
        (65, 3, 9),
        (3, 257, 5),
        (2, 9, 513),
        (64, 4, 256),
        # around each KC of TILES (k is D for forward, M for dX, N for dW), and
        # around the shallow slices that run a row of tiles at a time (k ≤ 64)
    ]
    + [
        shape
        for kc in sorted({t["KC"] for t in TILES.values()})
        for shape in ((3, kc - 1, 4), (2, kc, 3), (3, kc + 1, 2), (2, 4, kc + 1), (kc + 1, 2, 3))
    ]
    + [
        (64, 64, 33),
        (65, 7, 40),
        # dX packs Wᵀ by vector transposes: full panels (D ≥ NR) with k = M both a
        # multiple of the vector length and not (8 float64 / 16 float32 lanes)
        (3, 70, 37),
        (2, 33, 48),
        (5, 100, 16),
        (4, 48, 65),
        # zero-size products
        (0, 5, 7),
        (5, 0, 7),
        (5, 7, 0),
    ]
)


# N = 1..16 (the direct kernels' row groups of 1, 2, 4 and 8 and their
# remainders), each with its own D and M: remainders of M mod DIRECT_NR
# (16/32) and of the dot products' k = M mod the lanes (8/16), of D mod the
# BAND of 16 (forward's k) and mod the dot tiles' 8 and 4 rows of W.
SMALL = [
    (n, d, m)
    for n, d, m in zip(
        range(1, 17),
        (1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 40, 47, 64, 65, 5, 2),
        (17, 33, 1, 47, 16, 9, 32, 65, 15, 31, 2, 48, 63, 3, 40, 8),
    )
]


# Each strategy with the shapes it must get right: the packed and the direct
# kernels every tile remainder, the direct ones (threaded or inline) every small N.
COVERAGE = [
    pytest.param(strategy, n, d, m, id="%s-%s-%dx%dx%d" % (what, strategy, n, d, m))
    for what, strategies, shapes in (
        ("remainder", ("packed", "direct"), SHAPES),
        ("small-n", ("direct", "direct-inline"), SMALL),
    )
    for strategy in strategies
    for n, d, m in shapes
]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op", ["forward", "backward"])
@pytest.mark.parametrize("strategy,n,d,m", COVERAGE, indirect=["strategy"])
def test_every_tile_remainder_and_small_n(strategy, n, d, m, op, dtype):
    check(n, d, m, op, dtype)


def _thresholds():
    """Shapes just below and at the driver's strategy thresholds, as it ships.
    (THREAD_WORK changes no number: test_worker_counts_agree_bit_for_bit.)"""
    n_small = numba_jit.SMALL_N
    direct = numba_jit.DIRECT_WORK
    side = round(direct ** (1 / 3))
    assert side**3 == direct
    return [(n_small, 9, 40), (n_small + 1, 9, 40), (side - 1, side, side), (side, side, side)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op", ["forward", "backward"])
@pytest.mark.parametrize("n,d,m", _thresholds())
def test_shapes_at_the_thresholds(n, d, m, op, dtype):
    check(n, d, m, op, dtype, values=("normal",))


def test_the_driver_picks_by_shape():
    pick = numba_jit._strategy
    n_small, direct, thread = (numba_jit.SMALL_N, numba_jit.DIRECT_WORK, numba_jit.THREAD_WORK)
    assert pick(1, 4096 * 4096) == ("direct", True)
    assert pick(n_small, 4096 * 4096 * n_small) == ("direct", True)
    assert pick(n_small + 1, 4096 * 4096 * n_small) == ("packed", True)
    assert pick(32, 32**3) == ("direct", False)
    assert pick(n_small + 1, direct - 1) == ("direct", False)
    assert pick(n_small + 1, direct) == ("packed", False)
    assert pick(n_small + 1, thread - 1) == ("packed", False)
    assert pick(n_small + 1, thread) == ("packed", True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_direct_kernels_write_only_their_output(dtype):
    """Masked edge stores: C sits between sentinels in a larger buffer, and
    every kind at ragged sizes leaves them untouched."""
    import numpy as np
    from refbackprop.backends import _numba_kernels as k

    direct = getattr(k, "direct_" + dtype.replace("loat", ""))
    rng = np.random.default_rng(5)
    for n, d, m in ((1, 17, 33), (3, 5, 7), (13, 31, 47), (9, 1, 1)):
        x, w, b, dy = (rng.standard_normal(s).astype(dtype) for s in ((n, d), (d, m), (m,), (n, m)))
        for kind, a, bmat, shape, want in (
            (0, x, w, (n, m), x @ w + b),
            (1, dy, w, (n, d), dy @ w.T),
            (2, x, dy, (d, m), x.T @ dy),
        ):
            pad = 64
            buf = np.full(pad + shape[0] * shape[1] + pad, 12345.0, dtype)
            c = buf[pad : pad + shape[0] * shape[1]].reshape(shape)
            for worker in range(3):
                direct(kind, a, bmat, b, kind == 0, c, worker, 3)
            assert np.all(buf[:pad] == 12345.0) and np.all(buf[-pad:] == 12345.0)
            tol = 1e-4 if dtype == "float32" else 1e-12
            assert np.allclose(c, want, rtol=tol, atol=tol * (d + m + n)), (kind, n, d, m)


def test_tiles_table_holds_its_invariants():
    for dtype, t in TILES.items():
        assert t["NR"] % t["LANES"] == 0 and t["DIRECT_NR"] % t["LANES"] == 0, dtype
        assert t["MC"] % t["MR"] == 0 and t["NC"] % t["NR"] == 0, dtype
        assert all(t[key] > 0 for key in ("MR", "NR", "MC", "NC", "KC", "BAND")), dtype


@pytest.mark.parametrize(
    "config,message",
    [
        ("f64,3,16,64,256,256", "MC 64 is not a multiple of MR 3"),
        ("f64,4,12,64,252,256", "NR 12 is not a multiple of the 8 lanes"),
        ("f32,8,32,64,500,512", "NC 500 is not a multiple of NR 32"),
        ("f64,4,16,64,256,0", "KC must be a positive integer"),
    ],
)
def test_the_generator_refuses_bad_tiles(tmp_path, config, message):
    env = dict(os.environ, GEMM_CONFIGS=config, GEMM_TARGET=str(tmp_path / "k.py"))
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "gen_numba_kernels.py")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "k.py").exists()


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["--chek"], 2)])
def test_the_generator_writes_nothing_for_help_or_an_unknown_argument(tmp_path, argv, code):
    """--help prints the usage; a mistyped option is an error: neither
    writes the kernels' file (before, any argument but --check rewrote it)."""
    env = dict(os.environ, GEMM_TARGET=str(tmp_path / "k.py"))
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "gen_numba_kernels.py")] + argv,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == code and "--check  # exit 1 if the file is stale" in proc.stdout
    assert not (tmp_path / "k.py").exists()


def test_generated_kernels_are_up_to_date():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "gen_numba_kernels.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("strategy", ["packed", "direct"], indirect=True)
@pytest.mark.parametrize("n", [70, 5])
def test_worker_counts_agree_bit_for_bit(strategy, n):
    """Blocks are computed the same whichever worker takes them."""
    import numba
    import numpy as np

    backend = get_backend("numba")
    rng = np.random.default_rng(3)
    x, w, b, dy = (
        rng.standard_normal(s).astype("float32") for s in ((n, 600), (600, 530), (530,), (n, 530))
    )
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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_column_blocks_are_each_computed_once_whoever_takes_them(dtype):
    """The packed GEMM hands out NC-column blocks from a shared counter: in
    any order of the workers (here one after another, so the first takes every
    block and the rest none; then concurrently, 3 workers), every element is
    written, and bit for bit as by one worker."""
    import numpy as np

    from refbackprop.backends import _numba_kernels as k
    from refbackprop.backends.numba_jit import _run_workers

    tiles = k.TILES[dtype]
    gemm = getattr(k, "gemm_f64" if dtype == "float64" else "gemm_f32")
    rng = np.random.default_rng(5)
    m, kk, n = 37, tiles["KC"] + 3, 5 * tiles["NC"] + 7  # 6 blocks, the last partial
    a, b, bias = (rng.standard_normal(s).astype(dtype) for s in ((m, kk), (kk, n), (n,)))

    def run(order=None, workers=3):
        c = np.full((m, n), np.nan, dtype)
        taken = np.zeros(1, np.int64)
        if order is None:
            _run_workers(gemm, (a, False, b, False, bias, True, c, taken), workers)
        else:
            for w in order:
                gemm(a, False, b, False, bias, True, c, taken, w, workers)
        return c, taken[0]

    one, _ = run([0], 1)
    assert not np.isnan(one).any()
    for order in ([2, 0, 1], [1, 2, 0]):
        c, taken = run(order)
        assert np.array_equal(c, one)
        assert taken == 6 + 3  # six blocks, then one empty-handed ask per worker
    c, _ = run()
    assert np.array_equal(c, one)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_packing_buffers_are_aligned_to_cache_lines(dtype):
    """The GEMM's panels start on a 64-byte boundary whatever np.empty gave
    (numba aligns to 32), have the asked shape, C order, and do not overlap."""
    import numpy as np

    from refbackprop.backends import _numba_kernels as k

    aligned = getattr(k, "aligned_f64" if dtype == "float64" else "aligned_f32")
    seen = []
    for shape in ((8, 513, 8), (3, 5, 7), (1, 1, 1)) * 4:
        a = aligned(*shape)
        assert a.dtype == np.dtype(dtype) and a.shape == shape and a.flags.c_contiguous
        assert a.ctypes.data % 64 == 0
        a[...] = len(seen)
        seen.append(a)
    for i, a in enumerate(seen):  # each still holds its own values
        assert (a == i).all()


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
    nr = TILES[dtype]["NR"]
    B = np.arange(300 * 280, dtype=dtype).reshape(300, 280)
    for j0, nb, k0, kb in ((0, 2 * nr, 0, 48), (7, 3 * nr + 5, 13, 37), (1, 5, 3, 16)):
        bp = np.full((4, 64, nr), -1, dtype)
        pack(B, b_trans, j0, nb, k0, kb, bp, bp.dtype.type(0))
        op = B.T if b_trans else B  # op(B)[k, j]
        want = np.zeros((kb, 4 * nr), dtype)
        want[:, :nb] = op[k0 : k0 + kb, j0 : j0 + nb]
        panels = (nb + nr - 1) // nr
        got = np.concatenate([bp[q, :kb, :] for q in range(panels)], axis=1)
        assert np.array_equal(got, want[:, : panels * nr])


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="pinning needs Linux and at least 2 CPUs",
)
def test_worker_threads_are_pinned_to_distinct_cpus():
    from refbackprop.backends.numba_jit import _run_workers

    seen = {}

    def kernel(worker, workers):
        seen[worker] = os.sched_getaffinity(0)

    for _ in range(3):  # whichever thread takes which task
        _run_workers(kernel, (), 2)
        assert all(len(cpus) == 1 for cpus in seen.values())
        assert seen[0] != seen[1]
    assert len(os.sched_getaffinity(0)) >= 2  # the caller is not pinned


FORK_CHECK = """
import multiprocessing, numpy as np
from refbackprop.registry import get_backend

def child(x, w):
    return get_backend("numba").forward(x, w)

if __name__ == "__main__":
    x, w = np.ones((3, 40), "float64"), np.ones((40, 5), "float64")
    get_backend("numba").forward(x, w)                  # the parent's threads exist
    with multiprocessing.get_context("fork").Pool(1) as pool:
        y = pool.apply_async(child, (x, w)).get(timeout=60)
    assert np.array_equal(y, np.full((3, 5), 40.0)), y
    print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_worker_threads(tmp_path):
    """The parent's worker threads are not copied by fork: the child must start
    its own instead of waiting forever on the parent's queues.  In a process
    of its own, so that nothing else this test session imported (JAX's
    threads) is forked along."""
    script = tmp_path / "fork_check.py"
    script.write_text(FORK_CHECK)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
