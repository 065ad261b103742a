"""Deliberately wrong backends: each must be caught, naming output and element.

Each is the python backend with one realistic defect.
"""

import struct

from refbackprop.backends._lists import ListArray
from refbackprop.backends.pure_python import PythonBackend


def _f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


class WrongTranspose(PythonBackend):
    """Reads W as if it were stored transposed (column-major) in forward."""

    name = "wrong-transpose"

    def forward(self, x, w, b=None):
        n, d, m = self.shapes(x, w, b)
        flat = [v for row in w.rows for v in row]
        y = [
            [
                sum(x.rows[i][k] * flat[j * d + k] for k in range(d))
                + (b.rows[j] if b is not None else 0.0)
                for j in range(m)
            ]
            for i in range(n)
        ]
        return ListArray(y, (n, m))


class MissingBias(PythonBackend):
    """Forgets the bias in forward."""

    name = "missing-bias"

    def forward(self, x, w, b=None):
        return PythonBackend.forward(self, x, w, None)


class Float32Accumulation(PythonBackend):
    """A float64 backend whose dX accumulates in float32."""

    name = "float32-accumulation"

    def backward(self, x, w, dy, b=None):
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        n, d, m = self.shapes(x, w, b, dy)
        rows = []
        for i in range(n):
            row = []
            for k in range(d):
                acc = 0.0
                for j in range(m):
                    acc = _f32(acc + _f32(dy.rows[i][j] * w.rows[k][j]))
                row.append(acc)
            rows.append(row)
        return ListArray(rows, (n, d)), dw, db


class RelativeError1e9(PythonBackend):
    """dW off by a relative 1e-9 in float64."""

    name = "relative-error-1e-9"

    def backward(self, x, w, dy, b=None):
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        dw.rows = [[v * (1 + 1e-9) for v in row] for row in dw.rows]
        return dx, dw, db


class ModifiesInput(PythonBackend):
    """Scales dy in place after using it."""

    name = "modifies-input"

    def backward(self, x, w, dy, b=None):
        out = PythonBackend.backward(self, x, w, dy, b)
        for row in dy.rows:
            for j in range(len(row)):
                row[j] = row[j] * 0.5
        return out


class NanToNumber(PythonBackend):
    """Turns NaN results into 0.0 (a 'safe' kernel)."""

    name = "nan-to-number"

    def forward(self, x, w, b=None):
        y = PythonBackend.forward(self, x, w, b)
        y.rows = [[0.0 if v != v else v for v in row] for row in y.rows]
        return y


class TileRemainder(PythonBackend):
    """Computes Y in column tiles of 4 and drops the remainder tile."""

    name = "tile-remainder"

    def forward(self, x, w, b=None):
        y = PythonBackend.forward(self, x, w, b)
        m = y.shape[1]
        full = m - m % 4
        y.rows = [row[:full] + [0.0] * (m - full) for row in y.rows]
        return y


class AliasesInput(PythonBackend):
    """Returns db as the very array b it was given, after writing into it."""

    name = "aliases-input"

    def backward(self, x, w, dy, b=None):
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        if b is None:
            return dx, dw, db
        b.rows[:] = db.rows
        return dx, dw, b


class Raises(PythonBackend):
    """Crashes on backward."""

    name = "raises"

    def backward(self, x, w, dy, b=None):
        raise RuntimeError("kernel launch failed")


WRONG = [
    WrongTranspose,
    MissingBias,
    Float32Accumulation,
    RelativeError1e9,
    ModifiesInput,
    NanToNumber,
    TileRemainder,
    AliasesInput,
    Raises,
]

# Backends named by import path in the tests.
wrong_transpose = WrongTranspose()


class ReusesBuffer(PythonBackend):
    """Accumulates dW into a buffer kept between calls and never cleared."""

    name = "reuses-buffer"

    def __init__(self):
        self._dw = {}

    def backward(self, x, w, dy, b=None):
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        buf = self._dw.setdefault(dw.shape, [[0.0] * dw.shape[1] for _ in range(dw.shape[0])])
        for k in range(dw.shape[0]):
            for j in range(dw.shape[1]):
                buf[k][j] += dw.rows[k][j]
        return dx, ListArray([list(r) for r in buf], dw.shape), db


class WrongForLargeD(PythonBackend):
    """Correct below D = 2048; above, row indices of W wrap at 2048 (an int11
    index), so forward reads the wrong rows."""

    name = "wrong-for-large-d"

    def forward(self, x, w, b=None):
        n, d, m = self.shapes(x, w, b)
        if d < 2048:
            return PythonBackend.forward(self, x, w, b)
        rows = [w.rows[k % 2048] for k in range(d)]
        return PythonBackend.forward(self, x, ListArray(rows, w.shape), b)


class CorruptsOneDwElement(PythonBackend):
    """One element of dW (the middle one) is off by 1.0."""

    name = "corrupts-one-dw-element"

    def backward(self, x, w, dy, b=None):
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        d, m = dw.shape
        if d and m:
            dw.rows[d // 2][m // 2] += 1.0
        return dx, dw, db


class InfInDw(PythonBackend):
    """One element of dW (the middle one) is +inf, where the exact value is
    finite and far from overflowing."""

    name = "inf-in-dw"

    def backward(self, x, w, dy, b=None):
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        d, m = dw.shape
        if d and m:
            dw.rows[d // 2][m // 2] = float("inf")
        return dx, dw, db


def _numba():
    from refbackprop.backends.numba_jit import NumbaBackend

    return NumbaBackend


class DropsLastTile32(object):
    """A float32 numba backend whose dW kernel skips the last column tile of 8."""

    def __new__(cls):
        base = _numba()

        class Dropper(base):
            name = "drops-last-tile"
            dtypes = ("float32",)

            def backward(self, x, w, dy, b=None):
                dx, dw, db = base.backward(self, x, w, dy, b)
                m = dw.shape[1]
                if m % 8:
                    dw[:, m - m % 8 :] = 0
                return dx, dw, db

        return Dropper()


from refbackprop.backends.numpy_baseline import NumpyBaseline  # noqa: E402


class NumpyFloat32(NumpyBaseline):
    """A correct float32 backend with BLAS's summation order (blocked, FMA)."""

    name = "numpy-float32"
    dtypes = ("float32",)
