"""MathML Core markup as strings: what the explain page is written in.

Only the elements of MathML Core (math, mi, mn, mo, mrow, msub, msup, mfrac,
mtable, mtr, mtd, mspace, mtext), which current browsers render with no
script or font to fetch.  Each function returns a string of markup; text is
escaped here and nowhere else.  Standard library only; MicroPython-friendly.
"""

from .symbolic import Poly

MINUS = "\u2212"  # the minus sign, not the hyphen
TIMES = "\u00d7"
INVISIBLE_TIMES = "\u2062"
_TIGHT = ' lspace="0" rspace="0" stretchy="false"'  # hugging its number


def escape(s):
    """&, <, > and " as entities (html.escape is not on MicroPython)."""
    return (
        str(s)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _el(tag, content, attrs=""):
    return "<%s%s>%s</%s>" % (tag, attrs, content, tag)


def mi(s, normal=False):
    return _el("mi", escape(s), ' mathvariant="normal"' if normal else "")


def mn(s):
    return _el("mn", escape(s))


def mo(s, attrs=""):
    return _el("mo", escape(s), attrs)


def mtext(s):
    return _el("mtext", escape(s))


def row(*parts):
    return _el("mrow", "".join(parts))


def sub(base, script):
    return _el("msub", base + script)


def sup(base, script):
    return _el("msup", base + script)


def frac(num, den):
    return _el("mfrac", num + den)


def space(em):
    return '<mspace width="%sem"></mspace>' % em


def index(*ix):
    """The subscript 1,2 (or a single index)."""
    parts = []
    for k, i in enumerate(ix):
        if k:
            parts.append(mo(",", ' separator="true" lspace="0" rspace="0"'))
        parts.append(mn(i) if type(i) is int else mi(i))
    return row(*parts)


def partial(num, den):
    """∂num/∂den as a fraction; num and den are markup."""
    return frac(row(mi("\u2202", True), num), row(mi("\u2202", True), den))


def var(v):
    """A symbolic variable ('x', 1, 2) as x_{1,2}; ('dy', i, j) as ∂L/∂y_{i,j}."""
    if v[0] == "dy":
        return partial(mi("L"), sub(mi("y"), index(*v[1:])))
    return sub(mi(v[0]), index(*v[1:]))


def number(v):
    """An integer; negative ones with a real minus sign."""
    if v < 0:
        return row(mo(MINUS, _TIGHT), mn(-v))
    return mn(v)


def factor(v):
    """An integer as a factor of a product: negatives in parentheses."""
    return paren(number(v)) if v < 0 else mn(v)


def paren(content):
    """(content), the parentheses hugging it."""
    return row(mo("(", _TIGHT), content, mo(")", _TIGHT))


def poly(p):
    """A Poly (or an int) as a sum of products, in the notes' order."""
    if not isinstance(p, Poly):
        return number(p)
    if not p.terms:
        return mn(0)
    parts = []
    for k, (mono, c) in enumerate(p.sorted_terms()):
        if k or c < 0:
            parts.append(mo(MINUS if c < 0 else "+"))
        factors = []
        if abs(c) != 1 or not mono:
            factors.append(mn(abs(c)))
        for v, power in mono:
            factors.append(sup(var(v), mn(power)) if power != 1 else var(v))
        parts.append(mo(INVISIBLE_TIMES).join(factors))
    return row(*parts)


def matrix(rows, cell=poly, attrs=""):
    """Rows of entries in parentheses; cell renders one entry."""
    body = "".join(_el("mtr", "".join(_el("mtd", cell(e)) for e in r)) for r in rows)
    return row(mo("("), _el("mtable", body, attrs), mo(")"))


def math(content, block=True, attrs=""):
    """A formula: a centred block, or inline; attrs may add displaystyle="true"
    to an inline one (full-size fractions, laid out where the text puts it)."""
    return _el("math", content, (' display="block"' if block else "") + attrs)
