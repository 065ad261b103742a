"""Kernels of our own for the precision contracts: correct ones that sum in
other orders, and wrong ones that break a contract the way real kernels do.

Each is the emulated backend (backends/emulated.py) with another _Kernel:
operands() converts the multiplies' operands, dot() forms one output element,
total() one element of db.
"""

import struct

from refbackprop import formats
from refbackprop.backends.emulated import EmulatedBackend, _Kernel

F32_TINY = formats.smallest_normal("float32")


def _flush(v, tiny):
    """Flush-to-zero: a result below the smallest normal becomes ±0."""
    if -tiny < v < tiny:
        return 0.0 * v if v == v else v
    return v


def backend(kernel, name, dtypes):
    """An EmulatedBackend that computes with kernel, under these contracts."""
    cls = type(
        "Backend_" + name.replace("-", "_"),
        (EmulatedBackend,),
        {"name": name, "dtypes": tuple(dtypes), "kernel_class": kernel},
    )
    return cls()


# -- correct: every one is within every bound ----------------------------------


class Reversed(_Kernel):
    """Sums from the last term to the first, the bias first."""

    def dot(self, a, b, extra=None):
        f = self.acc
        acc = 0.0 if extra is None else extra
        for k in range(len(a) - 1, -1, -1):
            acc = f(acc + f(a[k] * b[k]))
        return self.out(acc)


class Blocked(_Kernel):
    """Split-K: blocks of 16 terms summed separately, then the block sums in
    order (and the bias), each in the accumulation format."""

    def dot(self, a, b, extra=None):
        f = self.acc
        partial = []
        for start in range(0, len(a), 16):
            acc = 0.0
            for k in range(start, min(start + 16, len(a))):
                acc = f(acc + f(a[k] * b[k]))
            partial.append(acc)
        acc = 0.0
        for p in partial:
            acc = f(acc + p)
        if extra is not None:
            acc = f(acc + extra)
        return self.out(acc)


class Pairwise(_Kernel):
    """Pairwise (tree) summation of the rounded products."""

    def dot(self, a, b, extra=None):
        f = self.acc
        terms = [f(a[k] * b[k]) for k in range(len(a))]
        if extra is not None:
            terms.append(extra)
        while len(terms) > 1:
            pairs = [f(terms[i] + terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
            if len(terms) % 2:
                pairs.append(terms[-1])
            terms = pairs
        return self.out(terms[0] if terms else 0.0)


class Fused(_Kernel):
    """Fused multiply-add: acc + a·b rounded once (a·b is exact in float64 for
    every storage format here but float64's own, where this is the plain
    float64 loop)."""

    def dot(self, a, b, extra=None):
        f = self.acc
        acc = 0.0
        for k in range(len(a)):
            acc = f(acc + a[k] * b[k])
        if extra is not None:
            acc = f(acc + extra)
        return self.out(acc)


class FlushToZero(_Kernel):
    """Subnormal products and sums become zero, and so do outputs below the
    output format's smallest normal (GPU kernels' default)."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        tiny = contract.accumulate.smallest_normal
        acc, out = self.acc, self.out
        out_tiny = contract.output.smallest_normal
        self.acc = lambda v: _flush(acc(v), tiny)
        self.out = lambda v: _flush(out(v), out_tiny)


class WideAccumulation(_Kernel):
    """Accumulates in float64 (more precise than promised), rounds once."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        final = formats.get(contract.output)
        self.acc = lambda v: v
        self.out = lambda v: formats.round_to(v, final)


class Tf32Truncated(_Kernel):
    """TF32 operands by truncation (the low 13 bits dropped), as tensor cores
    take float32 operands."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        if contract.operand_rounding:
            self.operand = _truncate_tf32


def _truncate_tf32(v):
    """A float32 value with its low 13 significand bits cleared: toward zero."""
    word = struct.unpack("<I", struct.pack("<f", v))[0]
    return struct.unpack("<f", struct.pack("<I", word & ~0x1FFF))[0]


class Tf32Skipped(_Kernel):
    """A tf32 kernel that keeps the full float32 operands (more precise)."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        self.operand = lambda v: v


CORRECT = (
    Reversed,
    Blocked,
    Pairwise,
    Fused,
    FlushToZero,
    WideAccumulation,
    Tf32Truncated,
    Tf32Skipped,
)


# -- wrong: each breaks its contract -------------------------------------------


class AccumulatesInStorage(_Kernel):
    """Running sums rounded to the storage format (bfloat16 or float16)
    instead of float32."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        storage, acc = contract.storage, self.acc
        self.acc = lambda v: formats.round_to(acc(v), storage)


class Tf32Multiplies(_Kernel):
    """A float32 kernel whose multiplies see TF32 operands (allow_tf32)."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        self.operand = lambda v: formats.round_to(v, "tf32")


class UnroundedOutputs(_Kernel):
    """Leaves the float32 sums as they are: outputs not rounded to the
    contract's output format."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        self.out = lambda v: v


class DropsTermAt4096(_Kernel):
    """Correct below K = 4096; there the last term of every dot product is
    skipped (a loop bound off by one in the long-K code path)."""

    def dot(self, a, b, extra=None):
        if len(a) >= 4096:
            a, b = a[:-1], b[:-1]
        return _Kernel.dot(self, a, b, extra)


class SaturatesFloat16(_Kernel):
    """Outputs converted with saturation: beyond 65504 they stay 65504
    instead of overflowing to inf."""

    def __init__(self, contract):
        _Kernel.__init__(self, contract)
        fmt = contract.output
        self.out = lambda v: formats.round_to(v, fmt, saturate=True)


# Backends named by import path (refbackprop check --backend precision_kernels:NAME).
LOW = ("tf32", "bfloat16", "float16", "bfloat16-f32out", "float16-f32out")
accumulates_in_storage = backend(AccumulatesInStorage, "accumulates-in-storage", LOW[1:])
tf32_multiplies = backend(Tf32Multiplies, "tf32-multiplies", ("float32",))
unrounded_outputs = backend(UnroundedOutputs, "unrounded-outputs", ("bfloat16", "float16"))
drops_term_at_4096 = backend(DropsTermAt4096, "drops-term-at-4096", LOW)
saturates_float16 = backend(SaturatesFloat16, "saturates-float16", ("float16",))
