"""The conformance suite: the plain function, the pytest plugin, an out-of-tree package."""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from refbackprop.conformance import build_checks, failure_report, run, shrink
from refbackprop.registry import Registry

import wrong_backends
from front_ends import run_conformance_pytest
from requires import backend_param, numba_needed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@pytest.mark.parametrize(
    "name",
    # the python and numba backends' whole catalogues also run supervised in the
    # README's `refbackprop check --backend numba` and the slow CLI tests
    [backend_param("reference")]
    + [backend_param(n, marks=[pytest.mark.slow]) for n in ("python", "numba")],
)
def test_builtin_backends_pass_every_check(name):
    results = list(run(Registry().get(name)))
    kinds = set(r.kind for r in results)
    assert kinds == {"case", "repeat", "wear", "oracle"}
    assert [r.check_id for r in results if not r.passed] == []


@pytest.mark.parametrize("wrong", wrong_backends.WRONG, ids=lambda c: c.name)
def test_every_wrong_backend_fails_with_a_shrunk_case(wrong):
    backend = wrong()
    failed = [r for r in run(backend, oracle=False) if not r.passed]
    assert failed, "%s passed the suite" % backend.name
    first = [r for r in failed if r.kind == "case"][0]
    small = shrink(wrong(), first.case)
    dims, start = (small.n, small.d, small.m), (first.case.n, first.case.d, first.case.m)
    assert dims != start and all(a <= b for a, b in zip(dims, start))  # strictly smaller
    assert not run_one(wrong(), small).passed
    report = "\n".join(failure_report(first, small))
    assert (
        "repro:  refbackprop check --backend %s --case %s" % (backend.name, first.case_id) in report
    )
    if small.id != first.case_id:
        assert "shrunk: still fails at N=%d, D=%d, M=%d" % (small.n, small.d, small.m) in report


def run_one(backend, case):
    from refbackprop.runner import run_case

    return run_case(backend, case)


def test_a_reused_output_buffer_fails_the_repeat_check():
    results = list(run(wrong_backends.ReusesBuffer(), pattern="repeat/"))
    assert len(results) == 1 and not results[0].passed
    assert "dw differs between two identical calls" in results[0].problems[0]


@numba_needed
def test_checks_are_named_and_ordered_deterministically():
    backend = Registry().get("numba")
    a = [c.id for c in build_checks(backend, seed=3)]
    b = [c.id for c in build_checks(backend, seed=3)]
    assert a == b and len(a) == len(set(a))
    assert "repeat/backward/float32/N7-D13-M11/bias/normal/seed3" in a
    with pytest.raises(ValueError, match="declares dtypes float64, not float32"):
        build_checks(Registry().get("python"), ("float32",))


# -- the pytest plugin, run as a backend author runs it ------------------------


def pytest_run(*args, cwd=HERE, env=None):
    return run_conformance_pytest(*args, cwd=cwd, env=env)


def test_plugin_header_and_a_passing_run(tmp_path):
    proc = pytest_run(
        "--refbackprop-backend",
        "python",
        "--refbackprop-seed",
        "2",
        "-q",
        "-rN",
        "--co",
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "forward/float64/N2-D2-M3/bias/normal/seed2" in proc.stdout
    proc = pytest_run("--refbackprop-backend", "python", "-k", "N2-D2-M3", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert re.search(
        r"refbackprop: backend python from refbackprop \S+; dtypes float64; seed 0; \d+ checks",
        proc.stdout,
    )
    assert re.search(r"\d+ passed", proc.stdout.splitlines()[-1])


def test_plugin_failure_report_names_element_repro_and_shrunk_case():
    proc = pytest_run(
        "--refbackprop-backend",
        "wrong_backends:TileRemainder",
        "-k",
        "forward and N7-D13-M11 and nobias and normal",
    )
    assert proc.returncode == 1
    out = proc.stdout
    assert "FAILED forward/float64/N7-D13-M11/nobias/normal/seed0 [tile-remainder]" in out
    assert "y: worst element y[" in out and "error/bound" in out
    assert (
        "repro:  refbackprop check --backend wrong_backends:TileRemainder "
        "--case forward/float64/N7-D13-M11/nobias/normal/seed0"
    ) in out
    assert "shrunk: still fails at N=1, D=1, M=1" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        ([], "the conformance suite needs a backend: add --refbackprop-backend"),
        (["--refbackprop-backend", "cuda"], "unknown backend 'cuda'; known backends:"),
        (["--refbackprop-backend", "nowhere:X"], "backend 'nowhere:X' is broken"),
        (
            ["--refbackprop-backend", "python", "--refbackprop-dtype", "float32"],
            "declares dtypes float64, not float32",
        ),
        (
            ["--refbackprop-backend", "python", "-k", "no-such-check"],
            "the selection keeps none of the checks of backend 'python': a run that checks "
            "nothing of the backend is refused",
        ),
        (
            ["--refbackprop-backend", "python", "-k", "oracle"],
            "keeps none of the checks of backend 'python' (only 44 oracle checks",
        ),
        (
            ["--refbackprop-backend", "python", "-k", "oracle", "-n", "2"],
            "keeps none of the checks of backend 'python' (only 44 oracle checks",
        ),
        (
            ["--refbackprop-backend", "python", "--refbackprop-xfails", "/no/such/file"],
            "cannot read the known-failures file '/no/such/file'",
        ),
    ],
)
def test_never_a_false_green(args, needle, tmp_path):
    proc = pytest_run(*args, cwd=str(tmp_path))
    assert proc.returncode in (1, 2, 4)  # failed, collection interrupted, usage error
    assert needle in proc.stdout + proc.stderr


def test_known_failures_are_strict(tmp_path):
    xfails = tmp_path / "xfails.txt"
    xfails.write_text(
        "# known failures of the tile-remainder backend\n"
        "forward/float64/N7-D13-M11/nobias/normal  drops the last tile\n"
        "forward/float64/N8-D16-M12/nobias/normal  not a failure at all\n"
        "no-such-check  a pattern that matches nothing\n"
    )
    proc = pytest_run(
        "--refbackprop-backend",
        "wrong_backends:TileRemainder",
        "--refbackprop-xfails",
        str(xfails),
        "-rxX",
        "-k",
        "forward and nobias and normal and (N7-D13 or N8-D16)",
    )
    out = proc.stdout
    assert "1 xfailed" in out and "1 failed" in out, out[-3000:]
    assert "[XPASS(strict)] not a failure at all" in out
    assert "known-failure pattern 'no-such-check' matches no check" in out
    assert proc.returncode == 1


def outcomes(junit):
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        out[case.get("name")] = "failed" if failed else "passed"
    return out


@pytest.mark.slow
def test_xdist_gives_the_same_verdicts_as_a_serial_run(tmp_path):
    serial, split = str(tmp_path / "serial.xml"), str(tmp_path / "split.xml")
    args = [
        "--refbackprop-backend",
        "wrong_backends:TileRemainder",
        "--refbackprop-dtype",
        "float64",
        "-q",
    ]
    a = pytest_run(*(args + ["--junitxml", serial]))
    b = pytest_run(*(args + ["-n", "2", "-v", "--junitxml", split]))
    assert a.returncode == b.returncode == 1
    assert "2 workers" not in a.stdout and "created: 2/2 workers" in b.stdout
    va, vb = outcomes(serial), outcomes(split)
    assert va == vb and len(va) > 100
    assert "failed" in va.values() and "passed" in va.values()


def test_plugin_can_be_disabled_or_loaded_explicitly(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    run = lambda args, env=None: subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"] + args,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        env=env,
    )
    assert run(["-p", "no:refbackprop", "test_plain.py"]).returncode == 0
    off = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    assert run(["test_plain.py"], off).returncode == 0
    # without autoload the option is unknown unless the plugin is named explicitly
    proc = run(
        [
            "-p",
            "refbackprop.conformance.plugin",
            "--pyargs",
            "refbackprop.conformance",
            "--refbackprop-backend",
            "python",
            "-k",
            "N2-D2-M3",
        ],
        off,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "passed" in proc.stdout.splitlines()[-1]


def test_plugin_is_inert_without_the_option(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plain.py"],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "1 passed" in proc.stdout
    code = (
        "import sys, refbackprop.conformance.plugin; "
        "print('numba' in sys.modules, 'refbackprop.backends.numba_jit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


# -- an out-of-tree package written from the README alone -----------------------


def readme_block(marker):
    text = open(os.path.join(ROOT, "README.md")).read()
    after = text.split("<!-- example:%s -->" % marker, 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


@pytest.mark.slow
def test_readme_example_package_installs_and_passes(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "refbackprop_loops.py").write_text(readme_block("refbackprop_loops.py"))
    (pkg / "pyproject.toml").write_text(readme_block("pyproject.toml"))
    for name in ("refbackprop_loops.py", "pyproject.toml"):  # the shipped copy matches
        assert (pkg / name).read_text() == open(
            os.path.join(ROOT, "examples", "refbackprop-loops", name)
        ).read()
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(pkg),
        ],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    listing = subprocess.run(
        [sys.executable, "-m", "refbackprop.cli", "backends"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert re.search(r"loops\s+available\s+float64\s+refbackprop-loops 1.0", listing), listing
    proc = pytest_run("--refbackprop-backend", "loops", cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    cli = subprocess.run(
        [sys.executable, "-m", "refbackprop.cli", "check", "--backend", "loops"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
    )
    assert cli.returncode == 0, cli.stdout[-3000:]
    assert cli.stdout.splitlines()[-1].endswith(" passed, 0 failed")


def test_the_oracle_check_catches_a_wrong_closed_form(monkeypatch):
    import refbackprop.conformance as conformance
    from refbackprop.reference import backward

    def transposed_dw(x, w, dy, b=None):
        dx, dw, db = backward(x, w, dy, b)
        return dx, [list(r) for r in reversed(dw)], db

    monkeypatch.setattr(conformance, "backward", transposed_dw)
    results = [c.run() for c in conformance.oracle_checks(pattern="N7-D13-M11/bias/normal")]
    assert len(results) == 1
    assert results[0].problems == ["dw through the explicit Jacobian differs from the closed form"]
