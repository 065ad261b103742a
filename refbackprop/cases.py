"""The case catalogue: deterministic, seeded, each case with a stable id.

    backward/float32/N7-D13-M11/bias/normal/seed0

op / dtype / shape / bias or nobias / value kind / seed.  A case's inputs
depend only on its id (SplitMix64 seeded from the id's text), so any case can
be run alone, in any order, on any machine, and gives the same numbers.
The dtype is a precision contract (contracts.py); inputs are rounded to its
storage format before any backend or the reference sees them.

The float64 and float32 catalogues are the edge shapes below.  The other
contracts add long reductions (LONG_SHAPES: K = 1024 and 4096 in Y, dX and
dW, with signed 'normal' and same-sign 'positive' values, bias only), on
which summing in the storage format instead of float32 fails, and, for
float16 storage, 'overflow' values whose sums pass float16's 65504.  Their
normals come from Rng.normal16 (a quarter of the draws; their storage keeps
at most 11 significant bits), the float64/float32 catalogue's from
Rng.normal as always.
"""

from . import contracts, formats
from .rng import Rng, seed_from
from .shapes import check_dims

DTYPES = contracts.NAMES
DEFAULT_DTYPES = ("float64", "float32")  # what catalogue() covers unless told
OPS = ("forward", "backward")

# (N, D, M) with what each shape is for.  Distinct N, D, M wherever possible.
SHAPES = (
    (2, 2, 3),  # the notes' worked example
    (1, 1, 1),
    (0, 3, 4),  # N = 0
    (3, 4, 0),  # M = 0
    (4, 0, 3),  # D = 0: Y is the bias (or zeros), dX is empty
    (1, 5, 3),
    (4, 1, 3),
    (3, 5, 1),  # each of N, D, M = 1
    (7, 13, 11),
    (5, 3, 17),  # primes
    (37, 3, 2),
    (2, 3, 41),  # tall, wide
    (3, 63, 5),
    (65, 4, 7),
    (6, 9, 129),  # just off powers of two
    (17, 31, 33),
    (9, 6, 10),  # off block sizes; mixed remainders
    (8, 16, 12),  # all multiples of 4
)
# Shapes on which every value kind runs (the others run 'normal' only).
VALUE_SHAPES = ((2, 2, 3), (7, 13, 11), (5, 3, 17), (9, 6, 10))
VALUE_KINDS = (
    "normal",
    "integers",
    "large",
    "tiny",
    "signed_zeros",
    "nonfinite",
    "positive",
    "overflow",
)
_EDGE_KINDS = VALUE_KINDS[:6]

# Long reductions for the contracts beyond float64/float32: K = D for Y,
# M for dX, N for dW and db.  Kinds: signed normals (a dropped or misrounded
# term shows against cancellation) and same-sign values in (0, 1] (sums in
# bfloat16 or float16 stagnate once the sum dwarfs the terms).
LONG_SHAPES = {
    "forward": ((5, 1024, 6), (5, 4096, 6)),
    "backward": ((1024, 5, 6), (4096, 5, 6), (5, 6, 1024), (5, 6, 4096)),
}
LONG_KINDS = ("normal", "positive")

# Scales per contract.  'large' keeps every product and sum finite in the
# storage, accumulation and output formats, 'tiny' makes products and sums
# underflow gradually (float16 outputs below 2^-14, bfloat16's and float32's
# below 2^-126), 'overflow' (float16 storage only) makes about half the sums
# pass float16's overflow threshold 65520 while every input stays below 65504.
# float16: |normal| ≤ 6, so |x|,|w| ≤ 48 and |y| ≤ 17·48² + 48 < 65504
# for every VALUE_SHAPES case (K ≤ 17).
_SCALE = {
    "float64": {"large": 2.0**250, "tiny": 2.0**-500},
    "float32": {"large": 2.0**50, "tiny": 2.0**-60},
    "tf32": {"large": 2.0**50, "tiny": 2.0**-62},
    "bfloat16": {"large": 2.0**50, "tiny": 2.0**-62},
    "bfloat16-f32out": {"large": 2.0**50, "tiny": 2.0**-62},
    "float16": {"large": 2.0**3, "tiny": 2.0**-10, "overflow": 2.0**7},
    "float16-f32out": {"large": 2.0**3, "tiny": 2.0**-10, "overflow": 2.0**7},
}


def value_kinds(dtype):
    """The value kinds of the contract's catalogue on VALUE_SHAPES."""
    if "overflow" in _SCALE[dtype]:
        return _EDGE_KINDS + ("overflow",)
    return _EDGE_KINDS


def to_dtype(v, dtype):
    """Round a Python float to the contract's storage format (float32:
    IEEE binary32; bfloat16, float16: nearest, ties to even)."""
    if dtype == "float32":
        return formats.to_float32(v)
    if dtype == "float64":
        return float(v)
    return contracts.to_storage(v, dtype)


class Case:
    """One deterministic test case: an op on inputs of one shape and dtype."""

    def __init__(self, op, dtype, n, d, m, bias, values, seed=0, layout=None):
        check_dims(n, d, m)
        if op not in OPS:
            raise ValueError("op must be one of %s, not %r" % (OPS, op))
        if dtype not in DTYPES:
            raise ValueError("dtype must be one of %s, not %r" % (DTYPES, dtype))
        if values not in VALUE_KINDS:
            raise ValueError("values must be one of %s, not %r" % (VALUE_KINDS, values))
        if values == "overflow" and "overflow" not in _SCALE[dtype]:
            raise ValueError("values 'overflow' are for float16 storage, not %s" % dtype)
        if layout is not None and layout not in LAYOUTS:
            raise ValueError("layout must be one of %s, not %r" % (LAYOUTS, layout))
        self.op, self.dtype, self.values, self.seed = op, dtype, values, seed
        self.n, self.d, self.m, self.bias = n, d, m, bool(bias)
        self.layout = layout
        # the inputs depend on the base id only: a layout variant has the same
        # numbers as its plain case, in another memory layout
        self.base_id = "%s/%s/N%d-D%d-M%d/%s/%s/seed%d" % (
            op,
            dtype,
            n,
            d,
            m,
            "bias" if bias else "nobias",
            values,
            seed,
        )
        self.id = self.base_id if layout is None else "%s/%s" % (self.base_id, layout)
        self.exact = None  # the exact outputs, once computed (compare.py)
        self._inputs = None

    def __repr__(self):
        return "Case(%r)" % self.id

    def with_shape(self, n, d, m):
        """The same case at another shape (used to shrink a failure)."""
        return Case(self.op, self.dtype, n, d, m, self.bias, self.values, self.seed, self.layout)

    def with_layout(self, layout):
        """The same case (the same numbers) with its inputs in a layout."""
        return Case(
            self.op, self.dtype, self.n, self.d, self.m, self.bias, self.values, self.seed, layout
        )

    def inputs(self):
        """{'x': (N, D), 'w': (D, M), 'b': (M,) or None, 'dy': (N, M) or None}.

        Fresh lists on every call: nobody can spoil another's inputs.
        """
        if self._inputs is None:
            self._inputs = _draw(self)
        x, w, b, dy = self._inputs
        return {
            "x": [list(r) for r in x],
            "w": [list(r) for r in w],
            "b": None if b is None else list(b),
            "dy": None if dy is None else [list(r) for r in dy],
        }

    def shapes(self):
        """The shape of every input, as the backend's array() receives it."""
        n, d, m = self.n, self.d, self.m
        return {"x": (n, d), "w": (d, m), "b": (m,), "dy": (n, m)}


def _draw(case):
    rng = Rng(seed_from(case.base_id))
    n, d, m, kind, dtype = case.n, case.d, case.m, case.values, case.dtype
    normal = rng.normal if dtype in DEFAULT_DTYPES else rng.normal16

    if kind == "integers":
        draw = lambda: float(rng.integer(-8, 8))
    elif kind == "signed_zeros":
        pool = (0.0, -0.0, 0.0, -0.0, 1.0, -1.0, 2.0)
        draw = lambda: pool[rng.integer(0, len(pool) - 1)]
    elif kind in ("large", "tiny", "overflow"):
        scale = _SCALE[dtype][kind]
        draw = lambda: normal() * scale
    elif kind == "positive":
        draw = lambda: 1.0 - rng.uniform()  # (0, 1]
    else:
        draw = normal

    def matrix(rows, cols):
        return [[to_dtype(draw(), dtype) for _ in range(cols)] for _ in range(rows)]

    x = matrix(n, d)
    w = matrix(d, m)
    b = [to_dtype(draw(), dtype) for _ in range(m)] if case.bias else None
    dy = matrix(n, m) if case.op == "backward" else None
    if kind == "nonfinite":
        _plant_nonfinite(x, w, b, dy, n, d, m)
    return x, w, b, dy


def _plant_nonfinite(x, w, b, dy, n, d, m):
    """NaN and ±Inf at fixed places, Inf·0 included, leaving other elements
    finite.  Any IEEE summation order gives the same class (NaN, +Inf, -Inf)."""
    inf, nan = float("inf"), float("nan")
    if n and d:
        x[0][0] = inf  # row 0 of Y and dW's row 0 go infinite
        x[n - 1][d - 1] = -inf
    if d and m:
        w[0][m - 1] = 0.0  # Inf·0 = NaN in Y[0][M-1]
        w[d - 1][0] = nan
    if b is not None and m > 1:
        b[1] = -inf
    if dy is not None and n and m:
        dy[n - 1][m - 1] = inf
        if n > 1:
            dy[0][0] = 0.0  # Inf·0 in dW[0][0]


def catalogue(dtypes=DEFAULT_DTYPES, seed=0, ops=OPS):
    """Every case for these dtypes (precision contracts), in a fixed order."""
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    out = []
    for op in ops:
        for dtype in dtypes:
            contracts.get(dtype)
            for n, d, m in SHAPES:
                kinds = value_kinds(dtype) if (n, d, m) in VALUE_SHAPES else ("normal",)
                for values in kinds:
                    for bias in (True, False):
                        out.append(Case(op, dtype, n, d, m, bias, values, seed))
            if dtype in DEFAULT_DTYPES:
                continue
            for n, d, m in LONG_SHAPES[op]:
                for values in LONG_KINDS:
                    out.append(Case(op, dtype, n, d, m, True, values, seed))
    return out


def parse_case_id(case_id):
    """The Case a stable id names ('forward/float64/N2-D2-M3/bias/normal/seed0',
    or with a layout: '.../seed0/strided')."""
    parts = case_id.split("/")
    if len(parts) == 7 and parts[6] not in LAYOUTS:
        raise ValueError(
            "%r ends in the layout %r, which is not one of %s"
            % (case_id, parts[6], ", ".join(LAYOUTS))
        )
    try:
        layout = parts.pop() if len(parts) == 7 else None
        op, dtype, dims, bias, values, seed = parts
        n, d, m = dims.split("-")
        if bias not in ("bias", "nobias") or not seed.startswith("seed"):
            raise ValueError
        return Case(
            op,
            dtype,
            int(n[1:]),
            int(d[1:]),
            int(m[1:]),
            bias == "bias",
            values,
            int(seed[4:]),
            layout,
        )
    except ValueError:
        raise ValueError(
            "%r is not a case id; expected "
            "op/dtype/N<n>-D<d>-M<m>/bias|nobias/values/seed<k>[/layout], "
            "e.g. backward/float32/N7-D13-M11/bias/normal/seed0" % (case_id,)
        )


# The shapes whose cases also run in every layout a backend declares: N
# composite (the batched layout splits it in two), odd D and M.
LAYOUT_SHAPES = ((9, 13, 11), (6, 9, 129), (8, 31, 5))


def layout_cases(dtypes, layouts, seed=0):
    """The layout variants for these dtypes and layouts, in a fixed order."""
    out = []
    for layout in layouts:
        for op in OPS:
            for dtype in dtypes:
                for n, d, m in LAYOUT_SHAPES:
                    for bias in (True, False):
                        out.append(Case(op, dtype, n, d, m, bias, "normal", seed, layout))
    return out


# -- Layout variants ---------------------------------------------------------
#
# The catalogue's inputs are plain row-major arrays.  A backend that declares
# `layouts` (a tuple of the names below) and `view(native, layout)` can also be
# checked on the same logical values held in another memory layout:
#
#   transposed   a 2-D array stored column-major: the transpose of a row-major
#                array (torch's weight.t(), NumPy's order='F')
#   strided      every other element of a buffer along the last axis
#                (x[:, ::2]); the skipped elements are NaN, so a kernel that
#                reads them gives NaN where a number is expected
#   offset       the data starts one element into its buffer, whose first
#                element is NaN: a start that is not 16-byte aligned, and a
#                kernel that ignores the offset reads the NaN
#   batched      leading batch dimensions: an (N, C) array viewed as (B, T, C)
#                with N = B·T (batch_split(N))
#
# view(native, layout) returns an array with the same logical values (tolist()
# gives the same lists, to the bit) in that layout, copying when it must.
# Which inputs a variant changes is fixed here (LAYOUT_INPUTS): transposed
# needs a matrix (x, w, dy); batched splits the rows of x and dy (N, the rows
# they share) and leaves w and b alone.  A backend's tolist() returns the
# logical matrix whatever the layout: leading batch dimensions flattened into N.
# docs/frameworks.md, "Layouts kernels get wrong".

LAYOUTS = ("transposed", "strided", "offset", "batched")

LAYOUT_INPUTS = {
    "transposed": ("x", "w", "dy"),
    "strided": ("x", "w", "b", "dy"),
    "offset": ("x", "w", "b", "dy"),
    "batched": ("x", "dy"),
}


def batch_split(n):
    """(B, T) with B·T = N for the batched layout: B the smallest divisor of N
    with 1 < B < N, so both are above 1 whenever N is composite (N = 6 gives
    (2, 3), 65 gives (5, 13)); (1, N) for N prime, 0 or 1."""
    p = 2
    while p * p <= n:
        if n % p == 0:
            return p, n // p
        p += 1
    return 1, n
