"""A kernel author's functions, right and wrong, named by adapter selectors
in tests/test_frameworks.py (torch:user_kernels:..., jax:..., numpy:...).

Each framework is imported inside the functions, so this module imports
without any of them.  Shapes: x (..., D), dy (..., M), bias (M,) or None;
weight (M, D) for the torch functions (PyTorch's convention), (D, M) for
the jax and numpy ones (refbackprop's).
"""


def _torch():
    import torch

    return torch


def _rows(a):
    n = 1
    for size in a.shape[:-1]:
        n *= size
    return n


def _flat(a):
    """(..., C) -> (N, C) (works for N = 0 and C = 0, unlike reshape(-1, C))."""
    return a.reshape(_rows(a), a.shape[-1])


# -- torch: right -------------------------------------------------------------


def torch_linear(x, weight, bias):
    """y = x weightᵀ + bias: (..., D) @ (D, M) + (M,) -> (..., M)."""
    y = x @ weight.T
    return y if bias is None else y + bias


def torch_linear_bwd(x, weight, dy, bias):
    """dx = dy weight, dweight = dyᵀ x, dbias = Σ dy over the rows."""
    x2, dy2 = _flat(x), _flat(dy)  # (N, D), (N, M)
    dx = dy @ weight  # (..., M) @ (M, D) -> (..., D)
    dweight = dy2.T @ x2  # (M, N) @ (N, D) -> (M, D)
    return dx, dweight, None if bias is None else dy2.sum(0)


_made = {}


def __getattr__(name):
    """LinearFn is made on first access (it needs torch): user_kernels:LinearFn.apply."""
    if name == "LinearFn":
        if name not in _made:
            _made[name] = _linear_function()
        return _made[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _linear_function():
    torch = _torch()

    class LinearFn(torch.autograd.Function):
        """A custom autograd.Function, the way fused kernels are packaged."""

        @staticmethod
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            ctx.has_bias = bias is not None
            return torch_linear(x, weight, bias)

        @staticmethod
        def backward(ctx, dy):
            x, weight = ctx.saved_tensors
            dx, dweight, db = torch_linear_bwd(x, weight, dy, 0 if ctx.has_bias else None)
            return dx, dweight, db

    return LinearFn


def torch_batched_only(x, weight, bias):
    """A kernel that accepts (B, T, D) inputs only."""
    if x.dim() != 3:
        raise ValueError("x must be (B, T, D), not %s" % (tuple(x.shape),))
    return torch_linear(x, weight, bias)


# -- torch: wrong -------------------------------------------------------------


def torch_weight_mixup(x, weight, bias):
    """Reads the (M, D) weight as if it were stored (D, M): reshape, not transpose."""
    m, d = weight.shape
    y = x @ weight.reshape(d, m)
    return y if bias is None else y + bias


def torch_bias_twice(x, weight, bias):
    """Adds the bias in the matmul's epilogue and again afterwards."""
    torch = _torch()
    y = torch.nn.functional.linear(x, weight, bias)
    return y if bias is None else y + bias


def torch_bad_flatten(x, weight, bias):
    """Flattens (B, T, D) as (T, B) rows and unflattens as (B, T): rows permuted."""
    if x.dim() != 3:
        return torch_linear(x, weight, bias)
    b, t, d = x.shape
    rows = x.transpose(0, 1).reshape(b * t, d)  # (T·B, D), wrong order
    y = torch_linear(rows, weight, bias)  # (T·B, M)
    return y.reshape(b, t, weight.shape[0])  # read back as (B, T, M)


def _raw(a):
    """What a kernel that takes a data pointer sees: the storage from its
    start, read as a contiguous array of a's shape (strides and offset lost)."""
    torch = _torch()
    strides, step = [], 1
    for size in reversed(a.shape):
        strides.insert(0, step)
        step *= size
    return torch.empty(0, dtype=a.dtype).set_(a.untyped_storage(), 0, a.shape, strides)


def torch_contiguous_only(x, weight, bias):
    """Right for contiguous inputs only: reads raw storage, ignoring strides and
    the storage offset (forward and backward by hand, like a real kernel)."""
    torch = _torch()
    with torch.no_grad():
        return torch_linear(_raw(x), _raw(weight), None if bias is None else _raw(bias))


def torch_contiguous_only_bwd(x, weight, dy, bias):
    return torch_linear_bwd(_raw(x), _raw(weight), _raw(dy), None if bias is None else _raw(bias))


def torch_bwd_db_views_dy(x, weight, dy, bias):
    """Right, except that with one row it returns dy's row as dbias: a view."""
    dx, dweight, db = torch_linear_bwd(x, weight, dy, bias)
    if bias is not None and _rows(dy) == 1:
        db = _flat(dy)[0]
    return dx, dweight, db


def torch_upcasts(x, weight, bias):
    """Computes in float64 and returns float64 whatever the inputs."""
    return torch_linear(x.double(), weight.double(), None if bias is None else bias.double())


def torch_detached(x, weight, bias):
    """Goes through NumPy: autograd cannot see it."""
    torch = _torch()
    y = torch_linear(x, weight, bias).detach().numpy()
    return torch.from_numpy(y.copy())


# -- jax ----------------------------------------------------------------------


def jax_dense(x, w, b):
    """y = x w + b: (..., D) @ (D, M) + (M,) -> (..., M)."""
    y = x @ w
    return y if b is None else y + b


def jax_dense_md(x, weight, b):
    """The same with the weight as (M, D), flax-transposed."""
    y = x @ weight.T
    return y if b is None else y + b


def jax_dense_bwd(x, w, dy, b):
    x2, dy2 = _flat(x), _flat(dy)  # (N, D), (N, M)
    return dy @ w.T, x2.T @ dy2, None if b is None else dy2.sum(0)


def jax_weight_mixup(x, w, b):
    """Treats w (D, M) as stored (M, D)."""
    d, m = w.shape
    y = x @ w.reshape(m, d).T
    return y if b is None else y + b


def jax_bias_twice(x, w, b):
    y = jax_dense(x, w, b)
    return y if b is None else y + b


def jax_bad_flatten(x, w, b):
    if x.ndim != 3:
        return jax_dense(x, w, b)
    bb, t, d = x.shape
    y = jax_dense(x.transpose(1, 0, 2).reshape(bb * t, d), w, b)
    return y.reshape(bb, t, w.shape[1])


# -- numpy --------------------------------------------------------------------


def np_forward(x, w, b):
    """y = x w + b: (..., D) @ (D, M) + (M,) -> (..., M)."""
    import numpy as np

    with np.errstate(all="ignore"):  # Inf·0 = NaN is the IEEE answer
        y = x @ w
        return y if b is None else y + b


def np_backward(x, w, dy, b):
    import numpy as np

    x2, dy2 = _flat(x), _flat(dy)  # (N, D), (N, M)
    with np.errstate(all="ignore"):
        return dy @ w.T, x2.T @ dy2, None if b is None else dy2.sum(axis=0)


def np_forward_md(x, weight, b):
    return np_forward(x, weight.T, b)


def np_backward_md(x, weight, dy, b):
    dx, dw, db = np_backward(x, weight.T, dy, b)
    return dx, dw.T, db


def _np_raw(a):
    """The buffer a views, from its start, read C-contiguous (strides and offset lost)."""
    import numpy as np

    owner = a if a.base is None else a.base
    return np.ndarray(a.shape, a.dtype, buffer=owner)


def np_contiguous_only(x, w, b):
    return np_forward(_np_raw(x), _np_raw(w), None if b is None else _np_raw(b))


def np_contiguous_only_bwd(x, w, dy, b):
    return np_backward(_np_raw(x), _np_raw(w), _np_raw(dy), None if b is None else _np_raw(b))


def np_bias_twice(x, w, b):
    y = np_forward(x, w, b)
    return y if b is None else y + b


def np_bwd_db_views_dy(x, w, dy, b):
    dx, dw, db = np_backward(x, w, dy, b)
    if b is not None and _rows(dy) == 1:
        db = _flat(dy)[0]
    return dx, dw, db


def np_two_args(x, w):
    return x @ w


NOT_CALLABLE = 42


SEEN = []


def torch_spy(x, weight, bias):
    """torch_linear, recording the shapes and strides it is given."""
    SEEN.append((tuple(x.shape), tuple(weight.shape), weight.stride()))
    return torch_linear(x, weight, bias)


def jax_spy(x, w, b):
    SEEN.append((tuple(x.shape), tuple(w.shape)))
    return jax_dense(x, w, b)


def raises_inside(x, weight, bias):
    raise RuntimeError("kernel launch failed")


def torch_returns_transposed(x, weight, bias):
    """Returns yᵀ: (M, N) instead of (N, M) (every dimension reversed, as .T
    did before torch deprecated it beyond 2-D)."""
    y = torch_linear(x, weight, bias)
    return y.permute(*reversed(range(y.dim())))
