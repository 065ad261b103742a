"""NumPy (its BLAS) as a timing baseline for `refbackprop bench`: the numpy
backend (backends/numpy_backend.py) under its own name, timed on the same
sizes as each backend, in its own process, when NumPy is installed.  Its
`blas` attribute names the BLAS and, for OpenBLAS, the kernel it runs on
this CPU.
"""

import os

from .numpy_backend import NumpyBackend


def blas_name(np):
    """The BLAS NumPy uses and, for OpenBLAS, the kernel it chose, e.g.
    "scipy-openblas 0.3.31 (SkylakeX kernel, 2 threads)"."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = "%s %s" % (info.get("name"), info.get("version"))
    except Exception:  # older NumPy: no mode="dicts"
        name = "NumPy %s's BLAS" % np.__version__
    core = _openblas_core(np)
    return name + (" (%s)" % core if core else "")


def _openblas_core(np):
    """'<kernel> kernel, <k> threads' from the OpenBLAS NumPy ships, or None
    (asked through ctypes; threadpoolctl is not needed)."""
    import ctypes
    import glob

    here = os.path.dirname(np.__file__)
    for path in glob.glob(
        os.path.join(os.path.dirname(here), "numpy.libs", "*openblas*")
    ) + glob.glob(os.path.join(here, ".dylibs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                core = getattr(lib, "%s_get_corename%s" % (prefix, suffix), None)
                threads = getattr(lib, "%s_get_num_threads%s" % (prefix, suffix), None)
                if core is not None:
                    core.restype = ctypes.c_char_p
                    text = "%s kernel" % core().decode()
                    if threads is not None:
                        text += ", %d threads" % threads()
                    return text
    return None


class NumpyBaseline(NumpyBackend):
    name = "numpy (baseline)"

    @property
    def blas(self):
        import numpy as np

        return blas_name(np)


SELECTOR = "refbackprop.backends.numpy_baseline:NumpyBaseline"


def numpy_baseline():
    """A NumpyBaseline, or None when NumPy is not installed."""
    backend = NumpyBaseline()
    return None if backend.unavailable_reason() else backend
