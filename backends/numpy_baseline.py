"""NumPy (its BLAS) as a timing baseline for `refbackprop bench`: the numpy
backend (backends/numpy_backend.py) under its own name, timed on the same
sizes as each backend when NumPy is installed."""

from .numpy_backend import NumpyBackend


class NumpyBaseline(NumpyBackend):
    name = "numpy (baseline)"


SELECTOR = "refbackprop.backends.numpy_baseline:NumpyBaseline"


def numpy_baseline():
    """A NumpyBaseline, or None when NumPy is not installed."""
    backend = NumpyBaseline()
    return None if backend.unavailable_reason() else backend
