"""NumPy (its BLAS) as a timing baseline for `refbackprop bench`.

Not a registered backend and not a dependency: used only when NumPy is
installed, to put each backend's speed next to what BLAS does.  Its `blas`
attribute names the BLAS and, for OpenBLAS, the kernel it runs on this CPU.
"""

import os


def blas_name(np):
    """The BLAS NumPy uses and, for OpenBLAS, the kernel it chose, e.g.
    "scipy-openblas 0.3.31 (SkylakeX kernel, 2 threads)"."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = "%s %s" % (info.get("name"), info.get("version"))
    except Exception:                       # older NumPy: no mode="dicts"
        name = "NumPy %s's BLAS" % np.__version__
    core = _openblas_core(np)
    return name + (" (%s)" % core if core else "")


def _openblas_core(np):
    """'<kernel> kernel, <k> threads' from the OpenBLAS NumPy ships, or None
    (asked through ctypes; threadpoolctl is not needed)."""
    import ctypes
    import glob
    here = os.path.dirname(np.__file__)
    for path in (glob.glob(os.path.join(os.path.dirname(here), "numpy.libs", "*openblas*"))
                 + glob.glob(os.path.join(here, ".dylibs", "*openblas*"))):
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


def numpy_baseline():
    """A backend-shaped NumPy object, or None when NumPy is not installed."""
    try:
        import numpy as np
    except ImportError:
        return None

    class NumpyBaseline:
        name = "numpy (baseline)"
        dtypes = ("float64", "float32")

        @property
        def blas(self):
            return blas_name(np)

        def array(self, values, shape, dtype):
            return np.ascontiguousarray(np.array(values, dtype=dtype).reshape(shape))

        def tolist(self, a):
            return a.tolist()

        def forward(self, x, w, b=None):
            y = x @ w
            return y if b is None else y + b

        def dx(self, x, w, dy):
            return dy @ w.T

        def dw(self, x, w, dy):
            return x.T @ dy

        def backward(self, x, w, dy, b=None):
            return dy @ w.T, x.T @ dy, None if b is None else dy.sum(axis=0)

    return NumpyBaseline()
