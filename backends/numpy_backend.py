"""The numpy backend: NumPy's matmul (its BLAS), in float64 and float32.

    forward:   Y = X W + b         x (..., D) @ w (D, M) + b (M,) -> (..., M)
    backward:  dX = dY Wᵀ          (N, M) @ (M, D) -> (N, D)
               dW = Xᵀ dY          (D, N) @ (N, M) -> (D, M)
               db = Σ_i dY[i]      (N, M) -> (M,)

NumpyFunctions certifies explicit NumPy pairs forward(x, w, b) and
backward(x, w, dy, b) in refbackprop's (D, M) convention (the adapter
`numpy:module:forward,backward`, backends/adapters.py); NumpyBackend is that
class on the functions below.  NumPy is imported on first use: listing
backends never imports it.
"""

from refbackprop import __version__

from ._frameworks import (
    FunctionBackend,
    as_rows,
    dist_version,
    layout_kind,
)

_np = None


def _numpy():
    global _np
    if _np is None:
        import numpy

        _np = numpy
    return _np


def linear_forward(x, w, b=None):
    """y (..., M) = x (..., D) @ w (D, M) + b (M,)."""
    np = _numpy()
    with np.errstate(all="ignore"):  # Inf·0 = NaN is the IEEE answer
        y = np.matmul(x, w)  # (..., D) @ (D, M) -> (..., M)
        if b is not None:
            y += b  # (..., M) + (M,)
    return y


def linear_dx(x, w, dy):
    """dX = dY Wᵀ: (..., M) @ (M, D) -> (..., D)."""
    np = _numpy()
    with np.errstate(all="ignore"):
        return np.matmul(dy, w.T)


def linear_dw(x, w, dy):
    """dW = Xᵀ dY: (D, N) @ (N, M) -> (D, M), leading dimensions flattened into N."""
    np = _numpy()
    with np.errstate(all="ignore"):
        return np.matmul(as_rows(x).T, as_rows(dy))


def linear_backward(x, w, dy, b=None):
    """(dx (..., D), dw (D, M), db (M,) or None) for dy (..., M)."""
    np = _numpy()
    db = None
    if b is not None:
        with np.errstate(all="ignore"):
            db = as_rows(dy).sum(axis=0)  # (N, M) -> (M,)
    return linear_dx(x, w, dy), linear_dw(x, w, dy), db


class NumpyFunctions(FunctionBackend):
    """NumPy arrays; forward(x, weight, bias) and backward(x, weight, dy, bias)
    given explicitly (NumPy has no autodiff)."""

    framework = "numpy"
    native_name = "NumPy array"
    modules = ("numpy",)
    extra = "numpy"
    name = "numpy-functions"
    # an explicit NumPy pair is written for 2-D (N, D) inputs, as refbackprop's
    # convention has them: (B, T, D) inputs only when asked for (batch= or
    # layouts=...+batched)
    default_layouts = ("transposed", "strided", "offset")

    @property
    def version(self):
        return "%s (numpy %s)" % (__version__, dist_version("numpy"))

    def to_buffer(self, a):
        """a's values row-major in its own dtype ('d' or 'f'), for the buffer protocol."""
        return _numpy().ascontiguousarray(a)

    def tolist(self, a):
        """Nested lists of floats; leading batch dimensions flattened into N."""
        return as_rows(a).tolist()

    def view(self, a, layout):
        """The same values in a layout of refbackprop.cases.LAYOUTS (a copy, except
        'batched', which is a view)."""
        np = _numpy()
        split = self._view_checked(a, layout)
        if layout == "transposed":
            return np.asfortranarray(a)
        if layout == "batched":
            return a.reshape(split + (a.shape[1],))
        if layout == "strided":
            buf = np.full(a.shape[:-1] + (2 * a.shape[-1],), np.nan, dtype=a.dtype)
            out = buf[..., ::2]
        else:  # offset: one NaN element, then the data
            buf = np.full(a.size + 1, np.nan, dtype=a.dtype)
            out = buf[1:].reshape(a.shape)
        out[...] = a
        return out

    def shares_memory(self, a, b):
        """Whether a and b share an element (np.shares_memory, exact); None
        when they are not both NumPy arrays or NumPy cannot decide."""
        np = _numpy()
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return None
        too_hard = getattr(getattr(np, "exceptions", np), "TooHardError", Exception)
        try:
            return bool(np.shares_memory(a, b))
        except too_hard:
            return None

    # -- FunctionBackend hooks -------------------------------------------

    def _is_native(self, a):
        return isinstance(a, _numpy().ndarray)

    def _transposed(self, w):
        np = _numpy()
        t = np.ascontiguousarray(w.T)  # (D, M) -> (M, D)
        kind = layout_kind(w.shape, [s // w.itemsize for s in w.strides], _offset(w))
        return t if kind is None else self.view(t, kind)

    def _differentiate(self, x_in, w, dy_in, b):
        raise TypeError(
            "NumPy has no autodiff: %s needs a backward function "
            "(numpy:module:forward,backward)" % self.name
        )


def _offset(a):
    """a's element offset from the start of the buffer it views (0 if none)."""
    base = a.base  # NumPy keeps the owner here, not a chain
    if base is None or not hasattr(base, "__array_interface__"):
        return 0
    start = base.__array_interface__["data"][0]
    return (a.__array_interface__["data"][0] - start) // a.itemsize


class NumpyBackend(NumpyFunctions):
    """The built-in numpy backend: linear_forward / linear_backward above."""

    name = "numpy"
    default_layouts = None  # every layout, batched included

    def forward_function(self):
        return linear_forward

    def backward_function(self):
        return linear_backward

    def dx(self, x, w, dy):
        """dX = dY Wᵀ: (N, M) @ (M, D) -> (N, D) (bench times it alone)."""
        self._shapes(x, w, None, dy)
        return linear_dx(x, w, dy)

    def dw(self, x, w, dy):
        """dW = Xᵀ dY: (D, N) @ (N, M) -> (D, M) (bench times it alone)."""
        self._shapes(x, w, None, dy)
        return linear_dw(x, w, dy)
