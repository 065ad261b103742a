"""The python backend: the fastest pure-Python kernels each interpreter allows.

Chosen once at import (measured idioms, see benchmarks/):
- CPython 3.12+: math.sumprod(row, col) for every dot product;
- CPython before 3.12: sum(map(operator.mul, row, col));
- PyPy: index loops, saxpy over contiguous rows (the JIT's best case).
Standard library only, float64.
"""

import math
import operator
import sys

from refbackprop import __version__

from ._lists import ListArray, ListBackendBase

_mul = operator.mul
_PYPY = sys.implementation.name == "pypy"

if _PYPY:
    IDIOM = "index-loop saxpy"
elif hasattr(math, "sumprod"):
    IDIOM = "math.sumprod"
else:
    IDIOM = "sum(map(operator.mul, ...))"

if hasattr(math, "sumprod"):
    _sumprod = math.sumprod
else:

    def _sumprod(a, b):
        return sum(map(_mul, a, b))


def _columns(a, cols):
    """Aᵀ as lists: a (R, C) -> (C, R), with C known even when R = 0."""
    if not a:
        return [[] for _ in range(cols)]
    return [list(c) for c in zip(*a)]


def _matmul_nt(a, bt):
    """A Bᵀ for a (R, K) and bt (C, K): row i, column j is a_i · bt_j."""
    dot = _sumprod
    return [[dot(ai, bj) for bj in bt] for ai in a]


def _matmul_saxpy(a, b, cols):
    """A B for a (R, K), b (K, C), accumulating scaled rows of b (PyPy)."""
    out = []
    k_range = range(len(b))
    j_range = range(cols)
    for ai in a:
        acc = [0.0] * cols
        for k in k_range:
            s = ai[k]
            bk = b[k]
            for j in j_range:
                acc[j] += s * bk[j]
        out.append(acc)
    return out


def _add_bias(y, b):
    return [[v + c for v, c in zip(row, b)] for row in y]


class PythonBackend(ListBackendBase):
    name = "python"
    dtypes = ("float64",)
    version = __version__
    idiom = IDIOM
    # A rough upper estimate (8-23 ns measured on CPython 3.11-3.13, 1 ns on
    # PyPy): sizes bench's default and refuses hour-long runs (budget.py).
    seconds_per_madd = 2e-9 if _PYPY else 3e-8

    def forward(self, x, w, b=None):
        """y (N, M) = x (N, D) @ w (D, M) + b (M,)."""
        n, d, m = self.shapes(x, w, b)
        if _PYPY:
            y = _matmul_saxpy(x.rows, w.rows, m)  # (N, D) @ (D, M)
        else:
            y = _matmul_nt(x.rows, _columns(w.rows, m))  # (N, D) @ (M, D)ᵀ
        if b is not None:
            y = _add_bias(y, b.rows)
        return ListArray(y, (n, m))

    def dx(self, x, w, dy):
        """dX = dY Wᵀ: (N, M) @ (M, D) -> (N, D)."""
        n, d, m = self.shapes(x, w, None, dy)
        return _dx(x, w, dy, n, d, m)

    def dw(self, x, w, dy):
        """dW = Xᵀ dY: (D, N) @ (N, M) -> (D, M)."""
        n, d, m = self.shapes(x, w, None, dy)
        return _dw(x, w, dy, n, d, m)

    def backward(self, x, w, dy, b=None):
        """(dx (N, D), dw (D, M), db (M,) or None) for dy (N, M)."""
        n, d, m = self.shapes(x, w, b, dy)  # validated once, here
        db = None
        if b is not None:
            db = ListArray([float(sum(c)) for c in _columns(dy.rows, m)], (m,))  # Σ_i dY: (M,)
        return _dx(x, w, dy, n, d, m), _dw(x, w, dy, n, d, m), db


# Module functions, not methods: a subclass's own attributes cannot shadow them.


def _dx(x, w, dy, n, d, m):
    """dX = dY Wᵀ for validated shapes: (N, M) @ (M, D) -> (N, D)."""
    if _PYPY:
        rows = _matmul_saxpy(dy.rows, _columns(w.rows, m), d)  # (N, M) @ (M, D)
    else:
        rows = _matmul_nt(dy.rows, w.rows)  # (N, M) @ (D, M)ᵀ
    return ListArray(rows, (n, d))


def _dw(x, w, dy, n, d, m):
    """dW = Xᵀ dY for validated shapes: (D, N) @ (N, M) -> (D, M)."""
    xt = _columns(x.rows, d)  # (D, N)
    if _PYPY:
        rows = _matmul_saxpy(xt, dy.rows, m)  # (D, N) @ (N, M)
    else:
        rows = _matmul_nt(xt, _columns(dy.rows, m))  # (D, N) @ (M, N)ᵀ
    return ListArray(rows, (d, m))
