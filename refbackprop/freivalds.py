"""Verify a backend's outputs at any size without the Jacobian (Freivalds).

At N=64, D=M=4096 the explicit Jacobian is 256 GiB and exact products cost
N·D·M; instead each output is cut into cells of CELL consecutive elements
along a line and every cell is multiplied by random signs r ∈ {±1} and
compared with the reference's factored product (docs/verification.md
derives every term below):

    Y:  cell (i, J), J a block of columns:   Σ_{j∈J} r_j Y_ij  vs  X_i·(W_J r_J) + b_J·r_J
    dX: cell (i, K), K a block of columns:   Σ_{k∈K} r_k dX_ik vs  dY_i·(W_Kᵀ r_K)
    dW: cell (K, j), K a block of rows:      Σ_{k∈K} r_k dW_kj vs  (X_{:,K} r_K)·dY_{:,j}
    db: every element against its own bound (exact; it is only O(N·M))

Tolerance of a cell.  A correct backend's errors satisfy |E| ≤ β_e element by
element (bounds.element_bound, whose every term is linear: β_e ≤ α·mag +
κ, mag = Σ|terms| of that element; linear_bound).  The signs are drawn after
the backend has computed, independently of it, so a cell's Σ r_e E_e is a
Rademacher sum with fixed coefficients: Hoeffding gives

    P(|Σ r_e E_e| ≥ t·‖β‖₂) ≤ 2·exp(−t²/2),

and t = √(2 ln(2L/p)) makes the chance that any of the L cell tests of a whole
check fails a correct backend at most p (false_alarm, default 1e-9).  ‖β‖₂
over a cell is bounded by α·‖mag‖₂ + κ·√n, with ‖mag‖₂ bounded by
Cauchy–Schwarz from row and column norms (‖X_i‖₂·‖W_{:,J}‖_F + ‖b_J‖₂ for Y,
‖dY_i‖₂·‖W_{K,:}‖_F for dX, ‖X_{:,K}‖_F·‖dY_{:,j}‖₂ for dW): T = t·‖β‖₂ bound.
worst_case=True uses T = Σ_e β_e instead (bounded by α·√n·‖mag‖₂ + κ·n):
no false alarm at all, at √n/t times the threshold.

The verifier's own float64 rounding V (the cell's signed sum, the reference
dot product, W's ± sums on packed.py's grid or as floats, the last
subtraction) is bounded per cell and trial, and a cell passes when
|got·r − reference·r| ≤ T + V.

Detection: if an element has |E| > T + 2V (its cell's detection threshold),
the cell fails a trial with probability ≥ 1/2 whatever else is wrong (fix
every sign but that element's: the two outcomes are 2|E| apart, and the
passing interval is narrower); with t trials it escapes with probability
≤ 2^-trials.  If the other elements of its cell are within their bounds,
one off by c·β escapes a trial with probability ≤ 2·exp(−(c·β − T − 2V)²/(2B²)),
B the cell's ‖β‖₂ bound (Hoeffding on the rest of the cell).

Cost: every cell needs one reference dot product of the reduction length,
so a trial costs about 3·N·D·M/CELL multiply-adds: the cell size trades the
detection threshold (∝ √CELL) against time.  W is read once, packed onto a
grid (packed.py): every W_J r_J and W_Kᵀ r_K is an exact ± sum of big
integers.  Where packing is not available (MicroPython, PyPy's JIT, W not
finite or beyond 2^1021) W's block sums are floats and their rounding joins V.
"""

import math
import sys

from . import packed
from .bounds import UNIT_ROUNDOFF, SMALLEST_NORMAL, element_bound, fsum, gamma, is_finite
from .flat import Matrix, as_matrix
from .formatting import json_float
from .rng import Rng, seed_from

_U = UNIT_ROUNDOFF["float64"]
_UP = 1.0 + 2.0 ** -40        # on every tolerance: covers its own float evaluation
CELL = 32                     # elements per projected cell (along a line)
FALSE_ALARM = 1e-9            # default chance that a correct backend fails a whole check
MAX_TRIALS = 12
TRIAL_BUDGET = 1 << 25        # multiply-adds all trials may take at least (default trials)

_JIT = getattr(sys.implementation, "name", "") == "pypy"
_HYPOT = (getattr(sys.implementation, "name", "") == "cpython"
          and sys.version_info >= (3, 10))       # math.hypot: error < 1 ulp, documented

try:
    from operator import mul, sub, truediv
except ImportError:                              # MicroPython
    def mul(a, b):
        return a * b

    def sub(a, b):
        return a - b

    def truediv(a, b):
        return a / b

_dot = getattr(math, "sumprod", None)            # CPython 3.12+: one C loop
if _dot is None and _JIT:
    def _dot(a, b):
        s = 0.0
        for i in range(len(a)):
            s += a[i] * b[i]
        return s
elif _dot is None:
    def _dot(a, b):
        return sum(map(mul, a, b))

try:
    from itertools import repeat
except ImportError:                              # MicroPython
    def repeat(v, n):
        return [v] * n


def linear_bound(k, dtype):
    """(alpha, kappa): element_bound(k, mag, ref, dtype) ≤ alpha·mag + kappa
    for every mag ≥ |ref| (an exact value never exceeds its Σ|terms|).

    Through bounds.linear_bound where it exists (precision contracts plug in
    there: (alpha, beta, kappa) with a |ref| term folded into alpha here);
    else from the float64/float32 bound: γ_K(u)·(1 + 2⁻²⁰)·mag + K·λ +
    2·2⁻⁵³·|ref| + 4K·λ₆₄."""
    coeffs = getattr(_bounds(), "linear_bound", None)
    if coeffs is not None:
        alpha, beta, kappa = coeffs(k, dtype)
    else:
        from .bounds import SAFETY
        alpha = gamma(k, UNIT_ROUNDOFF[dtype]) * SAFETY
        beta = 2 * _U
        kappa = k * SMALLEST_NORMAL[dtype] + 4 * k * SMALLEST_NORMAL["float64"]
    return (alpha + beta) * _UP, kappa * _UP


def _bounds():
    from . import bounds
    return bounds


def hoeffding_t(tests, false_alarm):
    """t with tests·2·exp(−t²/2) = false_alarm."""
    if tests <= 0:
        return 0.0
    return math.sqrt(2.0 * math.log(2.0 * tests / false_alarm))


def default_trials(n, d, m, cell=CELL):
    """Trials whose cost fits max(TRIAL_BUDGET, N·D·M·3/40) multiply-adds
    (1/40 of computing the layer), between 1 and MAX_TRIALS."""
    per = _trial_cost(n, d, m, cell)
    if per <= 0:
        return MAX_TRIALS
    budget = max(TRIAL_BUDGET, 3 * n * d * m // 40)
    return max(1, min(MAX_TRIALS, budget // per))


def _trial_cost(n, d, m, cell):
    b = max(1, cell)
    return (n * _blocks(m, b) * d + n * _blocks(d, b) * m + _blocks(d, b) * m * n
            + d * m)


def _blocks(length, cell):
    return (length + cell - 1) // cell if length else 0


def _norm(values):
    """An upper bound on ‖values‖₂ (a list or an array), or None if not finite."""
    if _HYPOT:
        v = math.hypot(*values)
        return v * (1.0 + 2.0 ** -51) if is_finite(v) else None
    return _norm_bound(values)


_TINY = 2.0 ** -1074
_SMALL = 2.0 ** -900


def _norm_bound(row):
    """‖row‖₂ from its sum of squares, rounding and underflow included;
    rows whose squares underflow or overflow are scaled by 2^±600 first."""
    k = len(row)
    squares = _dot(row, row)
    scale = 1.0
    if not (is_finite(squares) and squares >= _SMALL):
        scale = 2.0 ** 600 if is_finite(squares) else 2.0 ** -600
        scaled = [v * scale for v in row]
        squares = _dot(scaled, scaled)
        if not is_finite(squares):
            return None
    bound = math.sqrt((squares + k * _TINY) * (1.0 + 2.0 * gamma(k + 2, _U)))
    return bound * (1.0 + 4.0 * _U) / scale


def _abs_sum(values):
    """An upper bound on Σ|v| (its computed value, rounded up)."""
    return sum(map(abs, values)) * (1.0 + 2.0 * gamma(len(values) + 2, _U))


def _block_norms(norms, cell):
    """√(Σ of squares) of consecutive blocks of norms, rounded up."""
    out = []
    for a in range(0, len(norms), cell):
        part = norms[a:a + cell]
        out.append(math.sqrt(sum(map(mul, part, part)) * (1.0 + 2 * gamma(len(part) + 2, _U)))
                   * _UP)
    return out


def _signs(rng, count):
    """count random signs as floats ±1.0, 64 from each draw."""
    out = []
    while len(out) < count:
        bits = rng.next64()
        for _ in range(min(64, count - len(out))):
            out.append(1.0 if bits & 1 else -1.0)
            bits >>= 1
    return out


class OutputCheck:
    """One output's cells: trials run, worst |diff|/tolerance and where, and
    what the cell size lets through."""

    def __init__(self, name, lines, blocks, cell, k, trials, cell_index):
        self.name = name
        self.lines, self.blocks = lines, blocks     # cells = lines × blocks
        self.cell, self.k, self.trials = cell, k, trials
        self.cell_index = cell_index                # element index -> cell number
        self.worst_ratio = 0.0
        self.worst_cell = None
        self.worst_trial = None
        self.failed_cells = 0
        self.message = ""
        self.t = None                               # Hoeffding's t (None: worst case)
        self.tolerances = None                      # cell -> (T, V max over trials, B)
        self.sampled = None                         # sampling.Sample of this output
        self.fingerprint = None                     # sampling.Fingerprint

    @property
    def cells(self):
        return self.lines * self.blocks

    @property
    def passed(self):
        return self.failed_cells == 0 and (self.sampled is None or self.sampled.passed) \
            and (self.fingerprint is None or self.fingerprint.passed)

    @property
    def projections_passed(self):
        return self.failed_cells == 0

    def note(self, trial, cell, diff, tol):
        ratio = diff / tol if tol > 0 else (0.0 if diff == 0 else float("inf"))
        if not ratio <= 1.0:                        # NaN counts as a failure
            self.failed_cells += 1
            if not self.message:
                self.message = ("%s cell %s, trial %d: |got·r − reference·r| = %.6g exceeds "
                                "the tolerance %.6g" % (self.name, self.describe(cell), trial,
                                                       diff, tol))
            if ratio != ratio:
                ratio = float("inf")
        if ratio > self.worst_ratio or self.worst_cell is None:
            self.worst_ratio, self.worst_cell, self.worst_trial = ratio, cell, trial

    def note_many(self, trial, first, diffs, tols):
        """note() for cells first, first + 1, ... at C speed when all pass."""
        ratios = list(map(truediv, diffs, tols)) if 0.0 not in tols else None
        if ratios is not None:
            total = sum(ratios)
            if total == total and total != float("inf"):
                top = max(ratios) if ratios else 0.0
                if top <= 1.0:
                    if top > self.worst_ratio or self.worst_cell is None:
                        k = ratios.index(top)
                        self.worst_ratio, self.worst_cell, self.worst_trial = \
                            top, first + k, trial
                    return
        for k in range(len(diffs)):
            self.note(trial, first + k, diffs[k], tols[k])

    def describe(self, cell):
        """'(i, columns a..b)' for a cell number."""
        if cell is None:
            return "-"
        line, block = divmod(cell, self.blocks) if self.name != "dw" else (cell % self.lines,
                                                                           cell // self.lines)
        a = block * self.cell
        if self.name == "dw":
            return "(rows %d..%d, column %d)" % (a, a + self.cell - 1, line)
        return "(row %d, columns %d..%d)" % (line, a, a + self.cell - 1)

    def detect(self, cell):
        """T + 2V: an element off by more is caught in a trial with
        probability ≥ 1/2, whatever else is wrong."""
        t, v, _ = self.tolerances(cell)
        return (t + 2 * v) * _UP

    def escape(self, cell, error):
        """Per-trial escape probability of one element off by `error` in a
        cell whose other elements are within their bounds."""
        t, v, b = self.tolerances(cell)
        margin = error - (t + 2 * v) * _UP
        if not margin > 0:
            return 1.0
        if b <= 0:
            return 0.0
        return min(0.5, 2.0 * math.exp(-margin * margin / (2.0 * b * b)))

    def to_dict(self):
        t, v = (None, None) if self.worst_cell is None else self.tolerances(self.worst_cell)[:2]
        out = {"output": self.name, "passed": self.passed,
               "projections_passed": self.projections_passed,
               "cells": self.cells, "cell_size": self.cell, "reduction": self.k,
               "failed_cells": self.failed_cells,
               "worst_ratio": json_float(self.worst_ratio),
               "worst_cell": self.describe(self.worst_cell), "worst_trial": self.worst_trial,
               "tolerance": json_float(None if t is None else (t + v) * _UP),
               "detect_above": json_float(None if t is None else self.detect(self.worst_cell)),
               "message": self.message}
        if self.sampled is not None:
            out["sampled"] = self.sampled.to_dict(self)
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint.to_dict()
        return out


class Verification:
    """What was verified, with the probabilities that state what it means."""

    def __init__(self, n, d, m, dtype, trials, seed, false_alarm, worst_case, cell):
        self.n, self.d, self.m, self.dtype = n, d, m, dtype
        self.trials, self.seed = trials, seed
        self.false_alarm = 0.0 if worst_case else false_alarm
        self.worst_case, self.cell = worst_case, cell
        self.t = None
        self.tests = 0
        self.outputs = []
        self.fingerprint_false_alarm = 0.0

    @property
    def passed(self):
        return all(o.passed for o in self.outputs)

    @property
    def miss_probability(self):
        """Upper bound on P(an element beyond its cell's detection threshold
        went unseen), per element: 2^-trials."""
        return 0.5 ** self.trials

    def lines(self):
        from .sampling import report_lines
        return report_lines(self)

    def to_dict(self):
        return {"N": self.n, "D": self.d, "M": self.m, "dtype": self.dtype,
                "trials": self.trials, "seed": self.seed, "passed": self.passed,
                "cell_size": self.cell, "worst_case": self.worst_case,
                "hoeffding_t": json_float(self.t), "tests": self.tests,
                "false_alarm": self.false_alarm,
                "fingerprint_false_alarm": self.fingerprint_false_alarm,
                "miss_probability": self.miss_probability,
                "outputs": [o.to_dict() for o in self.outputs]}


def _shapes(x, w, b, dy):
    """(N, D, M) from Matrix or list arguments."""
    if isinstance(x, Matrix):
        n, d = x.shape
    else:
        n, d = len(x), len(w)
    if isinstance(w, Matrix):
        m = w.shape[1]
    elif dy and not isinstance(dy, Matrix):
        m = len(dy[0])
    elif isinstance(dy, Matrix):
        m = dy.shape[1]
    else:
        m = len(w[0]) if w else (len(b) if b is not None else 0)
    return n, d, m


def verify(x, w, b, dy, y, dx, dw, db, dtype, trials=None, seed=0,
           false_alarm=FALSE_ALARM, worst_case=False, cell=CELL, samples=None,
           fingerprint_check=False, fingerprint_false_alarm=None):
    """Verify y (N, M), dx (N, D), dw (D, M), db (M,) or None for x (N, D),
    w (D, M), b (M,) or None, dy (N, M), computed in dtype.

    Arguments are flat.Matrix objects or nested lists (a vector: a flat
    list).  trials: sign trials (default: default_trials); seed: of the
    signs and sampled elements; false_alarm: the chance that a correct
    backend fails, at most, over the whole check (projections; the sampled
    elements never raise one); worst_case: line sums of bounds instead of
    Hoeffding; cell: elements per projected cell; samples: a
    sampling.Plan (default: Plan.default(...)), or False for none;
    fingerprint_check: fail an output whose sampled errors are larger than
    correct rounding makes them (sampling.py), with false-alarm probability
    fingerprint_false_alarm (default: false_alarm).  Shapes must already be
    right (the caller checks them).  Returns a Verification."""
    n, d, m = _shapes(x, w, b, dy)
    x, w, dy = as_matrix(x, (n, d)), as_matrix(w, (d, m)), as_matrix(dy, (n, m))
    y, dx, dw = as_matrix(y, (n, m)), as_matrix(dx, (n, d)), as_matrix(dw, (d, m))
    b = as_matrix(b, (m,)) if b is not None else None
    db = as_matrix(db, (m,)) if db is not None else None
    if not false_alarm > 0 or false_alarm >= 1:
        raise ValueError("false_alarm must be in (0, 1), not %r" % (false_alarm,))
    cell = max(1, int(cell))
    if trials is None:
        trials = default_trials(n, d, m, cell)
    result = Verification(n, d, m, dtype, trials, seed, false_alarm, worst_case, cell)
    rng = Rng(seed_from("freivalds/N%d-D%d-M%d/%s" % (n, d, m, dtype), seed))

    by, bd = min(cell, m) or 1, min(cell, d) or 1      # cell sizes along M and D
    nby, nbd = _blocks(m, by), _blocks(d, bd)
    tests = trials * (n * nby + n * nbd + nbd * m)
    result.tests = tests
    t = None if worst_case else hoeffding_t(tests, false_alarm)
    result.t = t

    ctx = _Context(x, w, b, dy, n, d, m, dtype, t, by, bd)
    cy = OutputCheck("y", n, nby, by, d + (1 if b is not None else 0), trials,
                     lambda i, j: i * nby + j // by)
    cdx = OutputCheck("dx", n, nbd, bd, m, trials, lambda i, k: i * nbd + k // bd)
    cdw = OutputCheck("dw", m, nbd, bd, n, trials, lambda k, j: (k // bd) * m + j)
    for c in (cy, cdx, cdw):
        c.t = t
    ctx.check_y(cy, y, rng, trials)
    ctx.check_dx(cdx, dx, rng, trials)
    ctx.check_dw(cdw, dw, rng, trials)
    result.outputs = [cy, cdx, cdw]
    if b is not None:
        result.outputs.append(_check_db(dy, db, n, m, dtype))
    if samples is not False:
        from . import sampling
        plan = samples if samples is not None else sampling.Plan.default(n, d, m, dtype)
        fa = fingerprint_false_alarm if fingerprint_false_alarm is not None else false_alarm
        sampling.run(plan, ctx, {"y": (cy, y), "dx": (cdx, dx), "dw": (cdw, dw)},
                     rng, fingerprint_check, fa)
        if fingerprint_check:
            result.fingerprint_false_alarm = fa
    return result


class _Context:
    """Everything the cells of one verification share: the inputs as lists,
    their norms, W packed (or not), the bound coefficients."""

    def __init__(self, x, w, b, dy, n, d, m, dtype, t, by, bd):
        self.x, self.w, self.b, self.dy = x, w, b, dy
        self.n, self.d, self.m, self.dtype, self.t = n, d, m, dtype, t
        self.by, self.bd = by, bd
        self.xr = x.row_lists()                               # (N, D)
        self.dyr = dy.row_lists()                             # (N, M)
        self.bl = b.lists() if b is not None else None        # (M,)
        self.x_norms = [_norm(r) for r in self.xr]            # ‖X_i‖₂, (N,)
        self.x_abs = [_abs_sum(r) for r in self.xr]           # ‖X_i‖₁
        self.dy_norms = [_norm(r) for r in self.dyr]          # ‖dY_i‖₂
        self.dy_abs = [_abs_sum(r) for r in self.dyr]
        self._xt = self._dyt = None
        w_rows = [_norm(w.values[k * m:(k + 1) * m]) for k in range(d)]      # ‖W_k‖₂
        self.finite = None not in w_rows and None not in self.x_norms \
            and None not in self.dy_norms
        self.w_row_norms = w_rows
        self.grid = None
        if self.finite and not _JIT and packed.available():
            try:
                self.grid = packed.Packed(w, max(w_rows) if w_rows else 0.0)
            except ValueError:                                # beyond the packed range
                pass

    # -- shared pieces ----------------------------------------------------------

    def xt(self):
        if self._xt is None:
            self._xt = self.x.col_lists()                     # (D, N)
        return self._xt

    def dyt(self):
        if self._dyt is None:
            self._dyt = self.dy.col_lists()                   # (M, N)
        return self._dyt

    def w_col_norms(self):
        """‖W_{:,j}‖₂ for every column j (M,)."""
        w, d, m = self.w, self.d, self.m
        if _HYPOT:
            out = []
            for j in range(m):
                v = math.hypot(*w.values[j::m])
                out.append(v * (1.0 + 2.0 ** -51) if is_finite(v) else None)
            return out
        return [_norm(w.col(j)) for j in range(m)]

    def _fail_nonfinite(self, check, why):
        check.failed_cells = check.cells or 1
        check.message = "%s not verified: %s" % (check.name, why)
        check.worst_ratio = float("inf")
        check.tolerances = lambda cell: (0.0, 0.0, 0.0)

    # -- Y = X W + b: cells (i, J) ------------------------------------------------

    def check_y(self, check, y, rng, trials):
        n, d, m, by = self.n, self.d, self.m, self.by
        nb = check.blocks
        if not self.finite:
            return self._fail_nonfinite(check, "an input has an infinite or NaN entry")
        alpha, kappa = linear_bound(check.k, self.dtype)
        cols = self.w_col_norms()                              # (M,)
        if None in cols:
            return self._fail_nonfinite(check, "W has a column with no finite norm")
        wf = _block_norms(cols, by)                            # ‖W_{:,J}‖_F, (blocks,)
        bl = self.bl
        bn = _block_norms([abs(v) for v in bl], by) if bl is not None else [0.0] * nb
        sizes = [min(by, m - c * by) for c in range(nb)]
        # T per cell: t·‖β‖₂ (or Σβ), ‖β‖₂ ≤ α(‖X_i‖‖W_J‖_F + ‖b_J‖) + κ√n
        bmag = [[alpha * (xn * wf[c] + bn[c]) * _UP + kappa * math.sqrt(sizes[c])
                 for c in range(nb)] for xn in self.x_norms]
        tt = self._t_of(bmag, sizes, by_line=True)
        yrows = y.row_lists()
        yabs = [[_abs_sum(r[c * by:c * by + by]) for c in range(nb)] for r in yrows]
        g_d = gamma(d + 2, _U)
        vmax = [[0.0] * nb for _ in range(n)]
        for trial in range(trials):
            r = _signs(rng, m)                                 # r ∈ {±1}^M
            vs, grid_err = self._w_block_sums_along(r, by)     # W_J r_J, (blocks,) of (D,)
            vnorm = [_norm(v) or 0.0 for v in vs]
            bsum = [0.0] * nb
            if bl is not None:
                br = list(map(mul, bl, r))
                bsum = [sum(br[c * by:c * by + by]) for c in range(nb)]
            for i in range(n):
                xi = self.xr[i]
                yr = list(map(mul, yrows[i], r))
                got = [sum(yr[c * by:c * by + by]) for c in range(nb)]
                ref = [_dot(xi, vs[c]) + bsum[c] for c in range(nb)]
                diffs = list(map(abs, map(sub, got, ref)))
                tols = []
                xn, x1 = self.x_norms[i], self.x_abs[i]
                for c in range(nb):
                    g_n = gamma(sizes[c] + 1, _U)
                    v_got = g_n * yabs[i][c]
                    v_ref = ((g_d + 2 * _U) * xn * vnorm[c] + x1 * grid_err[c]
                             + g_n * (bn[c] * math.sqrt(sizes[c]) if bl is not None else 0.0)
                             + _U * abs(ref[c]))
                    v = ((1 + 2 * _U) * (v_got + v_ref) + _U * tt[i][c]) * _UP
                    if v > vmax[i][c]:
                        vmax[i][c] = v
                    tols.append((tt[i][c] + v) * _UP)
                check.note_many(trial, i * nb, diffs, tols)
        check.tolerances = lambda cell: (tt[cell // nb][cell % nb], vmax[cell // nb][cell % nb],
                                         bmag[cell // nb][cell % nb])

    # -- dX = dY Wᵀ: cells (i, K) ------------------------------------------------

    def check_dx(self, check, dx, rng, trials):
        n, d, m, bd = self.n, self.d, self.m, self.bd
        nb = check.blocks
        if not self.finite:
            return self._fail_nonfinite(check, "an input has an infinite or NaN entry")
        alpha, kappa = linear_bound(check.k, self.dtype)
        wf = _block_norms(self.w_row_norms, bd)               # ‖W_{K,:}‖_F
        sizes = [min(bd, d - c * bd) for c in range(nb)]
        bmag = [[alpha * dn * wf[c] * _UP + kappa * math.sqrt(sizes[c]) for c in range(nb)]
                for dn in self.dy_norms]
        tt = self._t_of(bmag, sizes, by_line=True)
        rows = dx.row_lists()
        rabs = [[_abs_sum(r[c * bd:c * bd + bd]) for c in range(nb)] for r in rows]
        g_m = gamma(m + 2, _U)
        vmax = [[0.0] * nb for _ in range(n)]
        for trial in range(trials):
            r = _signs(rng, d)                                 # r ∈ {±1}^D
            us, grid_err = self._w_block_sums_down(r, bd)      # W_Kᵀ r_K, (blocks,) of (M,)
            unorm = [_norm(u) or 0.0 for u in us]
            for i in range(n):
                dyi = self.dyr[i]
                xr = list(map(mul, rows[i], r))
                got = [sum(xr[c * bd:c * bd + bd]) for c in range(nb)]
                ref = [_dot(dyi, us[c]) for c in range(nb)]
                diffs = list(map(abs, map(sub, got, ref)))
                tols = []
                dn, d1 = self.dy_norms[i], self.dy_abs[i]
                for c in range(nb):
                    v_got = gamma(sizes[c] + 1, _U) * rabs[i][c]
                    v_ref = (g_m + 2 * _U) * dn * unorm[c] + d1 * grid_err[c]
                    v = ((1 + 2 * _U) * (v_got + v_ref) + _U * tt[i][c]) * _UP
                    if v > vmax[i][c]:
                        vmax[i][c] = v
                    tols.append((tt[i][c] + v) * _UP)
                check.note_many(trial, i * nb, diffs, tols)
        check.tolerances = lambda cell: (tt[cell // nb][cell % nb], vmax[cell // nb][cell % nb],
                                         bmag[cell // nb][cell % nb])

    # -- dW = Xᵀ dY: cells (K, j) ------------------------------------------------

    def check_dw(self, check, dw, rng, trials):
        n, d, m, bd = self.n, self.d, self.m, self.bd
        nb = check.blocks
        if not self.finite:
            return self._fail_nonfinite(check, "an input has an infinite or NaN entry")
        alpha, kappa = linear_bound(check.k, self.dtype)
        xt, dyt = self.xt(), self.dyt()
        xf = _block_norms([_norm(c) for c in xt], bd)          # ‖X_{:,K}‖_F, (blocks,)
        dcn = [_norm(c) for c in dyt]                          # ‖dY_{:,j}‖₂, (M,)
        sizes = [min(bd, d - c * bd) for c in range(nb)]
        # rows are blocks here: bmag[c][j]
        bmag = [[alpha * xf[c] * dn * _UP + kappa * math.sqrt(sizes[c]) for dn in dcn]
                for c in range(nb)]
        tt = self._t_of(bmag, sizes, by_line=False)
        g_n = gamma(n + 2, _U)
        vcell = []
        for c in range(nb):
            # Σ_{k∈K}|dW_kj| ≤ (1 + α)·√n·‖mag‖ + n·κ for a correct backend
            # (an incorrect one only meets a stricter test); ‖a_K‖₂ ≤ √n·‖X_{:,K}‖_F
            root = math.sqrt(sizes[c])
            g_k = gamma(sizes[c] + 1, _U)
            row = []
            for j in range(m):
                mag = xf[c] * dcn[j] * _UP
                v_got = g_k * ((1 + alpha) * root * mag + sizes[c] * kappa)
                v_ref = (g_k + g_n * (1 + g_k)) * root * mag
                row.append(((1 + 2 * _U) * (v_got + v_ref) + _U * tt[c][j]) * _UP)
            vcell.append(row)
        tols = [list(map(lambda a, v: (a + v) * _UP, tt[c], vcell[c])) for c in range(nb)]
        values = dw.values
        for trial in range(trials):
            r = _signs(rng, d)                                 # r ∈ {±1}^D
            for c in range(nb):
                a = c * bd
                plus, minus = [], []
                for k in range(a, a + sizes[c]):
                    (plus if r[k] > 0 else minus).append(values[k * m:(k + 1) * m])
                got = _column_sums(plus, m)
                if minus:
                    got = list(map(sub, got, _column_sums(minus, m)))
                u = [0.0] * n                                  # X_{:,K} r_K, (N,)
                for k in range(a, a + sizes[c]):
                    col = xt[k]
                    u = list(map(_plus if r[k] > 0 else sub, u, col))
                ref = list(map(_dot, repeat(u, m), dyt))       # (M,)
                diffs = list(map(abs, map(sub, got, ref)))
                check.note_many(trial, c * m, diffs, tols[c])
        check.tolerances = lambda cell: (tt[cell // m][cell % m], vcell[cell // m][cell % m],
                                         bmag[cell // m][cell % m])

    def _t_of(self, bmag, sizes, by_line):
        """T per cell from its ‖β‖₂ bound B: t·B (Hoeffding), or in the worst
        case √n·B ≥ Σβ.  bmag[line][block] (by_line) or bmag[block][line]."""
        t = self.t
        out = []
        for a in range(len(bmag)):
            row = bmag[a]
            if t is not None:
                out.append([t * v * _UP for v in row])
            elif by_line:
                out.append([math.sqrt(sizes[c]) * row[c] * _UP for c in range(len(row))])
            else:
                out.append([math.sqrt(sizes[a]) * v * _UP for v in row])
        return out

    # -- W's block sums ----------------------------------------------------------

    def _w_block_sums_along(self, r, block):
        """([W_J r_J (D,) for each block J], [grid error per block])."""
        m, d = self.m, self.d
        nb = _blocks(m, block)
        if self.grid is not None:
            sums = self.grid.along_rows([r], block)[0]
            step = self.grid.step
            return sums, [packed.grid_error(min(block, m - c * block), step)
                          for c in range(nb)]
        # floats: each row's blocks, error γ_n·Σ|w| per entry (into V through
        # the entry's own rounding: bounded below by the reference's γ terms)
        sums = [[0.0] * d for _ in range(nb)]
        w = self.w.values
        for k in range(d):
            row = list(map(mul, w[k * m:(k + 1) * m], r))
            for c in range(nb):
                sums[c][k] = sum(row[c * block:c * block + block])
        return sums, self._float_grid_errors(nb, block, m)

    def _w_block_sums_down(self, r, block):
        """([W_Kᵀ r_K (M,) for each block K], [grid error per block])."""
        m, d = self.m, self.d
        nb = _blocks(d, block)
        if self.grid is not None:
            sums = self.grid.down_columns([r], block)[0]
            step = self.grid.step
            return sums, [packed.grid_error(min(block, d - c * block), step)
                          for c in range(nb)]
        w = self.w.values
        sums = []
        for c in range(nb):
            acc = [0.0] * m
            for k in range(c * block, min(d, c * block + block)):
                row = w[k * m:(k + 1) * m]
                acc = list(map(_plus if r[k] > 0 else sub, acc, row))
            sums.append(acc)
        return sums, self._float_grid_errors(nb, block, d)

    def _float_grid_errors(self, nb, block, length):
        """Bound on |float block sum − exact| per entry: γ_n·max over entries
        of Σ_{block}|w|, through the row norms (‖·‖₁ ≤ √n‖·‖₂ ≤ √n·max‖W_k‖₂
        for blocks along rows; √n·max_k |w| ≤ √n·max‖W_k‖₂ down columns)."""
        wmax = max(self.w_row_norms) if self.w_row_norms else 0.0
        out = []
        for c in range(nb):
            size = min(block, length - c * block)
            out.append(gamma(size + 1, _U) * size * wmax * _UP)
        return out


def _plus(a, b):
    return a + b


def _column_sums(rows, width):
    """Σ of equal-length rows (arrays or lists), (width,)."""
    if not rows:
        return [0.0] * width
    if len(rows) == 1:
        return rows[0].tolist() if hasattr(rows[0], "tolist") else list(rows[0])
    if _JIT:
        out = list(rows[0])
        for k in range(1, len(rows)):
            v = rows[k]
            for j in range(width):
                out[j] += v[j]
        return out
    return list(map(sum, zip(*rows)))


def _check_db(dy, db, n, m, dtype):
    """db[j] = Σ_i dY[i][j], every element against its own bound (O(N·M))."""
    check = OutputCheck("db", m, 1, 1, n, 1, lambda j: j)
    check.tolerances = lambda cell: (0.0, 0.0, 0.0)
    dbl = db.lists()
    for j in range(m):
        col = dy.col(j)
        ref = fsum(col)                                  # correctly rounded exact sum
        mag = fsum([abs(v) for v in col])
        check.note(0, j, abs(dbl[j] - ref), element_bound(n, mag, ref, dtype))
    return check
