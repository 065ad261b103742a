"""`explain`: the notes' derivation for any small shape, its symbolic proof,
the worked example in numbers, widths, the ASCII fallback, and the LaTeX."""

import io
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from refbackprop import backward, forward, jacobian_backward
from refbackprop.cli.app import cli
from refbackprop.explain import (
    MIN_WIDTH,
    NOTES,
    can_encode,
    derive,
    example,
    explain,
    identity,
    kron,
    slice_b,
    slice_w,
    slice_x,
    to_ascii,
)
from refbackprop.reference import dot
from refbackprop.symbolic import ASCII, LATEX, TEXT, Poly, render_var, symbols

from front_ends import run_cli

WIDE = 200  # wide enough that no line of 2 2 3 wraps


def test_poly_canonical_form():
    a, b = Poly.var("x", 1, 1), Poly.var("w", 1, 1)
    assert a * b == b * a
    assert (a + b) * (a + b) == a * a + 2 * a * b + b * b
    assert (a + b) * (a + b) != a * a + b * b
    assert 0 + a == a and a * 1 == a and (a * 0).terms == {}
    assert str(a * b + 3) == "x_{1,1} w_{1,1} + 3"
    assert (a - a) == 0


@pytest.mark.parametrize(
    "poly,text,ascii_,latex",
    [
        (
            Poly.var("dy", 1, 2) * Poly.var("w", 2, 1),
            "∂L/∂y_{1,2} w_{2,1}",
            "dL/dy[1,2] w[2,1]",
            "\\frac{\\partial L}{\\partial y_{1,2}} w_{2,1}",
        ),
        (
            2 * Poly.var("x", 1, 1) * Poly.var("x", 1, 1) - Poly.var("b", 3),
            "2 x_{1,1}^2 - b_{3}",
            "2 x[1,1]^2 - b[3]",
            "2 {x_{1,1}}^2 - b_{3}",
        ),
        (Poly(), "0", "0", "0"),
    ],
)
def test_poly_renders_in_every_style(poly, text, ascii_, latex):
    assert poly.render(TEXT) == text
    assert poly.render(ASCII) == ascii_ == to_ascii(text)
    assert poly.render(LATEX) == latex


def test_symbols_pass_through_the_core():
    x, w, dy = symbols("x", 2, 2), symbols("w", 2, 3), symbols("dy", 2, 3)
    assert str(forward(x, w)[1][2]) == "x_{2,1} w_{1,3} + x_{2,2} w_{2,3}"
    assert jacobian_backward(x, w, dy) == backward(x, w, dy)


NOTES_TEXT = explain(2, 2, 3, width=WIDE)


@pytest.mark.parametrize(
    "line",
    [
        "y_{1,1} = x_{1,1} w_{1,1} + x_{1,2} w_{2,1}",  # eq. 3
        "∂Y/∂x_{1,1} (eq. 8)",
        "[ w_{1,1}   w_{1,2}   w_{1,3} ]",  # eq. 8
        "[ 0         0         0       ]",
        "∂L/∂x_{1,1} = ∂L/∂y_{1,1} w_{1,1} + ∂L/∂y_{1,2} w_{1,2} + ∂L/∂y_{1,3} w_{1,3}   (eq. 11)",
        "∂L/∂x_{1,2} = ∂L/∂y_{1,1} w_{2,1} + ∂L/∂y_{1,2} w_{2,2} + ∂L/∂y_{1,3} w_{2,3}   (eq. 14)",
        "∂L/∂x_{2,1} = ∂L/∂y_{2,1} w_{1,1} + ∂L/∂y_{2,2} w_{1,2} + ∂L/∂y_{2,3} w_{1,3}   (eq. 17)",
        "∂L/∂x_{2,2} = ∂L/∂y_{2,1} w_{2,1} + ∂L/∂y_{2,2} w_{2,2} + ∂L/∂y_{2,3} w_{2,3}   (eq. 20)",
        "∂L/∂X = ∂L/∂Y · Wᵀ (eq. 24): holds symbolically",
        "∂L/∂W = Xᵀ · ∂L/∂Y (eq. 25): holds symbolically",
    ],
)
def test_the_notes_equations_appear(line):
    assert line in NOTES_TEXT


def test_the_notes_are_cited_in_every_format():
    assert NOTES == {
        "title": "Backpropagation for a Linear Layer",
        "author": "Justin Johnson",
        "date": "April 19, 2017",
        "url": "http://cs231n.stanford.edu/handouts/linear-backprop.pdf",
    }
    from refbackprop.page import html_page

    for out in (
        explain(2, 2, 3),
        explain(2, 2, 3, style=ASCII),
        explain(2, 2, 3, latex=True),
        html_page(2, 2, 3),
    ):
        for value in NOTES.values():
            assert value in " ".join(out.split())  # wrapping aside


# ---- the worked example -----------------------------------------------------------


def test_the_example_draws_pinned_integers():
    """Seed 0 at 2 2 3: these literal numbers, on every interpreter (rng.py)."""
    ex = example(2, 2, 3)
    assert ex["x"] == [[3, 3], [-1, 3]]
    assert ex["w"] == [[-1, -2, 3], [1, 1, 2]]
    assert ex["dy"] == [[-2, -1, 1], [2, -2, -3]]
    assert ex["y"] == [[0, -3, 15], [4, 5, 3]]
    # By hand: dX = dY Wᵀ, dW = Xᵀ dY.
    assert ex["via_jacobian"][0] == [[7, -1], [-7, -6]]
    assert ex["via_jacobian"][1] == [[-8, -1, 6], [0, -9, -6]]
    assert ex["agree"] and ex["b"] is None


@pytest.mark.parametrize(
    "n,d,m,bias,seed",
    [(1, 1, 1, False, 0), (2, 3, 4, True, 5), (4, 4, 4, True, 17), (3, 1, 2, False, 2)],
)
def test_the_example_agrees_with_backward(n, d, m, bias, seed):
    ex = example(n, d, m, bias, seed)
    assert ex["via_jacobian"] == backward(ex["x"], ex["w"], ex["dy"], ex["b"])
    assert ex["agree"]
    for mat in (ex["x"], ex["w"], ex["dy"]) + ((ex["b"],) if bias else ()):
        for row in mat if isinstance(mat[0], list) else [mat]:
            assert all(v != 0 and -3 <= v <= 3 and type(v) is int for v in row)
    assert example(n, d, m, bias, seed)["x"] == ex["x"]  # deterministic
    assert example(n, d, m, bias, seed + 1)["x"] != ex["x"] or n * d == 1


@pytest.mark.parametrize(
    "line",
    [
        "= (-2)·(-1) + (-1)·(-2) + 1·3 = 7",
        "= (-2)·1 + (-1)·1 + 1·2 = -1",
        "= 2·(-1) + (-2)·(-2) + (-3)·3 = -7",
        "= 2·1 + (-2)·1 + (-3)·2 = -6",
    ],
)
def test_each_element_has_its_numbers_next_to_its_symbols(line):
    """dY's and W's numbers, in the order of the symbols on the line above."""
    lines = NOTES_TEXT.splitlines()
    k = [i for i, text in enumerate(lines) if line in text]
    assert k, line
    assert lines[k[0] - 1].lstrip().startswith("∂L/∂x_{")


def test_the_example_goes_through_the_numeric_jacobian():
    assert "[ -2 -1  1  2 -2 -3 ]" in NOTES_TEXT  # vec(dY)ᵀ
    assert (
        "  [ -1  1  0  0 ]\n  [ -2  1  0  0 ]\n  [  3  2  0  0 ]\n"
        "  [  0  0 -1  1 ]\n  [  0  0 -2  1 ]\n  [  0  0  3  2 ]"
    ) in NOTES_TEXT
    assert "[  7 -1 ]              [  7 -1 ]" in NOTES_TEXT  # both ways
    assert "gives the same (equal)" in NOTES_TEXT


# ---- slices and structure -----------------------------------------------------------


def test_the_slices_for_x_w_and_b():
    n, d, m = 2, 2, 3
    p = derive(n, d, m, bias=True)
    w, x = p["w"], p["x"]
    assert slice_x(p["dy_dx"], n, d, m, 1, 1) == [w[0], [0, 0, 0]]  # eq. 8
    assert slice_x(p["dy_dx"], n, d, m, 2, 2) == [[0, 0, 0], w[1]]
    assert slice_w(p["dy_dw"], n, m, 1, 1) == [[x[0][0], 0, 0], [x[1][0], 0, 0]]
    assert slice_w(p["dy_dw"], n, m, 2, 3) == [[0, 0, x[0][1]], [0, 0, x[1][1]]]
    assert slice_b(p["dy_db"], n, m, 2) == [[0, 1, 0], [0, 1, 0]]
    text = explain(n, d, m, bias=True, width=WIDE)
    assert "∂Y/∂w_{1,1}" in text and "[ x_{1,1}   0   0 ]" in text
    assert "∂Y/∂b_{1}" in text and "[ 1   0   0 ]" in text


def test_kron_by_hand():
    assert kron([[1, 2], [3, 4]], [[0, 1], [1, 0]]) == [
        [0, 1, 0, 2],
        [1, 0, 2, 0],
        [0, 3, 0, 4],
        [3, 0, 4, 0],
    ]
    assert kron(identity(2), [[5], [6]]) == [[5, 0], [6, 0], [0, 5], [0, 6]]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_symbolic_proof_holds_up_to_3x3x3(n, d, m):
    parts = derive(n, d, m, bias=True)
    assert parts["dx_proved"] and parts["dw_proved"] and parts["db_proved"]
    assert parts["structure_proved"] == {"dy_dx": True, "dy_dw": True, "dy_db": True}


def test_a_wrong_structure_is_told_apart():
    """I_N ⊗ W (no transpose) and I_M ⊗ X are not the Jacobians."""
    n, d, m = 2, 2, 3
    p = derive(n, d, m)
    assert p["dy_dx"] != kron(identity(n), p["w"]) or d == m
    assert p["dy_dw"] != kron(identity(m), p["x"])


def test_the_structure_pictures():
    text = explain(2, 2, 3, width=WIDE)
    assert "∂Y/∂X = I_2 ⊗ Wᵀ (6×4): block-diagonal" in text
    picture = (
        "       x11 x12 │ x21 x22\n"
        "  y11  w11 w21 │   ·   ·\n"
        "  y12  w12 w22 │   ·   ·\n"
        "  y13  w13 w23 │   ·   ·\n"
        "      ─────────┼────────\n"
        "  y21    ·   · │ w11 w21\n"
    )
    assert picture in text
    assert "∂Y/∂W = X ⊗ I_3 (6×6)" in text
    assert "  y12    · x11   · │   · x12   ·\n" in text


def test_a_wrong_formula_is_reported_false():
    n, d, m = 2, 3, 3
    x, w, dy = symbols("x", n, d), symbols("w", d, m), symbols("dy", n, m)
    no_transpose = [
        [dot(dy[i], [w[j][k] for j in range(m)]) for k in range(d)] for i in range(n)
    ]  # dY W, not dY Wᵀ
    assert derive(n, d, m, closed_dx=no_transpose)["dx_proved"] is False
    swapped = [
        [dot([x[i][k] for i in range(n)], [dy[i][(j + 1) % m] for i in range(n)]) for j in range(m)]
        for k in range(d)
    ]
    assert derive(n, d, m, closed_dw=swapped)["dw_proved"] is False


# ---- widths and ASCII ---------------------------------------------------------------

SHAPES = [
    (1, 1, 1, False),
    (2, 2, 3, False),
    (2, 3, 2, True),
    (3, 4, 2, True),
    (4, 4, 4, False),
    (4, 4, 4, True),
]


@pytest.mark.parametrize("n,d,m,bias", SHAPES)
@pytest.mark.parametrize("width", [MIN_WIDTH, 72, 80, 101])
def test_no_line_is_wider_than_asked(n, d, m, bias, width):
    for style in (TEXT, ASCII):
        lines = explain(n, d, m, bias, width=width, style=style).splitlines()
        widest = max(lines, key=len)
        assert len(widest) <= width, (style, widest)


def test_444_bias_fits_80_columns_and_loses_nothing():
    """It used to print lines of 419 characters; now it wraps or goes entry by
    entry, and every ∂L/∂x_{i,j} and ∂L/∂w_{i,j} is still there."""
    text = explain(4, 4, 4, bias=True, width=80)
    assert max(len(s) for s in text.splitlines()) <= 80
    for i in range(1, 5):
        for j in range(1, 5):
            assert "  ∂L/∂x_{%d,%d} = ∂L/∂y_{%d,1} w_{%d,1}" % (i, j, i, j) in text
            assert "  ∂L/∂w_{%d,%d} = ∂L/∂y_{1,%d} x_{1,%d}" % (i, j, j, i) in text
    assert text.count("holds") >= 6


def test_a_wrapped_sum_keeps_its_terms_in_order():
    text = explain(4, 4, 4, width=MIN_WIDTH)
    lines = text.splitlines()
    k = lines.index(next(s for s in lines if s.startswith("  ∂L/∂x_{1,1} = ")))
    joined = " ".join(s.strip() for s in lines[k : k + 2])
    assert joined.startswith(
        "∂L/∂x_{1,1} = ∂L/∂y_{1,1} w_{1,1} + ∂L/∂y_{1,2} w_{1,2} + "
        "∂L/∂y_{1,3} w_{1,3} + ∂L/∂y_{1,4} w_{1,4}"
    )


def test_ascii_style_is_ascii_in_the_notes_notation():
    text = explain(2, 2, 3, bias=True, width=WIDE, style=ASCII)
    assert all(ord(c) < 128 for c in text)
    assert (
        "dL/dx[1,1] = dL/dy[1,1] w[1,1] + dL/dy[1,2] w[1,2] + dL/dy[1,3] w[1,3]   (eq. 11)"
    ) in text
    assert "= (-2)*(-1) + (-1)*(-2) + 1*3 = 7" in text
    assert "dL/dX = dL/dY * W^T (eq. 24): holds symbolically" in text
    assert "dY/dX = I_2 (x) W^T (6x4)" in text
    assert "  y21    .   . | w11 w21" in text


def test_to_ascii_matches_render_var():
    for var in (("x", 1, 2), ("w", 4, 3), ("b", 2), ("dy", 3, 1)):
        assert to_ascii(render_var(var, TEXT)) == render_var(var, ASCII)


def test_a_non_utf8_stream_gets_ascii():
    """Writing the Unicode text to an ASCII stream is what used to crash."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert not can_encode(stream.encoding)
    with pytest.raises(UnicodeEncodeError):
        stream.write(explain(2, 2, 3))
    stream.write(explain(2, 2, 3, style=ASCII))  # the fallback writes fine
    assert can_encode("utf-8") and not can_encode("latin-1")
    assert can_encode(None)  # io.StringIO: str, no encoding
    assert not can_encode("no-such-codec")


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_cli_falls_back_to_ascii_on_a_narrow_console(encoding, tmp_path):
    env = dict(os.environ, PYTHONIOENCODING=encoding, COLUMNS="70")
    proc = subprocess.run(  # from a folder without the source tree: the installed package
        [sys.executable, "-m", "refbackprop.cli", "explain", "4", "4", "4", "--bias"],
        capture_output=True,
        env=env,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    out = proc.stdout.decode("ascii")  # raises if not ASCII
    assert "dL/dx[1,1] = dL/dy[1,1] w[1,1]" in out
    assert max(len(s) for s in out.splitlines()) <= 70


def test_cli_ascii_stream_in_process():
    result = CliRunner(charset="ascii").invoke(cli, ["explain", "2", "2", "3", "--width", "80"])
    assert result.exit_code == 0, result.output
    assert all(b < 128 for b in result.stdout_bytes)
    assert "dL/dx[2,2] = dL/dy[2,1] w[2,1]" in result.output


def test_cli_width_and_ascii_flag():
    result = run_cli("explain 4 4 4 --bias --width 64 --ascii")
    assert result.exit_code == 0, result.output
    assert max(len(s) for s in result.output.splitlines()) <= 64
    assert "∂" not in result.output


def test_cli_text_bias_and_element():
    result = run_cli("explain 2 3 2 --bias --element 2 3 --width 120")
    assert result.exit_code == 0, result.output
    assert "∂Y/∂x_{2,3} (eq. 8)" in result.output
    assert "∂L/∂b_{j} = Σ_i ∂L/∂y_{i,j}: holds symbolically" in result.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (["5", "2", "2"], "N=5: explain prints shapes from 1 to 4"),
        (["2", "2", "0"], "M=0: explain prints shapes from 1 to 4"),
        (["2", "2", "3", "--element", "3", "1"], "--element 3 1 is outside X, which is 2×2"),
        (["2", "2", "3", "--width", "40"], "--width 40: explain lays text out in at least 60"),
        (["2", "2", "3", "--latex", "--html", "x.html"], "--latex and --html: choose one"),
    ],
)
def test_cli_refuses_bad_arguments(args, needle):
    result = run_cli("explain", *args)
    assert result.exit_code == 2 and needle in result.output, result.output


def test_cli_html_writes_the_page(tmp_path):
    target = tmp_path / "page.html"
    result = run_cli("explain 2 2 3 --html", str(target))
    assert result.exit_code == 0, result.output
    assert "wrote %s" % target in result.output
    from refbackprop.page import html_page

    assert target.read_text(encoding="utf-8") == html_page(2, 2, 3)


def test_cli_html_into_a_missing_folder_is_one_line(tmp_path):
    result = run_cli("explain 2 2 3 --html", str(tmp_path / "no" / "page.html"))
    assert result.exit_code == 2 and "No such file or directory" in result.output


# ---- LaTeX --------------------------------------------------------------------------


def test_latex_has_every_section():
    fragment = explain(2, 2, 3, bias=True, latex=True)
    assert all(ord(c) < 128 for c in fragment)
    for needle in (
        "\\tag{3}",
        "\\tag{8}",
        "\\tag{11}",
        "\\tag{14}",
        "\\tag{17}",
        "\\tag{20}",
        "\\tag{24}",
        "\\tag{25}",
        "\\frac{\\partial Y}{\\partial w_{1,1}}",
        "\\frac{\\partial Y}{\\partial b_{1}}",
        "I_{2} \\otimes W^T",
        "X \\otimes I_{3}",
        "1_{2} \\otimes I_{3}",
        "X = \\begin{pmatrix}\n3 & 3 \\\\\n-1 & 3\n\\end{pmatrix}",
        "&= (-2) \\cdot (-1) + (-1) \\cdot (-2) + 1 \\cdot 3 = 7",
        "\\mathrm{vec}(\\frac{\\partial L}{\\partial Y})^T",
    ):
        assert needle in fragment, needle


def test_latex_fragment_compiles(tmp_path):
    fragment = explain(2, 2, 3, bias=True, latex=True)
    engine = shutil.which("pdflatex") or shutil.which("latex")
    if engine is None:
        pytest.skip(
            "no TeX engine (pdflatex or latex) on this machine; the fragment "
            "was checked for its equations only"
        )
    doc = tmp_path / "notes.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{amsmath}\n"
        "\\begin{document}\n%s\\end{document}\n" % fragment
    )
    proc = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert any(
        name.startswith("notes.") and name != "notes.tex" for name in os.listdir(str(tmp_path))
    )
