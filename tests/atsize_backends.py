"""NumPy backends for verification at size: correct kernels with other
summation orders, and kernels wrong in the ways issue 15 lists.

Each computes Y = X W + b, dX = dY Wᵀ, dW = Xᵀ dY through one product
function, so a summation order or a defect applies to every output (or, for
the wrong ones, to the output named).
"""

import numpy as np

from refbackprop.backends.numpy_baseline import NumpyBaseline
from refbackprop.bounds import element_bound, exact_dot

F32, F64 = np.float32, np.float64
TINY32 = np.float32(2.0**-126)


class Kernels(NumpyBaseline):
    """BLAS (blocked, FMA) in the dtype of the inputs; subclasses override product()."""

    name = "numpy-kernels"
    dtypes = ("float64", "float32")

    def from_buffer(self, buffer, shape, dtype):
        a = np.frombuffer(buffer, dtype=F64).reshape(tuple(shape))
        return np.array(a, dtype=dtype, order="C")

    def to_buffer(self, a):
        return np.ascontiguousarray(a)

    def product(self, a, b):
        """a (R, K) @ b (K, C) -> (R, C), in a's dtype."""
        return a @ b

    def forward(self, x, w, b=None):
        y = self.product(x, w)
        if b is not None:
            y = (y + b).astype(x.dtype)
        return self.after("y", y, (x, w, b, None))

    def backward(self, x, w, dy, b=None):
        dx = self.after("dx", self.product(dy, np.ascontiguousarray(w.T)), (x, w, b, dy))
        dw = self.after("dw", self.product(np.ascontiguousarray(x.T), dy), (x, w, b, dy))
        db = None if b is None else dy.sum(axis=0, dtype=dy.dtype)
        return dx, dw, db

    def after(self, name, out, inputs):
        return out


class Sequential(Kernels):
    """One running sum per element, k = 0, 1, ...: products rounded, then sums."""

    name = "sequential"

    def product(self, a, b):
        acc = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
        for k in range(a.shape[1]):
            acc = (acc + np.outer(a[:, k], b[k, :]).astype(a.dtype)).astype(a.dtype)
        return acc


class Pairwise(Kernels):
    """NumPy's pairwise summation over the products (K contiguous)."""

    name = "pairwise"

    def product(self, a, b):
        prods = (a[:, None, :] * np.ascontiguousarray(b.T)[None, :, :]).astype(a.dtype)
        return prods.sum(axis=2, dtype=a.dtype)


class Blocked(Kernels):
    """Blocks of 64 along K by BLAS, the block sums added in order."""

    name = "blocked"

    def product(self, a, b):
        acc = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
        for k in range(0, a.shape[1], 64):
            acc = (acc + a[:, k : k + 64] @ b[k : k + 64, :]).astype(a.dtype)
        return acc


class Fma32(Kernels):
    """float32 with fused multiply-adds: each step a·b + s exactly in float64
    (float32 products are exact there), then rounded to float32."""

    name = "fma32"
    dtypes = ("float32",)

    def product(self, a, b):
        acc = np.zeros((a.shape[0], b.shape[1]), dtype=F32)
        a64, b64 = a.astype(F64), b.astype(F64)
        for k in range(a.shape[1]):
            acc = (acc.astype(F64) + np.outer(a64[:, k], b64[k, :])).astype(F32)
        return acc


class FlushToZero32(Kernels):
    """float32, sequential, with every product and partial sum below the
    smallest normal flushed to zero (as GPUs do)."""

    name = "ftz32"
    dtypes = ("float32",)

    def product(self, a, b):
        acc = np.zeros((a.shape[0], b.shape[1]), dtype=F32)
        for k in range(a.shape[1]):
            p = np.outer(a[:, k], b[k, :]).astype(F32)
            p[np.abs(p) < TINY32] = 0
            acc = (acc + p).astype(F32)
            acc[np.abs(acc) < TINY32] = 0
        return acc


CORRECT32 = (Kernels, Sequential, Pairwise, Blocked, Fma32, FlushToZero32)
CORRECT64 = (Kernels, Sequential, Pairwise, Blocked)


def bf16(a):
    """float32 values rounded to bfloat16 (nearest, ties to even), as float32."""
    bits = np.ascontiguousarray(a, dtype=F32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(F32)


class Bf16Products(Kernels):
    """float32 forward whose operands are rounded to bfloat16 first (a
    "float32" kernel on a bf16 tensor-core path); backward is right."""

    name = "bf16-products"
    dtypes = ("float32",)

    def forward(self, x, w, b=None):
        y = bf16(x) @ bf16(w)
        if b is not None:
            y = (y + b).astype(F32)
        return y


def exact_element(name, inputs, i, j):
    """(ref, K, mag) of one element of y (i, j), dx (i, k=j) or dw (k=i, j),
    from the backend's own float arrays."""
    x, w, b, dy = inputs
    if name == "y":
        extra = None if b is None else float(b[j])
        ref, mag = exact_dot(x[i].tolist(), w[:, j].tolist(), extra)
        return ref, x.shape[1] + (1 if b is not None else 0), mag
    if name == "dx":
        ref, mag = exact_dot(dy[i].tolist(), w[j].tolist())
        return ref, w.shape[1], mag
    ref, mag = exact_dot(x[:, i].tolist(), dy[:, j].tolist())
    return ref, x.shape[0], mag


class OffByTimesBound(Kernels):
    """BLAS, with chosen elements set to exact + times × their own element
    bound: {output: [(i, j), ...]}."""

    name = "off-by-times-bound"

    def __init__(self, targets, times, dtype_name=None):
        self.targets, self.times = targets, times

    def after(self, name, out, inputs):
        for i, j in self.targets.get(name, ()):
            dtype = "float32" if out.dtype == F32 else "float64"
            ref, k, mag = exact_element(name, inputs, i, j)
            bound = element_bound(k, mag, ref, dtype)
            out[i, j] = ref + self.times * bound
        return out


class RelativeOff(Kernels):
    """BLAS, with chosen elements multiplied by (1 + rel): {output: [(i, j)]}."""

    name = "relative-off"

    def __init__(self, targets, rel):
        self.targets, self.rel = targets, rel

    def after(self, name, out, inputs):
        for i, j in self.targets.get(name, ()):
            out[i, j] = out[i, j] * (1 + self.rel)
        return out
