"""Shapes and validation: the one place where public inputs are checked.

A matrix is a list (or tuple) of rows, each row a list (or tuple) of numbers;
a vector is a flat list.  Every public function validates once, here, and the
kernels behind it never validate again.

A list of zero rows cannot say how wide it is, so widths come from the other
arguments: with x (N, D) and w (D, M), D is len(w); M is read from w's first
row, else from b or dy; N is len(x).  When no argument fixes a dimension the
error says so instead of guessing.
"""

_CONTAINERS = (list, tuple)
_NOT_SCALARS = (str, bytes, bytearray, dict, set, list, tuple)


def element_count(shape):
    """The number of elements of an array of this shape (a tuple of ints)."""
    count = 1
    for size in shape:
        count *= size
    return count


def shape_str(rows, cols):
    """Format a 2-D shape, writing an undetermined width as '?'."""
    return "(%s, %s)" % (rows, "?" if cols is None else cols)


def _type_name(v):
    return type(v).__name__


def check_scalar(name, v, types=None):
    """Raise TypeError unless v is usable as a number: bool (Python's or
    NumPy's) and array-valued entries are refused.  types: a set that
    collects the entry types seen (for check_mix)."""
    t = type(v)
    if types is not None:
        types.add(t)
    if t is float or t is int:
        return
    if t is bool or v is None or isinstance(v, _NOT_SCALARS) or _type_name(v) in ("bool_", "bool"):
        raise TypeError(
            "%s is %r (%s), not a number; entries must be numbers "
            "(int, float, Fraction, or any scalar with + and *); "
            "bool is refused" % (name, v, _type_name(v))
        )
    if not (hasattr(v, "__add__") and hasattr(v, "__mul__")):
        raise TypeError("%s is %r (%s), not a number: it has no + and *" % (name, v, _type_name(v)))
    if hasattr(v, "__len__") or getattr(v, "shape", ()) not in ((), None):
        raise TypeError(
            "%s is %s, which holds several values (shape %r), not one "
            "number: an entry must be a scalar" % (name, _type_name(v), getattr(v, "shape", "?"))
        )


_FLOAT_LIMIT = 2**1024  # ints from here on cannot become floats


def check_mix(types, named):
    """Refuse entry types that cannot meet in one sum: Decimal with float or
    Fraction, and ints beyond the float range beside floats.  named: the
    (name, matrix or vector) arguments, searched only to name the entries."""
    names = set(_type_name_of(t) for t in types)
    if "Decimal" in names and (float in types or "Fraction" in names):
        other = "float" if float in types else "Fraction"
        raise TypeError(
            "%s is a Decimal but %s is a %s: Decimal does not mix with "
            "%s; give every entry one type"
            % (_first(named, "Decimal"), _first(named, other), other, other)
        )
    if int in types and float in types:
        for name, a in named:
            for label, v in _entries(name, a):
                if type(v) is int and (v >= _FLOAT_LIMIT or v <= -_FLOAT_LIMIT):
                    raise ValueError(
                        "%s is an int too large for a float (%d digits) but "
                        "other entries are floats: it cannot join their sums"
                        % (label, len(str(abs(v))))
                    )


def _type_name_of(t):
    return t.__name__


def _entries(name, a):
    if a is None:
        return
    for i in range(len(a)):
        if isinstance(a[i], _CONTAINERS):
            for j in range(len(a[i])):
                yield "%s[%d][%d]" % (name, i, j), a[i][j]
        else:
            yield "%s[%d]" % (name, i), a[i]


def _first(named, type_name):
    for name, a in named:
        for label, v in _entries(name, a):
            if _type_name(v) == type_name:
                return label
    return "an entry"


def matrix_shape(name, a, types=None):
    """Validate a 2-D matrix and return (rows, cols); cols is None for no rows.

    Raises TypeError for a non-list, a wrong nesting depth or a non-numeric
    entry, and ValueError for ragged rows; every message names the argument.
    """
    if not isinstance(a, _CONTAINERS):
        raise TypeError("%s must be a matrix (a list of rows), not %s" % (name, _type_name(a)))
    rows = len(a)
    if rows == 0:
        return 0, None
    cols = None
    for i in range(rows):
        row = a[i]
        if not isinstance(row, _CONTAINERS):
            raise TypeError(
                "%s must be a matrix (a list of rows), but %s[%d] "
                "is %r (%s), not a row; wrong nesting depth" % (name, name, i, row, _type_name(row))
            )
        if cols is None:
            cols = len(row)
        elif len(row) != cols:
            raise ValueError(
                "%s is ragged: row 0 has %d entries but row %d "
                "has %d; every row needs the same length" % (name, cols, i, len(row))
            )
        for j in range(len(row)):
            v = row[j]
            if isinstance(v, _CONTAINERS):
                raise TypeError(
                    "%s[%d][%d] is a %s: %s must be a 2-D matrix "
                    "of numbers (too deeply nested)" % (name, i, j, _type_name(v), name)
                )
            check_scalar("%s[%d][%d]" % (name, i, j), v, types)
    return rows, cols


def vector_len(name, v, types=None):
    """Validate a 1-D vector of numbers and return its length."""
    if not isinstance(v, _CONTAINERS):
        raise TypeError(
            "%s must be a vector (a flat list of numbers), not %s" % (name, _type_name(v))
        )
    for j in range(len(v)):
        if isinstance(v[j], _CONTAINERS):
            raise TypeError(
                "%s[%d] is a %s: %s must be a flat vector "
                "(too deeply nested)" % (name, j, _type_name(v[j]), name)
            )
        check_scalar("%s[%d]" % (name, j), v[j], types)
    return len(v)


def linear_shapes(x, w, b=None, dy=None):
    """Validate the arguments of a linear layer and return (N, D, M).

    x is (N, D), w is (D, M), b is (M,) or None, dy is (N, M) or None.
    """
    types = set()
    n, xd = matrix_shape("x", x, types)
    d, m = matrix_shape("w", w, types)
    if xd is not None and xd != d:
        raise ValueError(
            "w is %s but x is %s: w needs %d rows, one per column "
            "of x" % (shape_str(d, m), shape_str(n, xd), xd)
        )
    if b is not None:
        bm = vector_len("b", b, types)
        if m is not None and bm != m:
            raise ValueError(
                "b is (%d,) but w is %s: b needs %d entries, one "
                "per column of w" % (bm, shape_str(d, m), m)
            )
        m = bm
    if dy is not None:
        dn, dm = matrix_shape("dy", dy, types)
        if dn != n:
            raise ValueError(
                "dy is %s but x is %s: dy needs %d rows, one per "
                "row of x" % (shape_str(dn, dm), shape_str(n, xd), n)
            )
        if dm is not None and m is not None and dm != m:
            raise ValueError(
                "dy is %s but w is %s: dy needs %d columns, one "
                "per column of w" % (shape_str(dn, dm), shape_str(d, m), m)
            )
        if m is None:
            m = dm
    check_mix(types, (("x", x), ("w", w), ("b", b), ("dy", dy)))
    if m is None:
        raise ValueError(
            "M is undetermined: w is %s with no rows (D = 0), so "
            "its width cannot be read; pass b (M,)%s to fix M"
            % (shape_str(d, None), "" if dy is None else " or a dy with rows")
        )
    return n, d, m


def check_dims(n, d, m):
    """Validate integer sizes N, D, M (used by size estimates and cases)."""
    for label, v in (("N", n), ("D", d), ("M", m)):
        if type(v) is not int or v < 0:
            raise ValueError("%s must be a non-negative int, got %r" % (label, v))


def check_layer_shapes(x_shape, w_shape, b_shape=None, dy_shape=None):
    """Validate known shapes (tuples) of a linear layer's arrays; (N, D, M).

    For backends, whose native arrays know their shapes: x (N, D), w (D, M),
    b (M,) or None, dy (N, M) or None.
    """
    for name, shape, rank in (
        ("x", x_shape, 2),
        ("w", w_shape, 2),
        ("b", b_shape, 1),
        ("dy", dy_shape, 2),
    ):
        if shape is not None and len(shape) != rank:
            raise ValueError("%s must be %d-D, but its shape is %r" % (name, rank, tuple(shape)))
    n, d = x_shape
    d2, m = w_shape
    if d2 != d:
        raise ValueError(
            "w is %s but x is %s: w needs %d rows, one per column "
            "of x" % (shape_str(d2, m), shape_str(n, d), d)
        )
    if b_shape is not None and b_shape[0] != m:
        raise ValueError(
            "b is (%d,) but w is %s: b needs %d entries, one per "
            "column of w" % (b_shape[0], shape_str(d, m), m)
        )
    if dy_shape is not None and tuple(dy_shape) != (n, m):
        raise ValueError(
            "dy is %s but x is %s and w is %s: dy must be (%d, %d)"
            % (shape_str(dy_shape[0], dy_shape[1]), shape_str(n, d), shape_str(d, m), n, m)
        )
    return n, d, m


def require_dy(dy):
    """dy is the one argument a backward pass cannot do without."""
    if dy is None:
        raise TypeError(
            "dy must be the (N, M) matrix dL/dY (one row per row of x, "
            "one column per column of w), not None"
        )
