"""A small symbolic scalar: polynomials in named variables, canonical form.

Poly supports + and * with other Polys and with ints, which is all the core
uses, so symbolic matrices pass unchanged through forward, backward and
jacobian.  A Poly is a dict {monomial: integer coefficient} with zero terms
dropped, a monomial being a sorted tuple of (variable, power); two Polys are
equal exactly when their canonical forms are, so equality is decidable.

Variables are tuples: ('x', i, j), ('w', i, j), ('b', j), ('dy', i, j) with
1-based indices, rendered in the notes' notation (x_{1,1}, ∂L/∂y_{1,2}) as
text, LaTeX or ASCII (x[1,1], dL/dy[1,2]).  Standard library only;
MicroPython-friendly (no reliance on dict order: rendering sorts).
"""

# Rendering styles: the notes' notation in Unicode, in plain ASCII (for consoles
# that cannot encode '∂'), and in LaTeX.
TEXT, ASCII, LATEX = "text", "ascii", "latex"

# Display order inside a product: ∂L/∂y first, then x, w, b (as the notes write).
_RANK = {"dy": 0, "x": 1, "w": 2, "b": 3}


def _var_key(v):
    return (_RANK.get(v[0], 9), v)


def _mono_mul(a, b):
    powers = {}
    for var, p in a + b:
        powers[var] = powers.get(var, 0) + p
    return tuple(sorted(powers.items(), key=lambda item: _var_key(item[0])))


class Poly:
    """A polynomial with integer coefficients in named variables."""

    __slots__ = ("terms",)

    def __init__(self, terms=None):
        self.terms = {}
        if terms:
            for mono, c in terms.items():
                if c:
                    self.terms[mono] = c

    @staticmethod
    def var(*name):
        """The variable ('x', 1, 2) and so on."""
        return Poly({((tuple(name), 1),): 1})

    @staticmethod
    def const(c):
        return Poly({(): c}) if c else Poly()

    def _coerce(self, other):
        if isinstance(other, Poly):
            return other
        if type(other) is int:
            return Poly.const(other)
        return None

    def __add__(self, other):
        other = self._coerce(other)
        if other is None:
            return NotImplemented
        out = dict(self.terms)
        for mono, c in other.terms.items():
            out[mono] = out.get(mono, 0) + c
        return Poly(out)

    __radd__ = __add__

    def __mul__(self, other):
        other = self._coerce(other)
        if other is None:
            return NotImplemented
        out = {}
        for ma, ca in self.terms.items():
            for mb, cb in other.terms.items():
                mono = _mono_mul(ma, mb)
                out[mono] = out.get(mono, 0) + ca * cb
        return Poly(out)

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-1) * other

    def __eq__(self, other):
        other = self._coerce(other)
        if other is None:
            return NotImplemented
        return self.terms == other.terms

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None

    def sorted_terms(self):
        """(monomial, coefficient) in display order."""
        return sorted(
            self.terms.items(), key=lambda t: (not t[0], [_var_key(v) + (p,) for v, p in t[0]])
        )

    def signed_terms(self, style=TEXT):
        """[('+', 'x_{1,1} w_{1,1}'), ('-', '2 b_{1}'), ...] in display order,
        each body rendered in style (TEXT, ASCII or LATEX); [] for zero."""
        parts = []
        for mono, c in self.sorted_terms():
            factors = []
            for var, p in mono:
                f = render_var(var, style)
                if p != 1:
                    f = "%s^%d" % (("{%s}" % f) if style == LATEX else f, p)
                factors.append(f)
            mag = abs(c)
            if not factors:
                body = str(mag)
            else:
                body = " ".join(factors)
                if mag != 1:
                    body = "%d %s" % (mag, body)
            parts.append(("-" if c < 0 else "+", body))
        return parts

    def render(self, style=TEXT):
        """'∂L/∂y_{1,1} w_{1,1} + ∂L/∂y_{1,2} w_{1,2}' (TEXT), its LaTeX, or
        'dL/dy[1,1] w[1,1] + dL/dy[1,2] w[1,2]' (ASCII)."""
        return join_terms(self.signed_terms(style))

    def __repr__(self):
        return self.render()

    __str__ = __repr__


def join_terms(parts):
    """'a + b - c' from [('+', 'a'), ('+', 'b'), ('-', 'c')]; '0' for []."""
    if not parts:
        return "0"
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        text += " %s %s" % (sign, body)
    return text


def render_var(var, style=TEXT):
    """('x', 1, 2) -> 'x_{1,2}'; ('dy', 1, 2) -> '∂L/∂y_{1,2}'; ('b', 3) -> 'b_{3}'
    (TEXT and LATEX); ASCII writes x[1,2], dL/dy[1,2], b[3]."""
    name = var[0]
    idx = ",".join(str(i) for i in var[1:])
    if style == ASCII:
        return "%s[%s]" % ("dL/dy" if name == "dy" else name, idx)
    if name == "dy":
        if style == LATEX:
            return "\\frac{\\partial L}{\\partial y_{%s}}" % idx
        return "∂L/∂y_{%s}" % idx
    return "%s_{%s}" % (name, idx)


def symbols(name, rows, cols=None):
    """A matrix (rows × cols) or, with cols None, a vector of variables."""
    if cols is None:
        return [Poly.var(name, j + 1) for j in range(rows)]
    return [[Poly.var(name, i + 1, j + 1) for j in range(cols)] for i in range(rows)]
