"""Verify a backend's outputs at any size without the Jacobian (Freivalds).

At N=64, D=M=4096 the explicit Jacobian is 256 GiB and exact products cost
N·D·M; instead each output is multiplied by random sign vectors r ∈ {±1} and
compared with the reference's factored product, in O(N·D + D·M + N·M):

    Y·r    against  X·(W r) + (b·r)·1       r ∈ {±1}^M   (one value per row of Y)
    dX·r   against  dY·(Wᵀ r)               r ∈ {±1}^D   (one value per row of dX)
    rᵀ·dW  against  (X r)ᵀ·dY               r ∈ {±1}^D   (one value per column of dW)
    db     element by element against Σ_i dY[i][j] (exact; it is only O(N·M))

Tolerance, line by line (a row, or for dW a column), from the bound the
comparison engine uses: if a correct backend's element errors satisfy
|E_ij| ≤ b_ij (bounds.py), then |(E r)_i| ≤ Σ_j b_ij = T_i whatever the
signs.  The verifier's own float64 rounding adds V_i.  A line passes when
|got·r − reference·r| ≤ T_i + V_i, so a correct backend never fails.

Detection: if some element has |E_ij| ≥ T_i + 2·V_i, then for random signs
P(|(E r)_i| < T_i + 2·V_i) ≤ 1/2 (fix every sign but r_j: the two values
s ± E_ij are 2|E_ij| apart, so at most one lies in the open interval).
With t independent trials such an error escapes with probability ≤ 2^-t.

Cost, in pure Python, where touching one float of a 4096×4096 matrix costs
5 to 30 ns whatever the arithmetic.  W is read once: packed.py rounds it to
one grid and turns each row and each column into a big integer, so every
W r and Wᵀ r of every trial is an exact ± sum of integers (_WSums); the
grid's rounding, (n + 1)·step/2 for a sum of n entries, joins V.  dW's
signed row sums rᵀ dW are formed for a batch of BATCH trials in one pass:
the rows are grouped by their BATCH-bit sign code and each group is added
column by column once (_signed_row_sums), and every trial's vector is a
± combination of the group sums.  Where packing is not available (the
runtime, or W not finite or beyond 2^1021) W's sums are floats: Wᵀ r like
rᵀ dW, and W r as r·v = 2·Σ_{r_j=+1} v_j − Σ_j v_j with the positive
entries gathered by operator.itemgetter (a pass over half of W per trial).

Tolerances use Cauchy–Schwarz bounds from one pass of squares per row of W:
Σ_j |W_kj| ≤ √(M·Σ_j W_kj²) for Y, and (|dY| |W|ᵀ 1)_i ≤ ‖dY_i‖₂·√(D)·‖W‖_F
for dX (the vector of column sums of |W| has 2-norm ≤ √D·‖W‖_F), each
within 15–35% of the exact sums on dense data.  Rows whose squares underflow
or overflow are rescaled by 2^±600 first; if a norm or the column bound is
still not finite (inf or NaN in W, or ‖W‖_F beyond the float range), the
exact sums of |W| and Σ_k max_j |W_kj| are used instead (_magnitudes).
The verifier's rounding on dW is bounded through |X|ᵀ|dY|, which bounds |dW|
for any correct backend (an incorrect one only meets a stricter test).  The
builtin sum() and math.sumprod are used for speed: the tolerances hold for
any summation order, so the verdict does not depend on the interpreter
(both are compensated from CPython 3.12) even where the last bits of a
projection do.
"""

import math
import sys

from . import packed
from .bounds import UNIT_ROUNDOFF, element_bound, fsum, gamma, is_finite
from .formatting import json_float
from .rng import Rng, seed_from

_U64 = UNIT_ROUNDOFF["float64"]
SAFETY = 2.0                 # on the verifier's own rounding term V

# Which way sums are formed follows the interpreter's costs: CPython runs
# builtins (sum, zip, itemgetter, big integers) at C speed and a Python loop
# step at 20-60 ns; PyPy's JIT runs a plain loop over a float list at about
# 1 ns a step, faster than any of those builtins there.
_JIT = getattr(sys.implementation, "name", "") == "pypy"


class _Rows:
    """A matrix as rows, with each row's plain sum and (if magnitudes) sum of
    |entries|."""

    def __init__(self, rows, magnitudes=True):
        self.rows = rows
        self.sums = [sum(r) for r in rows]
        self.abs = [sum(map(abs, r)) for r in rows] if magnitudes else None

    def signed(self, gather):
        """(R r) for the sign vector whose positive positions gather picks."""
        return [2.0 * sum(gather(r)) - s for r, s in zip(self.rows, self.sums)]


try:
    from operator import itemgetter, mul
except ImportError:                  # MicroPython: no itemgetter, no mul
    itemgetter = None

    def mul(a, b):
        return a * b

_dot = getattr(math, "sumprod", None)              # CPython 3.12+: one C loop
if _dot is None and _JIT:
    def _dot(a, b):
        s = 0.0
        for i in range(len(a)):
            s += a[i] * b[i]
        return s
elif _dot is None:
    def _dot(a, b):
        return sum(map(mul, a, b))


def _dot_abs(a, b):
    return sum(map(mul, map(abs, a), map(abs, b)))


_TINY = 2.0 ** -1074                                # what a square may lose to underflow
_SMALL = 2.0 ** -900                                # below this, rescale before squaring


def _norm_bound(row):
    """An upper bound on ‖row‖₂ (rounding and underflow of the squares
    included), or None if it is not finite.  Rows whose squares underflow or
    overflow are first scaled by a power of two (exact)."""
    k = len(row)
    squares = _dot(row, row)
    scale = 1.0
    if not (is_finite(squares) and squares >= _SMALL):
        scale = 2.0 ** 600 if is_finite(squares) else 2.0 ** -600
        scaled = [v * scale for v in row]
        squares = _dot(scaled, scaled)
        if not is_finite(squares):
            return None
    bound = math.sqrt((squares + k * _TINY) * (1.0 + 2.0 * gamma(k + 2, _U64)))
    return bound * (1.0 + 4.0 * _U64) / scale


def _abs_sum_bound(row):
    """An upper bound on Σ|x| (its computed value, rounded up)."""
    return sum(map(abs, row)) * (1.0 + 2.0 * gamma(len(row) + 2, _U64))


def _magnitudes(w, dy, m, d):
    """(rowabs (D,), dyw (N,), wmax): rowabs[k] ≥ Σ_j |W_kj|,
    dyw[i] ≥ (|dY| |W|ᵀ 1)_i = Σ_j |dY_ij| Σ_k |W_kj|, and wmax ≥ max |W|,
    or None when W is not finite.

    Cauchy–Schwarz from one pass of squares over W (module docstring); the
    exact sums of |W|, and Σ_k max_j |W_kj| for the columns, when a norm or
    ‖W‖_F is not finite."""
    norms = [_norm_bound(row) for row in w]
    frob = _norm_bound(norms) if None not in norms else None   # ≥ ‖W‖_F
    if frob is not None:
        cols = math.sqrt(d) * frob * (1.0 + 4.0 * _U64)    # ≥ ‖(Σ_k |W_kj|)_j‖₂
        if is_finite(cols):
            root = math.sqrt(m) * (1.0 + 4.0 * _U64)
            dyw = []
            for row in dy:
                norm = _norm_bound(row)
                if norm is None:
                    norm = _abs_sum_bound(row)          # ‖·‖₂ ≤ ‖·‖₁
                dyw.append(norm * cols * (1.0 + 4.0 * _U64))
            return [root * v for v in norms], dyw, max(norms) if norms else 0.0
    rowabs, wmax = [], 0.0
    for row in w:
        a = list(map(abs, row))
        rowabs.append(_abs_sum_bound(a))
        wmax += max(a) if a else 0.0
    return rowabs, [_abs_sum_bound(row) * wmax for row in dy], None


def _gather(indices):
    """row -> the entries at indices (a tuple), for any number of indices."""
    if not indices:
        return lambda row: ()
    if len(indices) == 1:
        k = indices[0]
        return lambda row: (row[k],)
    if itemgetter is None:
        return lambda row: tuple([row[k] for k in indices])
    return itemgetter(*indices)


def _codes(rng, n, bits):
    """n random codes of `bits` bits: bit t of code j is the sign of r_j in trial t."""
    mask = (1 << bits) - 1
    return [rng.next64() & mask for _ in range(n)]


def _positions(codes, t):
    """Positions whose sign is +1 in trial t."""
    return [j for j in range(len(codes)) if (codes[j] >> t) & 1]


def _plus_getters(present, bits):
    """For each trial t, a getter of the group sums whose code has bit t set."""
    return [_gather([i for i in range(len(present)) if (present[i] >> t) & 1])
            for t in range(bits)]


def _sum_rows(vectors, width):
    """Σ of equal-length vectors, (width,): zip and the builtin sum on
    CPython, a plain loop under a JIT (_JIT)."""
    if not vectors:
        return [0.0] * width
    out = list(vectors[0])
    if len(vectors) == 1:
        return out
    if _JIT:
        for k in range(1, len(vectors)):
            v = vectors[k]
            for j in range(width):
                out[j] += v[j]
        return out
    return list(map(sum, zip(*vectors)))


def _signed_row_sums(rows, codes, bits, width):
    """[Σ_k r_k·rows[k] for each of `bits` trials]: signed sums of whole rows.

    Rows are grouped by their code (2^bits groups); each group's rows are
    added column by column once, and every trial's vector is then a ±
    combination of the group vectors: one pass over the matrix serves all
    the trials of a batch.
    """
    groups = [[] for _ in range(1 << bits)]
    for k in range(len(rows)):
        groups[codes[k]].append(rows[k])
    present = [c for c in range(1 << bits) if groups[c]]
    sums = [_sum_rows(groups[c], width) for c in present]
    total = _sum_rows(sums, width)
    out = []
    for plus in _plus_getters(present, bits):
        pos = _sum_rows(plus(sums), width)
        out.append([2.0 * p - q for p, q in zip(pos, total)])
    return out


class OutputCheck:
    """The result for one output: trials run, worst |diff|/tolerance, where."""

    def __init__(self, name, rows, length):
        self.name = name
        self.rows = rows             # how many lines (rows, or columns for dW) per trial
        self.length = length         # length of each projection (K of r)
        self.worst_ratio = 0.0
        self.worst_row = None
        self.worst_trial = None
        self.failed_rows = 0
        self.tolerance = None        # T + V of the worst row
        self.detect = None           # T + 2V of the worst row: guaranteed detection
        self.message = ""

    @property
    def passed(self):
        return self.failed_rows == 0

    def note(self, trial, i, diff, t, v):
        tol = t + v
        ratio = diff / tol if tol > 0 else (0.0 if diff == 0 else float("inf"))
        if not ratio <= 1.0:         # NaN counts as a failure
            self.failed_rows += 1
            if not self.message:
                self.message = ("%s line %d, trial %d: |got·r − reference·r| = %.6g "
                                "exceeds the tolerance %.6g" % (self.name, i, trial,
                                                              diff, tol))
            if ratio != ratio:
                ratio = float("inf")
        if ratio > self.worst_ratio or self.worst_row is None:
            self.worst_ratio, self.worst_row, self.worst_trial = ratio, i, trial
            self.tolerance, self.detect = tol, t + 2 * v

    def to_dict(self):
        return {"output": self.name, "passed": self.passed, "rows": self.rows,
                "failed_rows": self.failed_rows,
                "worst_ratio": json_float(self.worst_ratio),
                "worst_row": self.worst_row, "worst_trial": self.worst_trial,
                "tolerance": json_float(self.tolerance),
                "detect_above": json_float(self.detect), "message": self.message}


class Verification:
    """What was verified, with the probability that an error slipped through."""

    def __init__(self, n, d, m, dtype, trials, seed):
        self.n, self.d, self.m, self.dtype = n, d, m, dtype
        self.trials, self.seed = trials, seed
        self.outputs = []

    @property
    def passed(self):
        return all(o.passed for o in self.outputs)

    @property
    def miss_probability(self):
        """Upper bound on P(an element beyond its row's detection threshold went
        unseen), per output: 2^-trials."""
        return 0.5 ** self.trials

    def lines(self):
        out = ["verified N=%d, D=%d, M=%d in %s with %d random sign trials (seed %d)"
               % (self.n, self.d, self.m, self.dtype, self.trials, self.seed)]
        for o in self.outputs:
            if o.name == "db":
                what = "every element exactly against its bound"
            else:
                what = "%d %s × %d trials" % (o.rows, "columns" if o.name == "dw" else "rows",
                                              self.trials)
            out.append("  %-3s %s: %s, worst |diff|/tolerance %.3g%s"
                       % (o.name, "ok  " if o.passed else "FAIL", what, o.worst_ratio,
                          "" if o.passed else "; " + o.message))
        out.append("  an output element off by more than its row's detection threshold "
                   "(the row tolerance plus the verifier's rounding) escapes all trials "
                   "with probability at most 2^-%d = %.3g" % (self.trials,
                                                              self.miss_probability))
        return out

    def to_dict(self):
        return {"N": self.n, "D": self.d, "M": self.m, "dtype": self.dtype,
                "trials": self.trials, "seed": self.seed, "passed": self.passed,
                "miss_probability": self.miss_probability,
                "outputs": [o.to_dict() for o in self.outputs]}


BATCH = 6                    # trials whose signs are drawn, and rows grouped, together
DEFAULT_TRIALS = 12          # miss probability 2^-12 ≈ 2.4e-4 per output


def verify(x, w, b, dy, y, dx, dw, db, dtype, trials=DEFAULT_TRIALS, seed=0):
    """Verify y, dx, dw, db (nested lists, as from tolist) for x (N, D),
    w (D, M), b (M,) or None, dy (N, M), computed in dtype.  Returns a
    Verification.  Shapes must already be right (the caller checks them)."""
    n, d = len(x), len(w)
    m = len(dy[0]) if dy else (len(w[0]) if w else (len(b) if b is not None else 0))
    u = UNIT_ROUNDOFF[dtype]
    result = Verification(n, d, m, dtype, trials, seed)
    rng = Rng(seed_from("freivalds/N%d-D%d-M%d/%s" % (n, d, m, dtype), seed))

    X, Y, DX = _Rows(x), _Rows(y), _Rows(dx)            # (N, D), (N, M), (N, D): small
    babs = sum(map(abs, b)) if b is not None else 0.0
    xabs = X.abs                                        # (N,)
    dyabs = [sum(map(abs, r)) for r in dy]              # (N,)
    dyt = list(zip(*dy)) if n else [()] * m             # (M, N): small
    rowabs, dyw, wmax = _magnitudes(w, dy, m, d)        # ≥ Σ_j |W_kj|; ≥ (|dY| |W|ᵀ 1)_i
    sums = _WSums(w, m, wmax)                           # ± sums of W's rows and columns

    # Line tolerances T: the backend's element bounds summed over the line.
    g_y = gamma(d + 1, u) if b is not None else gamma(d, u)
    xw = [_dot_abs(x[i], rowabs) + babs for i in range(n)]         # ≥ (|X| |W| 1 + Σ|b|)_i
    xdy = [_dot_abs(xabs, col) for col in dyt]                      # (1ᵀ|X|ᵀ|dY|)_j
    t_y = [g_y * xw[i] for i in range(n)]
    t_dx = [gamma(m, u) * dyw[i] for i in range(n)]
    t_dw = [gamma(n, u) * xdy[j] for j in range(m)]

    # The verifier's own float64 rounding V per line (module docstring).
    ga = SAFETY * (4 * gamma(max(m, d, n) + (1 << BATCH) + 4, _U64) + 2 * _U64)
    v_y = [ga * (Y.abs[i] + 2 * xw[i]) for i in range(n)]
    v_dx = [ga * (DX.abs[i] + 2 * dyw[i]) for i in range(n)]
    v_dw = [ga * 4 * xdy[j] for j in range(m)]
    for i in range(n):                                  # W r and Wᵀ r packed: their grid
        v_y[i] += (1 + ga) * xabs[i] * sums.error(m)
        v_dx[i] += (1 + ga) * dyabs[i] * sums.error(d)

    cy = OutputCheck("y", n, m)
    cdx = OutputCheck("dx", n, d)
    cdw = OutputCheck("dw", m, d)
    # One output at a time: W's ± sums for all trials of an output at once.
    batches = _batches(rng, m, trials)                  # r ∈ {±1}^M
    wr = sums.along_rows(batches)                       # W r: (D,) for every trial
    for trial, codes, bits in batches:
        for t in range(bits):
            # forward: Y r  vs  X (W r) + b·r
            gather = _gather(_positions(codes, t))
            br = (2.0 * sum(gather(b)) - sum(b)) if b is not None else 0.0
            lhs = Y.signed(gather)                      # (N,)
            rhs = wr[trial + t]
            for i in range(n):
                cy.note(trial + t, i, abs(lhs[i] - (_dot(x[i], rhs) + br)), t_y[i], v_y[i])
    batches = _batches(rng, d, trials)                  # r ∈ {±1}^D
    wtr = sums.down_columns(batches)                    # Wᵀ r: (M,) for every trial
    sums = wr = None
    for trial, codes, bits in batches:
        for t in range(bits):
            # dX = dY Wᵀ: dX r  vs  dY (Wᵀ r)
            lhs = DX.signed(_gather(_positions(codes, t)))   # (N,)
            rhs = wtr[trial + t]
            for i in range(n):
                cdx.note(trial + t, i, abs(lhs[i] - _dot(dy[i], rhs)), t_dx[i], v_dx[i])
    wtr = None
    for trial, codes, bits in _batches(rng, d, trials):     # r ∈ {±1}^D
        rdw = _signed_row_sums(dw, codes, bits, m)      # rᵀ dW: (M,) per trial
        for t in range(bits):
            # dW = Xᵀ dY: rᵀ dW  vs  (X r)ᵀ dY
            gather = _gather(_positions(codes, t))
            xr = X.signed(gather)                       # X r: (N,)
            ref = [_dot(xr, col) for col in dyt]                           # (M,)
            got = rdw[t]
            for j in range(m):
                cdw.note(trial + t, j, abs(got[j] - ref[j]), t_dw[j], v_dw[j])
    result.outputs = [cy, cdx, cdw]
    if b is not None:
        result.outputs.append(_check_db(dy, db, n, m, dtype))
    return result


def _batches(rng, length, trials):
    """[(first trial, codes, bits)] for batches of at most BATCH trials: bit t
    of codes[j] is the sign of r_j in trial first + t."""
    out = []
    done = 0
    while done < trials:
        bits = min(BATCH, trials - done)
        out.append((done, _codes(rng, length, bits), bits))
        done += bits
    return out


class _WSums:
    """± sums along W's rows (W r) and down its columns (Wᵀ r), W (D, M),
    for all the trials of a list of batches (_batches) at once.

    Through packed.Packed where this runtime and W allow (CPython, W finite,
    wmax ≥ max |W|): W is read once, then every sum is exact on its grid, and
    error(n) bounds what the grid adds to a ± sum of n entries.  Otherwise
    floats, error(n) = 0: Wᵀ r by _signed_row_sums, W r by gathers (one pass
    over half of W per trial) or, under a JIT, by adding each row's entries
    into one sum per sign code (one pass per batch)."""

    def __init__(self, w, m, wmax):
        self.w, self.m, self.grid, self.step = w, m, None, 0.0
        self._rows = None                       # W's row sums, for gathers
        if wmax is not None and not _JIT and packed.available():
            try:
                self.grid = packed.Packed(w, m, wmax)
                self.step = self.grid.step
            except ValueError:                  # beyond the packed range: floats
                pass

    def error(self, count):
        return packed.grid_error(count, self.step) if self.step else 0.0

    def along_rows(self, batches):
        """[W r (D,) for every trial]."""
        if self.grid is not None:
            return self.grid.along_rows([(codes, bits) for _, codes, bits in batches])
        out = []
        for _, codes, bits in batches:
            out.extend(self._w_r(codes, bits))
        return out

    def down_columns(self, batches):
        """[Wᵀ r (M,) for every trial]."""
        if self.grid is not None:
            return self.grid.down_columns([(codes, bits) for _, codes, bits in batches])
        out = []
        for _, codes, bits in batches:
            out.extend(_signed_row_sums(self.w, codes, bits, self.m))
        return out

    def _w_r(self, codes, bits):
        w, m = self.w, self.m
        if _JIT:                                # each row's entries summed by code
            plus = _plus_getters(list(range(1 << bits)), bits)
            out = [[] for _ in range(bits)]
            for row in w:
                acc = [0.0] * (1 << bits)
                for j in range(m):
                    acc[codes[j]] += row[j]
                total = sum(acc)
                for t in range(bits):
                    out[t].append(2.0 * sum(plus[t](acc)) - total)
            return out
        if self._rows is None:
            self._rows = _Rows(w, magnitudes=False)     # W r = 2·Σ₊ − Σ per row
        return [self._rows.signed(_gather(_positions(codes, t))) for t in range(bits)]


def _check_db(dy, db, n, m, dtype):
    """db[j] = Σ_i dY[i][j], every element against its own bound (O(N·M))."""
    check = OutputCheck("db", m, n)
    cols = list(zip(*dy)) if n else [()] * m
    for j in range(m):
        ref = fsum(cols[j])                              # correctly rounded exact sum
        mag = sum(map(abs, cols[j]))
        check.note(0, j, abs(db[j] - ref), element_bound(n, mag * SAFETY, ref, dtype), 0.0)
    return check
