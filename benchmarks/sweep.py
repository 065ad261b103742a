"""Issue #18's table: a backend against NumPy (its BLAS) at the shapes people use.

    python benchmarks/sweep.py                      # numba, both dtypes, 7 samples
    python benchmarks/sweep.py --backend numba --repeat 9 --json out.json
    python benchmarks/sweep.py --size 32 32 32      # one shape

Forward + backward with bias through the backend protocol (backend.forward,
then backend.backward, on the backend's own arrays), each side in its own
fresh process (refbackprop.bench.sweep), so neither side's worker threads
disturb the other.  The processes run without OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE (some machines set them for old OpenBLAS builds; a current
NumPy then runs a slower kernel), and the BLAS line names the kernel NumPy
used.  Each figure is the median of the samples, with the lowest and highest
in brackets; the load average before each process is printed, so numbers
taken while the machine was busy can be told apart.  Results and history:
docs/performance.md.
"""

import argparse
import json
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from refbackprop.bench import SWEEP_SHAPES, sweep, sweep_lines  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numba")
    p.add_argument("--dtype", action="append", choices=["float64", "float32"])
    p.add_argument("--size", nargs=3, type=int, action="append", metavar=("N", "D", "M"))
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = p.parse_args()
    shapes = [tuple(s) for s in args.size] if args.size else SWEEP_SHAPES
    dtypes = args.dtype or ["float64", "float32"]
    print(
        "# %s vs NumPy, forward + backward with bias, median [low–high] of %d samples"
        % (args.backend, args.repeat)
    )
    print(
        "# %s; %s %s; load average %s"
        % (
            platform.processor() or platform.machine(),
            platform.python_implementation(),
            platform.python_version(),
            " ".join("%.2f" % v for v in os.getloadavg()),
        )
    )
    rows = sweep(
        args.backend,
        shapes,
        dtypes,
        args.repeat,
        progress=lambda text: print("  ... " + text, file=sys.stderr, flush=True),
    )
    blas = next((r["numpy"]["blas"] for r in rows if r["numpy"]), None)
    print("# BLAS: %s" % blas)
    for line in sweep_lines(rows, args.backend):
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
