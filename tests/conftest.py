import importlib
import os
import sys

# tests/ holds helper modules (wrong_backends) imported by path in some tests.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (tests/browser.py); the test
    skips, with the reason, where there is none."""
    from browser import Browser, skip_reason

    reason = skip_reason()
    if reason and os.environ.get("REFBACKPROP_REQUIRE_BROWSER"):
        pytest.fail("REFBACKPROP_REQUIRE_BROWSER is set (CI) but: %s" % reason)
    if reason:
        pytest.skip(reason)
    with Browser() as b:
        yield b


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """plugin_dist(name, backends, module_code=None) installs a distribution
    `name` 1.0 whose entry points declare `backends` ({backend name:
    "module:object"}), with a module `name`.py holding module_code if given,
    in tmp_path, which the fixture puts first on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(name, backends, module_code=None):
        info = tmp_path / ("%s-1.0.dist-info" % name)
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % name)
        lines = ["[refbackprop.backends]"] + ["%s = %s" % item for item in backends.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        if module_code is not None:
            (tmp_path / ("%s.py" % name.replace("-", "_"))).write_text(module_code)
        importlib.invalidate_caches()  # the new files, on a path already listed

    return install


@pytest.fixture
def forked_children(monkeypatch):
    """Every forked.Child started while the test runs (refbackprop.forked's
    start recorded), in order: a test checks that each was reaped."""
    from refbackprop import forked

    started = []
    real = forked.start

    def recording(compute):
        child = real(compute)
        started.append(child)
        return child

    monkeypatch.setattr(forked, "start", recording)
    return started
