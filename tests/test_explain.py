"""`explain`: the notes' derivation for any small shape, and its symbolic proof."""

import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from refbackprop import backward, forward, jacobian_backward
from refbackprop.cli.app import cli
from refbackprop.explain import derive, explain
from refbackprop.reference import dot
from refbackprop.symbolic import Poly, symbols


def test_poly_canonical_form():
    a, b = Poly.var("x", 1, 1), Poly.var("w", 1, 1)
    assert a * b == b * a
    assert (a + b) * (a + b) == a * a + 2 * a * b + b * b
    assert (a + b) * (a + b) != a * a + b * b
    assert 0 + a == a and a * 1 == a and (a * 0).terms == {}
    assert str(a * b + 3) == "x_{1,1} w_{1,1} + 3"
    assert (a - a) == 0


def test_symbols_pass_through_the_core():
    x, w, dy = symbols("x", 2, 2), symbols("w", 2, 3), symbols("dy", 2, 3)
    assert str(forward(x, w)[1][2]) == "x_{2,1} w_{1,3} + x_{2,2} w_{2,3}"
    assert jacobian_backward(x, w, dy) == backward(x, w, dy)


NOTES = explain(2, 2, 3)


@pytest.mark.parametrize("line", [
    "y_{1,1} = x_{1,1} w_{1,1} + x_{1,2} w_{2,1}",                                  # eq. 3
    "∂Y/∂x_{1,1}, the slice of the Jacobian dY/dX for one element (eq. 8):",
    "  [ w_{1,1}   w_{1,2}   w_{1,3} ]\n  [ 0         0         0       ]",          # eq. 8
    "∂L/∂x_{1,1} = ∂L/∂y_{1,1} w_{1,1} + ∂L/∂y_{1,2} w_{1,2} + ∂L/∂y_{1,3} w_{1,3}   (eq. 11)",
    "∂L/∂x_{1,2} = ∂L/∂y_{1,1} w_{2,1} + ∂L/∂y_{1,2} w_{2,2} + ∂L/∂y_{1,3} w_{2,3}   (eq. 14)",
    "∂L/∂x_{2,1} = ∂L/∂y_{2,1} w_{1,1} + ∂L/∂y_{2,2} w_{1,2} + ∂L/∂y_{2,3} w_{1,3}   (eq. 17)",
    "∂L/∂x_{2,2} = ∂L/∂y_{2,1} w_{2,1} + ∂L/∂y_{2,2} w_{2,2} + ∂L/∂y_{2,3} w_{2,3}   (eq. 20)",
    "∂L/∂X = ∂L/∂Y · Wᵀ (eq. 24): holds symbolically",
    "∂L/∂W = Xᵀ · ∂L/∂Y (eq. 25): holds symbolically",
])
def test_the_notes_equations_appear(line):
    assert line in NOTES


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_symbolic_proof_holds_up_to_3x3x3(n, d, m):
    parts = derive(n, d, m, bias=True)
    assert parts["dx_proved"] and parts["dw_proved"] and parts["db_proved"]


def test_a_wrong_formula_is_reported_false():
    n, d, m = 2, 3, 3
    x, w, dy = symbols("x", n, d), symbols("w", d, m), symbols("dy", n, m)
    no_transpose = [[dot(dy[i], [w[j][k] for j in range(m)]) for k in range(d)]
                    for i in range(n)]                                # dY W, not dY Wᵀ
    assert derive(n, d, m, closed_dx=no_transpose)["dx_proved"] is False
    swapped = [[dot([x[i][k] for i in range(n)], [dy[i][(j + 1) % m] for i in range(n)])
                for j in range(m)] for k in range(d)]
    assert derive(n, d, m, closed_dw=swapped)["dw_proved"] is False


def test_cli_text_bias_and_element():
    result = CliRunner().invoke(cli, ["explain", "2", "3", "2", "--bias", "--element", "2", "3"])
    assert result.exit_code == 0, result.output
    assert "∂Y/∂x_{2,3}, the slice" in result.output
    assert "∂L/∂b_{j} = Σ_i ∂L/∂y_{i,j}: holds symbolically" in result.output


@pytest.mark.parametrize("args,needle", [
    (["5", "2", "2"], "N=5: explain prints shapes from 1 to 4"),
    (["2", "2", "0"], "M=0: explain prints shapes from 1 to 4"),
    (["2", "2", "3", "--element", "3", "1"], "--element 3 1 is outside X, which is 2×2"),
])
def test_cli_refuses_unreadable_shapes(args, needle):
    result = CliRunner().invoke(cli, ["explain"] + args)
    assert result.exit_code == 2 and needle in result.output


def test_latex_fragment_compiles(tmp_path):
    fragment = explain(2, 2, 3, bias=True, latex=True)
    assert "\\tag{8}" in fragment and "\\tag{11}" in fragment and "\\tag{24}" in fragment
    engine = shutil.which("pdflatex") or shutil.which("latex")
    if engine is None:
        pytest.skip("no TeX engine (pdflatex or latex) on this machine; the fragment "
                    "was checked for its equations only")
    doc = tmp_path / "notes.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{amsmath}\n"
                   "\\begin{document}\n%s\\end{document}\n" % fragment)
    proc = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", doc.name],
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert any(name.startswith("notes.") and name != "notes.tex"
               for name in os.listdir(str(tmp_path)))
