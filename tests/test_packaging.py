"""The sdist carries its own tests, and they pass against the installed package;
the build raises no setuptools deprecation warning."""

import glob
import os
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, (cmd, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.mark.slow
def test_the_sdist_installs_and_its_own_tests_pass(tmp_path):
    pytest.importorskip("build")
    out = str(tmp_path / "dist")
    proc = run([sys.executable, "-m", "build", "--sdist", "--outdir", out, ROOT])
    assert "Deprecat" not in proc.stdout + proc.stderr
    [sdist] = glob.glob(os.path.join(out, "refbackprop-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        tar.extractall(str(tmp_path))
    top = names[0].split("/")[0]
    for needed in (
        "LICENSE",
        "tests/conftest.py",
        "tests/front_ends.py",
        "tests/wrong_backends.py",
        "tests/data/site/probeplug.py",
        "docs/cli.md",
        "docs/runtimes.md",
        "examples/refbackprop-loops/refbackprop_loops.py",
    ):
        assert "%s/%s" % (top, needed) in names, needed
    venv = str(tmp_path / "venv")
    run([sys.executable, "-m", "venv", venv])
    py = os.path.join(venv, "bin", "python")
    run([py, "-m", "pip", "install", "-q", sdist + "[cli,test]"])
    # the console script, not python -m: the installed package, not the folder
    run(
        [
            os.path.join(venv, "bin", "pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "tests/test_reference.py",
            "tests/test_registry.py",
            "tests/test_json_schema.py",
            "tests/test_portability.py",
            "tests/test_explain.py",
        ],
        cwd=str(tmp_path / top),
    )
