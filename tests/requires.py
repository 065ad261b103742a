"""What a test needs that may not be installed: skip markers with the reason.

from requires import numba_needed, backend_params
"""

import importlib.util

import pytest


def missing(module, extra):
    """None when module is importable, else why a test cannot run."""
    if importlib.util.find_spec(module) is not None:
        return None
    return "%s is not installed (pip install 'refbackprop[%s]')" % (module, extra)


NUMBA = missing("numba", "numba")
NUMPY = missing("numpy", "numpy")
numba_needed = pytest.mark.skipif(NUMBA is not None, reason=NUMBA or "")
numpy_needed = pytest.mark.skipif(NUMPY is not None, reason=NUMPY or "")


def backend_param(name, *values, **kw):
    """pytest.param(name, *values) that skips, with the registry's reason, when
    the backend cannot run here (numba without numba, ...)."""
    from refbackprop.registry import Registry

    info = Registry().info(name)
    marks = list(kw.get("marks", ()))
    if info.status != "available":
        marks.append(
            pytest.mark.skip(reason="backend %s is %s: %s" % (name, info.status, info.reason))
        )
    return pytest.param(name, *values, marks=marks, id=kw.get("id"))
