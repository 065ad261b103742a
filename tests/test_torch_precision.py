"""torch.nn.functional.linear with autograd against the bfloat16 and float16
contracts: no false alarm over 10 seeds; torch kernels that break a contract
fail with the output and element named.  Skipped where torch is missing."""

import pytest

from refbackprop.cases import VALUE_SHAPES, catalogue
from refbackprop.conformance import failure_report, run
from refbackprop.runner import run_case

pytest.importorskip("torch", reason="torch is not installed (pip install torch)")

pytestmark = pytest.mark.slow  # whole catalogues through torch/JAX: CI runs them

import torch_backends as T  # noqa: E402
from front_ends import run_cli  # noqa: E402


def seeded_cases(dtype, seed):
    """Seed 0: the whole catalogue; other seeds: the value-kind shapes and the
    signed K = 4096 reductions (where a kernel's summation order shows)."""
    every = catalogue((dtype,), seed)
    if seed == 0:
        return every
    return [
        c
        for c in every
        if (c.n, c.d, c.m) in VALUE_SHAPES or (max(c.n, c.d, c.m) == 4096 and c.values == "normal")
    ]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_torch_linear_passes_its_contract_over_ten_seeds(dtype):
    backend = T.TorchLinear()
    ran = 0
    for seed in range(10):
        for case in seeded_cases(dtype, seed):
            result = run_case(backend, case)
            assert result.passed, (case.id, result.messages())
            ran += 1
    assert ran > 1000
    repeat = list(run(backend, dtypes=(dtype,), pattern="repeat/"))
    assert len(repeat) == 1 and repeat[0].passed


@pytest.mark.parametrize("wrong", T.WRONG, ids=lambda c: c.name)
def test_wrong_torch_kernels_fail_naming_output_and_element(wrong):
    backend = wrong()
    for dtype in backend.dtypes:
        bad = [
            r
            for r in run(backend, dtypes=(dtype,), pattern="forward/", oracle=False)
            if not r.passed
        ]
        assert bad, "%s passed the %s contract" % (backend.name, dtype)
        for r in bad:
            report = "\n".join(failure_report(r))
            y = [o for o in r.outputs if o.name == "y"][0]
            assert not y.passed and y.worst.startswith("y[")
            assert "y: worst element %s" % y.worst in report


def test_the_builtin_torch_backend_passes_every_contract_it_declares():
    from refbackprop.registry import Registry

    backend = Registry().get("torch")
    assert set(backend.dtypes) >= {"float64", "float32", "tf32", "bfloat16", "float16"}
    for dtype in ("bfloat16", "float16", "tf32"):
        failed = [r.check_id for r in run(backend, dtypes=(dtype,), oracle=False) if not r.passed]
        assert failed == []


@pytest.mark.parametrize("wrong", T.WRONG, ids=lambda c: c.name)
def test_through_the_cli_a_wrong_torch_kernel_is_named_with_its_element(wrong, monkeypatch):
    """refbackprop check --backend <a torch kernel> --dtype <its contract>: the
    run fails, naming the check, the output and the element."""
    import os

    monkeypatch.chdir(os.path.dirname(os.path.abspath(__file__)))
    dtype = wrong.dtypes[0]
    result = run_cli(
        "check --case forward/ --dtype", dtype, "--backend", "torch_backends:" + wrong.__name__
    )
    assert result.exit_code == 1, result.output
    assert "FAILED forward/%s/" % dtype in result.output
    assert "y: worst element y[" in result.output
    ok = run_cli("check --backend torch --case forward/ --dtype", dtype)
    assert ok.exit_code == 0, ok.output
