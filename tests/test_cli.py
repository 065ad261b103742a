"""The command line, through click's CliRunner and once as the installed script."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from refbackprop.cli.app import cli
from refbackprop.registry import Registry

from front_ends import run_cli
from requires import numba_needed

HERE = os.path.dirname(os.path.abspath(__file__))


def invoke(command, *more):
    """run_cli, where an exception the command line lets out fails the test."""
    return run_cli(command, *more, catch_exceptions=False)


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output and command in result.output


@numba_needed
def test_check_numba_passes_with_json():
    result = invoke("check", "--backend", "numba", "--case", "N7-D13-M11", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema"] == 2 and doc["failed"] == 0 and doc["passed"] > 0 and doc["ok"]
    [numba] = doc["backends"]
    assert numba["name"] == numba["selector"] == "numba" and numba["supervised"]
    assert numba["dtypes"] == ["float64", "float32"]
    assert numba["origin"].startswith("refbackprop ")
    labels = set((r["backend"], r["dtype"]) for r in doc["rows"])
    assert {("numba", "float32"), ("numba", "float64"), ("oracle (reference)", "float64")} <= labels
    assert all(r["worst_ratio"] <= 1 for r in doc["rows"] if r["backend"] == "numba")


def test_check_text_ends_with_the_count_line():
    result = invoke("check", "--backend", "python", "--case", "N2-D2-M3")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("backend python: refbackprop ")
    assert lines[1].split()[:3] == ["backend", "dtype", "checks"]
    assert lines[-1].endswith(" passed, 0 failed")
    assert "checking" not in result.output  # no progress bar off a TTY


def test_check_default_runs_every_backend_and_cross_checks():
    result = invoke("check", "--case", "N9-D6-M10/bias/normal", "--json")
    doc = json.loads(result.output)
    assert result.exit_code == 0
    available = sorted(b.name for b in Registry().available())
    assert {"python", "reference"} <= set(available)
    assert sorted(b["name"] for b in doc["backends"]) == available
    assert doc["cross_check"]["pairs"] > 0 and doc["cross_check"]["problems"] == []


def test_the_default_run_says_why_a_backend_does_not_run_a_dtype():
    result = invoke("check --dtype bfloat16 --case forward/bfloat16/N2-D2-M3/bias/normal/seed0")
    assert result.exit_code == 0, result.output  # the emulated backend declares bfloat16
    # the same message as for a selected backend (registry.dtype_problem)
    assert "not run: python (backend 'python' declares dtypes float64, not bfloat16)" in (
        result.output
    )


def test_wrong_backend_by_import_path_fails_with_element_and_repro(monkeypatch):
    monkeypatch.chdir(HERE)
    result = invoke(
        "check --backend wrong_backends:MissingBias --case", "forward/float64/N2-D2-M3/bias/normal"
    )
    assert result.exit_code == 1
    out = result.output
    assert "FAILED forward/float64/N2-D2-M3/bias/normal/seed0 [missing-bias]" in out
    assert "y: worst element y[" in out and "bound" in out and "error/bound" in out
    assert (
        "repro:  refbackprop check --backend wrong_backends:MissingBias "
        "--case forward/float64/N2-D2-M3/bias/normal/seed0"
    ) in out
    assert "shrunk: still fails at N=1, D=0, M=1" in out
    assert out.splitlines()[-1] == "0 passed, 1 failed"


def test_failure_json_names_the_element(monkeypatch):
    monkeypatch.chdir(HERE)
    result = invoke(
        "check --backend wrong_backends:RelativeError1e9 --json --case",
        "backward/float64/N7-D13-M11/bias/normal",
    )
    assert result.exit_code == 1
    doc = json.loads(result.output)
    failure = [f for f in doc["failures"] if f["check"].startswith("backward/")][0]
    dw = [o for o in failure["outputs"] if o["output"] == "dw"][0]
    assert not dw["passed"] and dw["ratio"] > 1 and len(dw["index"]) == 2
    assert failure["repro"].startswith(
        "refbackprop check --backend wrong_backends:RelativeError1e9"
    )
    assert failure["shrunk"].startswith("backward/float64/N")


def test_a_raising_backend_fails_its_cases_but_not_the_run(monkeypatch):
    monkeypatch.chdir(HERE)
    result = invoke("check", "--backend", "wrong_backends:Raises", "--case", "N2-D2-M3")
    assert result.exit_code == 1
    assert "backward raised RuntimeError: kernel launch failed" in result.output
    assert "forward/float64/N2-D2-M3" not in result.output.split("FAILED", 1)[1].split("\n")[0]


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--backend", "cuda"],
            "unknown backend 'cuda'; known backends: emulated, jax, numba, numpy, python, "
            "reference, torch, torch-cuda",
        ),
        (
            ["--backend", "nowhere:Backend"],
            "backend 'nowhere:Backend' is broken: ModuleNotFoundError",
        ),
        (
            ["--backend", "python", "--dtype", "float32"],
            "backend 'python' declares dtypes float64, not float32",
        ),
        (
            ["--backend", "python", "--case", "no-such-case"],
            "no check of backend 'python' matches 'no-such-case'",
        ),
        (["--dtype", "int8"], "Invalid value for '--dtype'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    result = invoke("check", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unavailable_backend_exits_2_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    result = invoke("check", "--backend", "numba", "--in-process")
    assert result.exit_code == 2
    assert (
        "backend 'numba' is unavailable: numba is not installed; install it with: "
        "pip install 'refbackprop[numba]'" in result.output
    )


def test_backends_table_and_json():
    result = invoke("backends")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "status", "dtypes", "origin"]
    rows = dict((line.split()[0], line.split()) for line in lines[1:] if line[:1] != " ")
    assert rows["python"][1:3] == ["available", "float64"]
    assert rows["python"][3].startswith("refbackprop")
    doc = json.loads(invoke("backends", "--json").output)
    by_name = dict((b["name"], b) for b in doc["backends"])
    assert by_name["python"]["dtypes"] == ["float64"]
    assert by_name["python"]["origin"].startswith("refbackprop ")
    if by_name["numba"]["status"] == "available":
        assert rows["numba"][1:3] == ["available", "float64,"]
        assert by_name["numba"]["dtypes"] == ["float64", "float32"]
    else:  # numba not installed: said so, with the hint
        assert "pip install 'refbackprop[numba]'" in by_name["numba"]["reason"]
        assert "reason: numba is not installed" in result.output


def test_jacobian_size_at_the_notes_size():
    result = invoke("jacobian", "64", "4096", "4096")
    assert result.exit_code == 0
    assert (
        "dY/dX is (262,144, 262,144): 68,719,476,736 entries, 256 GiB at float32, "
        "512 GiB at float64"
    ) in result.output
    doc = json.loads(invoke("jacobian", "64", "4096", "4096", "--json").output)
    assert doc["jacobians"]["dy_dx"]["entries"] == 68719476736
    assert doc["jacobians"]["dy_dx"]["bytes_float32"] == 256 * 2**30


def test_jacobian_show_prints_the_matrices():
    result = invoke("jacobian", "2", "2", "3", "--show", "--bias")
    assert result.exit_code == 0
    assert "dY/dX =" in result.output and "dY/db =" in result.output
    doc = json.loads(invoke("jacobian", "2", "2", "3", "--show", "--json").output)
    w = doc["w"]
    assert [row[0] for row in doc["dy_dx"]] == [w[0][0], w[0][1], w[0][2], 0, 0, 0]


def test_jacobian_show_refuses_large_shapes():
    result = invoke("jacobian", "64", "4096", "4096", "--show")
    assert result.exit_code == 2
    assert "--show prints small Jacobians only" in result.output
    assert "has 4,466,765,987,840 entries, too many to read" in result.output


@numba_needed
def test_bench_json_small():
    result = invoke("bench --backend python --backend numba --size 4 8 16 --repeat 1 --json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    names = [r["backend"] for r in doc["results"]]
    assert names == ["python", "numba"] and doc["numpy"] is True
    for r in doc["results"]:
        assert set(r["seconds"]) == {"forward", "dx", "dw"}
        assert set(r["numpy_seconds"]) == {"forward", "dx", "dw"}
        assert r["size"] == [4, 8, 16] and r["to_native_seconds"] >= 0


def test_bench_text_has_a_row_per_product():
    result = invoke("bench", "--backend", "python", "--size", "2", "3", "4", "--repeat", "1")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["backend", "dtype", "N", "D"] and "vs NumPy" in lines[0]
    products = [line.split()[5] for line in lines[1:] if line.startswith("python ")]
    assert products == ["forward", "dx", "dw"]


def test_installed_console_script():
    script = shutil.which("refbackprop", path=os.path.dirname(sys.executable))
    assert script, "the refbackprop console script is not installed"
    proc = subprocess.run(
        [script, "check", "--backend", "python", "--case", "N5-D3-M17"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].endswith(" passed, 0 failed")


def test_without_click_the_script_says_how_to_install_it():
    code = (
        "import sys; sys.modules['click'] = None; "
        "from refbackprop.cli import main; sys.exit(main([]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "refbackprop: the command line needs click; install it with: pip install 'refbackprop[cli]'"
    )


def test_repro_of_a_seeded_repeat_check_runs_that_check(monkeypatch):
    monkeypatch.chdir(HERE)
    result = invoke("check --backend wrong_backends:ReusesBuffer --seed 3 --case repeat/")
    assert result.exit_code == 1
    repro = [l for l in result.output.splitlines() if "repro:" in l][0].split("repro:", 1)[1]
    assert repro.strip() == (
        "refbackprop check --backend wrong_backends:ReusesBuffer --case "
        "repeat/backward/float64/N7-D13-M11/bias/normal/seed3 --seed 3"
    )
    args = repro.strip().split()[1:]  # after "refbackprop"
    again = invoke(*[a.strip("'") for a in args])
    assert again.exit_code == 1 and "dw differs between two identical calls" in again.output


def test_cross_check_counts_pairs_not_lines(monkeypatch):
    """Two backends that disagree on dx and dw of one case: one failed pair."""
    from refbackprop.conformance.session import CheckSession
    from refbackprop.registry import get_backend

    monkeypatch.chdir(HERE)
    import wrong_backends

    class BothOff(wrong_backends.PythonBackend):
        name = "both-off"

        def backward(self, x, w, dy, b=None):
            dx, dw, db = wrong_backends.PythonBackend.backward(self, x, w, dy, b)
            dx.rows = [[v * (1 + 1e-9) for v in r] for r in dx.rows]
            dw.rows = [[v * (1 + 1e-9) for v in r] for r in dw.rows]
            return dx, dw, db

    from refbackprop.conformance import executor

    session = CheckSession(
        [executor(get_backend("python")), executor(BothOff())],
        pattern="backward/float64/N7-D13-M11/bias/normal/seed0",
    ).run()
    assert session.cross_count == 1 and session.cross_failed == 1
    assert len(session.cross) == 2  # one line for dx, one for dw
    # the case (a whole case id selects that case alone) fails for both-off,
    # plus the one disagreeing pair
    assert session.failed == 1 + 1
    assert session.to_dict()["cross_check"]["failed_pairs"] == 1
