"""The torch backends: torch.nn.functional.linear with autograd, CPU or CUDA.

    forward:   y = F.linear(x, weight, bias)     weight = wᵀ: (M, D), PyTorch's layout
    backward:  autograd through it, for dy:      dx (..., D), dw (D, M), db (M,)

TorchFunctions certifies any function fn(x, weight, bias) in PyTorch's
convention, differentiated by autograd or by an explicit backward(x, weight,
dy, bias) -> (dx, dweight, dbias) (the adapter `torch:module:fn[,bwd]`,
backends/adapters.py).  TorchBackend is that class on F.linear: the built-in
`torch` certifies what `torch.nn.Linear` computes.

Precision contracts (refbackprop/contracts.py, docs/precision.md): float64,
float32, tf32, bfloat16 and float16, the storage dtype of each tensor.  Under
tf32 the tensors are float32; on CUDA the matmuls run with TF32 allowed
(torch.backends.cuda.matmul.allow_tf32), on the CPU in full float32, which
the tf32 contract's bound covers too.  The -f32out contracts are not
declared: nn.Linear in bfloat16 or float16 rounds its outputs to that format.

Device: `torch` runs on the CPU, `torch-cuda` on the current CUDA device and
is unavailable (with the reason) when torch.cuda.is_available() is False;
TorchBackend(device="cuda:1") or the adapter option device=cuda:1 picks one.
Torch is imported on first use: listing backends never imports it.
"""

import importlib.util
import weakref

from refbackprop import __version__

from ._frameworks import (
    FunctionBackend,
    as_rows,
    check_values,
    dist_version,
    host_array,
    layout_kind,
)

_torch_module = None


def _torch():
    global _torch_module
    if _torch_module is None:
        import torch

        _torch_module = torch
    return _torch_module


def cuda_missing(device="cuda"):
    """Why torch cannot compute on CUDA here, or None.  A CPU-only build
    (a '+cpu' version) is told from its metadata without importing torch."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed; install it with: pip install 'refbackprop[torch]'"
    version = dist_version("torch")
    if version.endswith("+cpu"):
        return "torch %s is a CPU-only build: it has no CUDA" % version
    torch = _torch()
    if not torch.cuda.is_available():
        return (
            "torch.cuda.is_available() is False (torch %s, built for CUDA %s): "
            "no usable GPU or driver" % (torch.__version__, torch.version.cuda)
        )
    index = torch.device(device).index
    if index is not None and index >= torch.cuda.device_count():
        return "%s does not exist: torch sees %d CUDA device(s)" % (
            device,
            torch.cuda.device_count(),
        )
    return None


class TorchFunctions(FunctionBackend):
    """torch.Tensors on one device; fn(x, weight, bias) differentiated by
    autograd unless a backward function is given."""

    framework = "torch"
    native_name = "torch.Tensor"
    modules = ("torch",)
    extra = "torch"
    default_weight = "md"
    name = "torch-functions"
    framework_dtypes = ("float64", "float32", "tf32", "bfloat16", "float16")
    # a user's function: full precision unless its selector asks for contracts
    # (torch:mod:fn,dtypes=bfloat16+float16): `x @ w.T + b` in bfloat16 rounds
    # twice, which the one-rounding contract rightly refuses
    default_dtypes = ("float64", "float32")
    # the tensor dtype each contract stores in
    STORAGE = {
        "float64": "float64",
        "float32": "float32",
        "tf32": "float32",
        "bfloat16": "bfloat16",
        "float16": "float16",
    }

    def __init__(self, forward=None, backward=None, device="cpu", **options):
        """FunctionBackend's arguments (weight, batch, name, dtypes, layouts
        by keyword), and the torch device the tensors live on."""
        FunctionBackend.__init__(self, forward, backward, **options)
        self.device = device
        self._tf32 = weakref.WeakValueDictionary()  # id -> tensors made under tf32

    @property
    def version(self):
        return "%s (torch %s, %s)" % (__version__, dist_version("torch"), self.device)

    def unavailable_reason(self):
        if str(self.device).startswith("cuda"):
            return cuda_missing(self.device)
        return FunctionBackend.unavailable_reason(self)

    def array(self, values, shape, dtype):
        """A contiguous tensor of that shape, stored in the contract's dtype,
        on the device.  The values are representable there (refbackprop rounds
        inputs to the storage format first), so the conversion is exact."""
        torch = _torch()
        self._require_dtype(dtype)
        check_values(values, shape)
        try:  # through NumPy when it is there: 10x faster
            import numpy as np
        except ImportError:
            t = torch.tensor(values, dtype=torch.float64)
        else:
            t = torch.from_numpy(np.array(values, dtype="float64"))
        return self._stored(t.reshape(tuple(shape)), dtype)

    def from_buffer(self, buffer, shape, dtype):
        """A contiguous tensor on the device from a row-major float64 buffer
        (through NumPy, which is there wherever buffers are handed over)."""
        self._require_dtype(dtype)
        return self._stored(_torch().from_numpy(host_array(buffer, shape, "float64")), dtype)

    def _stored(self, t, dtype):
        torch = _torch()
        t = t.to(device=self.device, dtype=getattr(torch, self.STORAGE[dtype]))
        if dtype == "tf32":
            self._tf32[id(t)] = t
        return t

    def to_buffer(self, a):
        """a's values row-major ('d' or 'f'), on the host; bfloat16 and float16
        as float32, which holds them exactly."""
        a = a.detach().cpu().contiguous()
        if a.dtype in (_torch().bfloat16, _torch().float16):
            a = a.float()
        return a.numpy()

    def forward(self, x, w, b=None):
        with self._matmul_precision(x):
            return FunctionBackend.forward(self, x, w, b)

    def backward(self, x, w, dy, b=None):
        with self._matmul_precision(x):
            return FunctionBackend.backward(self, x, w, dy, b)

    def _matmul_precision(self, x):
        """TF32 allowed on CUDA for tensors made under the tf32 contract."""
        return _Tf32(self._tf32.get(id(x)) is x and str(self.device).startswith("cuda"))

    def tolist(self, a):
        """Nested lists of floats; leading batch dimensions flattened into N."""
        return as_rows(a.detach()).cpu().tolist()

    def view(self, a, layout):
        """The same values in a layout of refbackprop.cases.LAYOUTS (a copy, except
        'batched', which is a view).  Differentiable: autograd sees through it."""
        torch = _torch()
        split = self._view_checked(a, layout)
        if layout == "transposed":
            return a.t().contiguous().t()  # column-major (R, C)
        if layout == "batched":
            return a.reshape(split + (a.shape[1],))
        if layout == "strided":
            buf = torch.full(
                tuple(a.shape[:-1]) + (2 * a.shape[-1],),
                float("nan"),
                dtype=a.dtype,
                device=a.device,
            )
            out = buf[..., ::2]
        else:  # offset
            buf = torch.full((a.numel() + 1,), float("nan"), dtype=a.dtype, device=a.device)
            out = buf[1:].view(tuple(a.shape))
        out.copy_(a)
        return out

    def synchronize(self):
        """Wait for the device: every kernel launched so far has finished."""
        if str(self.device).startswith("cuda"):
            _torch().cuda.synchronize(self.device)

    def shares_memory(self, a, b):
        """Whether a and b share an element: the element addresses each one
        reaches (data_ptr, storage offset and strides), not address ranges, so
        x[:, ::2] and x[:, 1::2] do not share.  None when either is not a tensor."""
        torch = _torch()
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return None
        if a.device != b.device or a.numel() == 0 or b.numel() == 0:
            return False
        (lo_a, hi_a), (lo_b, hi_b) = _byte_range(a), _byte_range(b)
        if hi_a <= lo_b or hi_b <= lo_a:
            return False
        item = a.element_size()
        if item == b.element_size() and (a.data_ptr() - b.data_ptr()) % item == 0:
            if _dense(a) and _dense(b):
                return True  # two gapless blocks that overlap
            whole = False  # elements start on one grid: compare starts
        else:
            whole = True  # mixed sizes or grids: compare every byte
        return bool(torch.isin(_addresses(a, whole), _addresses(b, whole)).any())

    # -- FunctionBackend hooks -------------------------------------------

    def _is_native(self, a):
        return isinstance(a, _torch().Tensor)

    def _dtype_name(self, a):
        return str(a.dtype).replace("torch.", "")

    def _transposed(self, w):
        t = w.t().contiguous()  # (D, M) -> (M, D)
        kind = layout_kind(w.shape, w.stride(), w.storage_offset())
        return t if kind is None else self.view(t, kind)

    def _differentiate(self, x_in, w, dy_in, b):
        """Autograd: y = fn(x, weight(w), b), then (dx, dw, db) = vjp of dy."""
        torch = _torch()
        with torch.enable_grad():
            leaves = [x_in.detach().requires_grad_(True), w.detach().requires_grad_(True)]
            if b is not None:
                leaves.append(b.detach().requires_grad_(True))
            bias = leaves[2] if b is not None else None
            y = self.forward_function()(leaves[0], self._weight_in(leaves[1]), bias)
            self._check("forward", "y", y, tuple(dy_in.shape), x_in)
            if not y.requires_grad:
                raise TypeError(
                    "the forward function's y does not require grad: "
                    "autograd cannot differentiate it; give a backward "
                    "function (torch:module:forward,backward)"
                )
            grads = torch.autograd.grad(y, leaves, dy_in, allow_unused=True, materialize_grads=True)
        dx, dw = grads[0], grads[1]  # (..., D), (D, M)
        return dx, dw, grads[2] if b is not None else None


class _Tf32:
    """Allow TF32 in CUDA matmuls inside the block when on, restoring the
    setting after; nothing when off."""

    def __init__(self, on):
        self.on, self.old = on, None

    def __enter__(self):
        if self.on:
            matmul = _torch().backends.cuda.matmul
            self.old, matmul.allow_tf32 = matmul.allow_tf32, True

    def __exit__(self, *exc):
        if self.on:
            _torch().backends.cuda.matmul.allow_tf32 = self.old
        return False


def _byte_range(t):
    """[lo, hi): the bytes a non-empty tensor's elements occupy, at most."""
    lo = t.data_ptr()
    span = sum((s - 1) * st for s, st in zip(t.shape, t.stride()))
    return lo, lo + (span + 1) * t.element_size()


def _dense(t):
    """Its elements fill their range without gaps (some order of the dims)."""
    dims = sorted((st, s) for s, st in zip(t.shape, t.stride()) if s > 1)
    expected = 1
    for st, s in dims:
        if st != expected:
            return False
        expected *= s
    return True


def _addresses(t, every_byte):
    """The address of every element of t (of every byte of each element when
    every_byte), as a CPU int64 tensor."""
    torch = _torch()
    item = t.element_size()
    addr = torch.tensor([t.data_ptr()], dtype=torch.int64)
    for s, st in zip(t.shape, t.stride()):
        steps = torch.arange(s, dtype=torch.int64) * (st * item)
        addr = (addr[:, None] + steps[None, :]).reshape(-1)
    if every_byte:
        addr = (addr[:, None] + torch.arange(item, dtype=torch.int64)[None, :]).reshape(-1)
    return addr


class TorchBackend(TorchFunctions):
    """The built-in torch backend: torch.nn.functional.linear and autograd,
    in every contract it declares."""

    name = "torch"
    default_dtypes = None

    def __init__(self, device="cpu", **options):
        TorchFunctions.__init__(self, device=device, **options)

    def forward_function(self):
        return _torch().nn.functional.linear


class TorchCudaBackend(TorchBackend):
    """`torch` on the current CUDA device; unavailable, with the reason,
    where torch.cuda.is_available() is False."""

    name = "torch-cuda"

    def __init__(self, device="cuda", **options):
        TorchBackend.__init__(self, device=device, **options)
