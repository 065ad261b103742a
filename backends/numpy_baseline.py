"""NumPy (its BLAS) as a timing baseline for `refbackprop bench`.

Not a registered backend and not a dependency: `bench` times it, in its own
worker process, on the same sizes as each backend when NumPy is installed.
"""


class NumpyBaseline:
    name = "numpy (baseline)"
    dtypes = ("float64", "float32")

    def unavailable_reason(self):
        import importlib.util
        if importlib.util.find_spec("numpy") is None:
            return "NumPy is not installed"
        return None

    def array(self, values, shape, dtype):
        import numpy as np
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


SELECTOR = "refbackprop.backends.numpy_baseline:NumpyBaseline"
