"""The reference semantics of a linear layer, on nested Python lists.

    forward:   Y = X W + b                   x (N, D), w (D, M), b (M,) -> y (N, M)
    backward:  dX = dY Wᵀ                    (N, M) @ (M, D) -> (N, D)
               dW = Xᵀ dY                    (D, N) @ (N, M) -> (D, M)
               db[j] = Σ_i dY[i][j]          (N, M) -> (M,)

Only + and * touch the entries, so floats, ints, Fractions and symbolic
scalars all pass through unchanged.  Every sum runs left to right from its
first term (never the builtin sum(), which is compensated from CPython 3.12),
so float results are bit-identical on every interpreter.  An empty sum is the
integer 0.
"""

from .shapes import linear_shapes, require_dy


def dot(a, b):
    """Σ_k a[k]·b[k], added left to right starting from the first product."""
    n = len(a)
    if n == 0:
        return 0
    acc = a[0] * b[0]
    for k in range(1, n):
        acc = acc + a[k] * b[k]
    return acc


def total(v):
    """Σ_k v[k], added left to right starting from the first term."""
    n = len(v)
    if n == 0:
        return 0
    acc = v[0]
    for k in range(1, n):
        acc = acc + v[k]
    return acc


def transpose(a, cols):
    """Aᵀ as new lists: a (R, C) -> (C, R); cols = C, known even when R = 0."""
    return [[row[j] for row in a] for j in range(cols)]


def flatten(a):
    """A matrix (R, C) as one row-major list (R·C,)."""
    out = []
    for row in a:
        out.extend(row)
    return out


def forward_unchecked(x, w, b, n, m):
    """Y = X W (+ b) for shapes already validated: (N, D) @ (D, M) -> (N, M)."""
    wt = transpose(w, m)  # (M, D)
    if b is None:
        return [[dot(x[i], wt[j]) for j in range(m)] for i in range(n)]
    return [[dot(x[i], wt[j]) + b[j] for j in range(m)] for i in range(n)]


def backward_unchecked(x, w, dy, b, n, d, m):
    """(dX, dW, db) for shapes already validated."""
    # dX = dY Wᵀ: (N, M) @ (M, D) -> (N, D); row k of W is column k of Wᵀ
    dx = [[dot(dy[i], w[k]) for k in range(d)] for i in range(n)]
    xt = transpose(x, d)  # (D, N)
    dyt = transpose(dy, m)  # (M, N)
    # dW = Xᵀ dY: (D, N) @ (N, M) -> (D, M)
    dw = [[dot(xt[k], dyt[j]) for j in range(m)] for k in range(d)]
    db = None if b is None else [total(dyt[j]) for j in range(m)]  # Σ_i dY[i][j]: (M,)
    return dx, dw, db


def forward(x, w, b=None):
    """Forward pass Y = X W (+ b).

    x: (N, D) matrix; w: (D, M) matrix; b: (M,) vector or None.
    Returns y, a new (N, M) matrix.
    """
    n, d, m = linear_shapes(x, w, b)
    return forward_unchecked(x, w, b, n, m)


def backward(x, w, dy, b=None):
    """Backward pass: gradients of L given dy = ∂L/∂Y.

    x: (N, D); w: (D, M); dy: (N, M); b: (M,) or None (only its presence
    matters: db is None without it).
    Returns (dx, dw, db): dx = dY Wᵀ (N, D), dw = Xᵀ dY (D, M),
    db[j] = Σ_i dY[i][j] (M,) or None.  All new lists.
    """
    require_dy(dy)
    n, d, m = linear_shapes(x, w, b, dy)
    return backward_unchecked(x, w, dy, b, n, d, m)
