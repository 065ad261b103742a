"""Native arrays of the list-based backends (reference, python).

A ListArray is nested lists plus the shape they cannot always tell (a matrix
of zero rows has no width of its own).
"""

from refbackprop.shapes import check_layer_shapes


class ListArray:
    """rows: a list of row lists (2-D) or a flat list (1-D); shape: its shape."""

    __slots__ = ("rows", "shape")

    def __init__(self, rows, shape):
        self.rows = rows
        self.shape = tuple(shape)

    def __repr__(self):
        return "ListArray(%r, shape=%r)" % (self.rows, self.shape)


class ListBackendBase:
    """array / tolist / shares_memory shared by the list-based backends."""

    dtypes = ("float64",)

    def array(self, values, shape, dtype):
        """A ListArray of floats from nested lists (2-D) or a flat list (1-D)."""
        if dtype not in self.dtypes:
            raise ValueError(
                "%s computes in %s, not %s" % (self.name, ", ".join(self.dtypes), dtype)
            )
        shape = tuple(shape)
        if len(shape) == 1:
            if len(values) != shape[0]:
                raise ValueError("values have %d entries, shape is %r" % (len(values), shape))
            return ListArray([float(v) for v in values], shape)
        if len(values) != shape[0] or any(len(r) != shape[1] for r in values):
            raise ValueError("values do not have shape %r" % (shape,))
        return ListArray([[float(v) for v in row] for row in values], shape)

    def tolist(self, a):
        """Nested lists of floats (new lists)."""
        if len(a.shape) == 1:
            return [float(v) for v in a.rows]
        return [[float(v) for v in row] for row in a.rows]

    def shares_memory(self, a, b):
        """Whether two ListArrays share a list object (outer or a row)."""
        if a is b or a.rows is b.rows:
            return True
        if len(a.shape) == 1 or len(b.shape) == 1:
            return False
        rows_b = set(id(r) for r in b.rows)
        return any(id(r) in rows_b for r in a.rows)

    @staticmethod
    def shapes(x, w, b=None, dy=None):
        """(N, D, M) from ListArrays, validated once at the boundary."""
        return check_layer_shapes(
            x.shape, w.shape, None if b is None else b.shape, None if dy is None else dy.shape
        )
