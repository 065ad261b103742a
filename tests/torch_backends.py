"""A backend over torch.nn.functional.linear with autograd, in bfloat16 or
float16 (CPU), for the precision contracts of the same names.

W is (D, M) here and torch's weight is (M, D): the layer runs
F.linear(x, w.t(), b) and autograd gives dX, dW (as w's gradient, (D, M))
and db.  torch is imported when the backend is made.
"""


class TorchLinear:
    """y = F.linear(x, wᵀ, b); (dx, dw, db) from y.backward(dy)."""

    name = "torch-linear"
    dtypes = ("bfloat16", "float16")

    def __init__(self):
        import torch

        self.torch = torch
        self._dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}

    def array(self, values, shape, dtype):
        """A tensor of the contract's storage dtype; (0, k) shapes kept."""
        t = self.torch.tensor(values, dtype=self.torch.float64)
        return t.reshape(tuple(shape)).to(self._dtype[dtype])

    def tolist(self, a):
        return a.detach().to(self.torch.float64).tolist()

    def shares_memory(self, a, b):
        if a.numel() == 0 or b.numel() == 0:
            return a is b
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()

    def forward(self, x, w, b=None):
        """y (N, M) = x (N, D) @ w (D, M) + b (M,)."""
        with self.torch.no_grad():
            return self.torch.nn.functional.linear(x, w.t(), b)

    def backward(self, x, w, dy, b=None):
        """(dx (N, D), dw (D, M), db (M,) or None) through autograd."""
        leaves = [x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()]
        if b is not None:
            leaves.append(b.detach().clone().requires_grad_())
        y = self.torch.nn.functional.linear(
            leaves[0], leaves[1].t(), leaves[2] if b is not None else None
        )
        if y.numel():
            y.backward(dy)
        grads = [t.grad if t.grad is not None else self.torch.zeros_like(t) for t in leaves]
        return grads[0], grads[1], grads[2] if b is not None else None


# -- wrong kernels, each the way a real one goes wrong ---------------------------


class TorchAccumulatesInStorage(TorchLinear):
    """Y as a running sum of rank-1 updates in the storage dtype: every
    partial sum rounded to bfloat16/float16."""

    name = "torch-accumulates-in-storage"

    def forward(self, x, w, b=None):
        with self.torch.no_grad():
            y = self.torch.zeros((x.shape[0], w.shape[1]), dtype=x.dtype)
            for k in range(x.shape[1]):
                y = y + x[:, k : k + 1] * w[k : k + 1, :]  # (N, 1) * (1, M)
            return y if b is None else y + b


class TorchFloat32Outputs(TorchLinear):
    """Computes in float32 and hands back the float32 result unrounded."""

    name = "torch-float32-outputs"

    def forward(self, x, w, b=None):
        f = self.torch.float32
        with self.torch.no_grad():
            return self.torch.nn.functional.linear(
                x.to(f), w.to(f).t(), None if b is None else b.to(f)
            )


class TorchDropsTermAt4096(TorchLinear):
    """Skips the last term of the reduction when D ≥ 4096."""

    name = "torch-drops-term-at-4096"

    def forward(self, x, w, b=None):
        if x.shape[1] >= 4096:
            x, w = x[:, :-1], w[:-1]
        return TorchLinear.forward(self, x, w, b)


class TorchSaturatesFloat16(TorchLinear):
    """float32 result clamped to ±65504 before the cast to float16."""

    name = "torch-saturates-float16"
    dtypes = ("float16",)

    def forward(self, x, w, b=None):
        f = self.torch.float32
        with self.torch.no_grad():
            y = self.torch.nn.functional.linear(
                x.to(f), w.to(f).t(), None if b is None else b.to(f)
            )
            return y.clamp(-65504.0, 65504.0).to(x.dtype)


class TorchTf32Multiplies(TorchLinear):
    """A float32 layer whose operands are rounded to TF32 first (what
    torch.backends.cuda.matmul.allow_tf32 does on a GPU), here by masking."""

    name = "torch-tf32-multiplies"
    dtypes = ("float32",)

    def __init__(self):
        TorchLinear.__init__(self)
        self._dtype = {"float32": self.torch.float32}

    def _tf32(self, t):
        bits = t.contiguous().view(self.torch.int32)
        odd = (bits >> 13) & 1
        return ((bits + 0xFFF + odd) & ~0x1FFF).view(self.torch.float32)

    def forward(self, x, w, b=None):
        with self.torch.no_grad():
            return self.torch.nn.functional.linear(self._tf32(x), self._tf32(w).t(), b)


WRONG = [
    TorchAccumulatesInStorage,
    TorchFloat32Outputs,
    TorchDropsTermAt4096,
    TorchSaturatesFloat16,
    TorchTf32Multiplies,
]
