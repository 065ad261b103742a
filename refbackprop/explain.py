"""The notes' derivation, generated for any small shape, and proved symbolically.

explain(n, d, m) returns the text (or a LaTeX fragment) of:
  Y = XW element by element (notes eq. 3); the Jacobian slice ∂Y/∂x_{i,j}
  (eq. 8); each ∂L/∂x_{i,j} as an explicit sum of products (eqs. 11, 14, 17,
  20); the full ∂L/∂X (eq. 22) and the check that it equals ∂L/∂Y·Wᵀ (eqs.
  23–24); the same for ∂L/∂W = Xᵀ·∂L/∂Y (eq. 25) and, with a bias, ∂L/∂b.

The proof: every entry of vec(∂L/∂Y)ᵀ·∂Y/∂X, formed through the explicit
Jacobian (oracle.jacobian, built from the forward definition alone), equals
the same entry of the closed form as polynomials in canonical form.
"""

from .oracle import jacobian_backward, jacobian
from .reference import dot, transpose
from .symbolic import Poly, symbols

MAX_DIM = 4                  # beyond this the matrices are no longer readable

# The notes' equation numbers for ∂L/∂x_{i,j} when X is 2×2.
_NOTES_EQS = {(1, 1): 11, (1, 2): 14, (2, 1): 17, (2, 2): 20}


def check_shape(n, d, m, element=(1, 1)):
    """Refuse shapes whose derivation would be unreadable, and bad elements."""
    for label, v in (("N", n), ("D", d), ("M", m)):
        if type(v) is not int or v < 1 or v > MAX_DIM:
            raise ValueError("%s=%r: explain prints shapes from 1 to %d in each "
                             "dimension; beyond that the matrices are unreadable "
                             "(use refbackprop jacobian for sizes)" % (label, v, MAX_DIM))
    i, j = element
    if not (1 <= i <= n and 1 <= j <= d):
        raise ValueError("--element %d %d is outside X, which is %d×%d (1-based)"
                         % (i, j, n, d))


def derive(n, d, m, bias=False, closed_dx=None, closed_dw=None):
    """The symbolic pieces: inputs, Y, the Jacobian, both gradients, the proof.

    closed_dx / closed_dw replace the closed forms (for testing a wrong one).
    """
    x, w, dy = symbols("x", n, d), symbols("w", d, m), symbols("dy", n, m)
    b = symbols("b", m) if bias else None
    y = [[dot(x[i], [w[k][j] for k in range(d)]) + (b[j] if bias else 0)
          for j in range(m)] for i in range(n)]
    dy_dx = jacobian(x, w, b)[0]
    via_j = jacobian_backward(x, w, dy, b)                       # vec(dY)ᵀ·J
    wt = transpose(w, m)                                         # (M, D)
    xt = transpose(x, d)                                         # (D, N)
    dyt = transpose(dy, m)                                       # (M, N)
    dx = closed_dx or [[dot(dy[i], [wt[j][k] for j in range(m)]) for k in range(d)]
                       for i in range(n)]                        # dY Wᵀ
    dw = closed_dw or [[dot(xt[k], dyt[j]) for j in range(m)] for k in range(d)]  # Xᵀ dY
    db = [dot([Poly.const(1)] * n, dyt[j]) for j in range(m)] if bias else None
    return {"x": x, "w": w, "b": b, "dy": dy, "y": y, "dy_dx": dy_dx,
            "via_jacobian": via_j, "dx": dx, "dw": dw, "db": db,
            "dx_proved": via_j[0] == dx, "dw_proved": via_j[1] == dw,
            "db_proved": (via_j[2] == db) if bias else None}


def _matrix_text(rows):
    """Aligned rows of rendered entries."""
    cells = [[e.render() if isinstance(e, Poly) else str(e) for e in r] for r in rows]
    widths = [max(len(r[c]) for r in cells) for c in range(len(cells[0]))] if cells else []
    out = []
    for r in cells:
        out.append("  [ " + "   ".join(r[c] + " " * (widths[c] - len(r[c]))
                                       for c in range(len(r))) + " ]")
    return out


def _matrix_latex(rows):
    body = " \\\\\n".join(" & ".join(e.render(True) if isinstance(e, Poly) else str(e)
                                     for e in r) for r in rows)
    return "\\begin{pmatrix}\n%s\n\\end{pmatrix}" % body


def _slice(parts, n, d, m, i, j):
    """∂Y/∂x_{i,j} as an (N, M) matrix: column (i-1)·D + (j-1) of dY/dX."""
    col = (i - 1) * d + (j - 1)
    return [[parts["dy_dx"][r * m + c][col] for c in range(m)] for r in range(n)]


def _sum_of_products(parts, n, d, m, i, j, latex):
    """∂L/∂x_{i,j} = Σ_{r,c} ∂L/∂y_{r,c}·(∂Y/∂x_{i,j})_{r,c}, read off the
    Jacobian slice (eqs. 9–10), keeping the products that are not zero."""
    piece = _slice(parts, n, d, m, i, j)
    terms = [parts["dy"][r][c] * piece[r][c] for r in range(n) for c in range(m)
             if piece[r][c] != 0]
    return " + ".join(t.render(latex) for t in terms) if terms else "0"


def explain(n, d, m, bias=False, latex=False, element=(1, 1)):
    """The derivation as text (or LaTeX with amsmath); raises ValueError for
    shapes beyond MAX_DIM or an element outside X."""
    check_shape(n, d, m, element)
    parts = derive(n, d, m, bias)
    return (_latex if latex else _text)(parts, n, d, m, bias, element)


def _verdict(ok):
    return "holds" if ok else "FAILS"


def _text(p, n, d, m, bias, element):
    ei, ej = element
    L = []
    L.append("Linear layer with N=%d, D=%d, M=%d: X is %d×%d, W is %d×%d, Y = XW%s is %d×%d."
             % (n, d, m, n, d, d, m, " + b" if bias else "", n, m))
    L.append("")
    L.append("Y = XW%s, element by element (notes eq. 3):" % (" + b" if bias else ""))
    for i in range(n):
        for j in range(m):
            L.append("  y_{%d,%d} = %s" % (i + 1, j + 1, p["y"][i][j].render()))
    L.append("")
    L.append("∂Y/∂x_{%d,%d}, the slice of the Jacobian dY/dX for one element (eq. 8):"
             % (ei, ej))
    L.extend(_matrix_text(_slice(p, n, d, m, ei, ej)))
    L.append("")
    L.append("∂L/∂x_{i,j} = Σ ∂L/∂y ∘ ∂Y/∂x_{i,j}, one element at a time (eqs. 7, 9–20):")
    order = [(ei, ej)] + [(i + 1, j + 1) for i in range(n) for j in range(d)
                          if (i + 1, j + 1) != (ei, ej)]
    for i, j in order:
        eq = _NOTES_EQS.get((i, j)) if (n, d) == (2, 2) else None
        terms = _sum_of_products(p, n, d, m, i, j, False)
        L.append("  ∂L/∂x_{%d,%d} = %s%s" % (i, j, terms, "   (eq. %d)" % eq if eq else ""))
    L.append("")
    L.append("∂L/∂X, all elements (eq. 22):")
    L.extend(_matrix_text(p["via_jacobian"][0]))
    L.append("which is the product of ∂L/∂Y (%d×%d) and Wᵀ (%d×%d) (eq. 23):"
             % (n, m, m, d))
    L.extend(_matrix_text(p["dy"]))
    L.append("  ·")
    L.extend(_matrix_text(transpose(p["w"], m)))
    L.append("∂L/∂X = ∂L/∂Y · Wᵀ (eq. 24): %s symbolically: every entry of "
             "vec(∂L/∂Y)ᵀ·∂Y/∂X equals the entry of ∂L/∂Y·Wᵀ as a polynomial"
             % _verdict(p["dx_proved"]))
    L.append("")
    L.append("∂L/∂W, through the Jacobian dY/dW:")
    L.extend(_matrix_text(p["via_jacobian"][1]))
    L.append("∂L/∂W = Xᵀ · ∂L/∂Y (eq. 25): %s symbolically" % _verdict(p["dw_proved"]))
    if bias:
        L.append("")
        L.append("∂L/∂b:")
        L.append("  [ " + "   ".join(e.render() for e in p["via_jacobian"][2]) + " ]")
        L.append("∂L/∂b_{j} = Σ_i ∂L/∂y_{i,j}: %s symbolically" % _verdict(p["db_proved"]))
    return "\n".join(L) + "\n"


def _latex(p, n, d, m, bias, element):
    ei, ej = element
    L = ["% refbackprop explain " + "%d %d %d%s: needs \\usepackage{amsmath}"
         % (n, d, m, " --bias" if bias else "")]
    L.append("\\begin{align*}")
    rows = []
    for i in range(n):
        for j in range(m):
            rows.append("y_{%d,%d} &= %s" % (i + 1, j + 1, p["y"][i][j].render(True)))
    L.append(" \\\\\n".join(rows) + " \\tag{3}")
    L.append("\\end{align*}")
    L.append("\\begin{equation*}")
    L.append("\\frac{\\partial Y}{\\partial x_{%d,%d}} = %s \\tag{8}"
             % (ei, ej, _matrix_latex(_slice(p, n, d, m, ei, ej))))
    L.append("\\end{equation*}")
    L.append("\\begin{align*}")
    rows = []
    for i in range(n):
        for j in range(d):
            eq = _NOTES_EQS.get((i + 1, j + 1)) if (n, d) == (2, 2) else None
            rows.append("\\frac{\\partial L}{\\partial x_{%d,%d}} &= %s%s"
                        % (i + 1, j + 1, _sum_of_products(p, n, d, m, i + 1, j + 1, True),
                           " \\tag{%d}" % eq if eq else " \\notag"))
    L.append(" \\\\\n".join(rows))
    L.append("\\end{align*}")
    L.append("\\begin{equation*}")
    L.append("\\frac{\\partial L}{\\partial X} = %s = \\frac{\\partial L}{\\partial Y} W^T "
             "\\tag{24}" % _matrix_latex(p["via_jacobian"][0]))
    L.append("\\end{equation*}")
    L.append("\\begin{equation*}")
    L.append("\\frac{\\partial L}{\\partial W} = %s = X^T \\frac{\\partial L}{\\partial Y} "
             "\\tag{25}" % _matrix_latex(p["via_jacobian"][1]))
    L.append("\\end{equation*}")
    if bias:
        L.append("\\begin{equation*}")
        L.append("\\frac{\\partial L}{\\partial b} = %s = \\sum_i \\frac{\\partial L}"
                 "{\\partial y_{i,:}} \\notag" % _matrix_latex([p["via_jacobian"][2]]))
        L.append("\\end{equation*}")
    L.append("Verified symbolically, every entry of the Jacobian product against the "
             "closed form as polynomials: "
             "$\\frac{\\partial L}{\\partial X} = \\frac{\\partial L}{\\partial Y} W^T$ %s, "
             "$\\frac{\\partial L}{\\partial W} = X^T \\frac{\\partial L}{\\partial Y}$ %s%s."
             % (_verdict(p["dx_proved"]), _verdict(p["dw_proved"]),
                (", $\\frac{\\partial L}{\\partial b_j} = \\sum_i "
                 "\\frac{\\partial L}{\\partial y_{i,j}}$ %s" % _verdict(p["db_proved"]))
                if bias else ""))
    return "\n".join(L) + "\n"
