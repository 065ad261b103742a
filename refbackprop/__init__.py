"""refbackprop: the reference for backpropagation through a linear layer.

    x (N, D), w (D, M), b (M,) or None, dy (N, M)
    forward(x, w, b)            -> y  (N, M)           Y = X W + b
    backward(x, w, dy, b)       -> (dx, dw, db)        dY Wᵀ, Xᵀ dY, Σ_i dY
    jacobian(x, w, b)           -> (dy_dx, dy_dw, dy_db), explicit, from forward alone
    jacobian_backward(x, w, dy, b) -> (dx, dw, db)     vec(dY)ᵀ·J
    finite_differences(x, w, dy, b) -> (dx, dw, db)    central differences

The core imports nothing outside the standard library and runs on CPython
3.8+, PyPy, Pyodide and MicroPython.
"""

from .reference import backward, forward
from .oracle import (
    JacobianTooLarge,
    finite_difference_bound,
    finite_differences,
    jacobian,
    jacobian_backward,
    jacobian_size,
)

__version__ = "0.1.0"
__all__ = [
    "forward",
    "backward",
    "jacobian",
    "jacobian_backward",
    "finite_differences",
    "finite_difference_bound",
    "jacobian_size",
    "JacobianTooLarge",
]
