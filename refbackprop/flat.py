"""Matrices at size: row-major values in one array('d') and a shape.

Nested lists of Python floats cost 32 bytes an entry and a pointer chase per
touch; at 4096 × 4096 that is half a gigabyte a matrix.  The sized runner and
the verifier keep every matrix flat (8 bytes an entry) and make lists only of
the rows and columns they are about to sum.
"""

from array import array


class Matrix:
    """Row-major values (an array('d')) and their shape, (R, C) or (C,)."""

    __slots__ = ("values", "shape")

    def __init__(self, values, shape):
        self.values, self.shape = values, tuple(shape)

    @property
    def rows_count(self):
        return self.shape[0] if len(self.shape) == 2 else 1

    @property
    def cols(self):
        return self.shape[-1]

    def row(self, i):
        """Row i as a list of floats (a vector: itself)."""
        c = self.shape[-1]
        return _tolist(self.values[i * c : (i + 1) * c])

    def col(self, j):
        """Column j as a list of floats."""
        c = self.shape[-1]
        if _STEPPED:
            return _tolist(self.values[j::c])
        return [self.values[i * c + j] for i in range(self.rows_count)]

    def row_lists(self):
        return [self.row(i) for i in range(self.rows_count)]

    def col_lists(self):
        return [self.col(j) for j in range(self.shape[-1])]

    def rows(self):
        """The rows as read-only views (no copy); a vector is its own row."""
        view = memoryview(self.values)
        if len(self.shape) == 1:
            return view
        cols = self.shape[1]
        return [view[i * cols : (i + 1) * cols] for i in range(self.shape[0])]

    def lists(self):
        """Nested lists (2-D) or a flat list (1-D) of Python floats."""
        if len(self.shape) == 1:
            return _tolist(self.values)
        return self.row_lists()


def _tolist(a):
    tolist = getattr(a, "tolist", None)
    return tolist() if tolist is not None else list(a)


def _stepped():
    try:
        return array("d", [1.0, 2.0, 3.0])[1::2] == array("d", [2.0])
    except Exception:  # MicroPython: no stepped slices of arrays
        return False


_STEPPED = _stepped()


def as_matrix(value, shape=None):
    """A Matrix from a Matrix, a flat vector (list) or nested lists (2-D).
    None stays None."""
    if value is None or isinstance(value, Matrix):
        return value
    if shape is None:
        if value and isinstance(value[0], (list, tuple, memoryview, array)):
            shape = (len(value), len(value[0]))
        elif value and hasattr(value[0], "__len__"):
            shape = (len(value), len(value[0]))
        else:
            shape = (len(value),)
    out = array("d")
    if len(shape) == 1:
        out.extend([float(v) for v in value])
    else:
        for row in value:
            out.extend([float(v) for v in row])
    return Matrix(out, shape)
