"""The numpy, torch and jax backends: the whole catalogue in every declared
dtype, the layouts, shares_memory, synchronize, and the JAX float64 trap.

A test whose library is not installed skips with the backend's own reason.
The adapters (any function as a backend) are tested in test_adapters.py.
"""

import os
import subprocess
import sys
import threading
import time

import pytest

from refbackprop.cases import Case, catalogue
from refbackprop.conformance import build_checks, run
from refbackprop.cases import LAYOUT_INPUTS, LAYOUTS, batch_split
from refbackprop.registry import Registry

from front_ends import run_conformance_pytest, run_module
from layout_runner import _bits, native_input, run_in_layout

REGISTRY = Registry()
FRAMEWORKS = ["numpy", "torch", "jax"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def backend_or_skip(name):
    info = REGISTRY.info(name)
    if info.status != "available":
        pytest.skip("backend %s is %s: %s" % (name, info.status, info.reason))
    return info.backend


def failures(results):
    return ["%s: %s" % (r.check_id, "; ".join(r.messages())) for r in results if not r.passed]


def declared():
    """(backend, dtype) pairs, every dtype each backend declares here."""
    out = []
    for name in FRAMEWORKS + ["torch-cuda"]:
        info = REGISTRY.info(name)
        dtypes = info.backend.dtypes if info.backend is not None else ("float64",)
        out.extend(pytest.param(name, d, id="%s-%s" % (name, d)) for d in dtypes)
    return out


# -- registration and availability -----------------------------------------


def test_declared_as_entry_points_with_their_dtypes():
    names = REGISTRY.names()
    for name in FRAMEWORKS + ["torch-cuda"]:
        assert name in names
    assert REGISTRY.info("numpy").backend.dtypes == ("float64", "float32")
    assert REGISTRY.info("torch").backend.dtypes == (
        "float64",
        "float32",
        "tf32",
        "bfloat16",
        "float16",
    )


def test_listing_and_loading_import_no_framework():
    code = (
        "import sys; from refbackprop.registry import Registry; "
        "r = Registry(); infos = r.load_all(); "
        "[(i.backend.dtypes, i.backend.version) for i in infos "
        " if i.name in ('numpy', 'torch', 'torch-cuda', 'jax')]; "
        "[i.backend.dtype_reasons() for i in infos "
        " if hasattr(i.backend, 'dtype_reasons')]; "
        "print(sorted(m for m in ('numpy', 'torch', 'jax', 'jaxlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize(
    "module,cls,hidden,extra",
    [
        ("numpy_backend", "NumpyBackend", "numpy", "numpy"),
        ("torch_backend", "TorchBackend", "torch", "torch"),
        ("torch_backend", "TorchCudaBackend", "torch", "torch"),
        ("jax_backend", "JaxBackend", "jax", "jax"),
        ("jax_backend", "JaxBackend", "jaxlib", "jax"),
    ],
)
def test_a_missing_library_is_the_reason(monkeypatch, module, cls, hidden, extra):
    import importlib
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == hidden else real(name, *a)
    )
    backend = getattr(importlib.import_module("refbackprop.backends." + module), cls)()
    first = "jax" if hidden == "jaxlib" and real("jax") is None else hidden  # jax itself absent
    assert backend.unavailable_reason() == (
        "%s is not installed; install it with: pip install 'refbackprop[%s]'" % (first, extra)
    )


def test_torch_cuda_is_unavailable_with_its_reason_here():
    info = REGISTRY.info("torch-cuda")
    if info.status == "available":
        pytest.skip("a CUDA device is available: the catalogue test covers it")
    assert info.status == "unavailable"
    assert "CUDA" in info.reason or "torch is not installed" in info.reason


# -- the whole catalogue ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name,dtype", declared())
def test_whole_catalogue_passes(name, dtype):
    backend = backend_or_skip(name)
    checks = build_checks(backend, (dtype,), oracle=False)
    results = list(run(backend, (dtype,), oracle=False))
    assert len(results) == len(checks) > 150
    assert failures(results) == []


@pytest.mark.slow
def test_jax_float64_whole_catalogue_with_x64():
    """float64 with JAX_ENABLE_X64=1: declared, and every check passes."""
    backend_or_skip("jax")
    code = (
        "from refbackprop.registry import Registry; "
        "from refbackprop.conformance import build_checks, run; "
        "b = Registry().get('jax'); print(b.dtypes, b.dtype_reasons()); "
        "rs = list(run(b, ('float64',), oracle=False)); "
        "n = len(build_checks(b, ('float64',), oracle=False)); "
        "print(len(rs) == n > 150, [r.check_id for r in rs if not r.passed][:5])"
    )
    env = dict(os.environ, JAX_ENABLE_X64="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "('float64', 'float32') {}"
    assert lines[1] == "True []"


# -- the JAX float64 trap -----------------------------------------------------


def jax_without_x64():
    backend = backend_or_skip("jax")
    from refbackprop.backends.jax_backend import x64_enabled

    if x64_enabled():
        pytest.skip("x64 is enabled in this process (JAX_ENABLE_X64)")
    return backend


def test_jax_without_x64_declares_float32_and_says_why():
    backend = jax_without_x64()
    assert backend.dtypes == ("float32",)
    reason = backend.dtype_reasons()["float64"]
    assert "JAX_ENABLE_X64=1" in reason and "silently holds float32" in reason
    with pytest.raises(
        ValueError, match="jax computes in float32, not float64: JAX computes in float32 only"
    ):
        backend.array([[1.0]], (1, 1), "float64")
    with pytest.raises(ValueError, match="declares dtypes float32, not float64"):
        list(run(backend, ("float64",)))


def test_jax_x64_switched_off_after_listing_is_caught(monkeypatch):
    """array() checks the dtype JAX really made, not only the declaration."""
    backend = jax_without_x64()
    monkeypatch.setattr(type(backend), "_declared_dtypes", lambda self: ("float64", "float32"))
    with pytest.raises(ValueError, match="JAX made a float32 array when asked for float64"):
        backend.array([[1.0]], (1, 1), "float64")


@pytest.mark.parametrize(
    "value,expected",
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("off", False),
        ("", None),
    ],
)
def test_x64_is_read_from_the_environment_as_jax_reads_it(monkeypatch, value, expected):
    from refbackprop.backends import jax_backend

    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setenv("JAX_ENABLE_X64", value)
    if expected is None:
        with pytest.raises(ValueError, match="JAX_ENABLE_X64 is ''"):
            jax_backend.x64_enabled()
    else:
        assert jax_backend.x64_enabled() is expected
        declared = jax_backend.JaxBackend().dtypes
        assert declared == (("float64", "float32") if expected else ("float32",))


# -- layouts --------------------------------------------------------------------


def test_batch_split():
    assert [batch_split(n) for n in (0, 1, 2, 4, 6, 7, 9, 37, 65)] == [
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 2),
        (2, 3),
        (1, 7),
        (3, 3),
        (1, 37),
        (5, 13),
    ]


def values(rows, cols, start=1.0):
    return [[start + 10 * i + j for j in range(cols)] for i in range(rows)]


def same_bits(a, b):
    flat = lambda v: [_bits(float(x)) for r in v for x in (r if isinstance(r, list) else [r])]
    return flat(a) == flat(b)


def declared_layouts():
    """(backend, layout) for every layout each backend declares."""
    out = []
    for name in FRAMEWORKS:
        info = REGISTRY.info(name)
        for layout in info.backend.layouts if info.backend is not None else LAYOUTS:
            out.append(pytest.param(name, layout, id="%s-%s" % (name, layout)))
    return out


@pytest.mark.parametrize("name,layout", declared_layouts())
def test_view_keeps_the_values(name, layout):
    backend = backend_or_skip(name)
    for dtype in backend.dtypes:
        for shape in ((6, 5), (4, 1), (1, 3), (0, 3), (3, 0)):
            plain = backend.array(values(*shape), shape, dtype)
            viewed = backend.view(plain, layout)
            assert same_bits(backend.tolist(viewed), values(*shape))
        if layout != "transposed" and layout != "batched":
            vec = backend.view(backend.array([1.5, -2.0, 3.0], (3,), dtype), layout)
            assert backend.tolist(vec) == [1.5, -2.0, 3.0]


def test_numpy_views_are_really_in_their_layout():
    np = pytest.importorskip("numpy")
    backend = backend_or_skip("numpy")
    for dtype in ("float64", "float32"):
        a = backend.array(values(6, 5), (6, 5), dtype)
        item = a.itemsize
        t = backend.view(a, "transposed")
        assert t.flags.f_contiguous and not t.flags.c_contiguous
        s = backend.view(a, "strided")
        assert not s.flags.c_contiguous and s.strides == (10 * item, 2 * item)
        assert np.isnan(s.base.reshape(-1)[1::2]).all()  # the gaps are NaN
        o = backend.view(a, "offset")
        assert o.flags.c_contiguous
        assert o.ctypes.data - o.base.ctypes.data == item
        assert o.ctypes.data % 16 != 0 and np.isnan(o.base[0])
        b = backend.view(a, "batched")
        assert b.shape == (2, 3, 5) and np.shares_memory(a, b)


def test_torch_views_are_really_in_their_layout():
    backend = backend_or_skip("torch")
    import torch

    for dtype in ("float64", "float32"):
        a = backend.array(values(6, 5), (6, 5), dtype)
        t = backend.view(a, "transposed")
        assert t.stride() == (1, 6) and not t.is_contiguous()
        s = backend.view(a, "strided")
        assert s.stride() == (10, 2) and not s.is_contiguous()
        whole = torch.empty(0, dtype=a.dtype).set_(s.untyped_storage())
        assert torch.isnan(whole[1::2]).all()  # the gaps are NaN
        o = backend.view(a, "offset")
        assert o.is_contiguous() and o.storage_offset() == 1
        assert o.data_ptr() % 16 != 0
        assert torch.isnan(torch.empty(0, dtype=a.dtype).set_(o.untyped_storage())[0])
        b = backend.view(a, "batched")
        assert tuple(b.shape) == (2, 3, 5) and b.data_ptr() == a.data_ptr()


def test_jax_declares_batched_only():
    backend = backend_or_skip("jax")
    assert backend.layouts == ("batched",)
    a = backend.array(values(6, 5), (6, 5), "float32")
    assert backend.view(a, "batched").shape == (2, 3, 5)
    with pytest.raises(ValueError, match="does not declare the 'strided' layout"):
        backend.view(a, "strided")


def test_view_refuses_a_wrong_rank_or_name():
    backend = backend_or_skip("numpy")
    vec = backend.array([1.0, 2.0], (2,), "float64")
    with pytest.raises(ValueError, match="the transposed layout needs a 2-D array"):
        backend.view(vec, "transposed")
    with pytest.raises(ValueError, match="does not declare the 'diagonal' layout"):
        backend.view(vec, "diagonal")
    with pytest.raises(ValueError, match="layout must be one of transposed"):
        native_input(backend, "x", [[1.0]], (1, 1), "float64", "diagonal")


def test_native_input_applies_a_layout_only_where_it_belongs():
    backend = backend_or_skip("numpy")
    w = native_input(backend, "w", values(4, 6), (4, 6), "float64", "batched")
    assert w.shape == (4, 6)  # batched splits x and dy
    x = native_input(backend, "x", values(4, 6), (4, 6), "float64", "batched")
    assert x.shape == (2, 2, 6)
    assert LAYOUT_INPUTS["transposed"] == ("x", "w", "dy")


@pytest.mark.slow
@pytest.mark.parametrize("name,layout", declared_layouts())
def test_whole_catalogue_passes_in_every_declared_layout(name, layout):
    backend = backend_or_skip(name)
    bad, notes = [], []
    for case in catalogue(backend.dtypes):
        result, skipped = run_in_layout(backend, case, layout)
        notes.extend(skipped)
        if not result.passed:
            bad.append("%s: %s" % (case.id, "; ".join(result.messages())))
    assert bad == []
    assert notes == []  # every alias check decided


def test_torch_weight_in_md_keeps_the_layout():
    """An (M, D) weight handed to a torch function has w's own layout."""
    backend = backend_or_skip("torch")
    from refbackprop.backends.torch_backend import TorchFunctions

    fns = TorchFunctions(forward=lambda x, w, b: x)
    w = backend.array(values(3, 5), (3, 5), "float64")  # (D, M)
    plain = fns._weight_in(w)
    assert plain.is_contiguous() and tuple(plain.shape) == (5, 3)
    assert plain.tolist() == [list(r) for r in zip(*values(3, 5))]
    assert fns._weight_in(backend.view(w, "transposed")).stride() == (1, 5)
    assert fns._weight_in(backend.view(w, "strided")).stride() == (6, 2)
    assert fns._weight_in(backend.view(w, "offset")).storage_offset() == 1
    assert fns._weight_in(backend.view(w, "offset")).tolist() == plain.tolist()


def test_numpy_weight_in_md_keeps_the_layout():
    backend = backend_or_skip("numpy")
    from refbackprop.backends.numpy_backend import NumpyFunctions

    fns = NumpyFunctions(forward=None, weight="md")
    w = backend.array(values(3, 5), (3, 5), "float64")
    assert fns._weight_in(w).flags.c_contiguous
    assert fns._weight_in(backend.view(w, "transposed")).flags.f_contiguous
    assert fns._weight_in(backend.view(w, "strided")).strides == (48, 16)
    off = fns._weight_in(backend.view(w, "offset"))
    assert off.ctypes.data - off.base.ctypes.data == 8
    assert off.tolist() == [list(r) for r in zip(*values(3, 5))]


# -- shares_memory ----------------------------------------------------------------


def test_numpy_shares_memory_is_exact():
    np = pytest.importorskip("numpy")
    backend = backend_or_skip("numpy")
    a = np.zeros((4, 6))
    assert backend.shares_memory(a, a[1:3]) is True
    assert backend.shares_memory(a.T, a) is True
    assert backend.shares_memory(a[:, ::2], a[:, 1::2]) is False  # interleaved
    assert backend.shares_memory(a, np.zeros((4, 6))) is False
    assert backend.shares_memory(a, [[0.0]]) is None


def test_torch_shares_memory_by_elements_not_ranges():
    backend = backend_or_skip("torch")
    import torch

    a = torch.zeros(4, 6)
    assert backend.shares_memory(a, a[1:3]) is True
    assert backend.shares_memory(a.t(), a) is True
    assert backend.shares_memory(a[:, ::2], a[:, 1::2]) is False  # same range, no element
    assert backend.shares_memory(a[:, ::2], a[:, 2::2]) is True
    assert backend.shares_memory(a[0], a[1]) is False
    assert backend.shares_memory(a, torch.zeros(4, 6)) is False
    assert backend.shares_memory(a[:0], a) is False  # no element at all
    assert backend.shares_memory(a, a.view(torch.int32)) is True  # other dtype, same bytes
    d = torch.zeros(8, dtype=torch.float64)
    assert backend.shares_memory(d[1:3], d.view(torch.float32)[5:6]) is True  # upper half of d[2]
    assert backend.shares_memory(d[1:2], d.view(torch.float32)[4:5]) is False
    np = pytest.importorskip("numpy")
    buf = np.zeros(10)
    one, two = torch.from_numpy(buf), torch.from_numpy(buf[5:])  # two storages, one memory
    assert backend.shares_memory(one, two) is True
    assert backend.shares_memory(one[:5], two) is False
    assert backend.shares_memory(a, [[0.0]]) is None


def test_jax_shares_memory_by_buffer():
    backend = backend_or_skip("jax")
    a = backend.array(values(3, 4), (3, 4), "float32")
    assert backend.shares_memory(a, a) is True
    assert backend.shares_memory(a, a + 0) is False
    assert backend.shares_memory(a, backend.array(values(3, 4), (3, 4), "float32")) is False
    assert backend.shares_memory(a[:0], a) is False
    assert backend.shares_memory(a, [[0.0]]) is None


def _returns_dy_as_dx(x, w, dy, b):
    """A backward that hands dy back as dx (D = M here): a wrong value and an alias."""
    return dy, x.T @ dy, None if b is None else dy.sum(0)


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_the_alias_check_now_sees_torch_and_jax(name):
    """Both used to fall through to __array_interface__ and never alias."""
    from refbackprop.runner import run_case

    backend_or_skip(name)
    if name == "torch":
        from refbackprop.backends.torch_backend import TorchFunctions as cls
    else:
        from refbackprop.backends.jax_backend import JaxFunctions as cls
    wrong = cls(
        forward=lambda x, w, b: x @ w.T, backward=_returns_dy_as_dx, weight="dm", name="returns-dy"
    )
    result = run_case(wrong, Case("backward", "float32", 3, 4, 4, True, "normal"))
    assert "dx aliases input dy" in " | ".join(result.messages())


# -- synchronize and bench ----------------------------------------------------------


class _Async(object):
    """A backend whose products return at once and finish 50 ms later on a
    thread, like JAX's or CUDA's dispatch: only synchronize() waits."""

    name = "async"
    dtypes = ("float64",)

    def __init__(self):
        self.running = []

    def array(self, values, shape, dtype):
        return values

    def tolist(self, a):
        return a

    def _launch(self, result):
        worker = threading.Thread(target=time.sleep, args=(0.05,))
        worker.start()
        self.running.append(worker)
        return result

    def forward(self, x, w, b=None):
        return self._launch([[0.0]])

    def backward(self, x, w, dy, b=None):
        return self._launch((x, w, None))

    def synchronize(self):
        while self.running:
            self.running.pop().join()


def test_bench_waits_for_synchronize_before_reading_the_clock():
    from refbackprop.bench import bench_backend

    backend = _Async()
    r = bench_backend(backend, 1, 1, 1, repeat=2, inputs=([[1.0]], [[1.0]], [[1.0]]))
    assert r["seconds"]["forward"] >= 0.05
    assert r["seconds"]["backward"] >= 0.05
    assert backend.running == []


def test_jax_synchronize_waits_for_the_last_results():
    backend = backend_or_skip("jax")
    x = backend.array(values(3, 4), (3, 4), "float32")
    w = backend.array(values(4, 2), (4, 2), "float32")
    y = backend.forward(x, w)
    assert backend._pending == (y,)
    backend.synchronize()
    assert backend._pending == ()
    assert y.is_ready()


def test_bench_on_jax_is_plausible():
    """Below the machine's peak: 2 cores with AVX-512 FMA do at most about
    2 × 2 × 16 × 2 × 3.5e9 = 448 GFLOP/s in float32 (the issue saw 341,466)."""
    backend = backend_or_skip("jax")
    from refbackprop.bench import bench_backend

    r = bench_backend(backend, 64, 1024, 1024, "float32", repeat=3)
    for key in ("forward", "backward"):
        assert 0.1 < r["gflops"][key] < 448, r


@pytest.mark.parametrize("name", ["torch", "torch-cuda"])
def test_torch_synchronize(name):
    backend = backend_or_skip(name)
    backend.synchronize()  # CPU: nothing to wait for; CUDA: the device


# -- numpy as bench's baseline ------------------------------------------------------


def test_numpy_baseline_is_the_numpy_backend():
    backend_or_skip("numpy")
    from refbackprop.backends.numpy_backend import NumpyBackend
    from refbackprop.backends.numpy_baseline import NumpyBaseline, numpy_baseline

    baseline = numpy_baseline()
    assert isinstance(baseline, NumpyBaseline) and isinstance(baseline, NumpyBackend)
    assert baseline.name == "numpy (baseline)"
    assert hasattr(baseline, "dx") and hasattr(baseline, "dw")
    import wrong_backends

    assert wrong_backends.NumpyFloat32().dtypes == ("float32",)  # a class attribute wins


def test_numpy_dx_dw_agree_with_backward():
    backend = backend_or_skip("numpy")
    case = Case("backward", "float64", 5, 3, 4, True, "integers")
    inp = case.inputs()
    x, w, dy, b = (
        backend.array(inp[k], case.shapes()[k], "float64") for k in ("x", "w", "dy", "b")
    )
    dx, dw, db = backend.backward(x, w, dy, b)
    assert backend.dx(x, w, dy).tolist() == dx.tolist()
    assert backend.dw(x, w, dy).tolist() == dw.tolist()


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_exact_small_case(name):
    """The notes' integers: y, dx, dw, db exactly (every product and sum is exact)."""
    backend = backend_or_skip(name)
    dtype = backend.dtypes[-1]
    x = backend.array([[1.0, 2.0], [3.0, 4.0]], (2, 2), dtype)  # (N, D)
    w = backend.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]], (2, 3), dtype)  # (D, M)
    b = backend.array([0.5, -1.0, 2.0], (3,), dtype)  # (M,)
    dy = backend.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0]], (2, 3), dtype)  # (N, M)
    assert backend.tolist(backend.forward(x, w, b)) == [[5.5, 1.0, 2.0], [11.5, 3.0, 1.0]]
    dx, dw, db = backend.backward(x, w, dy, b)
    assert backend.tolist(dx) == [[-1.0, 3.0], [-1.0, -1.0]]
    assert backend.tolist(dw) == [[-2.0, 3.0, 2.0], [-2.0, 4.0, 4.0]]
    assert backend.tolist(db) == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_bad_arguments_name_themselves(name):
    backend = backend_or_skip(name)
    dtype = backend.dtypes[-1]
    x = backend.array(values(2, 3), (2, 3), dtype)
    w = backend.array(values(4, 5), (4, 5), dtype)
    with pytest.raises(ValueError, match=r"w is \(4, 5\) but x is \(2, 3\): w needs 3 rows"):
        backend.forward(x, w)
    with pytest.raises(TypeError, match="x must be a"):
        backend.forward([[1.0]], w)
    with pytest.raises(ValueError, match="values row 1 has 1 entries"):
        backend.array([[1.0, 2.0], [3.0]], (2, 2), dtype)


# -- data at size through buffers (from_buffer / to_buffer) --------------------------


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_buffers_round_trip_without_lists(name):
    from array import array

    backend = backend_or_skip(name)
    flat = [1.5, -2.0, 3.25, 1e-3, 2.0**30, -0.0]  # (2, 3), row-major
    for dtype, code in (("float64", "d"), ("float32", "f")):
        if dtype not in backend.dtypes:
            continue
        a = backend.from_buffer(memoryview(array("d", flat)), (2, 3), dtype)
        assert backend.tolist(a) == [
            [1.5, -2.0, 3.25],
            [float(array(code, [1e-3])[0]), 2.0**30, -0.0],
        ]
        view = memoryview(
            backend.to_buffer(
                backend.forward(
                    a, backend.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], (3, 2), dtype)
                )
            )
        )
        assert view.format == code and view.c_contiguous and view.nbytes == 4 * view.itemsize
    with pytest.raises(ValueError, match=r"the buffer holds 6 values, not the 4 of shape \(2, 2\)"):
        backend.from_buffer(memoryview(array("d", flat)), (2, 2), backend.dtypes[-1])


# -- through every front end: the CLI, serial pytest, pytest -n 2 -------------


def _front_end(kind, name, cwd):
    """The whole catalogue of backend `name` through front end `kind`."""
    if kind == "cli":
        return run_module("check --backend", name, cwd=cwd)
    split = ["-n", "2"] if kind == "pytest -n 2" else []
    return run_conformance_pytest("-q", "--refbackprop-backend", name, *split, cwd=cwd)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cli", "pytest", "pytest -n 2"])
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_each_builtin_passes_its_whole_catalogue_through_every_front_end(name, kind, tmp_path):
    info = REGISTRY.info(name)
    if info.status != "available":
        pytest.skip("backend %s is %s: %s" % (name, info.status, info.reason))
    proc = _front_end(kind, name, str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert " 0 failed" in last or ("passed" in last and "failed" not in last), last
