"""A registry probe for every CPython: the reference backend under another name."""

from refbackprop.reference import backward_unchecked, forward_unchecked  # noqa: F401


class Backend:
    name = "probe"
    dtypes = ("float64",)

    def array(self, values, shape, dtype):
        return (list(values), tuple(shape))

    def tolist(self, a):
        if len(a[1]) == 1:
            return [float(v) for v in a[0]]
        return [[float(v) for v in row] for row in a[0]]

    def forward(self, x, w, b=None):
        n, d = x[1]
        m = w[1][1]
        return (forward_unchecked(x[0], w[0], None if b is None else b[0], n, m), (n, m))

    def backward(self, x, w, dy, b=None):
        n, d = x[1]
        m = w[1][1]
        dx, dw, db = backward_unchecked(x[0], w[0], dy[0], None if b is None else b[0], n, d, m)
        return (dx, (n, d)), (dw, (d, m)), None if db is None else (db, (m,))
