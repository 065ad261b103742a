"""NumPy (its BLAS) as a timing baseline for `refbackprop bench`.

Not a registered backend and not a dependency: used only when NumPy is
installed, to put each backend's speed next to what BLAS does.
"""


def numpy_baseline():
    """A backend-shaped NumPy object, or None when NumPy is not installed."""
    try:
        import numpy as np
    except ImportError:
        return None

    class NumpyBaseline:
        name = "numpy (baseline)"
        dtypes = ("float64", "float32")

        def array(self, values, shape, dtype):
            return np.ascontiguousarray(np.array(values, dtype=dtype).reshape(shape))

        def tolist(self, a):
            return a.tolist()

        def forward(self, x, w, b=None):
            y = x @ w
            return y if b is None else y + b

        def dx(self, x, w, dy):
            return dy @ w.T

        def dw(self, x, w, dy):
            return x.T @ dy

        def backward(self, x, w, dy, b=None):
            return dy @ w.T, x.T @ dy, None if b is None else dy.sum(axis=0)

    return NumpyBaseline()
