"""Detection thresholds over every element at a size (docs/verification.md,
"Measured over every element"): the verifier's own cell tolerances, T + 2V
(and each bias row's own threshold), divided by each element's bound, which
NumPy computes from the same inputs (float64 and float32 bounds).

    python benchmarks/thresholds.py float32 mixed 64 4096 4096 [--seed 1]

prints, for y, dx and dw, the median, 99th percentile and largest multiple,
and the share of elements above 100×.  Needs NumPy; outputs are NumPy's
products rounded to the dtype (a correct backend), so the run must pass.
"""

import argparse
import os
import sys
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from refbackprop import freivalds  # noqa: E402
from refbackprop.bounds import SAFETY, SMALLEST_NORMAL, UNIT_ROUNDOFF, gamma  # noqa: E402
from refbackprop.flat import Matrix  # noqa: E402
from refbackprop.sized import sized_inputs  # noqa: E402


def element_bounds(k, mag, ref, dtype):
    """bounds.element_bound for float64 and float32, over arrays."""
    u, lam = UNIT_ROUNDOFF[dtype], SMALLEST_NORMAL[dtype]
    return (
        gamma(k, u) * mag * SAFETY
        + k * lam
        + 2 * 2.0**-53 * np.abs(ref)
        + 4 * k * SMALLEST_NORMAL["float64"]
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dtype", choices=["float64", "float32"])
    p.add_argument("inputs")
    for letter in "NDM":  # (nargs=3 with a tuple metavar breaks argparse's --help)
        p.add_argument(letter, type=int)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    n, d, m = a.N, a.D, a.M
    g = sized_inputs(n, d, m, a.dtype, True, a.seed, a.inputs)
    x, w = (np.frombuffer(g[k].values).reshape(g[k].shape) for k in ("x", "w"))
    b, dy = np.frombuffer(g["b"].values), np.frombuffer(g["dy"].values).reshape(n, m)
    plan = freivalds.prepare(g["x"], g["w"], g["b"], g["dy"], a.dtype, seed=a.seed + 1)
    outs = [x @ w + b, dy @ w.T, x.T @ dy, dy.sum(0)]
    if a.dtype == "float32":
        outs = [o.astype(np.float32).astype(np.float64) for o in outs]
    result = plan.finish(*(Matrix(array("d", o.ravel().tobytes()), o.shape) for o in outs))
    if not result.passed:
        sys.exit("\n".join(result.lines()))
    bounds = [
        element_bounds(d + 1, np.abs(x) @ np.abs(w) + np.abs(b), outs[0], a.dtype),
        element_bounds(m, np.abs(dy) @ np.abs(w).T, outs[1], a.dtype),
        element_bounds(n, np.abs(x).T @ np.abs(dy), outs[2], a.dtype),
    ]
    for check, bound in zip(result.outputs[:3], bounds):
        detect = np.array([check.detect(c) for c in range(check.cells)])
        if check.name in ("y", "dx"):  # cells (i, block) along rows
            t = np.repeat(detect.reshape(-1, check.blocks), check.cell, axis=1)[:, : bound.shape[1]]
        else:  # dW: cells (a set of rows, j) down columns (_Context.dw_cells)
            m = bound.shape[1]
            rows = np.array([check.cell_index(k, 0) // m for k in range(bound.shape[0])])
            t = detect.reshape(-1, m)[rows]
        for i, own in check.element_thresholds.items():
            t[i] = np.minimum(t[i], np.array(own))
        r = t / bound
        print(
            "%-2s median %.0f, 99th percentile %.0f, largest %.0f; above 100x: %.2g%%"
            % (check.name, np.median(r), np.percentile(r, 99), r.max(), 100 * (r > 100).mean())
        )


if __name__ == "__main__":
    main()
