"""Backends through entry points: discovery, broken plugins, duplicates, errors."""

import subprocess
import sys

import pytest

from refbackprop import registry
from refbackprop.registry import BackendError, Registry

import wrong_backends


def test_builtins_are_discovered_through_entry_points():
    reg = Registry()
    infos = dict((i.name, i) for i in reg.load_all())
    for name in ("reference", "python", "numba"):
        if name == "numba" and infos[name].status == "unavailable":  # numba not installed
            assert infos[name].reason == (
                "numba is not installed; install it with: pip install 'refbackprop[numba]'"
            )
        else:
            assert infos[name].status == "available", infos[name].reason
        assert infos[name].origin.startswith("refbackprop ")
        assert infos[name].target.startswith("refbackprop.backends.")
    assert reg.names() == sorted(reg.names())


def test_listing_does_not_import_numba():
    code = (
        "import sys; from refbackprop.registry import Registry; "
        "r = Registry(); r.load_all(); "
        "print([i.status for i in r.infos]); print('numba' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-1] == "False"


def test_broken_plugin_is_reported_and_the_others_still_load(plugin_dist):
    plugin_dist("brokenplug", {"broken": "brokenplug_missing_module:Backend"})
    plugin_dist("noproto", {"noproto": "noproto:Thing"}, "class Thing:\n    name = 'noproto'\n")
    reg = Registry()
    infos = dict((i.name, i) for i in reg.load_all())
    assert infos["broken"].status == "broken"
    assert "No module named 'brokenplug_missing_module'" in infos["broken"].reason
    assert infos["broken"].origin == "brokenplug 1.0"
    assert infos["noproto"].status == "broken"
    assert "missing required member(s): dtypes, array" in infos["noproto"].reason
    assert infos["python"].status == "available"
    with pytest.raises(BackendError, match="backend 'broken' is broken: ModuleNotFoundError"):
        reg.get("broken")


def test_a_name_declared_twice_is_ambiguous_and_listed_with_both(plugin_dist):
    plugin_dist("aaa-dup", {"python": "wrong_backends:wrong_transpose"})
    reg = Registry()
    both = [i for i in reg.infos if i.name == "python"]
    assert sorted(i.origin.split()[0] for i in both) == ["aaa-dup", "refbackprop"]
    assert all(i.status == "ambiguous" for i in both)
    with pytest.raises(BackendError) as e:
        reg.get("python")
    text = str(e.value)
    assert "backend 'python' is ambiguous" in text and "aaa-dup 1.0" in text
    assert "refbackprop.backends.pure_python:PythonBackend" in text  # how to pick one
    assert reg.get("wrong_backends:wrong_transpose").name == "wrong-transpose"


def test_entry_point_may_name_an_object_or_a_factory(plugin_dist):
    plugin_dist("objplug", {"wrong-transpose": "wrong_backends:wrong_transpose"})
    backend = Registry().get("wrong-transpose")
    assert backend is wrong_backends.wrong_transpose
    assert type(Registry().get("python")).__name__ == "PythonBackend"


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(BackendError) as info:
        Registry().get("cuda")
    assert (
        "unknown backend 'cuda'; known backends: emulated, jax, numba, numpy, python, "
        "reference, torch, torch-cuda" in str(info.value)
    )


def test_import_path_without_registration():
    backend = Registry().get("wrong_backends:WrongTranspose")
    assert backend.name == "wrong-transpose"
    with pytest.raises(BackendError, match="No module named 'nowhere'"):
        Registry().get("nowhere:Backend")


def test_missing_numba_is_unavailable_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    info = registry.BackendInfo("numba", "refbackprop.backends.numba_jit:NumbaBackend", "test")
    registry.load(info)
    assert info.status == "unavailable"
    assert "pip install 'refbackprop[numba]'" in info.reason
    reg = Registry()
    reg.infos = [info]
    with pytest.raises(
        BackendError, match=r"backend 'numba' is unavailable: numba is not installed"
    ):
        reg.get("numba")


def test_entry_points_lists_the_builtins():
    # entry_points() differs before 3.10; distributions() is the same on all.
    # This runs on this interpreter only; .ci/selftest-runtimes runs
    # tests/data/registry_probe.py under every CPython 3.8+ that pyenv has.
    names = [name for name, target, origin in registry.entry_points()]
    assert {"reference", "python", "numba"} <= set(names)


def test_only_distributions_with_entry_points_in_the_group_have_their_metadata_read(monkeypatch):
    """Metadata (an e-mail message to parse) is read only where the group has
    entry points; a distribution whose entry points or metadata cannot be
    read is skipped; one seen twice on sys.path is listed once."""

    class EntryPoint:
        def __init__(self, name, value, group="refbackprop.backends"):
            self.name, self.value, self.group = name, value, group

    read = []

    class Dist:
        def __init__(self, name, eps, broken=None):
            self.name, self.eps, self.broken = name, eps, broken

        @property
        def entry_points(self):
            if self.broken == "entry points":
                raise OSError("unreadable entry_points.txt")
            return self.eps

        @property
        def metadata(self):
            read.append(self.name)
            if self.broken == "metadata":
                raise ValueError("unreadable METADATA")
            return {"Name": self.name}

        version = "1.0"

    dists = [
        Dist("plain", []),
        Dist("other-group", [EntryPoint("x", "m:x", "console_scripts")]),
        Dist("kernels", [EntryPoint("fast", "kernels:Fast")]),
        Dist("kernels", [EntryPoint("fast", "kernels:Fast")]),  # twice on sys.path
        Dist("bad-eps", [EntryPoint("b", "b:B")], broken="entry points"),
        Dist("bad-meta", [EntryPoint("c", "c:C")], broken="metadata"),
    ]
    monkeypatch.setattr(registry, "_distributions", lambda: dists)
    assert registry.entry_points() == [("fast", "kernels:Fast", "kernels 1.0")]
    assert read == ["kernels", "kernels", "bad-meta"]
