"""docs/frameworks.md's examples run: each example module is written to a
temporary folder and each command's selector certifies it (the whole
catalogue).  Once the CLI takes adapter selectors, the commands themselves
can run here verbatim."""

import os
import re
import shlex
import subprocess
import sys

import pytest

from refbackprop.backends.adapters import AdapterUnavailable, make_backend
from refbackprop.conformance import build_checks, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "frameworks.md")

pytestmark = pytest.mark.slow  # whole catalogues through torch/JAX: CI runs them


def blocks(marker):
    """{name: code} for every '<!-- marker: name -->' followed by a fenced block."""
    with open(DOC) as f:
        text = f.read()
    pattern = r"<!-- %s: (\S+) -->\n```\w*\n(.*?)```" % marker
    return dict(re.findall(pattern, text, re.S))


MODULES = blocks("example")
COMMANDS = [
    (name, line)
    for name, text in blocks("example-commands").items()
    for line in text.splitlines()
    if line.strip()
]


def test_every_adapter_kind_has_an_example():
    kinds = set(shlex.split(line)[-1].split(":")[0] for _, line in COMMANDS)
    assert kinds == {"torch", "jax", "numpy"}
    assert sorted(MODULES) == ["affine.py", "mykernels.py", "mylayers.py"]


@pytest.mark.parametrize("module,command", COMMANDS, ids=[c for _, c in COMMANDS])
def test_example_command_certifies_its_module(tmp_path, monkeypatch, module, command):
    words = shlex.split(command)
    env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_0-9]+=", w))
    words = [w for w in words if not re.match(r"^[A-Z_0-9]+=", w)]
    assert words[:3] == ["refbackprop", "check", "--backend"] and len(words) == 4
    selector = words[3]
    (tmp_path / module).write_text(MODULES[module])
    if env:  # the environment changes JAX itself: a fresh process
        code = (
            "from refbackprop.backends.adapters import make_backend; "
            "from refbackprop.conformance import build_checks, run; "
            "b = make_backend(%r); rs = list(run(b, ('float64',), oracle=False)); "
            "n = len(build_checks(b, ('float64',), oracle=False)); "
            "print(b.dtypes, len(rs) == n > 150, "
            "[r.check_id for r in rs if not r.passed][:3])" % selector
        )
        pytest.importorskip(selector.split(":")[0])
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=str(tmp_path),
            env=dict(os.environ, **env),
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "('float64', 'float32') True []"  # float32: below
        return
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        backend = make_backend(selector)
    except AdapterUnavailable as e:
        pytest.skip(e.reason)
    results = list(run(backend, oracle=False))
    assert len(results) == len(build_checks(backend, oracle=False)) > 150
    assert [r.check_id for r in results if not r.passed] == []
