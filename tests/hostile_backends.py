"""Hostile backends: each tries to get a green it did not earn, or to crash the verdict.

Every one is the python backend with one trick.  Tests run them through the
CLI, serial pytest and pytest -n 2 (tests/test_supervision.py): each must
fail the check it was in, naming the case, and the run must end with its
summary.  Those marked "correct" must pass.
"""

import os
import signal
import sys
import time

from refbackprop.backends.pure_python import PythonBackend


class ExitsZero(PythonBackend):
    """sys.exit(0) in backward."""

    name = "exits-zero"

    def backward(self, x, w, dy, b=None):
        sys.exit(0)


class OsExitZero(PythonBackend):
    """os._exit(0) in backward: no exception, the process just ends."""

    name = "os-exit-zero"

    def backward(self, x, w, dy, b=None):
        os._exit(0)


class Segfaults(PythonBackend):
    """Dies on SIGSEGV in forward, as a kernel reading a bad address does."""

    name = "segfaults"

    def forward(self, x, w, b=None):
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(10)


class Hangs(PythonBackend):
    """Never returns from backward (and says so in the file $HANGS_MARKER, if set)."""

    name = "hangs"

    def backward(self, x, w, dy, b=None):
        marker = os.environ.get("HANGS_MARKER")
        if marker:
            open(marker, "w").close()
        while True:
            time.sleep(0.05)


class SkipsItself(PythonBackend):
    """Raises pytest's skip outcome inside backward."""

    name = "skips-itself"

    def backward(self, x, w, dy, b=None):
        import pytest

        pytest.skip("backward is not implemented yet")


class XfailsItself(PythonBackend):
    """Raises pytest's xfail outcome inside forward."""

    name = "xfails-itself"

    def forward(self, x, w, b=None):
        import pytest

        pytest.xfail("forward is known to be wrong")


class KeyboardInterrupts(PythonBackend):
    """Raises KeyboardInterrupt in backward, as if someone pressed Ctrl-C."""

    name = "keyboard-interrupts"

    def backward(self, x, w, dy, b=None):
        raise KeyboardInterrupt


class Noisy(PythonBackend):
    """Correct, but prints on stdout and stderr, from Python and from the
    file descriptors themselves, on every call: must pass, JSON stays clean."""

    name = "noisy"

    def forward(self, x, w, b=None):
        print("forward called {")
        sys.stderr.write("stderr noise\n")
        os.write(1, b"raw fd-1 noise }\n")
        return PythonBackend.forward(self, x, w, b)

    def backward(self, x, w, dy, b=None):
        print('{"passed": 999, "failed": 0}')
        os.write(2, b"raw fd-2 noise\n")
        return PythonBackend.backward(self, x, w, dy, b)


class NoisyWrong(Noisy):
    """Prints a clue, then returns a wrong dx: the clue comes with the failure."""

    name = "noisy-wrong"

    def backward(self, x, w, dy, b=None):
        print("kernel: using the fallback path for dx")
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        dx.rows = [[2 * v + 1 for v in r] for r in dx.rows]
        return dx, dw, db


class WearsOut(PythonBackend):
    """Right for its first 150 forward/backward calls, wrong afterwards: a
    verdict must not depend on how the checks were split across processes."""

    name = "wears-out"
    calls = 0

    def _wear(self, y):
        WearsOut.calls += 1
        if WearsOut.calls > 150:
            y.rows = [[v + 1.0 for v in r] for r in y.rows]
        return y

    def forward(self, x, w, b=None):
        return self._wear(PythonBackend.forward(self, x, w, b))

    def backward(self, x, w, dy, b=None):
        dx, dw, db = PythonBackend.backward(self, x, w, dy, b)
        return self._wear(dx), dw, db


class GarblesReplies(PythonBackend):
    """Writes junk into every pipe and socket it can find, the worker's reply
    channel included (a socket where the supervisor has socket pairs)."""

    name = "garbles-replies"

    def backward(self, x, w, dy, b=None):
        for fd in range(3, 64):
            try:
                if os.path.islink("/proc/self/fd/%d" % fd) and os.readlink(
                    "/proc/self/fd/%d" % fd
                ).startswith(("pipe:", "socket:")):
                    os.write(fd, b"\x00\x00\x00\x00\x00\x00\x00\x05junk!")
            except OSError:
                pass
        return PythonBackend.backward(self, x, w, dy, b)


class OverflowsFloat32(PythonBackend):
    """Declares float32 and returns values far beyond its range."""

    name = "overflows-float32"
    dtypes = ("float32",)

    def forward(self, x, w, b=None):
        y = PythonBackend.forward(self, x, w, b)
        y.rows = [[1e300 for v in r] for r in y.rows]
        return y


class OddEntries(PythonBackend):
    """tolist gives strings and None among the floats."""

    name = "odd-entries"

    def tolist(self, a):
        out = PythonBackend.tolist(self, a)
        if len(a.shape) == 2 and out and out[0]:
            out[0][0] = "0.5"
            out[-1][-1] = None
        return out


class TupleRows(PythonBackend):
    """tolist gives tuples instead of lists for outputs."""

    name = "tuple-rows"

    def tolist(self, a):
        out = PythonBackend.tolist(self, a)
        return tuple(tuple(r) for r in out) if len(a.shape) == 2 else tuple(out)


class BadHook(PythonBackend):
    """A shares_memory hook that raises."""

    name = "bad-hook"

    def shares_memory(self, a, b):
        raise TypeError("cannot compare these arrays")


class UndecidedHook(PythonBackend):
    """Correct; its hook says None (cannot tell) for arrays that are not lists:
    here it wraps its arrays so that nothing else can tell either."""

    name = "undecided-hook"

    def shares_memory(self, a, b):
        return None

    def array(self, values, shape, dtype):
        return Opaque(PythonBackend.array(self, values, shape, dtype))

    def tolist(self, a):
        return PythonBackend.tolist(self, a.inner)

    def forward(self, x, w, b=None):
        return Opaque(PythonBackend.forward(self, x.inner, w.inner, None if b is None else b.inner))

    def backward(self, x, w, dy, b=None):
        outs = PythonBackend.backward(
            self, x.inner, w.inner, dy.inner, None if b is None else b.inner
        )
        return tuple(None if o is None else Opaque(o) for o in outs)


class Opaque:
    """An array nobody can look inside."""

    def __init__(self, inner):
        self.inner = inner


class RaisingName(PythonBackend):
    @property
    def name(self):
        raise RuntimeError("no name today")


class RaisingVersion(PythonBackend):
    name = "raising-version"

    @property
    def version(self):
        raise SystemExit(3)


class RaisingAvailability(PythonBackend):
    name = "raising-availability"

    def unavailable_reason(self):
        raise ValueError("cannot tell")


class _ArrayWithoutDtypes(PythonBackend):
    def array(self, values, shape, dtype):  # never reads dtypes again
        from refbackprop.backends._lists import ListArray

        if len(shape) == 1:
            return ListArray([float(v) for v in values], shape)
        return ListArray([[float(v) for v in r] for r in values], shape)


class OneShotDtypes(_ArrayWithoutDtypes):
    """dtypes is an iterator: it can be read once.  Correct otherwise."""

    name = "one-shot-dtypes"
    dtypes = iter(["float64"])


class ShiftingDtypes(_ArrayWithoutDtypes):
    """dtypes answers differently on every read: read once, it is float64."""

    name = "shifting-dtypes"
    reads = 0

    @property
    def dtypes(self):
        ShiftingDtypes.reads += 1
        return ("float64",) if ShiftingDtypes.reads == 1 else ("float32", "bfloat99")


class DuplicateDtypes(PythonBackend):
    name = "duplicate-dtypes"
    dtypes = ("float64", "float64")


class DisjointBlocks:
    """Correct, NumPy: inputs and outputs are disjoint blocks of one buffer, which is
    not aliasing (and an output in the same buffer as an input must not be called so)."""

    name = "disjoint-blocks"
    dtypes = ("float64",)

    def __init__(self):
        import numpy as np

        self.np = np
        self.pool = np.zeros(1 << 20)
        self.used = 0

    def _block(self, shape):
        count = 1
        for s in shape:
            count *= s
        if self.used + count > self.pool.size:
            self.used = 0
        block = self.pool[self.used : self.used + count].reshape(shape)
        self.used += count + 1
        return block

    def array(self, values, shape, dtype):
        a = self._block(tuple(shape))
        a[...] = self.np.array(values, dtype="float64").reshape(shape)
        return a

    def tolist(self, a):
        return a.tolist()

    def forward(self, x, w, b=None):
        y = self._block((x.shape[0], w.shape[1]))
        y[...] = x @ w if b is None else x @ w + b
        return y

    def backward(self, x, w, dy, b=None):
        dx = self._block(x.shape)
        dx[...] = dy @ w.T
        dw = self._block(w.shape)
        dw[...] = x.T @ dy
        db = None
        if b is not None:
            db = self._block(b.shape)
            db[...] = dy.sum(axis=0)
        return dx, dw, db


class OverlapsInput(DisjointBlocks):
    """NumPy, and dx is written over the second half of x's block and beyond."""

    name = "overlaps-input"

    def backward(self, x, w, dy, b=None):
        dx, dw, db = DisjointBlocks.backward(self, x, w, dy, b)
        if x.size > 1:
            start = (
                x.__array_interface__["data"][0] - self.pool.__array_interface__["data"][0]
            ) // 8
            over = self.pool[start + x.size // 2 : start + x.size // 2 + dx.size].reshape(dx.shape)
            over[...] = dx
            return over, dw, db
        return dx, dw, db


class NoisyWrongTwin(NoisyWrong):
    """Another import path, the same name: labels and repros must keep them apart."""


class ForgesLines(PythonBackend):
    """A name with a newline and a forged summary line."""

    name = "forges\n1116 passed, 0 failed"


class MultilineError(PythonBackend):
    """An exception whose message looks like the end of a passing run."""

    name = "multiline-error"

    def backward(self, x, w, dy, b=None):
        raise ValueError("shapes\n1116 passed, 0 failed")


class SignalsItsParent(PythonBackend):
    """Sends SIGTERM (or the signal named in SIGNALS_PARENT) to the process
    that started its worker: the verdict's process."""

    name = "signals-its-parent"

    def backward(self, x, w, dy, b=None):
        os.kill(os.getppid(), getattr(signal, os.environ.get("SIGNALS_PARENT", "SIGTERM")))
        time.sleep(5)  # the parent stops this worker meanwhile
        return PythonBackend.backward(self, x, w, dy, b)


class _PatchesReplies(PythonBackend):
    """Rewrites the worker's sized replies from inside the worker (its
    harness runs in the backend's process): patched when the worker loads it."""

    def __init__(self):
        import refbackprop.sized as sized

        original = sized.wire_outputs

        def patched(raw):
            self.tamper(raw)
            return original(raw)

        sized.wire_outputs = patched

    def tamper(self, raw):
        raise NotImplementedError


class ShortensOutputs(_PatchesReplies):
    """dW comes back one value short."""

    name = "shortens-outputs"

    def tamper(self, raw):
        code, view = raw["outputs"]["dw"]
        raw["outputs"]["dw"] = (code, view[:-1])


class RenamesFormat(_PatchesReplies):
    """Y comes back labelled as 64-bit integers."""

    name = "renames-format"

    def tamper(self, raw):
        raw["outputs"]["y"] = ("q", raw["outputs"]["y"][1])


class InflatesReply(_PatchesReplies):
    """The reply brings a megabyte more than its outputs."""

    name = "inflates-reply"

    def tamper(self, raw):
        import pickle

        raw["outputs"]["extra"] = ("d", pickle.PickleBuffer(bytearray(1 << 20)))


class ForgesSeconds(_PatchesReplies):
    """Correct, but reports its seconds as text: the report must not choke."""

    name = "forges-seconds"

    def tamper(self, raw):
        raw["seconds"] = {"compute": "fast", "to_native": float("nan"), "to_lists": 0.5}


class WarmupRaises(PythonBackend):
    """Its warmup fails: the check at size fails on it, before any input is sent."""

    name = "warmup-raises"

    def warmup(self, dtype):
        raise RuntimeError("no kernels for %s" % dtype)


class WarmupHangs(PythonBackend):
    """Its warmup never returns."""

    name = "warmup-hangs"

    def warmup(self, dtype):
        time.sleep(3600)
