"""What a run will cost, estimated before anything is allocated, and the budget it must fit.

A size given on the command line (check --size, bench --size, a whole case
id given to --case) is refused, with the shapes and the bytes, when its
estimate exceeds the budget; nothing is allocated first, so no MemoryError and
no hour-long silent run.

Memory: the arrays of the run, counted per float as the process that holds
them stores them:
- at size (check --size): the verifier keeps the inputs and outputs as
  array('d') (8 bytes) and rounds W once more for its packed sums (8); the
  worker keeps its own inputs (8), the backend's arrays of inputs and outputs
  (at most 8 each), and the outputs once more while sending them (8); when
  the backend has no from_buffer(), array() is given nested lists of Python
  floats (32 bytes each, with the list's pointer).  SIZED_BYTES_PER_FLOAT
  sums these, per float of inputs + outputs.
- a catalogue case: nested lists (32 bytes a float) of inputs and outputs on
  both sides, and the exact value's terms (4 per product, for one element at
  a time): CASE_BYTES_PER_FLOAT.
- bench: nested lists of the inputs (32) and the backend's arrays (8).
The default budget is half the memory available when the run starts
(MemAvailable in /proc/meminfo, or sysconf), or DEFAULT_MEMORY when the
system does not say; --max-memory sets it.

Time: only where it is predictable from the size: the exact values of a
catalogue case (EXACT_SECONDS_PER_PRODUCT, measured on CPython 3.11 with a
margin), and a backend that declares seconds_per_madd (the pure-Python
ones).  Compiled backends are not estimated: their time is bounded by the
per-call timeout instead.  Default budget DEFAULT_SECONDS; --max-seconds.
"""

from .formatting import group_digits, human_bytes

DEFAULT_MEMORY = 4 << 30  # when the system does not say what is available
MEMORY_FRACTION = 0.5  # of what is available
DEFAULT_SECONDS = 600.0
SIZED_BYTES_PER_FLOAT = 48  # buffers end to end (see above)
SIZED_LIST_BYTES_PER_FLOAT = 32  # added when array() takes nested lists
CASE_BYTES_PER_FLOAT = 96
BENCH_BYTES_PER_FLOAT = 40
EXACT_SECONDS_PER_PRODUCT = 1.5e-6


class TooLarge(ValueError):
    """A run refused before it started: it would exceed the budget."""


def available_memory():
    """Bytes of memory available now, or None when the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class Budget:
    """max_bytes and max_seconds for one run (None: the defaults above)."""

    def __init__(self, max_bytes=None, max_seconds=None):
        if max_bytes is None:
            free = available_memory()
            max_bytes = int(MEMORY_FRACTION * free) if free else DEFAULT_MEMORY
            self.memory_origin = (
                "half the %s available" % human_bytes(free)
                if free
                else "the default, the system does not say"
            )
        else:
            self.memory_origin = "--max-memory"
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive, not %r" % (max_bytes,))
        if max_seconds is None:
            max_seconds = DEFAULT_SECONDS
        if not max_seconds > 0:
            raise ValueError("max_seconds must be positive, not %r" % (max_seconds,))
        self.max_bytes, self.max_seconds = max_bytes, max_seconds

    def refuse(self, what, n, d, m, bias, bytes_per_float, seconds=None, why=""):
        """Raise TooLarge if the run `what` on a layer of (N, D, M), b included
        if bias, needs more memory (bytes_per_float for each float of its
        inputs and outputs) or more seconds than the budget allows."""
        floats = _layer_floats(n, d, m, bias)
        bytes_needed = floats * bytes_per_float
        text = ", ".join("%s %s" % (k, _shape_text(s)) for k, s in _layer_shapes(n, d, m, bias))
        if bytes_needed > self.max_bytes:
            raise TooLarge(
                "%s refused before allocating anything: %s hold %s floats, and the run "
                "needs about %s, over the memory budget of %s (%s; --max-memory to "
                "change it)"
                % (
                    what,
                    text,
                    group_digits(floats),
                    human_bytes(bytes_needed),
                    human_bytes(self.max_bytes),
                    self.memory_origin,
                )
            )
        if seconds is not None and seconds > self.max_seconds:
            raise TooLarge(
                "%s refused: %s would take about %s%s, over the time budget of %s "
                "(--max-seconds to change it)"
                % (what, text, _duration(seconds), why, _duration(self.max_seconds))
            )

    def sized(self, n, d, m, infos, bias=True):
        """check --size: memory for all backends (one at a time), and the time
        of the slowest backend that declares its cost."""
        per = SIZED_BYTES_PER_FLOAT
        if any(not i.has("from_buffer") for i in infos):
            per += SIZED_LIST_BYTES_PER_FLOAT
        seconds, why = _declared_time(infos, 3 * n * d * m)
        self.refuse("--size %d %d %d" % (n, d, m), n, d, m, bias, per, seconds, why)

    def case(self, case):
        """A catalogue case at any shape (a whole case id given to --case)."""
        n, d, m = case.n, case.d, case.m
        products = n * d * m * (1 if case.op == "forward" else 2)
        seconds = products * EXACT_SECONDS_PER_PRODUCT
        why = " to compute its exact values (%s products in pure Python)" % group_digits(products)
        self.refuse("case %s" % case.id, n, d, m, case.bias, CASE_BYTES_PER_FLOAT, seconds, why)

    def bench(self, n, d, m, info):
        seconds, why = _declared_time([info], 2 * 3 * n * d * m)
        what = "bench --size %d %d %d" % (n, d, m)
        self.refuse(what, n, d, m, False, BENCH_BYTES_PER_FLOAT, seconds, why)


def _layer_shapes(n, d, m, bias):
    out = [("X", (n, d)), ("W", (d, m)), ("dY", (n, m))]
    if bias:
        out.append(("b", (m,)))
    out.extend([("Y", (n, m)), ("dX", (n, d)), ("dW", (d, m))])
    return out


def _layer_floats(n, d, m, bias):
    """Floats of inputs and outputs: X, W, dY, b and Y, dX, dW, db."""
    return 2 * (n * d + d * m + n * m + (m if bias else 0))


def _declared_time(infos, madds):
    worst, why = None, ""
    for info in infos:
        cost = info.seconds_per_madd
        if cost:
            t = cost * madds
            if worst is None or t > worst:
                worst = t
                why = " for backend %s (it declares %.3g s per multiply-add, %s of them)" % (
                    info.name,
                    cost,
                    group_digits(madds),
                )
    return worst, why


def _shape_text(shape):
    return "(%d,)" % shape if len(shape) == 1 else "(%d, %d)" % shape


def _duration(seconds):
    if seconds < 120:
        return "%.0f s" % seconds
    if seconds < 7200:
        return "%.0f min" % (seconds / 60)
    return "%.1f h" % (seconds / 3600)


def parse_bytes(text):
    """'8G', '512M', '1000000' -> bytes (ValueError naming the text otherwise)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = str(text).strip().upper().rstrip("B").rstrip("I")
    unit = t[-1:] if t[-1:] in units else ""
    number = t[: len(t) - len(unit)]
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise ValueError(
            "%r is not a size; give bytes, or a number with K, M, G or T (e.g. 8G)" % (text,)
        )
    if not 0 < value < float("inf"):
        raise ValueError("%r is not a positive, finite size" % (text,))
    return int(value)
