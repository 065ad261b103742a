"""± sums of a matrix's rows and columns through packed big integers."""

import random
from fractions import Fraction

import pytest

from refbackprop import packed

U = Fraction(1, 2 ** 53)


def signed_sums(a, codes, t, down):
    """Exact Σ_k r_k·a[k] (down=True, (L,)) or Σ_l r_l·a[:, l] ((K,)), with
    their Σ|a|, r = ±1 from bit t of codes."""
    k, l = len(a), len(a[0])
    sign = [1 if (c >> t) & 1 else -1 for c in codes]
    if down:
        return [(sum(Fraction(a[i][j]) * sign[i] for i in range(k)),
                 sum(abs(Fraction(a[i][j])) for i in range(k))) for j in range(l)]
    return [(sum(Fraction(a[i][j]) * sign[j] for j in range(l)),
             sum(abs(Fraction(a[i][j])) for j in range(l))) for i in range(k)]


def assert_sums_within_bound(a, bits=3, seed=0):
    """Both orientations, every trial of a batch, against exact sums:
    |got − exact| ≤ grid error·(1 + u) + u·Σ|a| (packed.py's docstring)."""
    rng = random.Random(seed)
    k, l = len(a), len(a[0])
    bound = max(abs(v) for row in a for v in row)
    grid = packed.Packed(a, l, bound)
    for down, count, sums in ((True, k, grid.down_columns), (False, l, grid.along_rows)):
        codes = [rng.getrandbits(bits) for _ in range(count)]
        other = [rng.getrandbits(2) for _ in range(count)]      # a second batch, 2 trials
        slack = Fraction(packed.grid_error(count, grid.step)) * (1 + U)
        got_all = sums([(codes, bits), (other, 2)])
        assert len(got_all) == bits + 2
        for t, got in enumerate(got_all):
            exact = (signed_sums(a, codes, t, down) if t < bits
                     else signed_sums(a, other, t - bits, down))
            assert len(got) == len(exact) == (l if down else k)
            for g, (e, mag) in zip(got, exact):
                assert abs(Fraction(g) - e) <= slack + U * mag, (g, float(e))
    return grid


def uniform(k, l, scale=1.0, seed=1):
    rng = random.Random(seed)
    return [[(2 * rng.random() - 1) * scale for _ in range(l)] for _ in range(k)]


def test_available_here():
    assert packed.available()


@pytest.mark.parametrize("k,l", [(1, 1), (1, 9), (7, 1), (13, 29), (64, 33)])
@pytest.mark.parametrize("bits", [1, 4, 6])
def test_sums_of_uniform_entries(k, l, bits):
    assert_sums_within_bound(uniform(k, l), bits)


@pytest.mark.parametrize("scale", [1e-310, 1e-300, 1e-150, 1e150, 1e280])
def test_sums_at_extreme_magnitudes(scale):
    grid = assert_sums_within_bound(uniform(9, 14, scale))
    assert grid.step <= scale * 2.0 ** -40 or grid.step == 2.0 ** -1074


def test_small_integers_and_subnormals_sum_exactly():
    a = [[3.0, -7.0, 0.0], [-0.0, 5.0, 1.0], [2.0, 2.0, -9.0]]
    grid = packed.Packed(a, 3, 9.0)
    assert grid.down_columns([([1, 0, 1], 1)]) == [[5.0, -10.0, -10.0]]
    assert grid.along_rows([([0, 1, 1], 1)]) == [[-10.0, 6.0, -9.0]]
    tiny = [[5e-324, -5e-324 * 3], [5e-324 * 7, 0.0]]      # multiples of 2^-1074
    grid = packed.Packed(tiny, 2, 5e-324 * 7)
    assert grid.step == 5e-324
    assert grid.down_columns([([1, 1], 1)]) == [[5e-324 * 8, -5e-324 * 3]]


def test_mixed_magnitudes_stay_within_the_bound():
    """A row of 1e10 among rows of 1e-10: the small entries fall below the
    grid, and the bound says so (it is the grid's, not theirs)."""
    a = uniform(6, 8, 1e-10)
    a[2] = [v * 1e20 for v in a[2]]
    grid = assert_sums_within_bound(a)
    assert grid.step > 1e-10


def test_refuses_bounds_beyond_its_range():
    with pytest.raises(ValueError, match="beyond the packed range"):
        packed.Packed([[1.7e308, 1.0]], 2, 1.7e308)


def test_zero_matrices_and_empty_sides():
    grid = packed.Packed([[0.0, 0.0]], 2, 0.0)
    assert grid.down_columns([([1], 1)]) == [[0.0, 0.0]]
    assert grid.along_rows([([0, 1], 1)]) == [[0.0]]
    grid = packed.Packed([[], []], 0, 0.0)
    assert grid.down_columns([([0, 1], 1)]) == [[]]
    assert grid.along_rows([([], 1)]) == [[0.0, 0.0]]
