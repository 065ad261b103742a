"""The operator and itertools functions the core maps over lists at C speed,
with plain stand-ins where a runtime lacks those modules (MicroPython)."""

try:
    from operator import add, le, lt, mul, sub, truediv
except ImportError:  # MicroPython

    def add(a, b):
        return a + b

    def le(a, b):
        return a <= b

    def lt(a, b):
        return a < b

    def mul(a, b):
        return a * b

    def sub(a, b):
        return a - b

    def truediv(a, b):
        return a / b


try:
    from itertools import repeat
except ImportError:  # MicroPython

    def repeat(v, n=None):
        return [v] * n


__all__ = ["add", "le", "lt", "mul", "repeat", "sub", "truediv"]
