"""Layout variants: the same cases with inputs transposed, strided, misaligned or
batched, for backends that declare them; stable ids with a seventh part."""

import os

import pytest

from refbackprop.cases import LAYOUTS, Case, layout_cases, parse_case_id
from refbackprop.conformance import build_checks, executor
from refbackprop.registry import BackendInfo, describe

import hostile_backends
from front_ends import run_cli

HERE = os.path.dirname(os.path.abspath(__file__))


def test_a_variant_has_its_own_id_and_its_plain_case_s_numbers():
    base = Case("backward", "float32", 9, 13, 11, True, "normal", 3)
    variant = base.with_layout("strided")
    assert variant.id == "backward/float32/N9-D13-M11/bias/normal/seed3/strided"
    assert variant.base_id == base.id
    assert variant.inputs() == base.inputs()
    again = parse_case_id(variant.id)
    assert again.id == variant.id and again.layout == "strided"
    assert parse_case_id(base.id).layout is None
    assert variant.with_shape(2, 3, 4).id == "backward/float32/N2-D3-M4/bias/normal/seed3/strided"
    with pytest.raises(ValueError, match="ends in the layout 'sideways', which is not one of"):
        parse_case_id(base.id + "/sideways")


def test_variants_run_only_for_the_layouts_a_backend_declares():
    np = pytest.importorskip("numpy")
    del np
    from refbackprop.registry import Registry

    numpy_checks = [c.id for c in build_checks(Registry().get("numpy"), oracle=False)]
    python_checks = [c.id for c in build_checks(Registry().get("python"), oracle=False)]
    per_dtype = len(layout_cases(("float64",), LAYOUTS))
    assert len([i for i in numpy_checks if i.endswith(LAYOUTS)]) == 2 * per_dtype
    assert not [i for i in python_checks if i.endswith(LAYOUTS)]


class ListsWithLayouts(hostile_backends.Noisy.__mro__[1]):  # PythonBackend
    name = "lists-with-layouts"
    layouts = ("strided",)

    def view(self, a, layout):
        return a


class LayoutsWithoutView(hostile_backends.Noisy.__mro__[1]):
    name = "layouts-without-view"
    layouts = ("strided",)


class UnknownLayout(ListsWithLayouts):
    name = "unknown-layout"
    layouts = ("diagonal",)


def test_declared_layouts_are_checked_once_when_the_backend_loads():
    info = describe(BackendInfo("x", "", "test"), ListsWithLayouts())
    assert info.status == "available" and info.layouts == ("strided",)
    assert info.reason == ""
    info = describe(BackendInfo("x", "", "test"), LayoutsWithoutView())
    assert info.status == "broken" and "has no view(a, layout)" in info.reason
    info = describe(BackendInfo("x", "", "test"), UnknownLayout())
    assert info.status == "broken" and "layouts must be a subset of" in info.reason
    checks = build_checks(executor(ListsWithLayouts()), oracle=False)
    assert any(c.id.endswith("/strided") for c in checks)


def test_a_kernel_right_only_for_contiguous_inputs_fails_its_layout_checks(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(HERE)
    selector = "torch:user_kernels:torch_contiguous_only,torch_contiguous_only_bwd"
    result = run_cli("check --dtype float64 --case N9-D13-M11/bias --backend", selector)
    assert result.exit_code == 1
    failed = [line.split()[1] for line in result.output.splitlines() if line.startswith("FAILED ")]
    assert failed and all(f.endswith(("/transposed", "/strided", "/offset")) for f in failed)
    assert "forward/float64/N9-D13-M11/bias/normal/seed0/transposed" in failed
    repro = [line for line in result.output.splitlines() if "repro:" in line][0]
    again = run_cli(repro.split("repro:", 1)[1].split(None, 1)[1])  # after "refbackprop"
    assert again.exit_code == 1 and "/transposed [" in again.output
