"""The reference core, wrapped as a backend: the living definition.

Clarity-first loops with every sum left to right (refbackprop.reference);
the numbers every other backend is cross-checked against.
"""

from refbackprop import __version__
from refbackprop.reference import backward_unchecked, forward_unchecked

from ._lists import ListArray, ListBackendBase


class ReferenceBackend(ListBackendBase):
    name = "reference"
    dtypes = ("float64",)
    version = __version__
    seconds_per_madd = 6e-8  # a rough upper estimate (budget.py)

    def forward(self, x, w, b=None):
        """y (N, M) = x (N, D) @ w (D, M) + b (M,)."""
        n, d, m = self.shapes(x, w, b)
        y = forward_unchecked(x.rows, w.rows, None if b is None else b.rows, n, m)
        return ListArray(y, (n, m))

    def backward(self, x, w, dy, b=None):
        """(dx (N, D), dw (D, M), db (M,) or None) for dy (N, M)."""
        n, d, m = self.shapes(x, w, b, dy)
        dx, dw, db = backward_unchecked(
            x.rows, w.rows, dy.rows, None if b is None else b.rows, n, d, m
        )
        return (
            ListArray(dx, (n, d)),
            ListArray(dw, (d, m)),
            None if db is None else ListArray(db, (m,)),
        )
