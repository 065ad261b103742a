"""The comparison engine and the case catalogue, piece by piece."""

from fractions import Fraction

import numpy as np
import pytest

from refbackprop import bounds
from refbackprop.cases import Case, catalogue, parse_case_id, to_dtype
from refbackprop.compare import exact_outputs, judge_output
from refbackprop.aliasing import shares_memory

INF, NAN = float("inf"), float("nan")


def test_gamma_is_highams():
    assert bounds.gamma(3, 2.0**-24) == 3 * 2.0**-24 / (1 - 3 * 2.0**-24)
    with pytest.raises(ValueError, match="no rounding-error bound for K=16777216"):
        bounds.gamma(2**24, 2.0**-24)


@pytest.mark.parametrize(
    "a,b,extra,exact",
    [
        (
            [0.1, 0.2, 0.3],
            [3.0, -7.0, 1.0],
            None,
            Fraction(0.1) * 3 - Fraction(0.2) * 7 + Fraction(0.3),
        ),
        (
            [1e300, -1e300, 1.0],
            [1e5, 1e5, 1e-300],
            None,
            Fraction(1e-300),
        ),  # split limit -> Fractions
        (
            [1.0 + 2**-52, 1.0],
            [1.0 - 2**-52, -1.0],
            0.5,
            Fraction(1 + 2**-52) * Fraction(1 - 2**-52) - 1 + Fraction(1, 2),
        ),
    ],
)
def test_exact_dot_is_correctly_rounded(a, b, extra, exact):
    ref, mag = bounds.exact_dot(a, b, extra)
    assert ref == float(exact)


@pytest.mark.parametrize(
    "a,b,want",
    [
        ([INF, 1.0], [2.0, 3.0], INF),
        ([INF, 1.0], [-2.0, 3.0], -INF),
        ([INF, 1.0], [0.0, 3.0], NAN),  # Inf·0
        ([INF, INF], [1.0, -1.0], NAN),  # +Inf + -Inf
        ([NAN, 1.0], [1.0, 1.0], NAN),
    ],
)
def test_nonfinite_outcomes_follow_ieee(a, b, want):
    ref, mag = bounds.exact_dot(a, b)
    assert (ref != ref and want != want) or ref == want
    assert mag == INF


def spec_2x2():
    case = Case("forward", "float64", 2, 3, 2, False, "normal")
    return exact_outputs(case)["y"]


def test_judge_reports_worst_element_expected_got_bound_ratio():
    spec = spec_2x2()
    refs = spec[1]
    got = [[refs[0], refs[1]], [refs[2], refs[3] * (1 + 1e-12)]]
    v = judge_output("y", got, spec, "float64")
    assert not v.passed and v.worst == "y[1][1]" and v.worst_index == (1, 1)
    assert v.expected == refs[3] and v.got == got[1][1] and v.ratio > 1
    assert v.bound == bounds.element_bound(3, spec[2][3], refs[3], "float64")
    assert "1 of 4 elements of y outside their bound; worst y[1][1]" in v.message


def test_judge_checks_shapes_and_float32_values():
    spec = spec_2x2()
    v = judge_output("y", [[1.0, 2.0]], spec, "float64")
    assert v.message == "y has the wrong shape: expected (2, 2), got 1 rows"
    v = judge_output("y", [[1.0], [2.0]], spec, "float64")
    assert v.message == "y has the wrong shape: expected (2, 2), row 0 is [1.0] (list)"
    case = Case("forward", "float32", 2, 3, 2, False, "normal")
    spec32 = exact_outputs(case)["y"]
    v = judge_output("y", [[spec32[1][0], spec32[1][1]], spec32[1][2:4]], spec32, "float32")
    assert "is not a float32 value: the backend computed in another precision" in v.message


def test_judge_nonfinite_must_match_class():
    case = Case("forward", "float64", 7, 13, 11, True, "nonfinite")
    spec = exact_outputs(case)["y"]
    refs = spec[1]
    assert any(r != r for r in refs) and INF in refs and -INF in refs
    got_rows = [[refs[i * 11 + j] for j in range(11)] for i in range(7)]
    assert judge_output("y", got_rows, spec, "float64").passed
    flipped = [list(r) for r in got_rows]
    k = refs.index(INF)
    flipped[k // 11][k % 11] = -INF
    v = judge_output("y", flipped, spec, "float64")
    assert not v.passed and "expected inf, got -inf" in v.message


def test_shares_memory_sees_numpy_views_without_importing_numpy():
    a = np.zeros((4, 5))
    assert shares_memory(a, a[1:3])
    assert shares_memory(a.T, a)
    assert not shares_memory(a, np.zeros((4, 5)))
    assert not shares_memory(a[:2], a[2:])
    rows = [[1.0], [2.0]]
    assert shares_memory([rows[0], [3.0]], rows)


def test_case_ids_are_stable_and_parse_back():
    case = Case("backward", "float32", 7, 13, 11, True, "normal", 0)
    assert case.id == "backward/float32/N7-D13-M11/bias/normal/seed0"
    again = parse_case_id(case.id)
    assert again.id == case.id and again.inputs() == case.inputs()
    with pytest.raises(ValueError, match="is not a case id"):
        parse_case_id("backward/float32/N7")


def test_inputs_depend_only_on_the_id_and_are_rounded_to_the_dtype():
    a = Case("forward", "float32", 5, 3, 17, True, "normal", 3).inputs()
    b = Case("forward", "float32", 5, 3, 17, True, "normal", 3).inputs()
    c = Case("forward", "float32", 5, 3, 17, True, "normal", 4).inputs()
    assert a == b and a != c
    assert all(to_dtype(v, "float32") == v for row in a["x"] for v in row)
    # the numbers themselves are pinned: a change would silently move every case
    assert Case("forward", "float64", 1, 1, 1, False, "integers").inputs()["x"] == [[6.0]]


def test_catalogue_covers_what_the_issue_names():
    ids = [c.id for c in catalogue()]
    assert len(ids) == len(set(ids))
    for needle in [
        "/N2-D2-M3/",
        "/N1-D1-M1/",
        "/N0-",
        "-M0/",
        "-D1-",
        "/N1-",
        "-M1/",
        "-D63-",
        "/N65-",
        "-M129/",
        "/nonfinite/",
        "/tiny/",
        "/large/",
        "/signed_zeros/",
        "/integers/",
        "/nobias/",
        "/bias/",
        "forward/float32/",
        "backward/float64/",
    ]:
        assert any(needle in i for i in ids), needle
