"""The explicit-Jacobian oracle and central finite differences.

Both are independent witnesses of the backward formulas: they call only the
forward definition (reference.forward_unchecked), never the backward one.

Flattening is row-major: Y[i][j] is row i·M + j of every Jacobian; X[k][l]
is column k·D + l of dY/dX, W[k][l] column k·M + l of dY/dW, b[l] column l of
dY/db.  Y is linear in X (and in W, and in b), so column (k, l) of dY/dX is
exactly forward(E_kl, W) with E_kl the one-hot (N, D) matrix: no step, no
rounding (products with 0 and 1 and sums with 0 are exact).

The Jacobians are huge: dY/dX alone has (N·M)·(N·D) entries.  Sizes are
checked before anything is allocated, against JACOBIAN_BUDGET entries in all
(adjustable here or per call with budget=).
"""

from .formatting import group_digits, human_bytes
from .reference import dot, flatten, forward_unchecked
from .bounds import gamma as bounds_gamma
from .shapes import check_dims, linear_shapes, require_dy

# Total entries (dY/dX + dY/dW + dY/db) the oracle may build: 4 Mi entries is
# about 100 MiB of Python floats, seconds of work.
JACOBIAN_BUDGET = 4194304


class JacobianTooLarge(ValueError):
    """The explicit Jacobians would exceed the budget; nothing was allocated."""


def jacobian_size(n, d, m, bias=False):
    """Shapes and entry counts of the explicit Jacobians, before building any.

    Returns a dict: 'dy_dx' (N·M, N·D), 'dy_dw' (N·M, D·M), 'dy_db' (N·M, M)
    or None without bias, and 'entries', their total entry count.
    """
    check_dims(n, d, m)
    rows = n * m
    shapes = {"dy_dx": (rows, n * d), "dy_dw": (rows, d * m), "dy_db": (rows, m) if bias else None}
    entries = 0
    for key in ("dy_dx", "dy_dw", "dy_db"):
        if shapes[key] is not None:
            entries += shapes[key][0] * shapes[key][1]
    shapes["entries"] = entries
    return shapes


def describe_size(n, d, m, bias=False):
    """One line per Jacobian: shape, entries, bytes at float32 and float64."""
    size = jacobian_size(n, d, m, bias)
    lines = []
    for key, label in (("dy_dx", "dY/dX"), ("dy_dw", "dY/dW"), ("dy_db", "dY/db")):
        if size[key] is None:
            continue
        r, c = size[key]
        e = r * c
        lines.append(
            "%s is (%s, %s): %s entries, %s at float32, %s at float64"
            % (
                label,
                group_digits(r),
                group_digits(c),
                group_digits(e),
                human_bytes(4 * e),
                human_bytes(8 * e),
            )
        )
    return lines


def check_budget(n, d, m, bias=False, budget=None):
    """Raise JacobianTooLarge when the Jacobians exceed the budget."""
    if budget is not None and (type(budget) is not int or budget < 0):
        raise ValueError(
            "budget must be a non-negative int (entries), or None for "
            "JACOBIAN_BUDGET, not %r" % (budget,)
        )
    limit = JACOBIAN_BUDGET if budget is None else budget
    entries = jacobian_size(n, d, m, bias)["entries"]
    if entries > limit:
        raise JacobianTooLarge(
            "explicit Jacobians for N=%d, D=%d, M=%d refused: %s entries in all, "
            "over the budget of %s (refbackprop.oracle.JACOBIAN_BUDGET, or "
            "budget=); %s"
            % (
                n,
                d,
                m,
                group_digits(entries),
                group_digits(limit),
                "; ".join(describe_size(n, d, m, bias)),
            )
        )


def _zeros(rows, cols):
    return [[0] * cols for _ in range(rows)]


def _units(rows, cols):
    """Each unit matrix E_kl of (rows, cols), row by row: a 1 at (k, l), 0 elsewhere."""
    for k in range(rows):
        for l in range(cols):
            e = _zeros(rows, cols)
            e[k][l] = 1
            yield e


def _rows_of(columns, rows):
    """The matrix (rows, len(columns)) whose columns are given."""
    return [[c[r] for c in columns] for r in range(rows)]


def jacobian_unchecked(x, w, b, n, d, m):
    """(dY/dX, dY/dW, dY/db) as lists of rows, built one column at a time:
    column (k, l) of dY/dX is Y of the unit matrix E_kl in place of X."""
    rows = n * m
    cols_x = [flatten(forward_unchecked(e, w, None, n, m)) for e in _units(n, d)]  # N·D, (N·M,)
    cols_w = [flatten(forward_unchecked(x, e, None, n, m)) for e in _units(d, m)]  # D·M, (N·M,)
    dy_dx, dy_dw, dy_db = _rows_of(cols_x, rows), _rows_of(cols_w, rows), None
    if b is not None:
        zx, zw = _zeros(n, d), _zeros(d, m)
        cols_b = [flatten(forward_unchecked(zx, zw, e[0], n, m)) for e in _units(1, m)]  # M
        dy_db = _rows_of(cols_b, rows)
    return dy_dx, dy_dw, dy_db


def jacobian(x, w, b=None, budget=None):
    """The explicit Jacobians of Y = X W (+ b), derived from forward alone.

    x: (N, D); w: (D, M); b: (M,) or None.
    Returns (dy_dx, dy_dw, dy_db): (N·M, N·D), (N·M, D·M) and (N·M, M) (None
    without bias), row-major flattening as in the module docstring.
    Raises JacobianTooLarge (a ValueError) above the budget.
    """
    n, d, m = linear_shapes(x, w, b)
    check_budget(n, d, m, b is not None, budget)
    return jacobian_unchecked(x, w, b, n, d, m)


def vec_times(v, jac, cols):
    """vᵀ·J for v (R,), J (R, C): entry c is Σ_r v[r]·J[r][c]."""
    return [dot(v, [row[c] for row in jac]) for c in range(cols)]


def reshape(flat, rows, cols):
    return [flat[i * cols : (i + 1) * cols] for i in range(rows)]


def jacobian_backward(x, w, dy, b=None, budget=None):
    """(dx, dw, db) computed as vec(dY)ᵀ · J through the explicit Jacobians.

    Same arguments and shapes as reference.backward: x (N, D), w (D, M),
    dy (N, M), b (M,) or None.
    """
    require_dy(dy)
    n, d, m = linear_shapes(x, w, b, dy)
    check_budget(n, d, m, b is not None, budget)
    dy_dx, dy_dw, dy_db = jacobian_unchecked(x, w, b, n, d, m)
    g = flatten(dy)  # vec(dY): (N·M,)
    dx = reshape(vec_times(g, dy_dx, n * d), n, d)  # (N·M,) @ (N·M, N·D) -> (N, D)
    dw = reshape(vec_times(g, dy_dw, d * m), d, m)  # (N·M,) @ (N·M, D·M) -> (D, M)
    db = None if b is None else vec_times(g, dy_db, m)  # (N·M,) @ (N·M, M) -> (M,)
    return dx, dw, db


def _loss(x, w, b, dy, n, d, m):
    """L = Σ_ij dY[i][j]·Y[i][j], the loss whose gradient backward returns."""
    y = forward_unchecked(x, w, b, n, m)
    return dot(flatten(dy), flatten(y))


def _step(v):
    """Central-difference step for entry v: max(1, |v|) (see docs/numerics.md)."""
    a = abs(v)
    return a if a > 1 else 1


def finite_differences(x, w, dy, b=None, budget=None):
    """(dx, dw, db) by central differences of L = Σ dY∘Y, a third witness.

    Same arguments and shapes as reference.backward.  For each input entry v
    with step h = max(1, |v|):  ∂L/∂v ≈ (L(v + h) - L(v - h)) / (2h).
    L is affine in v, so the truncation term (h²/6)·∂³L/∂v³ is exactly zero
    and only rounding remains; that is why the step is large.  Exact for
    Fractions; for floats see finite_difference_bound.  Costs
    (N·D + D·M + M) · 2 forward passes, so the Jacobian budget applies.
    """
    require_dy(dy)
    n, d, m = linear_shapes(x, w, b, dy)
    check_budget(n, d, m, b is not None, budget)

    def central(args, mat, i, j):
        v = mat[i][j]
        h = _step(v)
        mat[i][j] = v + h
        lp = _loss(args[0], args[1], args[2], dy, n, d, m)
        mat[i][j] = v - h
        lm = _loss(args[0], args[1], args[2], dy, n, d, m)
        mat[i][j] = v
        return (lp - lm) / (2 * h)

    xc = [list(r) for r in x]
    wc = [list(r) for r in w]
    bc = None if b is None else list(b)
    args = (xc, wc, bc)
    dx = [[central(args, xc, i, k) for k in range(d)] for i in range(n)]
    dw = [[central(args, wc, k, j) for j in range(m)] for k in range(d)]
    db = None
    if b is not None:
        holder = [bc]
        db = [central(args, holder, 0, j) for j in range(m)]
    return dx, dw, db


def finite_difference_bound(x, w, dy, b=None, u=2.0**-53):
    """One bound on |finite_differences(...) - exact gradient| for floats.

    Each loss evaluation L = Σ dY∘(X W + b) has K = D + 1 + N·M rounded
    operations per path, so |L̂ - L| ≤ γ_K·T with T = Σ_ij |dY_ij|·(Σ_k |X_ik|
    |W_kj| + |b_j|), T taken at the largest perturbation (every entry moved by
    h_max = max(1, max |entry|)).  Two evaluations divided by 2h give γ_K·T/h;
    the rounding of v ± h, the subtraction and the division add 4u relative.
    With h ≥ 1 the bound returned is 2·(γ_K·T + 4u·G) where G bounds |∂L/∂v|:
    the factor 2 is a safety margin.  Returns a float.
    """
    require_dy(dy)
    n, d, m = linear_shapes(x, w, b, dy)
    if type(u) is not float or not 0 < u < 1:
        raise ValueError("u must be a unit roundoff, a float in (0, 1), not %r" % (u,))
    k_ops = d + 1 + n * m
    gamma = bounds_gamma(k_ops, u)  # refuses K·u ≥ 1: no bound exists there
    big = 1.0
    for mat in (x, w, [b] if b is not None else []):
        for row in mat:
            for v in row:
                if abs(v) > big:
                    big = float(abs(v))
    h = big
    t = 0.0
    g = 0.0
    for i in range(n):
        for j in range(m):
            s = (abs(b[j]) + h) if b is not None else 0.0
            for k in range(d):
                s += (abs(x[i][k]) + h) * (abs(w[k][j]) + h)
            t += abs(dy[i][j]) * s
            g += abs(dy[i][j]) * (big + h)
    return 2 * (gamma * t + 4 * u * g)
