"""refbackprop's verdicts next to torch.testing.assert_close's, on the same
correct and wrong low-precision kernels (docs/precision.md, "Against fixed
tolerances").

    python benchmarks/precision_table.py [--seeds 1]

For every case of a contract's catalogue (the nonfinite kind aside: with its
defaults, equal_nan=False, assert_close rejects every NaN output), each
kernel's outputs are compared twice:
- assert_close(actual, expected) with its defaults, expected being the exact
  value of the same stored inputs rounded to the output dtype, actual the
  kernel's output in its own dtype (a list kernel's values in the narrowest
  of the output dtype, float32 and float64 that holds them);
- refbackprop's judge (runner.run_case).
A row counts the cases each flags.  Needs torch.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import torch  # noqa: E402

import precision_kernels as K  # noqa: E402
import torch_backends as T  # noqa: E402
from refbackprop import formats  # noqa: E402
from refbackprop.backends.emulated import EmulatedBackend  # noqa: E402
from refbackprop.cases import Case, catalogue  # noqa: E402
from refbackprop.compare import OUTPUTS, exact_outputs  # noqa: E402
from refbackprop.contracts import get as contract  # noqa: E402
from refbackprop.runner import run_case  # noqa: E402

TORCH = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


class TorchFloat32(T.TorchLinear):
    """torch F.linear + autograd in float32 (CPU: no TF32)."""

    dtypes = ("float32",)

    def __init__(self):
        T.TorchLinear.__init__(self)
        self._dtype = {"float32": torch.float32}


BIG = (64, 4096, 64)  # forward, N D M: 4096 outputs of 4096 terms


def rows():
    """(label, correct?, contract, backend, which cases).  The wrong torch
    kernels break forward only (their backward is torch's), so they are
    counted on forward cases."""
    k = lambda cls, dtype: K.backend(cls, cls.__name__.lower(), (dtype,))
    return [
        ("torch F.linear + autograd", True, "bfloat16", T.TorchLinear(), "all"),
        ("torch F.linear + autograd", True, "float16", T.TorchLinear(), "all"),
        ("torch F.linear + autograd", True, "float32", TorchFloat32(), "all"),
        ("torch F.linear, N=64 D=4096 M=64", True, "bfloat16", T.TorchLinear(), "big"),
        ("torch F.linear, N=64 D=4096 M=64", True, "float16", T.TorchLinear(), "big"),
        ("emulated (the contract's definition)", True, "bfloat16", EmulatedBackend(), "all"),
        ("pairwise summation", True, "bfloat16", k(K.Pairwise, "bfloat16"), "all"),
        ("flush-to-zero", True, "float16", k(K.FlushToZero, "float16"), "all"),
        (
            "sums in bfloat16 (torch, rank-1 updates)",
            False,
            "bfloat16",
            T.TorchAccumulatesInStorage(),
            "forward",
        ),
        (
            "sums in float16 (torch, rank-1 updates)",
            False,
            "float16",
            T.TorchAccumulatesInStorage(),
            "forward",
        ),
        (
            "float32 outputs left unrounded (torch)",
            False,
            "bfloat16",
            T.TorchFloat32Outputs(),
            "forward",
        ),
        (
            "last k term dropped at K = 4096 (torch)",
            False,
            "bfloat16",
            T.TorchDropsTermAt4096(),
            "forward",
        ),
        (
            "last k term dropped at K = 4096 (torch)",
            False,
            "float16",
            T.TorchDropsTermAt4096(),
            "forward",
        ),
        (
            "float16 saturates at 65504 instead of inf (torch)",
            False,
            "float16",
            T.TorchSaturatesFloat16(),
            "forward",
        ),
        (
            "TF32 multiplies (torch, masked operands)",
            False,
            "float32",
            T.TorchTf32Multiplies(),
            "forward",
        ),
    ]


def cases_for(dtype, which, seeds):
    if which == "big":
        n, d, m = BIG
        return [Case("forward", dtype, n, d, m, True, "normal", s) for s in range(5)]
    out = []
    for seed in range(seeds):
        for case in catalogue((dtype,), seed):
            if case.values != "nonfinite" and (which == "all" or case.op == which):
                out.append(case)
    return out


def native_outputs(backend, case):
    """The backend's outputs as torch tensors in the dtype it produced."""
    inp, shapes = case.inputs(), case.shapes()
    nat = dict((k, backend.array(inp[k], shapes[k], case.dtype)) for k in inp if inp[k] is not None)
    if case.op == "forward":
        outs = (backend.forward(nat["x"], nat["w"], nat.get("b")),)
    else:
        outs = backend.backward(nat["x"], nat["w"], nat["dy"], nat.get("b"))
    out = {}
    for name, o in zip(OUTPUTS[case.op], outs):
        if o is None:
            continue
        if isinstance(o, torch.Tensor):
            out[name] = o.detach()
            continue
        values = backend.tolist(o)
        flat = values if len(o.shape) == 1 else [v for r in values for v in r]
        fmt = contract(case.dtype).output.name
        for candidate in (fmt, "float32", "float64"):
            if all(formats.is_representable(v, candidate) for v in flat):
                break
        out[name] = torch.tensor(values, dtype=torch.float64).reshape(o.shape).to(TORCH[candidate])
    return out


def assert_close_flags(case, outs):
    fmt = contract(case.dtype).output.name
    specs = exact_outputs(case)
    for name, actual in outs.items():
        shape, refs, mags, k = specs[name]
        expected = (
            torch.tensor([formats.round_to(r, fmt) for r in refs], dtype=torch.float64)
            .reshape(shape)
            .to(TORCH[fmt])
        )
        try:
            torch.testing.assert_close(actual, expected)
        except AssertionError:
            return True
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args(argv)
    print("| kernel | contract | correct? | cases | assert_close flags | refbackprop flags |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, correct, dtype, backend, which in rows():
        total = ac = rb = 0
        for case in cases_for(dtype, which, args.seeds):
            total += 1
            ac += assert_close_flags(case, native_outputs(backend, case))
            rb += not run_case(backend, case).passed
        print(
            "| %s | %s | %s | %s | %d | %d |"
            % (
                label,
                dtype,
                "yes" if correct else "no",
                "%d seeds" % total
                if which == "big"
                else "%d %s" % (total, "cases" if which == "all" else "forward cases"),
                ac,
                rb,
            )
        )


if __name__ == "__main__":
    main()
