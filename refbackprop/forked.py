"""A function's plain-data result, computed in a forked child process.

    child = start(compute)    # None where this runtime cannot fork
    value = child.result()    # compute()'s return value (lists, floats, ...)
    child.cancel()            # stop it (the parent failed or was interrupted)

freivalds.prepare uses it at large sizes to prepare dX's cells and dW's
reference dots on the second core while this process prepares Y's and the
rest of dW's.  The child runs only the verifier's own code on data it
inherited from the verdict's process (never a backend's code), sends its
result through a pipe (marshal: plain data only, and array.array, which
travels as its bytes: _encode) and leaves with os._exit:
no atexit handlers, no buffered streams, no lock another thread of the
parent may have held when it forked.  A child that fails sends its
error's text, which result() raises as RuntimeError (the sized runner
reports it as a verifier error, never a verdict).  Where os.fork is missing
or fails (Windows, MicroPython, Pyodide) start() returns None and the
caller computes in this process.

Threads of one process may start children at once (the sized runner starts
dW's got side from its main thread while prepare forks from another): a
lock keeps each child's pipe private from its creation until the parent
has closed its writing end, so that no other child inherits that end.
Else a child could hold another's pipe open: the parent, reading that
other child's result to its end, would wait for this one to exit, which
may be blocked writing its own result to the parent.
"""

from array import array

try:
    import os
except ImportError:  # a runtime without os
    os = None


def start(compute):
    """A Child running compute(), or None if this runtime cannot fork."""
    fork = getattr(os, "fork", None)
    if fork is None or not hasattr(os, "pipe") or not hasattr(os, "_exit"):
        return None
    with _LOCK:  # (see the module's docstring)
        try:
            import marshal
            import warnings

            read, write = os.pipe()
        except (ImportError, OSError):
            return None
        try:
            with warnings.catch_warnings():
                # CPython 3.12+ (and JAX's at-fork hook, where JAX is imported)
                # warn when a process with threads forks: the child below calls
                # no library and takes no lock a vanished thread may hold
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                pid = fork()
        except OSError:
            os.close(read)
            os.close(write)
            return None
        if pid != 0:
            os.close(write)
            return Child(pid, read)
    if pid == 0:  # the child: compute, send, leave
        status = 1
        try:
            os.close(read)
            _no_collections()
            try:
                data = marshal.dumps(("ok", _encode(compute())))
                status = 0
            except BaseException as e:  # sent to the parent, raised there
                data = marshal.dumps(("error", "%s: %s" % (type(e).__name__, e)))
            view = memoryview(data)
            while len(view):
                view = view[os.write(write, view) :]
        finally:
            os._exit(status)


_ARRAY = "refbackprop.forked/array"  # (_ARRAY, typecode, bytes): an array.array


def _encode(value):
    """value with every array.array in it as (_ARRAY, typecode, its bytes):
    a million floats cross as 8 MB of bytes, read back at memory speed,
    instead of a million float objects to unmarshal.  Every list, tuple and
    dict is walked (marshal itself would send an array anywhere as plain
    bytes, its buffer)."""
    if isinstance(value, array):
        return (_ARRAY, value.typecode, value.tobytes())
    if isinstance(value, dict):
        return dict((k, _encode(v)) for k, v in value.items())
    if isinstance(value, tuple):
        return tuple(_encode(v) for v in value)
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    """_encode's value as it was: each (_ARRAY, typecode, bytes) an array."""
    if isinstance(value, tuple):
        if len(value) == 3 and value[0] == _ARRAY:
            out = array(value[1])
            out.frombytes(value[2])
            return out
        return tuple(_decode(v) for v in value)
    if isinstance(value, dict):
        return dict((k, _decode(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _no_collections():
    """No cyclic garbage collection in a child: it lives for one computation
    and leaves without freeing anything, and each collection walks the young
    containers it makes (its lists of floats) again (docs/verification.md,
    "Measured")."""
    try:
        import gc

        gc.disable()
    except (ImportError, AttributeError):
        pass


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


try:
    import threading

    _LOCK = threading.Lock()
except ImportError:  # a runtime without threads: nothing else forks meanwhile
    _LOCK = _NoLock()


class Child:
    """A forked child computing one value (start())."""

    def __init__(self, pid, read):
        self.pid, self.read = pid, read

    def result(self):
        """The child's value; RuntimeError if it failed or sent nothing."""
        import marshal

        chunks = []
        try:
            while True:
                chunk = os.read(self.read, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        except BaseException:  # interrupted (a signal, Ctrl-C): stop the child now
            self.cancel()
            raise
        os.close(self.read)
        self.read = None
        status = self._wait()
        data = b"".join(chunks)
        if not data:
            raise RuntimeError(
                "the verifier's child process ended without a result (wait status %d)" % status
            )
        kind, value = marshal.loads(data)
        value = _decode(value)
        if kind != "ok":
            raise RuntimeError("the verifier's child process failed: %s" % value)
        return value

    def cancel(self):
        """Stop the child and reap it (after a failure in the parent)."""
        if self.pid is None:
            return
        try:
            import signal

            os.kill(self.pid, signal.SIGKILL)
        except (ImportError, OSError):
            pass
        if self.read is not None:
            os.close(self.read)
            self.read = None
        self._wait()

    def _wait(self):
        if self.pid is None:
            return 0
        try:
            _, status = os.waitpid(self.pid, 0)
        except OSError:
            status = -1
        self.pid = None
        return status
