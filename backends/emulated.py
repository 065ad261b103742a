"""The emulated backend: every precision contract computed exactly in pure Python.

The living definition of each contract (contracts.py, docs/precision.md):

- inputs are values of the storage format (array() refuses others);
- each multiply sees its operands converted to the multiply format (tf32:
  float32 operands rounded to TF32, nearest even);
- each product is rounded to the accumulation format, and each running sum
  too, term by term from k = 0 (the bias last): float32 accumulation is
  emulated exactly by rounding float64 results to float32, which gives the
  correctly rounded float32 product and sum (docs/precision.md, "Emulating
  float32");
- the sum is rounded once to the output format (bfloat16, float16: nearest
  even, overflow to ±inf).

float64 is plain float arithmetic in the same order.  Standard library only.
"""

from array import array

from refbackprop import __version__, contracts, formats

from ._lists import ListArray, ListBackendBase

_to_f32 = formats.to_float32
_T32 = formats.overflow_threshold("float32")  # |s| below it: a finite float32
_LAM32 = formats.smallest_normal("float32")
_MAX32 = formats.max_finite("float32")


class ContractArray(ListArray):
    """A ListArray that knows the precision contract it was made for."""

    __slots__ = ("contract",)

    def __init__(self, rows, shape, contract):
        ListArray.__init__(self, rows, shape)
        self.contract = contract


def _identity(v):
    return v


def _rounder(fmt):
    """v -> v rounded to fmt (the fastest exact way for float32)."""
    if fmt.name == "float64":
        return _identity
    if fmt.name == "float32":
        return _to_f32
    return lambda v: formats.round_to(v, fmt)


def _columns(a, cols):
    """Aᵀ as lists: a (R, C) -> (C, R), with C known even when R = 0."""
    if not a:
        return [[] for _ in range(cols)]
    return [list(c) for c in zip(*a)]


def _dot32(a, b, extra, round_products):
    """fl32(Σ_k a[k]·b[k] (+ extra)): each product and running sum rounded to
    float32 in turn (the products are exact in float64).

    The same arithmetic as _Kernel's general loop with acc = to_float32,
    three times faster: a float64 value below float32's overflow threshold
    is rounded by storing it into an array('f') (one C conversion, nearest
    even); anything else goes through formats.  Where the multiply format
    has at most 12 significant bits (bfloat16, float16, tf32) a product is
    a float32 value already unless it is below float32's smallest normal or
    above its largest, so only those are rounded (round_products=False).
    """
    buf = array("f", [0.0])
    acc = 0.0
    for k in range(len(a)):
        p = a[k] * b[k]
        if round_products or not (_LAM32 <= abs(p) <= _MAX32):
            if -_T32 < p < _T32:
                buf[0] = p
                p = buf[0]
            else:
                p = _to_f32(p)
        s = acc + p
        if -_T32 < s < _T32:
            buf[0] = s
            acc = buf[0]
        else:
            acc = _to_f32(s)
    if extra is not None:
        acc = _to_f32(acc + extra)
    return acc


class _Kernel:
    """The arithmetic of one contract: dot products and their final rounding."""

    def __init__(self, contract):
        self.contract = contract
        self.acc = _rounder(contract.accumulate)
        self.out = _rounder(contract.output)
        if contract.output.name == contract.accumulate.name:
            self.out = _identity
        self.operand = _identity
        if contract.operand_rounding:
            self.operand = _rounder(contract.multiply)
        self.round_products = contract.multiply.p > 12

    def operands(self, rows):
        """rows converted to the multiply format (a copy)."""
        op = self.operand
        return [[op(v) for v in r] for r in rows]

    def dot(self, a, b, extra=None):
        """fl(Σ_k a[k]·b[k] (+ extra)), each product and sum rounded in turn."""
        f = self.acc
        acc = 0.0
        if f is _to_f32:
            acc = _dot32(a, b, extra, self.round_products)
        elif f is _identity:
            for k in range(len(a)):
                acc = acc + a[k] * b[k]
            if extra is not None:
                acc = acc + extra
        else:
            for k in range(len(a)):
                acc = f(acc + f(a[k] * b[k]))
            if extra is not None:
                acc = f(acc + extra)
        return self.out(acc)

    def total(self, values):
        """fl(Σ_i values[i]) (db: sums without multiplies)."""
        f = self.acc
        acc = 0.0
        for v in values:
            acc = f(acc + v)
        return self.out(acc)


class EmulatedBackend(ListBackendBase):
    name = "emulated"
    dtypes = contracts.NAMES
    version = __version__
    # A rough upper estimate of one multiply-add (2-4·10^-7 s measured on
    # CPython 3.11 for the float32-accumulating contracts, 0.8·10^-7 for
    # float64): sizes bench's default and refuses long runs (budget.py).
    seconds_per_madd = 5e-7
    kernel_class = _Kernel  # tests swap in other summation orders

    def __init__(self):
        self._kernels = {}

    def array(self, values, shape, dtype):
        """A ContractArray of the contract's storage values; anything else is
        refused with the first offending entry."""
        contract = contracts.get(dtype)
        plain = ListBackendBase.array(self, values, shape, dtype)
        rows = plain.rows if len(plain.shape) == 2 else [plain.rows]
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if not formats.is_representable(v, contract.storage):
                    raise ValueError(
                        "entry %d, %d is %r, not a %s value: the %s "
                        "contract stores its inputs in %s"
                        % (i, j, v, contract.storage.name, contract.name, contract.storage.name)
                    )
        return ContractArray(plain.rows, plain.shape, contract)

    def _kernel(self, *arrays):
        names = set(a.contract.name for a in arrays if a is not None)
        if len(names) != 1:
            raise ValueError(
                "the arrays were made for different contracts: %s" % ", ".join(sorted(names))
            )
        name = names.pop()
        if name not in self._kernels:
            self._kernels[name] = self.kernel_class(contracts.get(name))
        return self._kernels[name]

    def forward(self, x, w, b=None):
        """y (N, M) = x (N, D) @ w (D, M) + b (M,), under x's contract."""
        n, d, m = self.shapes(x, w, b)
        kern = self._kernel(x, w, b)
        xs = kern.operands(x.rows)  # (N, D)
        wt = kern.operands(_columns(w.rows, m))  # (M, D)
        bias = None if b is None else b.rows
        y = [
            [kern.dot(xi, wt[j], None if bias is None else bias[j]) for j in range(m)] for xi in xs
        ]  # (N, M)
        return ContractArray(y, (n, m), kern.contract)

    def backward(self, x, w, dy, b=None):
        """(dx (N, D), dw (D, M), db (M,) or None) for dy (N, M)."""
        n, d, m = self.shapes(x, w, b, dy)
        kern = self._kernel(x, w, dy, b)
        dys = kern.operands(dy.rows)  # (N, M)
        ws = kern.operands(w.rows)  # (D, M)
        dx = [[kern.dot(dyi, wk) for wk in ws] for dyi in dys]  # dY Wᵀ: (N, D)
        xt = kern.operands(_columns(x.rows, d))  # (D, N)
        dyt = _columns(dys, m)  # (M, N)
        dw = [[kern.dot(xk, dyt[j]) for j in range(m)] for xk in xt]  # Xᵀ dY: (D, M)
        db = None
        if b is not None:
            cols = _columns(dy.rows, m)  # (M, N)
            db = ContractArray([kern.total(c) for c in cols], (m,), kern.contract)
        return (
            ContractArray(dx, (n, d), kern.contract),
            ContractArray(dw, (d, m), kern.contract),
            db,
        )
