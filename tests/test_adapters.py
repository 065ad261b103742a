"""Any function as a backend: selectors, and the adapters certifying right
user functions and catching wrong ones (tests/user_kernels.py)."""

import os

import pytest

from refbackprop.backends.adapters import (
    AdapterUnavailable,
    is_adapter_selector,
    make_backend,
    parse_selector,
)
from refbackprop.cases import Case, batch_split, catalogue, parse_case_id
from refbackprop.conformance import run
from refbackprop.runner import run_case

import user_kernels
from layout_runner import run_in_layout

HERE = os.path.dirname(os.path.abspath(__file__))


def adapter(selector):
    """make_backend, skipping with the reason when the framework is missing."""
    try:
        return make_backend(selector)
    except AdapterUnavailable as e:
        pytest.skip(e.reason)


def failed(backend, oracle=False, layouts=False, **kw):
    """{check id: messages} for every failing check of the whole catalogue
    (without its layout variants unless layouts is True)."""
    return dict(
        (r.check_id, r.messages())
        for r in run(backend, oracle=oracle, **kw)
        if not r.passed and (layouts or r.case.layout is None)
    )


def failed_in_layout(backend, layout):
    out = {}
    for case in catalogue(backend.dtypes):
        if layout == "batched" and batch_split(case.n)[0] == 1:
            continue  # (1, N, C): nothing to flatten wrongly
        result, _ = run_in_layout(backend, case, layout)
        if not result.passed:
            out[case.id] = result.messages()
    return out


# -- the selector -------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("torch:mykernels:linear", True),
        ("jax:a.b:fn,bwd,weight=md", True),
        ("numpy:m:f,g", True),
        ("torch:", True),  # an adapter selector, and a wrong one
        ("torch", False),
        ("numpy", False),
        ("reference", False),
        ("mypkg.backends:Backend", False),
        ("torchvision:x:y", False),
        ("", False),
    ],
)
def test_is_adapter_selector(text, expected):
    assert is_adapter_selector(text) is expected


def test_selector_kinds_are_declared_as_entry_points():
    """The registry finds the factory for a kind without importing backends/."""
    from refbackprop.registry import entry_points

    declared = [(name, target) for name, target, _ in entry_points("refbackprop.selectors")]
    assert declared == [
        (kind, "refbackprop.backends.adapters:make_backend")
        for kind in sorted(("torch", "jax", "numpy"))
    ]


def test_parse_selector():
    assert parse_selector(
        "torch:pkg.mod:LinearFn.apply,bwd,batch=4,weight=dm,"
        "dtypes=float32,layouts=strided+offset,device=cuda:1"
    ) == {
        "kind": "torch",
        "module": "pkg.mod",
        "forward": "LinearFn.apply",
        "backward": "bwd",
        "options": {
            "batch": 4,
            "weight": "dm",
            "dtypes": ("float32",),
            "layouts": ("strided", "offset"),
            "device": "cuda:1",
        },
    }
    assert parse_selector("jax:m:f")["options"] == {}
    assert parse_selector("numpy:m:f,g,layouts=none")["options"] == {"layouts": ()}


@pytest.mark.parametrize(
    "selector,message",
    [
        ("torch:mod", "it needs three parts separated by ':'"),
        ("tf:mod:fn", "kind 'tf' is not one of torch, jax, numpy"),
        ("torch:my-kernels:fn", "module 'my-kernels' is not a dotted Python name"),
        ("torch:mod:", "function '' is not a dotted attribute name"),
        ("torch:mod:a,b,c", "it names 3 functions (a, b, c)"),
        ("torch:mod:batch=2", "it names no forward function"),
        ("torch:mod:fn,batch=2,bwd", "function 'bwd' comes after an option"),
        (
            "torch:mod:fn,bach=2",
            "unknown option 'bach' (options: weight, batch, dtypes, layouts, device)",
        ),
        ("torch:mod:fn,batch=2,batch=3", "option 'batch' is given twice"),
        ("torch:mod:fn,batch=0", "option batch=0: B must be an integer >= 1"),
        ("torch:mod:fn,batch=two", "option batch=two: B must be an integer >= 1"),
        ("torch:mod:fn,weight=nm", "option weight=nm: the weight layout is md (M, D) or dm"),
        ("torch:mod:fn,dtypes=float16", "option dtypes=float16: dtypes are float64 and float32"),
        (
            "torch:mod:fn,layouts=strided+diagonal",
            "option layouts=strided+diagonal: not a layout: diagonal",
        ),
        ("jax:mod:fn,device=gpu", "option device=gpu: only torch selectors take a device"),
    ],
)
def test_a_malformed_selector_names_its_wrong_part(selector, message):
    with pytest.raises(ValueError) as e:
        parse_selector(selector)
    assert str(e.value).startswith("selector %r: " % selector)
    assert message in str(e.value)
    if not message.startswith("option "):  # a wrong structure: the form is shown
        assert str(e.value).endswith(
            "; the form is KIND:MODULE:FORWARD[,BACKWARD][,OPTION=VALUE]..."
        )


@pytest.mark.parametrize(
    "selector,message",
    [
        (
            "torch:no_such_module_xyz:fn",
            "module 'no_such_module_xyz' cannot be imported: ModuleNotFoundError: No module "
            "named 'no_such_module_xyz'",
        ),
        (
            "torch:broken_kernels:fn",
            "module 'broken_kernels' cannot be imported: ImportError: cannot load libmykernel.so",
        ),
        (
            "torch:user_kernels:torch_linaer",
            "forward function 'torch_linaer': user_kernels has no attribute 'torch_linaer'; "
            "did you mean torch_linear",
        ),
        (
            "torch:user_kernels:LinearFn.aply",
            "forward function 'LinearFn.aply': user_kernels.LinearFn has no attribute 'aply'",
        ),
        (
            "torch:user_kernels:NOT_CALLABLE",
            "forward function 'NOT_CALLABLE' is a int, not a function",
        ),
        (
            "torch:user_kernels:torch_linear,torch_linear",
            "backward function 'torch_linear' takes arguments (x, weight, bias); it is called "
            "as torch_linear(x, weight, dy, bias)",
        ),
        (
            "numpy:user_kernels:np_two_args,np_backward",
            "forward function 'np_two_args' takes arguments (x, w); it is called as "
            "np_two_args(x, weight, bias)",
        ),
        (
            "numpy:user_kernels:np_forward",
            "NumPy has no autodiff, so a numpy selector needs a backward function: "
            "numpy:user_kernels:np_forward,BACKWARD",
        ),
    ],
)
def test_a_selector_naming_something_wrong_says_what(monkeypatch, selector, message):
    pytest.importorskip(selector.split(":")[0])
    monkeypatch.syspath_prepend(os.path.join(HERE, "data"))
    with pytest.raises(ValueError) as e:
        make_backend(selector)
    assert str(e.value).startswith("selector %r: " % selector)
    assert message in str(e.value)


@pytest.mark.parametrize("kind,hidden", [("torch", "torch"), ("jax", "jaxlib"), ("numpy", "numpy")])
def test_a_missing_framework_is_unavailable_with_the_reason(monkeypatch, kind, hidden):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == hidden else real(name, *a)
    )
    with pytest.raises(AdapterUnavailable) as e:
        make_backend("%s:user_kernels:f,g" % kind)
    first = "jax" if hidden == "jaxlib" and real("jax") is None else hidden  # jax itself absent
    assert e.value.reason == (
        "%s is not installed; install it with: pip install 'refbackprop[%s]'" % (first, kind)
    )


def test_torch_cuda_device_without_cuda_is_unavailable():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(AdapterUnavailable) as e:
        make_backend("torch:user_kernels:torch_linear,device=cuda")
    assert "CUDA" in e.value.reason


def test_options_reach_the_backend():
    b = adapter("torch:user_kernels:torch_linear,dtypes=float32,layouts=strided+offset")
    assert b.name == "torch:user_kernels:torch_linear,dtypes=float32,layouts=strided+offset"
    assert b.dtypes == ("float32",) and b.layouts == ("strided", "offset")
    assert b.weight == "md" and b.batch is None and b.device == "cpu"
    none = adapter("torch:user_kernels:torch_linear,layouts=none")
    assert none.layouts == ()
    from layout_runner import native_input

    with pytest.raises(ValueError, match="does not declare the 'strided' layout"):
        native_input(none, "x", [[1.0]], (1, 1), "float64", "strided")
    assert adapter("jax:user_kernels:jax_dense").weight == "dm"


def test_jax_float64_asked_for_without_x64_says_why():
    b = adapter("jax:user_kernels:jax_dense")
    from refbackprop.backends.jax_backend import x64_enabled

    if x64_enabled():
        pytest.skip("x64 is enabled here")
    assert b.dtypes == ("float32",) and "JAX_ENABLE_X64" in b.dtype_reasons()["float64"]
    with pytest.raises(
        ValueError, match="option dtypes: float64 is not available: JAX computes in float32 only"
    ):
        make_backend("jax:user_kernels:jax_dense,dtypes=float64")


# -- right functions are certified ----------------------------------------------


@pytest.mark.parametrize(
    "selector",
    [
        "torch:user_kernels:torch_linear",  # autograd
        "torch:user_kernels:torch_linear,torch_linear_bwd",  # explicit backward
        "torch:user_kernels:LinearFn.apply",  # an autograd.Function
        "torch:user_kernels:torch_batched_only,batch=4",  # (B, T, D) only
        "torch:torch.nn.functional:linear",  # a builtin, no signature
        "jax:user_kernels:jax_dense",  # jax.vjp
        "jax:user_kernels:jax_dense_md,weight=md",
        "jax:user_kernels:jax_dense,jax_dense_bwd",
        "numpy:user_kernels:np_forward,np_backward",
        "numpy:user_kernels:np_forward_md,np_backward_md,weight=md",
    ],
)
@pytest.mark.slow
def test_a_right_function_passes_the_whole_catalogue(selector):
    backend = adapter(selector)
    assert failed(backend) == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    "selector",
    [
        "torch:user_kernels:torch_linear",
        "torch:user_kernels:torch_linear,torch_linear_bwd",
        "torch:user_kernels:torch_batched_only,batch=4",
        "numpy:user_kernels:np_forward,np_backward",
        "numpy:user_kernels:np_forward_md,np_backward_md,weight=md",
        "jax:user_kernels:jax_dense_md,weight=md",
    ],
)
def test_a_right_function_passes_in_every_layout(selector):
    backend = adapter(selector)
    for layout in backend.layouts:
        assert failed_in_layout(backend, layout) == {}, layout


@pytest.mark.parametrize(
    "n,seen", [(6, (2, 3, 5)), (8, (4, 2, 5)), (7, (1, 7, 5)), (0, (4, 0, 5)), (12, (4, 3, 5))]
)
def test_batch_option_gives_gcd_batches(n, seen):
    backend = adapter("torch:user_kernels:torch_spy,batch=4")
    del user_kernels.SEEN[:]
    case = Case("backward", "float32", n, 5, 3, True, "normal")
    assert run_case(backend, case).passed
    assert user_kernels.SEEN[0][0] == seen
    assert user_kernels.SEEN[0][1:] == ((3, 5), (5, 1))  # a contiguous (M, D) weight


def test_batched_layout_reaches_the_function():
    backend = adapter("jax:user_kernels:jax_spy")
    del user_kernels.SEEN[:]
    case = parse_case_id("forward/float32/N65-D4-M7/bias/normal/seed0")
    result, _ = run_in_layout(backend, case, "batched")
    assert result.passed
    assert user_kernels.SEEN[0] == ((5, 13, 4), (4, 7))


# -- wrong functions are caught --------------------------------------------------


def first(fails, case_id):
    assert case_id in fails, sorted(fails)[:8]
    return " | ".join(fails[case_id])


@pytest.mark.parametrize(
    "selector,case_id,expected",
    [
        (
            "torch:user_kernels:torch_weight_mixup",
            "forward/float64/N2-D2-M3/nobias/normal/seed0",
            "elements of y outside their bound",
        ),
        (
            "jax:user_kernels:jax_weight_mixup",
            "forward/float32/N2-D2-M3/nobias/normal/seed0",
            "elements of y outside their bound",
        ),
        (
            "torch:user_kernels:torch_bias_twice",
            "forward/float64/N2-D2-M3/bias/normal/seed0",
            "elements of y outside their bound",
        ),
        (
            "torch:user_kernels:torch_bias_twice",
            "backward/float64/N2-D2-M3/bias/normal/seed0",
            "elements of db outside their bound",
        ),
        (
            "jax:user_kernels:jax_bias_twice",
            "backward/float32/N7-D13-M11/bias/normal/seed0",
            "elements of db outside their bound",
        ),
        (
            "numpy:user_kernels:np_bias_twice,np_backward",
            "forward/float64/N2-D2-M3/bias/normal/seed0",
            "elements of y outside their bound",
        ),
        (
            "torch:user_kernels:torch_bad_flatten,batch=4",
            "forward/float64/N8-D16-M12/nobias/normal/seed0",
            "elements of y outside their bound",
        ),
        (
            "torch:user_kernels:torch_bad_flatten,batch=4",
            "backward/float64/N8-D16-M12/nobias/normal/seed0",
            "elements of dx outside their bound",
        ),
        (
            "torch:user_kernels:torch_linear,torch_bwd_db_views_dy",
            "backward/float64/N1-D1-M1/bias/normal/seed0",
            "db aliases input dy",
        ),
        (
            "numpy:user_kernels:np_forward,np_bwd_db_views_dy",
            "backward/float32/N1-D5-M3/bias/normal/seed0",
            "db aliases input dy",
        ),
        (
            "torch:user_kernels:torch_upcasts",
            "forward/float32/N2-D2-M3/bias/normal/seed0",
            "forward raised TypeError: the forward function returned y as float64 for float32 "
            "inputs",
        ),
        (
            "torch:user_kernels:torch_detached",
            "backward/float64/N2-D2-M3/bias/normal/seed0",
            "the forward function's y does not require grad: autograd cannot differentiate it; "
            "give a backward function",
        ),
        (
            "torch:user_kernels:raises_inside",
            "forward/float64/N2-D2-M3/bias/normal/seed0",
            "forward raised RuntimeError: kernel launch failed",
        ),
    ],
)
def test_a_wrong_function_is_caught(selector, case_id, expected):
    result = run_case(adapter(selector), parse_case_id(case_id))
    assert not result.passed
    assert expected in " | ".join(result.messages())


def test_a_wrong_batch_flattening_is_caught_by_the_batched_layout():
    """Without batch=, the plain catalogue passes (2-D inputs pass through);
    the batched layout gives it (B, T, D) and catches the permuted rows."""
    backend = adapter("torch:user_kernels:torch_bad_flatten")
    assert failed(backend) == {}
    fails = failed_in_layout(backend, "batched")
    assert "elements of y outside their bound" in first(
        fails, "forward/float64/N9-D6-M10/bias/normal/seed0"
    )
    for case_id in (
        "forward/float64/N7-D13-M11/bias/normal/seed0",  # (1, 7, D)
        "forward/float64/N1-D5-M3/bias/normal/seed0",
    ):  # (1, 1, D)
        assert run_in_layout(backend, parse_case_id(case_id), "batched")[0].passed


@pytest.mark.parametrize(
    "selector",
    [
        "torch:user_kernels:torch_contiguous_only,torch_contiguous_only_bwd",
        "numpy:user_kernels:np_contiguous_only,np_contiguous_only_bwd",
    ],
)
def test_a_kernel_right_only_for_contiguous_inputs_is_caught_by_the_layouts(selector):
    backend = adapter(selector)
    assert failed(backend) == {}  # row-major: right
    for layout in ("transposed", "strided", "offset"):
        for case_id in (
            "forward/float64/N7-D13-M11/bias/normal/seed0",
            "backward/float32/N7-D13-M11/bias/normal/seed0",
        ):
            result, _ = run_in_layout(backend, parse_case_id(case_id), layout)
            assert not result.passed, (layout, case_id)
    if "batched" in backend.layouts:
        assert failed_in_layout(backend, "batched") == {}  # a view of the same memory
    else:  # NumPy pairs take 2-D inputs unless asked for
        assert selector.startswith("numpy:")


def test_the_error_of_a_function_that_returns_a_wrong_shape():
    backend = adapter("torch:user_kernels:torch_returns_transposed")
    fails = failed(backend)
    assert (
        "forward raised ValueError: the forward function returned y of shape (3, 2); "
        "it must be (2, 3)"
    ) in first(fails, "forward/float64/N2-D2-M3/bias/normal/seed0")
