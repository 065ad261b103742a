"""Every wrong backend is caught, naming the output and the element.  (The
built-ins pass the whole catalogue: tests/test_conformance.py runs it once.)"""

import pytest

from refbackprop.cases import catalogue
from refbackprop.registry import Registry
from refbackprop.runner import cross_check, run_case

import wrong_backends
from requires import numba_needed

REGISTRY = Registry()


@numba_needed
def test_every_declared_dtype_is_covered():
    assert REGISTRY.get("numba").dtypes == ("float64", "float32")
    assert len(catalogue(("float32",))) == len(catalogue(("float64",))) > 100


def failures(backend, dtypes=("float64",)):
    """{case id: messages} for every case the backend fails."""
    out = {}
    for case in catalogue(dtypes):
        result = run_case(backend, case)
        if not result.passed:
            out[case.id] = result.messages()
    return out


def first_message(fails, case_id):
    assert case_id in fails, sorted(fails)[:5]
    return " | ".join(fails[case_id])


@pytest.mark.parametrize(
    "wrong,case_id,expected",
    [
        (
            wrong_backends.WrongTranspose,
            "forward/float64/N7-D13-M11/nobias/normal/seed0",
            "elements of y outside their bound; worst y[",
        ),
        (
            wrong_backends.MissingBias,
            "forward/float64/N2-D2-M3/bias/normal/seed0",
            "elements of y outside their bound; worst y[",
        ),
        (
            wrong_backends.Float32Accumulation,
            "backward/float64/N7-D13-M11/nobias/normal/seed0",
            "elements of dx outside their bound; worst dx[",
        ),
        (
            wrong_backends.RelativeError1e9,
            "backward/float64/N7-D13-M11/bias/normal/seed0",
            "elements of dw outside their bound; worst dw[",
        ),
        (
            wrong_backends.ModifiesInput,
            "backward/float64/N2-D2-M3/bias/normal/seed0",
            "input dy was modified by the call (first change at flat index 0)",
        ),
        (
            wrong_backends.NanToNumber,
            "forward/float64/N7-D13-M11/bias/nonfinite/seed0",
            "expected nan, got 0.0",
        ),
        (
            wrong_backends.TileRemainder,
            "forward/float64/N7-D13-M11/nobias/normal/seed0",
            "elements of y outside their bound; worst y[",
        ),
        (
            wrong_backends.AliasesInput,
            "backward/float64/N2-D2-M3/bias/normal/seed0",
            "db aliases input b: outputs must be new arrays",
        ),
        (
            wrong_backends.Raises,
            "backward/float64/N2-D2-M3/bias/normal/seed0",
            "backward raised RuntimeError: kernel launch failed",
        ),
    ],
)
def test_wrong_backend_is_caught(wrong, case_id, expected):
    fails = failures(wrong())
    assert expected in first_message(fails, case_id)


def test_float32_accumulation_names_element_bound_and_ratio():
    fails = failures(wrong_backends.Float32Accumulation())
    msg = first_message(fails, "backward/float64/N7-D13-M11/nobias/normal/seed0")
    assert "expected " in msg and ", got " in msg and "bound " in msg
    assert "error/bound " in msg


def test_tile_remainder_shows_only_off_multiples_of_4():
    fails = failures(wrong_backends.TileRemainder())
    assert not [c for c in fails if "/N8-D16-M12/" in c]
    assert [c for c in fails if "-M11/" in c]


def test_the_same_1e9_error_is_inside_the_float32_bound():
    """Verdicts scale with the dtype's unit roundoff, not a fixed rtol."""
    from refbackprop.cases import Case
    from refbackprop.compare import exact_outputs, judge_output

    case = Case("backward", "float32", 7, 13, 11, True, "normal")
    spec = exact_outputs(case)["dw"]
    shape, refs = spec[0], spec[1]
    nudged = [
        [refs[k * shape[1] + j] * (1 + 1e-9) for j in range(shape[1])] for k in range(shape[0])
    ]
    assert not judge_output("dw", nudged, spec, "float64").passed
    nudged32 = [[wrong_backends._f32(v) for v in row] for row in nudged]
    assert judge_output("dw", nudged32, spec, "float32").passed


def test_pairwise_cross_check_agrees():
    names = [
        i.name
        for i in REGISTRY.load_all()
        if i.status == "available" and i.name in ("reference", "python", "numba", "emulated")
    ]
    assert {"reference", "python", "emulated"} <= set(names)
    backends = [REGISTRY.get(n) for n in names]
    for case in catalogue(("float64",))[::7]:
        results = [run_case(b, case) for b in backends]
        for i in range(len(results)):
            for j in range(i + 1, len(results)):
                assert cross_check(results[i], results[j]) == []


def test_cross_check_flags_a_disagreement():
    from refbackprop.cases import parse_case_id

    case = parse_case_id("backward/float64/N7-D13-M11/bias/normal/seed0")
    good = run_case(REGISTRY.get("python"), case)
    bad = run_case(wrong_backends.RelativeError1e9(), case)
    problems = cross_check(good, bad)
    assert len(problems) == 1 and problems[0].startswith("dw element")
    assert "apart by more than the sum of their bounds" in problems[0]


@numba_needed
def test_numba_array_refuses_values_of_another_shape():
    backend = REGISTRY.get("numba")
    with pytest.raises(ValueError, match=r"values have shape \(1, 2\), not the \(2, 1\) asked for"):
        backend.array([[1.0, 2.0]], (2, 1), "float64")
    with pytest.raises(ValueError, match="the buffer holds 3 values, not the 4 of shape"):
        backend.from_buffer(memoryview(bytes(24)), (2, 2), "float64")
    a = backend.from_buffer(memoryview(bytes(32)), (2, 2), "float32")
    assert a.dtype.name == "float32" and a.shape == (2, 2)
    assert memoryview(backend.to_buffer(a.T)).c_contiguous
