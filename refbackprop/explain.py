"""The notes' derivation, generated for any small shape, proved symbolically,
and shown with numbers.

explain(n, d, m) returns the text (or a LaTeX fragment; page.html_page gives
the HTML page) of, in the notes' order:
  Y = XW element by element (notes eq. 3) and a worked example in small
  integers; the Jacobian slices ∂Y/∂x_{i,j} (eq. 8), ∂Y/∂w_{i,j} and ∂Y/∂b_j;
  the structure of the whole Jacobians (∂Y/∂X = I_N ⊗ Wᵀ, ∂Y/∂W = X ⊗ I_M,
  ∂Y/∂b = 1_N ⊗ I_M); each ∂L/∂x_{i,j} as an explicit sum of products
  (eqs. 11, 14, 17, 20) with the example's numbers next to its symbols; the
  full ∂L/∂X (eq. 22) and the check that it equals ∂L/∂Y·Wᵀ (eqs. 23–24);
  ∂L/∂W = Xᵀ·∂L/∂Y (eq. 25) and, with a bias, ∂L/∂b; the example pushed
  through the explicit numeric Jacobian.

The proof: every entry of vec(∂L/∂Y)ᵀ·∂Y/∂X, formed through the explicit
Jacobian (oracle.jacobian, built from the forward definition alone), equals
the same entry of the closed form as polynomials in canonical form; the
Kronecker forms of the Jacobians are compared with it entry by entry too.

Text wraps to `width` columns; style ASCII writes dL/dx[1,1] for ∂L/∂x_{1,1}
and only ASCII characters, for consoles that cannot encode '∂'.
"""

from .oracle import jacobian, jacobian_backward
from .reference import backward, dot, forward, transpose
from .rng import Rng, seed_from
from .symbolic import ASCII, LATEX, TEXT, Poly, join_terms, symbols

MAX_DIM = 4  # beyond this the matrices are no longer readable
MIN_WIDTH = 60  # the narrowest text explain lays out (the URL is 55)
DEFAULT_WIDTH = 80

# The notes this derivation follows, as cited in every format.
NOTES = {
    "title": "Backpropagation for a Linear Layer",
    "author": "Justin Johnson",
    "date": "April 19, 2017",
    "url": "http://cs231n.stanford.edu/handouts/linear-backprop.pdf",
}

# The notes' equation numbers for ∂L/∂x_{i,j} when X is 2×2.
_NOTES_EQS = {(1, 1): 11, (1, 2): 14, (2, 1): 17, (2, 2): 20}

EXAMPLE_RANGE = 3  # the worked example draws from ±1 .. ±3


def check_shape(n, d, m, element=(1, 1), width=None):
    """Refuse shapes whose derivation would be unreadable, bad elements and
    widths below MIN_WIDTH."""
    for label, v in (("N", n), ("D", d), ("M", m)):
        if type(v) is not int or v < 1 or v > MAX_DIM:
            raise ValueError(
                "%s=%r: explain prints shapes from 1 to %d in each "
                "dimension; beyond that the matrices are unreadable "
                "(use refbackprop jacobian for sizes)" % (label, v, MAX_DIM)
            )
    i, j = element
    if not (1 <= i <= n and 1 <= j <= d):
        raise ValueError("--element %d %d is outside X, which is %d×%d (1-based)" % (i, j, n, d))
    if width is not None and (type(width) is not int or width < MIN_WIDTH):
        raise ValueError(
            "--width %r: explain lays text out in at least %d columns" % (width, MIN_WIDTH)
        )


def identity(k):
    """I_k as a list of rows."""
    return [[1 if r == c else 0 for c in range(k)] for r in range(k)]


def kron(a, b):
    """The Kronecker product a ⊗ b of two list matrices:
    (p, q) ⊗ (r, s) -> (p·r, q·s), entry [i·r + k][j·s + l] = a[i][j]·b[k][l]."""
    r, s = len(b), len(b[0])
    return [
        [a[i][j] * b[k][l] for j in range(len(a[0])) for l in range(s)]
        for i in range(len(a))
        for k in range(r)
    ]


def derive(n, d, m, bias=False, closed_dx=None, closed_dw=None):
    """The symbolic pieces: inputs, Y, the Jacobians, both gradients, the proofs.

    closed_dx / closed_dw replace the closed forms (for testing a wrong one).
    The proofs are booleans: dx_proved, dw_proved, db_proved (None without a
    bias) compare the gradients; structure_proved says, per Jacobian, whether
    it equals its Kronecker form (I_N ⊗ Wᵀ, X ⊗ I_M, 1_N ⊗ I_M) entry by entry.
    """
    x, w, dy = symbols("x", n, d), symbols("w", d, m), symbols("dy", n, m)
    b = symbols("b", m) if bias else None
    y = [
        [dot(x[i], [w[k][j] for k in range(d)]) + (b[j] if bias else 0) for j in range(m)]
        for i in range(n)
    ]
    dy_dx, dy_dw, dy_db = jacobian(x, w, b)  # from forward alone
    via_j = jacobian_backward(x, w, dy, b)  # vec(dY)ᵀ·J
    wt = transpose(w, m)  # (M, D)
    xt = transpose(x, d)  # (D, N)
    dyt = transpose(dy, m)  # (M, N)
    dx = closed_dx or [
        [dot(dy[i], [wt[j][k] for j in range(m)]) for k in range(d)] for i in range(n)
    ]  # dY Wᵀ
    dw = closed_dw or [[dot(xt[k], dyt[j]) for j in range(m)] for k in range(d)]  # Xᵀ dY
    db = [dot([Poly.const(1)] * n, dyt[j]) for j in range(m)] if bias else None
    ones = [[1] for _ in range(n)]  # 1_N, (N, 1)
    structure = {
        "dy_dx": dy_dx == kron(identity(n), wt),  # (N·M, N·D)
        "dy_dw": dy_dw == kron(x, identity(m)),  # (N·M, D·M)
        "dy_db": (dy_db == kron(ones, identity(m))) if bias else None,
    }
    return {
        "x": x,
        "w": w,
        "b": b,
        "dy": dy,
        "y": y,
        "dy_dx": dy_dx,
        "dy_dw": dy_dw,
        "dy_db": dy_db,
        "via_jacobian": via_j,
        "dx": dx,
        "dw": dw,
        "db": db,
        "dx_proved": via_j[0] == dx,
        "dw_proved": via_j[1] == dw,
        "db_proved": (via_j[2] == db) if bias else None,
        "structure_proved": structure,
    }


def example(n, d, m, bias=False, seed=0):
    """The worked example: X (N, D), W (D, M), ∂L/∂Y (N, M) and b (M,) drawn
    as nonzero integers in ±1..±EXAMPLE_RANGE (the same numbers on every
    interpreter), pushed through the explicit numeric Jacobian.

    Returns a dict: x, w, b, dy, y, the numeric Jacobians dy_dx, dy_dw, dy_db,
    via_jacobian (dx, dw, db) = vec(dY)ᵀ·J, closed (dx, dw, db) from
    reference.backward, and agree (the two are equal; exact in integers).
    """
    rng = Rng(seed_from("explain/example", seed))

    def draw():
        v = rng.integer(1, EXAMPLE_RANGE)
        return -v if rng.next64() & 1 else v

    x = [[draw() for _ in range(d)] for _ in range(n)]
    w = [[draw() for _ in range(m)] for _ in range(d)]
    dy = [[draw() for _ in range(m)] for _ in range(n)]
    b = [draw() for _ in range(m)] if bias else None
    dy_dx, dy_dw, dy_db = jacobian(x, w, b)
    via = jacobian_backward(x, w, dy, b)
    closed = backward(x, w, dy, b)
    return {
        "seed": seed,
        "x": x,
        "w": w,
        "b": b,
        "dy": dy,
        "y": forward(x, w, b),
        "dy_dx": dy_dx,
        "dy_dw": dy_dw,
        "dy_db": dy_db,
        "via_jacobian": via,
        "closed": closed,
        "agree": via == closed,
    }


def slice_x(jac, n, d, m, i, j):
    """∂Y/∂x_{i,j} as an (N, M) matrix: column (i-1)·D + (j-1) of dY/dX."""
    col = (i - 1) * d + (j - 1)
    return [[jac[r * m + c][col] for c in range(m)] for r in range(n)]


def slice_w(jac, n, m, k, l):
    """∂Y/∂w_{k,l} as an (N, M) matrix: column (k-1)·M + (l-1) of dY/dW."""
    col = (k - 1) * m + (l - 1)
    return [[jac[r * m + c][col] for c in range(m)] for r in range(n)]


def slice_b(jac, n, m, l):
    """∂Y/∂b_l as an (N, M) matrix: column l-1 of dY/db."""
    return [[jac[r * m + c][l - 1] for c in range(m)] for r in range(n)]


def products(parts, ex, n, d, m, i, j):
    """∂L/∂x_{i,j} = Σ_{r,c} ∂L/∂y_{r,c}·(∂Y/∂x_{i,j})_{r,c} read off the
    Jacobian slice (eqs. 9–10), keeping the products that are not zero.

    Returns [(symbolic term Poly, ∂L/∂y value, slice value)], the values
    from the worked example ex (or None).
    """
    piece = slice_x(parts["dy_dx"], n, d, m, i, j)
    nums = slice_x(ex["dy_dx"], n, d, m, i, j) if ex else None
    return [
        (
            parts["dy"][r][c] * piece[r][c],
            ex["dy"][r][c] if ex else None,
            nums[r][c] if ex else None,
        )
        for r in range(n)
        for c in range(m)
        if piece[r][c] != 0
    ]


def explain(
    n, d, m, bias=False, latex=False, element=(1, 1), width=DEFAULT_WIDTH, style=TEXT, seed=0
):
    """The derivation as text (style TEXT or ASCII, at most `width` columns)
    or, with latex=True, a LaTeX fragment (needs amsmath).  Raises ValueError
    for shapes beyond MAX_DIM, an element outside X, or width < MIN_WIDTH."""
    check_shape(n, d, m, element, None if latex else width)
    if style not in (TEXT, ASCII):
        raise ValueError("style=%r: explain writes text in %r or %r" % (style, TEXT, ASCII))
    parts = derive(n, d, m, bias)
    ex = example(n, d, m, bias, seed)
    if latex:
        return _latex(parts, ex, n, d, m, bias, element)
    return _text(parts, ex, n, d, m, bias, element, width, style)


def can_encode(encoding, text="∂ᵀ·×⊗Σ│"):
    """Whether a stream with this encoding can write explain's Unicode text:
    False for 'ascii', 'latin-1' or an unknown codec; True for None (a
    stream of str, such as io.StringIO, which encodes nothing)."""
    if not encoding:
        return True
    try:
        text.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def verdict(ok):
    return "holds" if ok else "FAILS"


def shape(rows, cols):
    return "%d×%d" % (rows, cols)


def signed(v):
    """An integer as a factor: 3 -> '3', -3 -> '(-3)'."""
    return "(%d)" % v if v < 0 else str(v)


# ---- text -------------------------------------------------------------------

_ASCII_GLYPHS = (
    ("∂", "d"),
    ("ᵀ", "^T"),
    ("·", "*"),
    ("×", "x"),
    ("Σ", "sum"),
    ("∘", "*"),
    ("⊗", "(x)"),
    ("–", "-"),
    ("—", "-"),
    ("│", "|"),
    ("─", "-"),
    ("┼", "+"),
    ("…", "..."),
    ("≠", "!="),
    ("“", '"'),
    ("”", '"'),
    ("’", "'"),
)


def to_ascii(s):
    """The notes' Unicode notation in ASCII: x_{1,2} -> x[1,2], ∂ -> d, ᵀ -> ^T,
    · -> *, × -> x (the same as rendering in style ASCII)."""
    out = []
    i = 0
    while True:
        j = s.find("_{", i)
        if j < 0:
            break
        k = s.find("}", j)
        out.append(s[i:j] + "[" + s[j + 2 : k] + "]")
        i = k + 1
    out.append(s[i:])
    s = "".join(out)
    for a, b in _ASCII_GLYPHS:
        s = s.replace(a, b)
    return s


def wrap(head, pieces, width, indent):
    """Lines that start with head and hold pieces joined by spaces, breaking
    before a piece that would pass width; continuation lines are indented by
    `indent` spaces.  A piece longer than a whole line stands alone."""
    lines = []
    cur, fresh = head, True
    for p in pieces:
        cand = cur + p if fresh else cur + " " + p
        if fresh or len(cand) <= width:
            cur, fresh = cand, False
        else:
            lines.append(cur)
            cur = " " * indent + p
    lines.append(cur)
    return lines


def term_pieces(parts):
    """['a', '+ b', '- c'] from signed terms: the units a sum wraps between."""
    if not parts:
        return ["0"]
    out = [("-" if parts[0][0] == "-" else "") + parts[0][1]]
    for sign, body in parts[1:]:
        out.append("%s %s" % (sign, body))
    return out


def _cell(e, style):
    if isinstance(e, Poly):
        return e.render(style)
    return str(e)


def grid(rows, style, numeric=False):
    """Aligned rows '[ a   b ]' (numbers right-aligned)."""
    cells = [[_cell(e, style) for e in r] for r in rows]
    if not cells or not cells[0]:
        return ["[ ]"]
    widths = [max(len(r[c]) for r in cells) for c in range(len(cells[0]))]
    if numeric:  # one width for every column of numbers
        widths = [max(widths)] * len(widths)
    gap = " " if numeric else "   "
    out = []
    for r in cells:
        out.append(
            "[ "
            + gap.join(
                (" " * (widths[c] - len(r[c])) + r[c])
                if numeric
                else (r[c] + " " * (widths[c] - len(r[c])))
                for c in range(len(r))
            )
            + " ]"
        )
    return out


def beside(blocks, width, indent=2, gap=4):
    """Blocks (title, lines) side by side, as many to a row as fit in width;
    each title sits above its lines."""
    widths = [max([len(t)] + [len(x) for x in ls]) for t, ls in blocks]
    rows, cur, used = [], [], indent
    for k, wd in enumerate(widths):
        if cur and used + gap + wd > width:
            rows.append(cur)
            cur, used = [], indent
        used += (gap if cur else 0) + wd
        cur.append(k)
    rows.append(cur)
    out = []
    for ks in rows:
        height = max(len(blocks[k][1]) for k in ks) + 1
        for row in range(height):
            cols = []
            for k in ks:
                t, ls = blocks[k]
                s = t if row == 0 else (ls[row - 1] if row - 1 < len(ls) else "")
                cols.append(s + " " * (widths[k] - len(s)))
            out.append((" " * indent + (" " * gap).join(cols)).rstrip())
    return out


def compact(e):
    """A Jacobian entry in three characters or fewer: w_{1,2} -> 'w12', 1 -> '1',
    0 -> '' (the caller draws zeros)."""
    if isinstance(e, Poly):
        if not e.terms:
            return ""
        if len(e.terms) == 1:
            mono, c = list(e.terms.items())[0]
            if c == 1 and len(mono) == 1 and mono[0][1] == 1:
                var = mono[0][0]
                return var[0] + "".join(str(i) for i in var[1:])
            if not mono:
                return str(c)
        return "?"
    return "" if e == 0 else str(e)


def structure_lines(jac, row_names, col_names, row_block, col_block, style, width, indent=2):
    """A picture of a Jacobian's structure: each entry in compact form, zeros
    as dots, blocks ruled off; one character per entry if that is too wide."""
    dot_ = "." if style == ASCII else "·"
    bar, rule, cross = ("|", "-", "+") if style == ASCII else ("│", "─", "┼")
    lw = max(len(r) for r in row_names)
    ncols = len(col_names)
    for cw in (3, 1):

        def row_text(cells):
            out = ""
            for c in range(ncols):
                if c and c % col_block == 0:
                    out += " " + bar
                s = cells[c]
                out += " " + " " * (cw - len(s)) + s
            return out

        if cw == 3:
            head = row_text(col_names)
            body = [row_text([compact(e) or dot_ for e in r]) for r in jac]
        else:
            head = row_text([" "] * ncols)
            body = [row_text([(dot_ if not compact(e) else "#") for e in r]) for r in jac]
        lines = [" " * (indent + lw + 1) + head.rstrip()] if cw == 3 else []
        for r, text in enumerate(body):
            if r and r % row_block == 0:
                ruled = "".join(cross if ch == bar else rule for ch in text)
                lines.append(" " * (indent + lw + 1) + ruled)
            lines.append(" " * indent + " " * (lw - len(row_names[r])) + row_names[r] + " " + text)
        if max(len(x) for x in lines) <= width:
            return lines
    return lines


class _Text:
    """Lines of text in one style, at most `width` columns (bar a single
    unbreakable piece wider than a line, which MIN_WIDTH rules out)."""

    def __init__(self, style, width):
        self.style, self.width, self.lines = style, width, []

    def t(self, s):
        return to_ascii(s) if self.style == ASCII else s

    def add(self, *lines):
        self.lines.extend(self.t(s) for s in lines)

    def para(self, s, indent=0):
        words = [w for w in self.t(s).split(" ") if w]
        self.lines.extend(wrap(" " * indent, words, self.width, indent))

    def heading(self, s):
        self.add("", s, ("=" if self.style == ASCII else "─") * min(len(self.t(s)), self.width))

    def eq(self, lhs, pieces, indent=2):
        """'lhs = p0 p1 ...', wrapped under the first piece; returns the column
        continuation lines hang from."""
        head = " " * indent + self.t(lhs) + " = "
        hang = len(head) if len(head) <= self.width // 2 else indent + 4
        self.lines.extend(wrap(head, [self.t(p) for p in pieces], self.width, hang))
        return hang

    def cont(self, pieces, hang):
        """A continuation ('= 2·1 + ...') aligned under the previous '='."""
        self.lines.extend(wrap(" " * (hang - 2), [self.t(p) for p in pieces], self.width, hang))

    def tag(self, tag, first):
        """'(eq. N)' at the end of line `first` if it fits there, else of the
        last line."""
        label = "   (eq. %d)" % tag
        for k in (first, len(self.lines) - 1):
            if len(self.lines[k]) + len(label) <= self.width:
                self.lines[k] += label
                return
        self.lines.append(" " * (self.width - len(label)) + label)

    def matrix(self, title, rows, name=None, numeric=False, indent=2):
        """title, then the aligned matrix; if it is too wide, entry by entry
        as name(i, j) = ..., each wrapped."""
        if title:
            self.para(title)
        lines = [" " * indent + self.t(x) for x in grid(rows, self.style, numeric)]
        if name is None or max(len(x) for x in lines) <= self.width:
            self.lines.extend(lines)
            return
        for i, r in enumerate(rows):
            for j, e in enumerate(r):
                self.eq(
                    name(i + 1, j + 1),
                    term_pieces(e.signed_terms(self.style)) if isinstance(e, Poly) else [str(e)],
                    indent=indent,
                )


def _text(p, ex, n, d, m, bias, element, width, style):
    T = _Text(style, width)
    ei, ej = element
    plus_b = " + b" if bias else ""
    T.add("Backpropagation through a linear layer, N=%d, D=%d, M=%d" % (n, d, m))
    T.para(
        'X is %s, W is %s%s, Y = XW%s is %s.  After %s, "%s" (%s), %s; '
        "(eq. n) numbers are the notes'."
        % (
            shape(n, d),
            shape(d, m),
            ", b is %d" % m if bias else "",
            plus_b,
            shape(n, m),
            NOTES["author"],
            NOTES["title"],
            NOTES["date"],
            NOTES["url"],
        )
    )

    T.heading("1. Forward pass (eqs. 1–3)")
    T.add("Y = XW%s, element by element (eq. 3):" % plus_b)
    for i in range(n):
        for j in range(m):
            T.eq("y_{%d,%d}" % (i + 1, j + 1), term_pieces(p["y"][i][j].signed_terms(style)))
    T.para(
        "The worked example: nonzero integers from -%d to %d drawn with seed %d "
        "(the same on every interpreter); ∂L/∂Y is the upstream gradient."
        % (EXAMPLE_RANGE, EXAMPLE_RANGE, ex["seed"])
    )
    blocks = [("X =", grid(ex["x"], style, True)), ("W =", grid(ex["w"], style, True))]
    if bias:
        blocks.append(("b =", grid([ex["b"]], style, True)))
    blocks += [
        (T.t("∂L/∂Y ="), grid(ex["dy"], style, True)),
        ("Y = XW%s =" % plus_b, grid(ex["y"], style, True)),
    ]
    T.lines.extend(beside(blocks, width))

    T.heading("2. The Jacobian and its slices (eqs. 6–8)")
    T.para(
        "By the chain rule ∂L/∂X = ∂L/∂Y · ∂Y/∂X (eq. 6), where ∂Y/∂X has "
        "(N·M)×(N·D) = %s entries.  Its column for x_{k,l} is the slice ∂Y/∂x_{k,l}, "
        "an N×M matrix: (∂Y/∂x_{k,l})_{i,j} = w_{l,j} if i = k, else 0.  Likewise "
        "(∂Y/∂w_{k,l})_{i,j} = x_{i,k} if j = l, else 0%s."
        % (shape(n * m, n * d), "; and (∂Y/∂b_{l})_{i,j} = 1 if j = l, else 0" if bias else "")
    )
    blocks = [
        (
            T.t("∂Y/∂x_{%d,%d} (eq. 8)" % (ei, ej)),
            grid(slice_x(p["dy_dx"], n, d, m, ei, ej), style),
        ),
        (T.t("∂Y/∂w_{1,1}"), grid(slice_w(p["dy_dw"], n, m, 1, 1), style)),
    ]
    if bias:
        blocks.append((T.t("∂Y/∂b_{1}"), grid(slice_b(p["dy_db"], n, m, 1), style)))
    T.lines.extend(beside(blocks, width))

    T.heading("3. The structure of the whole Jacobians")
    names_y = ["y%d%d" % (i + 1, j + 1) for i in range(n) for j in range(m)]
    sp = p["structure_proved"]
    T.para(
        "∂Y/∂X = I_%d ⊗ Wᵀ (%s): block-diagonal, one copy of Wᵀ (%s) for each "
        "row of X, zeros elsewhere (%s entry by entry against the Jacobian built "
        "from the forward pass):" % (n, shape(n * m, n * d), shape(m, d), verdict(sp["dy_dx"]))
    )
    T.lines.extend(
        structure_lines(
            p["dy_dx"],
            names_y,
            ["x%d%d" % (k + 1, l + 1) for k in range(n) for l in range(d)],
            m,
            d,
            style,
            width,
        )
    )
    T.para(
        "∂Y/∂W = X ⊗ I_%d (%s): block (i, k) is x_{i,k} I_%d, so ∂y_{i,j}/∂w_{k,l} "
        "is x_{i,k} when j = l (%s):" % (m, shape(n * m, d * m), m, verdict(sp["dy_dw"]))
    )
    T.lines.extend(
        structure_lines(
            p["dy_dw"],
            names_y,
            ["w%d%d" % (k + 1, l + 1) for k in range(d) for l in range(m)],
            m,
            m,
            style,
            width,
        )
    )
    if bias:
        T.para(
            "∂Y/∂b = 1_%d ⊗ I_%d (%s): one I_%d for each row of X (%s):"
            % (n, m, shape(n * m, m), m, verdict(sp["dy_db"]))
        )
        T.lines.extend(
            structure_lines(
                p["dy_db"], names_y, ["b%d" % (l + 1) for l in range(m)], m, m, style, width
            )
        )

    T.heading("4. ∂L/∂X one element at a time (eqs. 7–20), with numbers")
    T.para(
        "∂L/∂x_{i,j} = Σ ∂L/∂y ∘ ∂Y/∂x_{i,j}: the products with the slice's nonzero "
        "entries; the second line puts in the example's numbers."
    )
    order = [(ei, ej)] + [
        (i + 1, j + 1) for i in range(n) for j in range(d) if (i + 1, j + 1) != (ei, ej)
    ]
    for i, j in order:
        eq = _NOTES_EQS.get((i, j)) if (n, d) == (2, 2) else None
        prods = products(p, ex, n, d, m, i, j)
        terms = []
        for t, _, _ in prods:
            terms.extend(t.signed_terms(style))
        first = len(T.lines)
        hang = T.eq("∂L/∂x_{%d,%d}" % (i, j), term_pieces(terms))
        nums = [
            "%s%s·%s" % ("= " if k == 0 else "+ ", signed(a), signed(v))
            for k, (_, a, v) in enumerate(prods)
        ]
        T.cont(nums + ["= %d" % ex["via_jacobian"][0][i - 1][j - 1]], hang)
        if eq:
            T.tag(eq, first)

    T.heading("5. The whole gradient (eqs. 21–25)")
    T.matrix(
        "∂L/∂X, all elements (eq. 22):", p["via_jacobian"][0], lambda i, j: "∂L/∂x_{%d,%d}" % (i, j)
    )
    T.para("which is the product of ∂L/∂Y (%s) and Wᵀ (%s) (eq. 23):" % (shape(n, m), shape(m, d)))
    T.lines.extend(
        beside(
            [
                (T.t("∂L/∂Y"), grid(p["dy"], style)),
                ("", [" " * 0 + T.t("·")]),
                (T.t("Wᵀ"), grid(transpose(p["w"], m), style)),
            ],
            width,
            gap=2,
        )
    )
    T.para(
        "∂L/∂X = ∂L/∂Y · Wᵀ (eq. 24): %s symbolically: every entry of "
        "vec(∂L/∂Y)ᵀ·∂Y/∂X equals the entry of ∂L/∂Y·Wᵀ as a polynomial" % verdict(p["dx_proved"])
    )
    T.matrix(
        "∂L/∂W, through the Jacobian ∂Y/∂W:",
        p["via_jacobian"][1],
        lambda i, j: "∂L/∂w_{%d,%d}" % (i, j),
    )
    T.para("∂L/∂W = Xᵀ · ∂L/∂Y (eq. 25): %s symbolically" % verdict(p["dw_proved"]))
    if bias:
        T.matrix(
            "∂L/∂b, through the Jacobian ∂Y/∂b:",
            [p["via_jacobian"][2]],
            lambda i, j: "∂L/∂b_{%d}" % j,
        )
        T.para("∂L/∂b_{j} = Σ_i ∂L/∂y_{i,j}: %s symbolically" % verdict(p["db_proved"]))

    T.heading("6. The example through the explicit Jacobian")
    vec_dy = [v for r in ex["dy"] for v in r]
    T.para("vec(∂L/∂Y)ᵀ, ∂L/∂Y read row by row (1×%d):" % (n * m))
    T.lines.extend("  " + x for x in grid([vec_dy], style, True))
    # dX and dW the same way: the Jacobian in numbers, then vec(∂L/∂Y)ᵀ times
    # it beside the closed form (eqs. 24, 25)
    for k, (a, rows, cols, closed) in enumerate(
        (("X", n, d, "∂L/∂Y · Wᵀ"), ("W", d, m, "Xᵀ · ∂L/∂Y"))
    ):
        via = ex["via_jacobian"][k]
        T.para(
            "∂Y/∂%s in numbers (%s; row y_{i,j}, column %s_{k,l}):"
            % (a, shape(n * m, rows * cols), a.lower())
        )
        T.lines.extend("  " + x for x in grid(ex["dy_d" + a.lower()], style, True))
        T.para(
            "vec(∂L/∂Y)ᵀ · ∂Y/∂%s, read back as %s, is ∂L/∂%s; %s gives the same (%s):"
            % (a, shape(rows, cols), a, closed, "equal" if ex["closed"][k] == via else "DIFFERENT")
        )
        T.lines.extend(
            beside(
                [
                    (T.t("vec(∂L/∂Y)ᵀ · ∂Y/∂" + a), grid(via, style, True)),
                    (T.t(closed), grid(ex["closed"][k], style, True)),
                ],
                width,
            )
        )
    if bias:
        db = ex["via_jacobian"][2]
        T.para(
            "vec(∂L/∂Y)ᵀ · ∂Y/∂b = %s = Σ_i ∂L/∂y_{i,j} (%s)"
            % (" ".join(grid([db], style, True)), "equal" if ex["closed"][2] == db else "DIFFERENT")
        )
    return "\n".join(T.lines) + "\n"


# ---- LaTeX ------------------------------------------------------------------


def _matrix_latex(rows, zero=None):
    """pmatrix of Polys or numbers; zero, if given, replaces 0 entries."""

    def cell(e):
        if zero is not None and e == 0:
            return zero
        return e.render(LATEX) if isinstance(e, Poly) else str(e)

    body = " \\\\\n".join(" & ".join(cell(e) for e in r) for r in rows)
    return "\\begin{pmatrix}\n%s\n\\end{pmatrix}" % body


def _latex(p, ex, n, d, m, bias, element):
    ei, ej = element
    dLd = "\\frac{\\partial L}{\\partial %s}"
    dYd = "\\frac{\\partial Y}{\\partial %s}"
    L = [
        "% refbackprop explain "
        + "%d %d %d%s: needs \\usepackage{amsmath}" % (n, d, m, " --bias" if bias else "")
    ]
    L.append(
        "After %s, ``%s'' (%s), \\texttt{%s}; the equation tags are the notes'."
        % (NOTES["author"], NOTES["title"], NOTES["date"], NOTES["url"])
    )
    L.append("\\begin{align*}")
    rows = []
    for i in range(n):
        for j in range(m):
            rows.append("y_{%d,%d} &= %s" % (i + 1, j + 1, p["y"][i][j].render(LATEX)))
    L.append(" \\\\\n".join(rows) + " \\tag{3}")
    L.append("\\end{align*}")
    L.append("Worked example (seed %d):" % ex["seed"])
    L.append("\\begin{equation*}")
    pieces = ["X = %s" % _matrix_latex(ex["x"]), "W = %s" % _matrix_latex(ex["w"])]
    if bias:
        pieces.append("b = %s" % _matrix_latex([ex["b"]]))
    pieces.append("%s = %s" % (dLd % "Y", _matrix_latex(ex["dy"])))
    pieces.append("Y = %s" % _matrix_latex(ex["y"]))
    L.append(",\\quad ".join(pieces))
    L.append("\\end{equation*}")
    L.append("\\begin{equation*}")
    slices = [
        "%s = %s"
        % (dYd % ("x_{%d,%d}" % (ei, ej)), _matrix_latex(slice_x(p["dy_dx"], n, d, m, ei, ej))),
        "%s = %s" % (dYd % "w_{1,1}", _matrix_latex(slice_w(p["dy_dw"], n, m, 1, 1))),
    ]
    if bias:
        slices.append("%s = %s" % (dYd % "b_{1}", _matrix_latex(slice_b(p["dy_db"], n, m, 1))))
    L.append(",\\qquad ".join(slices) + " \\tag{8}")
    L.append("\\end{equation*}")
    sp = p["structure_proved"]
    L.append(
        "The whole Jacobians (each checked entry by entry against the one built "
        "from the forward pass: %s, %s%s):"
        % (verdict(sp["dy_dx"]), verdict(sp["dy_dw"]), ", " + verdict(sp["dy_db"]) if bias else "")
    )
    L.append("\\begin{equation*}")
    L.append("%s = I_{%d} \\otimes W^T = %s" % (dYd % "X", n, _matrix_latex(p["dy_dx"], "\\cdot")))
    L.append("\\end{equation*}")
    L.append("\\begin{equation*}")
    L.append("%s = X \\otimes I_{%d} = %s" % (dYd % "W", m, _matrix_latex(p["dy_dw"], "\\cdot")))
    L.append("\\end{equation*}")
    if bias:
        L.append("\\begin{equation*}")
        L.append(
            "%s = 1_{%d} \\otimes I_{%d} = %s"
            % (dYd % "b", n, m, _matrix_latex(p["dy_db"], "\\cdot"))
        )
        L.append("\\end{equation*}")
    L.append("\\begin{align*}")
    rows = []
    for i in range(n):
        for j in range(d):
            eq = _NOTES_EQS.get((i + 1, j + 1)) if (n, d) == (2, 2) else None
            prods = products(p, ex, n, d, m, i + 1, j + 1)
            terms = []
            for t, _, _ in prods:
                terms.extend(t.signed_terms(LATEX))
            nums = " + ".join("%s \\cdot %s" % (signed(a), signed(v)) for _, a, v in prods)
            rows.append(
                "%s &= %s%s \\\\\n&= %s = %d \\notag"
                % (
                    dLd % ("x_{%d,%d}" % (i + 1, j + 1)),
                    join_terms(terms),
                    " \\tag{%d}" % eq if eq else " \\notag",
                    nums or "0",
                    ex["via_jacobian"][0][i][j],
                )
            )
    L.append(" \\\\\n".join(rows))
    L.append("\\end{align*}")
    L.append("\\begin{equation*}")
    L.append(
        "%s = %s = %s W^T \\tag{24}" % (dLd % "X", _matrix_latex(p["via_jacobian"][0]), dLd % "Y")
    )
    L.append("\\end{equation*}")
    L.append("\\begin{equation*}")
    L.append(
        "%s = %s = X^T %s \\tag{25}" % (dLd % "W", _matrix_latex(p["via_jacobian"][1]), dLd % "Y")
    )
    L.append("\\end{equation*}")
    if bias:
        L.append("\\begin{equation*}")
        L.append(
            "%s = %s = \\sum_i \\frac{\\partial L}{\\partial y_{i,:}} \\notag"
            % (dLd % "b", _matrix_latex([p["via_jacobian"][2]]))
        )
        L.append("\\end{equation*}")
    dx, dw, db = ex["via_jacobian"]
    L.append("In the example, through the numeric Jacobian:")
    L.append("\\begin{equation*}")
    pieces = [
        "\\mathrm{vec}(%s)^T %s = %s = %s W^T"
        % (dLd % "Y", dYd % "X", _matrix_latex(dx), dLd % "Y"),
        "\\mathrm{vec}(%s)^T %s = %s = X^T %s"
        % (dLd % "Y", dYd % "W", _matrix_latex(dw), dLd % "Y"),
    ]
    if bias:
        pieces.append("\\mathrm{vec}(%s)^T %s = %s" % (dLd % "Y", dYd % "b", _matrix_latex([db])))
    L.append(",\\quad ".join(pieces))
    L.append("\\end{equation*}")
    L.append(
        "Verified symbolically, every entry of the Jacobian product against the "
        "closed form as polynomials: "
        "$\\frac{\\partial L}{\\partial X} = \\frac{\\partial L}{\\partial Y} W^T$ %s, "
        "$\\frac{\\partial L}{\\partial W} = X^T \\frac{\\partial L}{\\partial Y}$ %s%s."
        % (
            verdict(p["dx_proved"]),
            verdict(p["dw_proved"]),
            (
                ", $\\frac{\\partial L}{\\partial b_j} = \\sum_i "
                "\\frac{\\partial L}{\\partial y_{i,j}}$ %s" % verdict(p["db_proved"])
            )
            if bias
            else "",
        )
    )
    return "\n".join(L) + "\n"
