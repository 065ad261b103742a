"""The numba backend: JIT-compiled loops in float64 and float32.

Numba is imported lazily (listing backends never imports it).  The kernels
are private @njit functions on C-contiguous arrays that write into outputs
they are given; conversion and validation live in NumbaBackend.  No kernel
walks a transposed view: Y and dW accumulate scaled contiguous rows, dX takes
dot products of contiguous rows.  Fast-math is limited to reassociation and
contraction (FMA), which keep IEEE NaN/Inf semantics; the rounding-error
bound holds for any summation order and FMA.  Compiled on first use, cached
on disk (cache=True).
"""

import importlib.util

from refbackprop import __version__
from refbackprop.shapes import check_layer_shapes

_FASTMATH = {"reassoc", "contract"}
_kernels = None


def _numba_missing():
    try:
        spec = importlib.util.find_spec("numba")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return ("numba is not installed; install it with: "
                "pip install 'refbackprop[numba]'")
    return None


def _compile():
    """Define the kernels (numba decorates lazily; compiled per dtype on call)."""
    global _kernels
    if _kernels is not None:
        return _kernels
    import numba
    from numba import prange

    jit = numba.njit(cache=True, fastmath=_FASTMATH, parallel=True, nogil=True)
    serial = numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)

    @jit
    def forward_kernel(x, w, b, has_bias, y):
        # Y = X W (+ b): (N, D) @ (D, M) -> (N, M), rows of W scaled and added
        n, d = x.shape
        m = w.shape[1]
        for i in prange(n):
            for j in range(m):
                y[i, j] = 0
            for k in range(d):
                a = x[i, k]
                for j in range(m):
                    y[i, j] += a * w[k, j]
            if has_bias:
                for j in range(m):
                    y[i, j] += b[j]

    @jit
    def dx_kernel(dy, w, zero, dx):
        # dX = dY Wᵀ: dX[i, k] = dY[i, :] · W[k, :], both rows contiguous;
        # zero is a scalar of the dtype, so float32 accumulates in float32
        n, m = dy.shape
        d = w.shape[0]
        for i in prange(n):
            for k in range(d):
                acc = zero
                for j in range(m):
                    acc += dy[i, j] * w[k, j]
                dx[i, k] = acc

    @jit
    def dw_kernel(x, dy, dw):
        # dW = Xᵀ dY: row k of dW accumulates X[i, k]·dY[i, :], rows contiguous
        n, d = x.shape
        m = dy.shape[1]
        for k in prange(d):
            for j in range(m):
                dw[k, j] = 0
            for i in range(n):
                a = x[i, k]
                for j in range(m):
                    dw[k, j] += a * dy[i, j]

    @serial
    def db_kernel(dy, db):
        # db[j] = Σ_i dY[i, j], rows of dY added in order
        n, m = dy.shape
        for j in range(m):
            db[j] = 0
        for i in range(n):
            for j in range(m):
                db[j] += dy[i, j]

    _kernels = (forward_kernel, dx_kernel, dw_kernel, db_kernel)
    return _kernels


class NumbaBackend:
    name = "numba"
    dtypes = ("float64", "float32")

    @property
    def version(self):
        import numba
        return "%s (numba %s)" % (__version__, numba.__version__)

    def unavailable_reason(self):
        return _numba_missing()

    def array(self, values, shape, dtype):
        """A C-contiguous NumPy array of that shape and dtype."""
        import numpy as np
        if dtype not in self.dtypes:
            raise ValueError("numba computes in float64 or float32, not %s" % dtype)
        a = np.array(values, dtype=dtype)
        return np.ascontiguousarray(a.reshape(tuple(shape)))

    def tolist(self, a):
        return a.tolist()

    def warmup(self, dtype):
        """Compile (or load from the cache) every kernel for one dtype."""
        self.backward(self.array([[1.0]], (1, 1), dtype),
                      self.array([[1.0]], (1, 1), dtype),
                      self.array([[1.0]], (1, 1), dtype),
                      self.array([1.0], (1,), dtype))
        self.forward(self.array([[1.0]], (1, 1), dtype),
                     self.array([[1.0]], (1, 1), dtype),
                     self.array([1.0], (1,), dtype))

    def _prepare(self, x, w, b=None, dy=None):
        import numpy as np
        arrays = [("x", x), ("w", w), ("b", b), ("dy", dy)]
        for name, a in arrays:
            if a is not None and not isinstance(a, np.ndarray):
                raise TypeError("%s must be a NumPy array, not %s"
                                % (name, type(a).__name__))
        dtype = x.dtype
        if dtype.name not in self.dtypes:
            raise TypeError("x has dtype %s; numba computes in %s"
                            % (dtype.name, " or ".join(self.dtypes)))
        for name, a in arrays[1:]:
            if a is not None and a.dtype != dtype:
                raise TypeError("%s has dtype %s but x has %s: all arrays need "
                                "one dtype" % (name, a.dtype.name, dtype.name))
        n, d, m = check_layer_shapes(x.shape, w.shape,
                                     None if b is None else b.shape,
                                     None if dy is None else dy.shape)
        contiguous = [None if a is None else np.ascontiguousarray(a)
                      for _, a in arrays]
        return (n, d, m, dtype) + tuple(contiguous)

    def forward(self, x, w, b=None):
        """y (N, M) = x (N, D) @ w (D, M) + b (M,), all of one dtype."""
        import numpy as np
        n, d, m, dtype, x, w, b, _ = self._prepare(x, w, b)
        forward_kernel = _compile()[0]
        y = np.empty((n, m), dtype=dtype)
        bias = b if b is not None else np.zeros(0, dtype=dtype)
        forward_kernel(x, w, bias, b is not None, y)
        return y

    def dx(self, x, w, dy):
        """dX = dY Wᵀ: (N, M) @ (M, D) -> (N, D)."""
        import numpy as np
        n, d, m, dtype, x, w, _, dy = self._prepare(x, w, None, dy)
        out = np.empty((n, d), dtype=dtype)
        _compile()[1](dy, w, dtype.type(0), out)
        return out

    def dw(self, x, w, dy):
        """dW = Xᵀ dY: (D, N) @ (N, M) -> (D, M)."""
        import numpy as np
        n, d, m, dtype, x, w, _, dy = self._prepare(x, w, None, dy)
        out = np.empty((d, m), dtype=dtype)
        _compile()[2](x, dy, out)
        return out

    def backward(self, x, w, dy, b=None):
        """(dx (N, D), dw (D, M), db (M,) or None) for dy (N, M)."""
        import numpy as np
        n, d, m, dtype, x, w, b, dy = self._prepare(x, w, b, dy)
        db = None
        if b is not None:
            db = np.empty(m, dtype=dtype)
            _compile()[3](dy, db)                       # Σ_i dY: (N, M) -> (M,)
        return self.dx(x, w, dy), self.dw(x, w, dy), db
