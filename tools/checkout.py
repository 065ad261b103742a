"""refbackprop and its backends from this checkout, with nothing installed.

pyproject.toml's package-dir installs the folder backends/ as the package
refbackprop.backends (docs/design.md, "Layout"); a plain checkout has no such
name.  use_checkout() does what the install does, for scripts that must run
with only the standard library, under any interpreter, from the source tree
(benchmarks/run.py, tests/data/backend_probe.py under .ci/selftest-runtimes).
They load this file by its path: tools/ is not a package.
"""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_checkout():
    """Import refbackprop from this checkout (its root first on sys.path) and
    backends/ as refbackprop.backends; returns refbackprop.backends.  Does
    nothing more once refbackprop.backends is imported."""
    if sys.path[:1] != [ROOT]:
        sys.path.insert(0, ROOT)
    import refbackprop  # noqa: F401  (the parent package, before backends/ is mapped)

    if "refbackprop.backends" in sys.modules:
        return sys.modules["refbackprop.backends"]
    folder = os.path.join(ROOT, "backends")
    spec = importlib.util.spec_from_file_location(
        "refbackprop.backends",
        os.path.join(folder, "__init__.py"),
        submodule_search_locations=[folder],
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["refbackprop.backends"] = module
    spec.loader.exec_module(module)
    return module
