"""NumPy (its BLAS) as a timing baseline for `refbackprop bench`: the numpy
backend (backends/numpy_backend.py), when NumPy is installed."""

from .numpy_backend import NumpyBackend


def numpy_baseline():
    """The numpy backend, or None when NumPy is not installed."""
    backend = NumpyBackend()
    if backend.unavailable_reason():
        return None
    return backend
