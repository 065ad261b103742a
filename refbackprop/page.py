"""The explain page: the notes' derivation as one standalone HTML file.

html_page(n, d, m) returns a page that needs nothing but a browser: the math
in MathML (mathml.py), the pictures of the Jacobians in SVG written as text,
the styles inline; no script, no font, no image and no request of any kind.
Its content is explain.py's, section for section: Y = XW and the worked
example, the Jacobian slices, the structure of the whole Jacobians, each
∂L/∂x_{i,j} with its numbers, the whole gradients, the example through the
explicit Jacobian, and the notes cited.  Standard library only.
"""

from .explain import (
    EXAMPLE_RANGE,
    NOTES,
    _NOTES_EQS,
    check_shape,
    derive,
    example,
    products,
    slice_b,
    slice_w,
    slice_x,
    verdict,
)
from .mathml import (
    INVISIBLE_TIMES,
    TIMES,
    escape,
    factor,
    frac,
    index,
    math,
    matrix,
    mi,
    mn,
    mo,
    number,
    paren,
    partial,
    poly,
    row,
    sub,
    sup,
)
from .reference import transpose
from .symbolic import Poly

CELL = 38  # px, one Jacobian entry in the pictures
_DISPLAY = ' displaystyle="true"'  # inline math, left where the text puts it, full size


def _m(name):
    return mi(name)


def _dl(den):
    """∂L/∂den."""
    return partial(mi("L"), den)


def _dy(den):
    """∂Y/∂den."""
    return partial(mi("Y"), den)


def _x(i, j):
    return sub(mi("x"), index(i, j))


def _t(base):
    return sup(base, mi("T", True))


def _vec_t(name):
    """vec(∂L/∂name)ᵀ."""
    return sup(row(mi("vec"), mo("("), _dl(mi(name)), mo(")")), mi("T", True))


def _slice_rule(var, value, a, b):
    """The caption (∂Y/∂var)_{i,j} = value if a = b, else 0 (value: HTML)."""
    entry = sub(row(mo("("), _dy(var), mo(")")), index("i", "j"))
    return "%s = %s if %s, else 0" % (_inline(entry), value, _inline(row(mi(a), mo("="), mi(b))))


def _eq(content, tag=None, attrs=""):
    return '<div class="eq">%s<span class="tag">%s</span></div>' % (
        math(content, attrs=attrs),
        "(%d)" % tag if tag else "",
    )


def _figure(content, caption, cls="card", caption_width=None):
    style = ' style="max-width: %dpx"' % caption_width if caption_width else ""
    return '<figure class="%s">%s<figcaption%s>%s</figcaption></figure>' % (
        cls,
        content,
        style,
        caption,
    )


def _inline(content):
    return math(content, block=False)


def _verdict_html(ok):
    return '<strong class="%s">%s</strong>' % ("ok" if ok else "bad", verdict(ok))


def _numbers(rows):
    return matrix(rows, number)


MATRIX_PX = 800  # wider than this (estimated), a matrix goes entry by entry


def _entry_px(e):
    """About how wide a Poly entry renders: 40 px a variable, 45 a ∂L/∂y
    fraction, 20 an operator (measured on the 2 2 3 page in Chromium)."""
    if not isinstance(e, Poly):
        return 20
    return 20 * len(e.terms) + sum(
        sum(45 if v[0] == "dy" else 40 for v, _ in mono) for mono in e.terms
    )


def _matrix_eq(lhs, rows, entry_lhs, tag=None, rest=""):
    """lhs = (matrix) rest, or, if the matrix would be too wide to read, one
    equation entry_lhs(i, j) = entry per element, in columns."""
    width = sum(max(_entry_px(r[c]) for r in rows) + 24 for c in range(len(rows[0])))
    if width <= MATRIX_PX:
        return _eq(row(lhs, mo("="), matrix(rows), rest), tag)
    items = "".join(
        math(row(entry_lhs(i + 1, j + 1), mo("="), poly(e)), False, _DISPLAY)
        for i, r in enumerate(rows)
        for j, e in enumerate(r)
    )
    return '<div class="eq"><div class="entries">%s</div><span class="tag">%s</span></div>' % (
        items,
        "(%d)" % tag if tag else "",
    )


def _hsl(h, s, l):
    """#rrggbb from hue (degrees), saturation and lightness in [0, 1]."""
    c = (1 - abs(2 * l - 1)) * s
    hp = (h % 360) / 60.0
    x = c * (1 - abs(hp % 2 - 1))
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(hp) % 6]
    mm = l - c / 2
    return "#%02x%02x%02x" % (
        int(round((r + mm) * 255)),
        int(round((g + mm) * 255)),
        int(round((b + mm) * 255)),
    )


def _entry_var(e):
    """The one variable a Jacobian entry is (w_{1,2} -> ('w', 1, 2)), 1 for a
    constant one, None for zero."""
    if isinstance(e, Poly):
        if not e.terms:
            return None
        mono, c = list(e.terms.items())[0]
        return mono[0][0] if mono else c
    return None if e == 0 else e


def _svg_label(x, y, name, ix, anchor="middle", size=13, cls=""):
    """'w' with the subscript '1,2' as SVG text."""
    sub_ = ",".join(str(i) for i in ix)
    return (
        '<text x="%d" y="%d" text-anchor="%s" font-size="%d"%s>%s'
        '<tspan font-size="%d" dy="4">%s</tspan></text>'
        % (x, y, anchor, size, cls, escape(name), size - 3, escape(sub_))
    )


def svg_width(jac):
    """The width in px of structure_svg's picture of jac."""
    return 46 + len(jac[0]) * CELL + 8


def structure_svg(jac, row_names, col_names, row_block, col_block, label):
    """A picture of a Jacobian: one square per entry, coloured by the variable
    it holds (the same colour wherever the same variable repeats), zeros left
    blank, blocks outlined; rows y_{i,j}, columns the inputs (col_names are
    (letter, index tuple) pairs)."""
    nr, nc = len(jac), len(jac[0])
    left, top = 46, 34
    width, height = svg_width(jac), top + nr * CELL + 8
    keys = []
    for r in jac:
        for e in r:
            v = _entry_var(e)
            if v is not None and v not in keys:
                keys.append(v)
    keys = sorted(keys, key=lambda v: (str(type(v)), v))
    colors = {}
    for k, v in enumerate(keys):
        colors[v] = _hsl(360.0 * k / max(len(keys), 1) + 200, 0.55, 0.82)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="jac" width="%d" height="%d" '
        'viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>'
        % (width, height, width, height, escape(label), escape(label))
    ]
    for c, (name, ix) in enumerate(col_names):
        out.append(
            _svg_label(left + c * CELL + CELL // 2 - 2, top - 12, name, ix, cls=' class="lab"')
        )
    for r, (name, ix) in enumerate(row_names):
        out.append(
            _svg_label(
                left - 10,
                top + r * CELL + CELL // 2 + 2,
                name,
                ix,
                anchor="end",
                cls=' class="lab"',
            )
        )
    for r in range(nr):
        for c in range(nc):
            x0, y0 = left + c * CELL, top + r * CELL
            v = _entry_var(jac[r][c])
            fill = colors[v] if v is not None else "#ffffff"
            out.append(
                '<rect x="%d" y="%d" width="%d" height="%d" fill="%s" '
                'stroke="#d0d0d0" stroke-width="1"/>' % (x0, y0, CELL, CELL, fill)
            )
            if v is None:
                continue
            cx, cy = x0 + CELL // 2, y0 + CELL // 2 + 3
            if type(v) is tuple:
                out.append(_svg_label(cx - 2, cy, v[0], v[1:], size=14))
            else:
                out.append(
                    '<text x="%d" y="%d" text-anchor="middle" font-size="14">%s'
                    "</text>" % (cx, cy + 1, escape(v))
                )
    for r0 in range(0, nr, row_block):
        for c0 in range(0, nc, col_block):
            out.append(
                '<rect x="%d" y="%d" width="%d" height="%d" fill="none" '
                'stroke="#333" stroke-width="1.5"/>'
                % (left + c0 * CELL, top + r0 * CELL, col_block * CELL, row_block * CELL)
            )
    out.append("</svg>")
    return "".join(out)


_CSS = """
body { font-family: "DejaVu Serif", Georgia, "Times New Roman", serif; color: #1c1c1c;
       background: #fff; max-width: 64rem; margin: 0 auto; padding: 1.5rem 2rem 3rem;
       line-height: 1.5; font-size: 17px; }
h1 { font-size: 1.8rem; margin: 0.5rem 0 0.2rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 0.6rem; padding-bottom: 0.2rem;
     border-bottom: 1px solid #d8d8d8; }
p { margin: 0.5rem 0; }
.lede { color: #444; margin-top: 0; }
a { color: #0b5394; }
math { font-family: "STIX Two Math", "Latin Modern Math", "DejaVu Math TeX Gyre",
       "Cambria Math", math; font-size: 1.12em; }
.eq { display: flex; align-items: center; gap: 1rem; overflow-x: auto;
      margin: 0.4rem 0; }
.eq math { flex: 1; margin: 0.3rem 0; min-width: 0; }
.entries { flex: 1; display: grid; gap: 0.1rem 2rem;
           grid-template-columns: repeat(auto-fill, minmax(25rem, 1fr)); }
.entries math { margin: 0.3rem 0; }
.tag { color: #555; min-width: 2.5rem; text-align: right; }
.row { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; align-items: flex-start;
       margin: 0.6rem 0; }
figure.card { margin: 0; padding: 0.6rem 1rem; border: 1px solid #e2e2e2;
              border-radius: 6px; background: #fbfbfb; overflow-x: auto; }
figure.card math { margin: 0.2rem 0; }
figcaption { font-size: 0.92rem; color: #3a3a3a; margin-top: 0.35rem; max-width: 30rem; }
.num, .num mn, .num mo { color: #07694f; }
.example { border-left: 4px solid #07694f; padding: 0.2rem 0 0.2rem 1rem;
           background: #f4faf8; }
table.grad { border-collapse: collapse; margin: 0.5rem 0; }
table.grad td { padding: 0.45rem 0.7rem; vertical-align: middle;
                border-bottom: 1px solid #eee; }
table.grad td.tag { padding-left: 1.5rem; }
table.grad tr.under td { padding-left: 3.5rem; padding-top: 0; }
table.grad tr:has(+ tr.under) td { border-bottom: none; padding-bottom: 0.1rem; }
.ok { color: #07694f; }
.bad { color: #b00020; }
svg.jac text { font-family: "DejaVu Serif", Georgia, serif; font-style: italic;
               fill: #1c1c1c; }
svg.jac text.lab { fill: #555; }
footer { margin-top: 2.5rem; font-size: 0.92rem; color: #444;
         border-top: 1px solid #d8d8d8; padding-top: 0.8rem; }
"""


def html_page(n, d, m, bias=False, element=(1, 1), seed=0):
    """The page for N D M as a string (UTF-8 text of a complete HTML document);
    raises ValueError as explain does."""
    check_shape(n, d, m, element)
    p = derive(n, d, m, bias)
    ex = example(n, d, m, bias, seed)
    ei, ej = element
    B = []
    title = "Backpropagation through a linear layer, N=%d, D=%d, M=%d" % (n, d, m)
    B.append(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>%s</title><style>%s</style></head><body>" % (escape(title), _CSS)
    )
    B.append("<header><h1>Backpropagation through a linear layer</h1>")
    B.append(
        '<p class="lede">%s, %s, %s: %s is %s, %s is %s%s, %s is %s.  After %s, '
        '\u201c<a href="%s">%s</a>\u201d (%s); the equation numbers are the '
        "notes\u2019.</p></header>"
        % (
            _inline(row(mi("N"), mo("="), mn(n))),
            _inline(row(mi("D"), mo("="), mn(d))),
            _inline(row(mi("M"), mo("="), mn(m))),
            _inline(mi("X")),
            _shape(n, d),
            _inline(mi("W")),
            _shape(d, m),
            (", " + _inline(mi("b")) + " has %d entries" % m) if bias else "",
            _inline(row(mi("Y"), mo("="), mi("X"), mi("W"), *([mo("+"), mi("b")] if bias else []))),
            _shape(n, m),
            escape(NOTES["author"]),
            escape(NOTES["url"]),
            escape(NOTES["title"]),
            escape(NOTES["date"]),
        )
    )

    # 1. forward
    B.append("<h2>1. The forward pass</h2>")
    syms = [row(mi("X"), mo("="), matrix(p["x"])), row(mi("W"), mo("="), matrix(p["w"]))]
    if bias:
        syms.append(row(mi("b"), mo("="), matrix([p["b"]])))
    B.append('<div class="row">%s</div>' % "".join(_figure(math(s), "") for s in syms))
    y_rhs = row(mi("X"), mi("W"), *([mo("+"), mi("b")] if bias else []))
    B.append("<p>Element by element:</p>")
    B.append(
        _matrix_eq(row(mi("Y"), mo("="), y_rhs), p["y"], lambda i, j: sub(mi("y"), index(i, j)), 3)
    )
    B.append(
        '<div class="example"><p><strong>The worked example.</strong> Nonzero '
        "integers from \u2212%d to %d, drawn with seed %d (the same on every "
        "interpreter); %s is the upstream gradient, which a loss would supply:</p>"
        % (EXAMPLE_RANGE, EXAMPLE_RANGE, ex["seed"], _inline(_dl(mi("Y"))))
    )
    nums = [("ex-x", mi("X"), ex["x"]), ("ex-w", mi("W"), ex["w"])]
    if bias:
        nums.append(("ex-b", mi("b"), [ex["b"]]))
    nums += [("ex-dy", _dl(mi("Y")), ex["dy"]), ("ex-y", mi("Y"), ex["y"])]
    B.append(
        '<div class="row">%s</div></div>'
        % "".join(
            math(row(lhs, mo("="), _numbers(v)), attrs=' id="%s" class="num"' % ident)
            for ident, lhs, v in nums
        )
    )

    # 2. slices
    B.append("<h2>2. The Jacobian, one slice at a time</h2>")
    B.append(
        "<p>By the chain rule (eq. 6) %s, where %s has %s entries.  Forming it "
        "is hopeless at real sizes, but its columns are easy: the column for "
        "%s is the slice %s, an %s matrix with one nonzero row (eq. 8).  The "
        "slices for %s and %s follow the same pattern.</p>"
        % (
            _inline(row(_dl(mi("X")), mo("="), _dl(mi("Y")), mo(INVISIBLE_TIMES), _dy(mi("X")))),
            _inline(_dy(mi("X"))),
            _inline(
                row(
                    paren(row(mi("N"), mo("\u00b7"), mi("M"))),
                    mo(TIMES),
                    paren(row(mi("N"), mo("\u00b7"), mi("D"))),
                    mo("="),
                    mn(n * m),
                    mo(TIMES),
                    mn(n * d),
                )
            ),
            _inline(sub(mi("x"), index("k", "l"))),
            _inline(_dy(sub(mi("x"), index("k", "l")))),
            _shape(n, m),
            _inline(sub(mi("w"), index("k", "l"))),
            _inline(sub(mi("b"), index("l"))),
        )
    )
    cards = [
        _figure(
            _eq(row(_dy(_x(ei, ej)), mo("="), matrix(slice_x(p["dy_dx"], n, d, m, ei, ej))), 8),
            _slice_rule(_x("k", "l"), _inline(sub(mi("w"), index("l", "j"))), "i", "k"),
        ),
        _figure(
            math(
                row(
                    _dy(sub(mi("w"), index(1, 1))), mo("="), matrix(slice_w(p["dy_dw"], n, m, 1, 1))
                )
            ),
            _slice_rule(sub(mi("w"), index("k", "l")), _inline(_x("i", "k")), "j", "l"),
        ),
    ]
    if bias:
        cards.append(
            _figure(
                math(
                    row(_dy(sub(mi("b"), index(1))), mo("="), matrix(slice_b(p["dy_db"], n, m, 1)))
                ),
                _slice_rule(sub(mi("b"), index("l")), "1", "j", "l"),
            )
        )
    B.append('<div class="row" id="slices">%s</div>' % "".join(cards))

    # 3. structure
    sp = p["structure_proved"]
    B.append("<h2>3. The structure of the whole Jacobians</h2>")
    B.append(
        "<p>Each square is one entry, coloured by the variable it holds; blank "
        "squares are zeros.  Each Kronecker form below is checked entry by entry "
        "against the Jacobian built from the forward pass alone.</p>"
    )
    rows_y = [("y", (i + 1, j + 1)) for i in range(n) for j in range(m)]
    figs = [
        _figure(
            structure_svg(
                p["dy_dx"],
                rows_y,
                [("x", (k + 1, l + 1)) for k in range(n) for l in range(d)],
                m,
                d,
                "dY/dX = I_%d kron W^T: block-diagonal" % n,
            ),
            "%s (%s): block-diagonal, one copy of %s (%s) for each row of %s; %s."
            % (
                _inline(
                    row(_dy(mi("X")), mo("="), sub(mi("I", True), mn(n)), mo("\u2297"), _t(mi("W")))
                ),
                _shape(n * m, n * d),
                _inline(_t(mi("W"))),
                _shape(m, d),
                _inline(mi("X")),
                _verdict_html(sp["dy_dx"]),
            ),
            "card pic",
            max(260, svg_width(p["dy_dx"])),
        ),
        _figure(
            structure_svg(
                p["dy_dw"],
                rows_y,
                [("w", (k + 1, l + 1)) for k in range(d) for l in range(m)],
                m,
                m,
                "dY/dW = X kron I_%d" % m,
            ),
            "%s (%s): block (i, k) is %s, so %s is %s when %s; %s."
            % (
                _inline(
                    row(_dy(mi("W")), mo("="), mi("X"), mo("\u2297"), sub(mi("I", True), mn(m)))
                ),
                _shape(n * m, d * m),
                _inline(row(sub(mi("x"), index("i", "k")), sub(mi("I", True), mn(m)))),
                _inline(
                    frac(
                        row(mi("\u2202", True), sub(mi("y"), index("i", "j"))),
                        row(mi("\u2202", True), sub(mi("w"), index("k", "l"))),
                    )
                ),
                _inline(sub(mi("x"), index("i", "k"))),
                _inline(row(mi("j"), mo("="), mi("l"))),
                _verdict_html(sp["dy_dw"]),
            ),
            "card pic",
            max(260, svg_width(p["dy_dw"])),
        ),
    ]
    if bias:
        figs.append(
            _figure(
                structure_svg(
                    p["dy_db"],
                    rows_y,
                    [("b", (l + 1,)) for l in range(m)],
                    m,
                    m,
                    "dY/db = 1_%d kron I_%d" % (n, m),
                ),
                "%s (%s): one %s for each row of %s; %s."
                % (
                    _inline(
                        row(
                            _dy(mi("b")),
                            mo("="),
                            sub(mn(1), mn(n)),
                            mo("\u2297"),
                            sub(mi("I", True), mn(m)),
                        )
                    ),
                    _shape(n * m, m),
                    _inline(sub(mi("I", True), mn(m))),
                    _inline(mi("X")),
                    _verdict_html(sp["dy_db"]),
                ),
                "card pic",
                max(260, svg_width(p["dy_db"])),
            )
        )
    B.append('<div class="row" id="structure">%s</div>' % "".join(figs))

    # 4. one element at a time
    B.append("<h2>4. %s one element at a time, with numbers</h2>" % _inline(_dl(mi("X"))))
    B.append(
        "<p>Each %s is the sum of %s times the slice %s, entry by entry (eqs. 7, "
        "9\u201310); only the slice\u2019s nonzero entries leave a product.  The "
        "second column puts in the worked example\u2019s numbers.</p>"
        % (
            _inline(_dl(sub(mi("x"), index("i", "j")))),
            _inline(_dl(mi("Y"))),
            _inline(_dy(sub(mi("x"), index("i", "j")))),
        )
    )
    B.append('<table class="grad" id="elements">')
    order = [(ei, ej)] + [
        (i + 1, j + 1) for i in range(n) for j in range(d) if (i + 1, j + 1) != (ei, ej)
    ]
    for i, j in order:
        eq = _NOTES_EQS.get((i, j)) if (n, d) == (2, 2) else None
        prods = products(p, ex, n, d, m, i, j)
        total = Poly()
        for t, _, _ in prods:
            total = total + t
        nums = []
        for k, (_, a, v) in enumerate(prods):
            if k:
                nums.append(mo("+"))
            nums.append(row(factor(a), mo("\u00b7", ' lspace="0.1em" rspace="0.1em"'), factor(v)))
        value = ex["via_jacobian"][0][i - 1][j - 1]
        symbolic = math(row(_dl(_x(i, j)), mo("="), poly(total)), False, _DISPLAY)
        numeric = math(
            row(mo("="), *(nums + [mo("="), number(value)])),
            False,
            _DISPLAY + ' class="num" data-i="%d" data-j="%d"' % (i, j),
        )
        tag = "(%d)" % eq if eq else ""
        if _entry_px(total) + 95 * len(prods) + 160 <= MATRIX_PX:  # side by side
            B.append(
                '<tr><td>%s</td><td>%s</td><td class="tag">%s</td></tr>' % (symbolic, numeric, tag)
            )
        else:  # numbers underneath
            B.append(
                '<tr><td>%s</td><td class="tag">%s</td></tr><tr class="under">'
                "<td>%s</td><td></td></tr>" % (symbolic, tag, numeric)
            )
    B.append("</table>")

    # 5. whole gradients
    B.append("<h2>5. The whole gradient</h2>")
    B.append(_matrix_eq(_dl(mi("X")), p["via_jacobian"][0], lambda i, j: _dl(_x(i, j)), 22))
    B.append(
        _eq(
            row(
                mo("="),
                matrix(p["dy"]),
                matrix(transpose(p["w"], m)),
                mo("="),
                _dl(mi("Y")),
                _t(mi("W")),
            ),
            23,
        )
    )
    B.append(
        "<p>%s (eq. 24) %s symbolically: every entry of %s, formed through the "
        "explicit Jacobian, equals the entry of %s as a polynomial.</p>"
        % (
            _inline(row(_dl(mi("X")), mo("="), _dl(mi("Y")), _t(mi("W")))),
            _verdict_html(p["dx_proved"]),
            _inline(
                row(
                    sup(row(mi("vec"), mo("("), _dl(mi("Y")), mo(")")), mi("T", True)), _dy(mi("X"))
                )
            ),
            _inline(row(_dl(mi("Y")), _t(mi("W")))),
        )
    )
    B.append(
        _matrix_eq(
            _dl(mi("W")),
            p["via_jacobian"][1],
            lambda i, j: _dl(sub(mi("w"), index(i, j))),
            25,
            row(mo("="), _t(mi("X")), _dl(mi("Y"))),
        )
    )
    B.append(
        "<p>%s (eq. 25) %s symbolically.</p>"
        % (
            _inline(row(_dl(mi("W")), mo("="), _t(mi("X")), _dl(mi("Y")))),
            _verdict_html(p["dw_proved"]),
        )
    )
    if bias:
        B.append(_eq(row(_dl(mi("b")), mo("="), matrix([p["via_jacobian"][2]]))))
        B.append(
            "<p>%s %s symbolically.</p>"
            % (
                _inline(
                    row(
                        _dl(sub(mi("b"), mi("j"))),
                        mo("="),
                        row(mo("\u2211"), mi("i")),
                        _dl(sub(mi("y"), index("i", "j"))),
                    )
                ),
                _verdict_html(p["db_proved"]),
            )
        )

    # 6. example through the explicit Jacobian
    dx, dw, db = ex["via_jacobian"]
    vec_dy = [[v for r in ex["dy"] for v in r]]
    vec_t = _vec_t("Y")

    def through_jacobian(a, grad):
        """vec(∂L/∂Y)ᵀ ∂Y/∂A in numbers = vec(∂L/∂A)ᵀ, A = 'X' or 'W'."""
        jac = _numbers(ex["dy_d" + a.lower()])  # (N·M, N·D) or (N·M, D·M)
        flat = _numbers([[v for r in grad for v in r]])
        eq = mo("=")
        content = row(vec_t, _dy(mi(a)), eq, _numbers(vec_dy), jac, eq, flat, eq, _vec_t(a))
        return _eq(content, attrs=' class="num" id="ex-jacobian-%s"' % a.lower())

    def card(lhs, values, id):
        """lhs = the matrix of values, a formula of the example's cards."""
        return math(row(lhs, mo("="), _numbers(values)), attrs=' id="%s" class="num"' % id)

    B.append("<h2>6. The worked example through the explicit Jacobian</h2>")
    B.append(
        '<div class="example"><p>%s lists %s row by row; %s in numbers has rows '
        "%s and columns %s.  The product, read back as %s, is %s, and %s gives "
        "the same: <strong>%s</strong>.</p>"
        % (
            _inline(vec_t),
            _inline(_dl(mi("Y"))),
            _inline(_dy(mi("X"))),
            _inline(sub(mi("y"), index("i", "j"))),
            _inline(sub(mi("x"), index("k", "l"))),
            _shape(n, d),
            _inline(_dl(mi("X"))),
            _inline(row(_dl(mi("Y")), _t(mi("W")))),
            "equal" if ex["closed"][0] == dx else "DIFFERENT",
        )
    )
    B.append(through_jacobian("X", dx))
    B.append(
        '<div class="row">%s%s</div>'
        % (
            card(_dl(mi("X")), dx, "ex-dx"),
            card(_dl(mi("Y")) + _t(mi("W")), ex["closed"][0], "ex-dx-closed"),
        )
    )
    B.append(
        "<p>The same for %s, through %s (%s): <strong>%s</strong>.</p>"
        % (
            _inline(_dl(mi("W"))),
            _inline(_dy(mi("W"))),
            _shape(n * m, d * m),
            "equal" if ex["closed"][1] == dw else "DIFFERENT",
        )
    )
    B.append(through_jacobian("W", dw))
    cards = [
        card(_dl(mi("W")), dw, "ex-dw"),
        card(_t(mi("X")) + _dl(mi("Y")), ex["closed"][1], "ex-dw-closed"),
    ]
    if bias:
        cards.append(card(_dl(mi("b")), [db], "ex-db"))
    B.append('<div class="row">%s</div></div>' % "".join(cards))

    B.append(
        "<footer><p>Every closed form on this page is proved, not sampled: the "
        "derivation runs on symbolic polynomials (refbackprop/symbolic.py), the "
        "gradients are formed through the explicit Jacobian built from the forward "
        "pass alone, and each entry is compared with the closed form in canonical "
        "form.  Generated by <code>refbackprop explain %d %d %d%s --html</code>."
        '</p><p>Reference: %s, \u201c%s\u201d, %s. <a href="%s">%s</a></p>'
        "</footer>"
        % (
            n,
            d,
            m,
            " --bias" if bias else "",
            escape(NOTES["author"]),
            escape(NOTES["title"]),
            escape(NOTES["date"]),
            escape(NOTES["url"]),
            escape(NOTES["url"]),
        )
    )
    B.append("</body></html>\n")
    return "\n".join(B)


def _shape(r, c):
    return "%d\u00d7%d" % (r, c)
