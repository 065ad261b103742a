"""± block sums of a matrix's rows and columns through packed big integers."""

import random
from array import array
from fractions import Fraction

import pytest

from refbackprop import packed
from refbackprop.flat import Matrix

U = Fraction(1, 2**53)


def pack(a, block, terms=None):
    """Packed of nested lists a (K, L), a grid per block of `block` rows."""
    k, l = len(a), len(a[0]) if a else 0
    flat = array("d", [v for row in a for v in row])
    bounds = [
        max([abs(v) for row in a[c : c + block] for v in row] or [0.0]) for c in range(0, k, block)
    ]
    return packed.Packed(Matrix(flat, (k, l)), bounds, block, terms or max(block, l, 1))


def exact_block_sums(a, signs, block, down):
    """[(Σ r·a, Σ|a|) per block and position] exactly: down (blocks of rows,
    (L,) each) or along (blocks of columns, (K,) each)."""
    k, l = len(a), len(a[0])
    out = []
    if down:
        for c in range(0, k, block):
            out.append(
                [
                    (
                        sum(Fraction(a[i][j]) * signs[i] for i in range(c, min(k, c + block))),
                        sum(abs(Fraction(a[i][j])) for i in range(c, min(k, c + block))),
                    )
                    for j in range(l)
                ]
            )
    else:
        for c in range(0, l, block):
            out.append(
                [
                    (
                        sum(Fraction(a[i][j]) * signs[j] for j in range(c, min(l, c + block))),
                        sum(abs(Fraction(a[i][j])) for j in range(c, min(l, c + block))),
                    )
                    for i in range(k)
                ]
            )
    return out


def assert_sums_within_bound(a, block=4, seed=0, trials=2):
    """Both orientations, every trial and block, against exact sums:
    |got − exact| ≤ grid error·(1 + u) + u·Σ|a| (packed.py's docstring),
    with the grid of the entry's own block of rows."""
    rng = random.Random(seed)
    k, l = len(a), len(a[0])
    grid = pack(a, block)
    for down, count in ((True, k), (False, l)):
        signs = [[rng.choice((-1, 1)) for _ in range(count)] for _ in range(trials)]
        got_all = grid.down_columns(signs) if down else grid.along_rows(signs, block)
        assert len(got_all) == trials
        for t in range(trials):
            exact = exact_block_sums(a, signs[t], block, down)
            assert len(got_all[t]) == len(exact)
            for c, (got, ex) in enumerate(zip(got_all[t], exact)):
                assert len(got) == len(ex) == (l if down else k)
                for pos, (g, (e, mag)) in enumerate(zip(got, ex)):
                    row = c * block if down else pos
                    n = min(block, (k if down else l) - c * block)
                    slack = Fraction(packed.grid_error(n, grid.row_step(row))) * (1 + U)
                    assert abs(Fraction(g) - e) <= slack + U * mag, (g, float(e))
    return grid


def uniform(k, l, scale=1.0, seed=1):
    rng = random.Random(seed)
    return [[(2 * rng.random() - 1) * scale for _ in range(l)] for _ in range(k)]


def test_available_here():
    assert packed.available()


@pytest.mark.parametrize("k,l", [(1, 1), (1, 9), (7, 1), (13, 29), (64, 33)])
@pytest.mark.parametrize("block", [1, 4, 32])
def test_sums_of_uniform_entries(k, l, block):
    assert_sums_within_bound(uniform(k, l), block)


@pytest.mark.parametrize("scale", [1e-310, 1e-300, 1e-150, 1e150, 1e280])
def test_sums_at_extreme_magnitudes(scale):
    grid = assert_sums_within_bound(uniform(9, 14, scale))
    assert all(s <= scale * 2.0**-40 or s == 2.0**-1074 for s in grid.steps)


def test_small_integers_and_subnormals_sum_exactly():
    a = [[3.0, -7.0, 0.0], [-0.0, 5.0, 1.0], [2.0, 2.0, -9.0]]
    grid = pack(a, 3)
    assert grid.down_columns([[1, -1, 1]]) == [[[5.0, -10.0, -10.0]]]
    assert grid.along_rows([[-1, 1, 1]], 3) == [[[-10.0, 6.0, -9.0]]]
    assert grid.along_rows([[-1, 1, 1]], 2) == [[[-10.0, 5.0, 0.0], [0.0, 1.0, -9.0]]]
    tiny = [[5e-324, -5e-324 * 3], [5e-324 * 7, 0.0]]  # multiples of 2^-1074
    grid = pack(tiny, 2)
    assert grid.steps == [5e-324]
    assert grid.down_columns([[1, 1]]) == [[[5e-324 * 8, -5e-324 * 3]]]


def test_each_block_of_rows_keeps_its_own_grid():
    """A block of rows of 1e10 next to blocks of 1e-10: each block's entries
    keep their own digits (a grid per block), where one grid for all would
    round the small ones away."""
    a = uniform(12, 8, 1e-10)
    a[4:8] = [[v * 1e20 for v in row] for row in a[4:8]]
    grid = assert_sums_within_bound(a, block=4)
    assert grid.steps[0] < 1e-20 and grid.steps[1] > 1e-10 and grid.steps[2] < 1e-20


def test_refuses_bounds_beyond_its_range():
    with pytest.raises(ValueError, match="beyond the packed range"):
        pack([[1.7e308, 1.0]], 1)


def test_zero_matrices_and_empty_sides():
    grid = pack([[0.0, 0.0]], 1)
    assert grid.down_columns([[1]]) == [[[0.0, 0.0]]]
    assert grid.along_rows([[-1, 1]], 2) == [[[0.0]]]
    grid = packed.Packed(Matrix(array("d"), (2, 0)), [0.0], 2, 1)
    assert grid.down_columns([[-1, 1]]) == [[[]]]
    assert grid.along_rows([[]], 2) == [[]]


def test_product_sums_bound_the_exact_sums_from_above_and_closely():
    """Σ_i coefs[c][i]·rows[i][j] through 20-bit grids and big integers:
    never below the exact sum (Fractions), within 2^-19 of it relative to
    the largest term where the rows have one magnitude, zero stays zero."""
    import random
    from fractions import Fraction

    from refbackprop.packed import product_sums

    # rows on steps 2^-20 and 2^-21 (q = 2^19 + 1 each), coefficients times
    # those steps on 2^-39 (p = 2^19 + 1 each): 2·(2^19 + 1)²·2^-39
    assert product_sums([[1.0, 2.0]], [[0.5, 0.0], [0.25, 0.0]]) == [[1 + 2**-18 + 2**-38, 0.0]]
    rng = random.Random(5)
    rows = [[abs(rng.gauss(0, 1)) * 2.0 ** rng.randint(-3, 3) for _ in range(40)] for _ in range(9)]
    rows[4] = [0.0] * 40
    rows[2][7] = 1e-300  # far below its row's grid: rounded up to one step
    coefs = [
        [abs(rng.gauss(0, 1)) * 2.0 ** rng.randint(-900, 900) for _ in range(9)] for _ in range(6)
    ]
    coefs[3] = [0.0] * 9
    got = product_sums(coefs, rows)
    for c in range(6):
        for j in range(40):
            exact = sum(Fraction(coefs[c][i]) * Fraction(rows[i][j]) for i in range(9))
            top = max(Fraction(coefs[c][i]) * Fraction(max(rows[i])) for i in range(9))
            assert exact <= Fraction(got[c][j]) <= exact + top * 9 * 2 * Fraction(1, 2**19)
    assert got[3] == [0.0] * 40
