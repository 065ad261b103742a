"""The explain page (refbackprop/page.py): standalone, complete, and rendered
by a real browser with the core's numbers (the browser tests skip, with the
reason, where Chromium is missing)."""

import os
from html.parser import HTMLParser

import pytest

from browser import ink
from refbackprop import backward
from refbackprop.explain import derive, example
from refbackprop.page import html_page

VOID = {
    "meta",
    "br",
    "hr",
    "img",
    "input",
    "link",
    "area",
    "base",
    "col",
    "embed",
    "source",
    "track",
    "wbr",
    "param",
}
SVG_EMPTY = {"rect", "line", "path", "circle"}  # written as <rect .../> in the SVG


class _Tree(HTMLParser):
    """Tags, attributes and text of a page; checks that every element closes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.errors = [], [], []
        self.by_id, self._capture = {}, []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        ident = dict(attrs).get("id")
        if ident:
            self.by_id[ident] = []
            self._capture.append((len(self.stack), ident))
        if tag in ("mtr", "mtd", "mtable") and self._capture:
            self.by_id[self._capture[-1][1]].append("<%s>" % tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.stack[-1] if self.stack else None))
            return
        self.stack.pop()
        if tag == "mtable" and self._capture:
            self.by_id[self._capture[-1][1]].append("</mtable>")
        while self._capture and self._capture[-1][0] > len(self.stack):
            self._capture.pop()

    def handle_data(self, data):
        if self._capture:
            self.by_id[self._capture[-1][1]].append(data)


def parse(page):
    tree = _Tree()
    tree.feed(page)
    tree.close()
    return tree


def matrices(tokens):
    """The integer matrices (one per mtable) in the captured tokens of an id."""
    out, cur = [], None
    for t in tokens:
        if t == "<mtable>":
            cur = []
        elif t == "</mtable>":
            out.append([[int(c.replace("\u2212", "-")) for c in r] for r in cur])
            cur = None
        elif t == "<mtr>" and cur is not None:
            cur.append([])
        elif t == "<mtd>" and cur is not None:
            cur[-1].append("")
        elif cur and cur[-1] and not t.startswith("<"):
            cur[-1][-1] += t.strip()
    return out


PAGE = html_page(2, 2, 3)


def test_the_page_is_standalone():
    """Nothing that would make a request: no script, stylesheet, image, frame,
    font or src; the one href is the notes' link, which loads only if clicked."""
    tree = parse(PAGE)
    assert tree.errors == [] and tree.stack == []
    tags = {t for t, _ in tree.tags}
    assert not tags & {
        "script",
        "link",
        "img",
        "iframe",
        "object",
        "embed",
        "audio",
        "video",
        "source",
        "base",
        "frame",
    }
    for tag, attrs in tree.tags:
        assert "src" not in attrs and "srcset" not in attrs, tag
        if "href" in attrs:
            assert (
                tag == "a"
                and attrs["href"] == "http://cs231n.stanford.edu/handouts/linear-backprop.pdf"
            )
    style = PAGE.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    assert PAGE.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in PAGE


def test_the_page_has_every_section_and_the_notes_tags():
    for heading in (
        "1. The forward pass",
        "2. The Jacobian, one slice at a time",
        "3. The structure of the whole Jacobians",
        "one element at a time",
        "5. The whole gradient",
        "6. The worked example through the explicit",
    ):
        assert heading in PAGE
    for tag in (3, 8, 11, 14, 17, 20, 22, 23, 25):
        assert (
            '<span class="tag">(%d)</span>' % tag in PAGE
            or '<td class="tag">(%d)</td>' % tag in PAGE
        ), tag
    assert PAGE.count("<math") > 40 and PAGE.count("<svg") == 2
    assert "holds" in PAGE and "FAILS" not in PAGE and "DIFFERENT" not in PAGE


def test_the_page_numbers_are_the_cores():
    tree = parse(PAGE)
    ex = example(2, 2, 3)
    dx, dw, _ = backward(ex["x"], ex["w"], ex["dy"])
    for ident, expected in (
        ("ex-x", ex["x"]),
        ("ex-w", ex["w"]),
        ("ex-dy", ex["dy"]),
        ("ex-y", ex["y"]),
        ("ex-dx", dx),
        ("ex-dx-closed", dx),
        ("ex-dw", dw),
        ("ex-dw-closed", dw),
    ):
        assert matrices(tree.by_id[ident]) == [expected], ident
    vec_dy, jac, vec_dx = matrices(tree.by_id["ex-jacobian-x"])
    assert vec_dy == [[-2, -1, 1, 2, -2, -3]] and jac == ex["dy_dx"]
    assert vec_dx == [[7, -1, -7, -6]]


@pytest.mark.parametrize("n,d,m,bias", [(1, 1, 1, False), (3, 2, 4, True), (4, 4, 4, True)])
def test_every_shape_makes_a_well_formed_page(n, d, m, bias):
    page = html_page(n, d, m, bias, seed=3)
    tree = parse(page)
    assert tree.errors == [] and tree.stack == []
    ex = example(n, d, m, bias, 3)
    assert matrices(tree.by_id["ex-dx"]) == [ex["closed"][0]]
    if bias:
        assert matrices(tree.by_id["ex-db"]) == [[ex["closed"][2]]]
        assert page.count("<svg") == 3


def test_a_failed_proof_would_show_on_the_page(monkeypatch):
    """The page prints the verdicts it is given, FAILS included."""
    import refbackprop.page as page_module

    real = page_module.derive

    def broken(*args, **kwargs):
        parts = real(*args, **kwargs)
        parts["dx_proved"] = False
        return parts

    monkeypatch.setattr(page_module, "derive", broken)
    assert '<strong class="bad">FAILS</strong>' in page_module.html_page(2, 2, 3)


# ---- in a real browser ----------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(browser, tmp_path_factory):
    path = tmp_path_factory.mktemp("page") / "explain-2-2-3.html"
    path.write_text(PAGE, encoding="utf-8")
    page = browser.load(path)
    keep = os.environ.get("REFBACKPROP_SCREENSHOTS")  # a folder, to look at them
    if keep:
        with open(os.path.join(keep, "explain-2-2-3.png"), "wb") as f:
            f.write(page.png)
    return page


def test_it_loads_with_no_console_message_and_no_request(loaded):
    assert loaded.console == []
    assert loaded.requests == [loaded.url]


def test_the_mathml_is_laid_out_as_mathml(loaded):
    """Chromium knows the elements as MathML, every formula has a box, and
    fractions stack: each numerator sits above its denominator."""
    assert loaded.evaluate("document.querySelector('math') instanceof MathMLElement")
    boxes = loaded.evaluate(
        "[...document.querySelectorAll('math')].map(e => {"
        "const r = e.getBoundingClientRect(); return [r.width, r.height]})"
    )
    assert len(boxes) > 40 and all(w > 0 and h > 0 for w, h in boxes)
    fracs = loaded.evaluate(
        "[...document.querySelectorAll('mfrac')].map(f => ["
        "f.children[0].getBoundingClientRect().bottom,"
        "f.children[1].getBoundingClientRect().top])"
    )
    assert len(fracs) > 20 and all(num <= den + 1 for num, den in fracs)
    subs = loaded.evaluate(
        "[...document.querySelectorAll('msub')].map(s => ["
        "s.children[0].getBoundingClientRect().bottom,"
        "s.children[1].getBoundingClientRect().bottom])"
    )
    assert all(script > base for base, script in subs)


def test_the_screenshot_shows_the_math(loaded):
    """Not blank: ink at the top of the page, and in the box of each formula
    or picture that matters (clips: decoding the whole page is slow)."""
    assert loaded.png.startswith(b"\x89PNG") and len(loaded.png) > 50000
    assert ink(loaded.screenshot(0, 0, 1100, 700)) > 0.02
    for ident in ("ex-dx", "ex-jacobian-x", "elements", "structure"):
        box = loaded.evaluate(
            "(() => { const r = document.getElementById('%s')"
            ".getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY,"
            " r.width, r.height] })()" % ident
        )
        assert box[2] > 20 and box[3] > 20, ident
        assert ink(loaded.screenshot(*box), background=_background(ident)) > 0.03, ident


def _background(ident):
    """The page's colour behind an element (the example's tint or white)."""
    return (244, 250, 248) if ident.startswith("ex-") else (255, 255, 255)


def test_the_rendered_numbers_are_the_cores(loaded):
    ex = example(2, 2, 3)
    dx, dw, _ = backward(ex["x"], ex["w"], ex["dy"])

    def read(ident):
        rows = loaded.evaluate(
            "[...document.querySelectorAll('#%s mtable')].map(t => [...t.children]"
            ".map(r => [...r.children].map(c => c.textContent)))" % ident
        )
        return [[[int(c.replace("\u2212", "-")) for c in r] for r in t] for t in rows]

    assert read("ex-x") == [ex["x"]] and read("ex-w") == [ex["w"]]
    assert read("ex-dy") == [ex["dy"]] and read("ex-y") == [ex["y"]]
    assert read("ex-dx") == [dx] and read("ex-dw") == [dw]
    assert read("ex-jacobian-x")[1] == ex["dy_dx"]
    assert read("ex-jacobian-w")[1] == ex["dy_dw"]
    shown = loaded.evaluate(
        "[...document.querySelectorAll('#elements math.num')].map(e => ["
        "+e.dataset.i, +e.dataset.j, e.textContent])"
    )
    assert len(shown) == 4
    for i, j, text in shown:
        assert text.replace("\u2212", "-").endswith("=%d" % dx[i - 1][j - 1])


def test_the_pictures_show_the_structure(loaded):
    """dY/dX's coloured squares sit in the diagonal blocks (I_N ⊗ Wᵀ), one
    per entry of Wᵀ per block; dY/dW's on the diagonals of its blocks (X ⊗ I_M)."""
    n, d, m = 2, 2, 3
    cells = loaded.evaluate(
        "[...document.querySelectorAll('#structure svg')].map(s => "
        "[...s.querySelectorAll('rect')].filter(r => r.getAttribute('fill') !== 'none')"
        ".map(r => [+r.getAttribute('x'), +r.getAttribute('y'), r.getAttribute('fill')]))"
    )
    p = derive(n, d, m)
    for picture, jac, row_block, col_block in (
        (cells[0], p["dy_dx"], m, d),
        (cells[1], p["dy_dw"], m, m),
    ):
        xs = sorted({x for x, _, _ in picture})
        ys = sorted({y for _, y, _ in picture})
        assert (len(ys), len(xs)) == (len(jac), len(jac[0]))
        coloured = {(ys.index(y), xs.index(x)) for x, y, fill in picture if fill != "#ffffff"}
        assert coloured == {
            (r, c) for r in range(len(jac)) for c in range(len(jac[0])) if jac[r][c] != 0
        }
    same = {}
    for x, y, fill in cells[0]:
        if fill != "#ffffff":
            same.setdefault(fill, []).append((x, y))
    assert len(same) == d * m and all(len(v) == n for v in same.values())


def test_the_largest_page_loads_cleanly(browser, tmp_path):
    path = tmp_path / "explain-4-4-4.html"
    path.write_text(html_page(4, 4, 4, bias=True), encoding="utf-8")
    page = browser.load(path, screenshot=False)
    assert page.console == [] and page.requests == [page.url]
    assert page.evaluate(
        "[...document.querySelectorAll('math')].every(e => e.getBoundingClientRect().width > 0)"
    )
