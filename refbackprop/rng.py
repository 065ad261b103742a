"""A seeded generator that gives the same numbers on every interpreter.

The random module differs between CPython and MicroPython, and libm's log/cos
can differ in the last bit, so cases are drawn from SplitMix64 with integer
arithmetic only; normals are Irwin-Hall (sum of 12 uniforms minus 6), which
uses only exactly rounded + and *.
"""

_MASK = (1 << 64) - 1


def seed_from(text, seed=0):
    """A 64-bit seed from a string (FNV-1a) and an integer: stable everywhere."""
    h = 0xCBF29CE484222325
    for ch in ("%s/%d" % (text, seed)).encode("utf-8"):
        h = ((h ^ ch) * 0x100000001B3) & _MASK
    return h


class Rng:
    """SplitMix64: next64, uniform in [0, 1), normal, integer."""

    def __init__(self, seed):
        self.state = seed & _MASK

    def next64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def uniform(self):
        """A float in [0, 1) with 53 random bits."""
        return (self.next64() >> 11) * (1.0 / 9007199254740992.0)

    def normal(self):
        """Approximately standard normal: Σ of 12 uniforms - 6."""
        s = 0.0
        for _ in range(12):
            s = s + self.uniform()
        return s - 6.0

    def normal16(self):
        """Approximately standard normal on a 2^-16 grid: Σ of 12 uniform
        16-bit integers, four from each 64-bit draw, scaled and less 6.

        A quarter of normal()'s draws; for the low-precision contracts,
        whose storage keeps at most 11 significant bits.
        """
        s = 0
        for _ in range(3):
            z = self.next64()
            s += (z & 0xFFFF) + ((z >> 16) & 0xFFFF) + ((z >> 32) & 0xFFFF) + (z >> 48)
        return s * (1.0 / 65536.0) - 6.0

    def integer(self, lo, hi):
        """An int in [lo, hi]."""
        return lo + self.next64() % (hi - lo + 1)
