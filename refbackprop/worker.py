"""The process a backend runs in: it loads the backend and makes its calls; it never judges.

Started by refbackprop.supervisor as `python -u -c BOOT SYS_PATH_JSON`, with
requests on its standard input, replies on its standard output and its
standard error a file the supervisor reads.  First thing, the worker moves
the two pipes to private descriptors and points descriptors 0, 1 and 2 at
/dev/null and the capture file, so whatever the backend prints (from Python
or from C) lands in the capture file and never in a reply.

Frames (Channel) are a pickle and the raw bytes of its out-of-band buffers
(pickle.PickleBuffer, protocol 5), which arrive as array('d'), array('f')
or bytearray read straight from the pipe: a sized run's inputs and outputs
(134 MB a matrix at the notes' size) cross without a copy on either side.
Requests are (op, args) tuples; replies are ('stage', text) before each
backend call, then ('result', data) or ('error', text).  Replies hold only
plain data (lists, tuples, dicts, str, bytes, numbers, None, and those
arrays): the supervisor unpickles them with a loader that refuses every
class, so a backend cannot make the verdict's process run code, and takes
out-of-band bytes only up to the limit it set for the request
(Channel.limit), so a lying length cannot make it allocate.

The worker ignores SIGINT (the supervisor decides what Ctrl-C does), turns
on faulthandler (a crash prints the Python stack into the capture file), and
exits when its parent goes away.  Standard library only; CPython and PyPy.
"""

import os
import pickle
import struct
import sys
import threading
import time

_HEADER = struct.Struct(">QI")  # the pickle's length, its out-of-band buffers' count
_BUFFER = struct.Struct(">cQ")  # a buffer's format ('d', 'f' or 'B') and its bytes
_ITEMSIZE = {b"d": 8, b"f": 4, b"B": 1}
MAX_BUFFERS = 64  # out-of-band buffers a frame may bring
_OUT_OF_BAND = hasattr(pickle, "PickleBuffer")  # protocol 5: CPython 3.8+, PyPy 3.8+


class Channel:
    """Frames over two file descriptors: the header (_HEADER), a table of
    the out-of-band buffers (_BUFFER each), the pickle, then each buffer's
    raw bytes.  Whatever the sender wraps in pickle.PickleBuffer travels out
    of band and arrives as an array of its format ('d', 'f') or a
    bytearray, filled by reading the pipe into it (no copy, no pickle).

    limit: the most out-of-band bytes a received frame may bring (None: no
    limit; the supervisor sets it per request, from the reply it expects).
    recv_into: the read_fd socket's recv_into, which fills a whole buffer
    in one call (MSG_WAITALL), or None: read_fd is read with readv.
    """

    def __init__(self, read_fd, write_fd, loads=pickle.loads, recv_into=None):
        self.read_fd, self.write_fd, self.loads = read_fd, write_fd, loads
        self.recv_into = recv_into
        self.lock = threading.Lock()
        self.limit = None

    def frame(self, message):
        """(head bytes, [raw buffers]) of a message, for write()."""
        buffers = []
        if _OUT_OF_BAND:
            data = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
        else:
            data = pickle.dumps(message, protocol=4)
        views, table = [], []
        for pb in buffers:
            view = pb.raw()  # contiguous bytes ('B')
            code = memoryview(pb).format
            code = code.encode() if code in ("d", "f") else b"B"
            table.append(_BUFFER.pack(code, view.nbytes))
            views.append(view)
        return _HEADER.pack(len(data), len(views)) + b"".join(table) + data, views

    def write(self, head, views):
        with self.lock:
            _write_all(self.write_fd, head)
            for view in views:
                _write_all(self.write_fd, view)

    def send(self, message):
        self.write(*self.frame(message))

    def receive(self):
        """The next message, or None at end of file."""
        head = _read_exactly(self.read_fd, _HEADER.size)
        if head is None:
            return None
        size, count = _HEADER.unpack(head)
        if count > MAX_BUFFERS:
            raise ValueError("a frame announced %d buffers, more than %d" % (count, MAX_BUFFERS))
        table = _read_exactly(self.read_fd, count * _BUFFER.size) if count else b""
        if table is None:
            raise EOFError("the stream ended inside a frame's table")
        sizes = [_BUFFER.unpack_from(table, k * _BUFFER.size) for k in range(count)]
        for code, nbytes in sizes:
            if code not in _ITEMSIZE or nbytes % _ITEMSIZE[code]:
                raise ValueError(
                    "a frame announced a buffer of format %r and %d bytes" % (code, nbytes)
                )
        total = sum(nbytes for _, nbytes in sizes)
        if self.limit is not None and total > self.limit:
            raise ValueError(
                "a frame announced %d bytes of buffers, more than the %d expected"
                % (total, self.limit)
            )
        data = _read_exactly(self.read_fd, size)
        if data is None:
            raise EOFError("the stream ended inside a message of %d bytes" % size)
        buffers = [
            _read_into(self.read_fd, _allocate(code, nbytes), self.recv_into)
            for code, nbytes in sizes
        ]
        return self.loads(data, buffers=buffers) if buffers else self.loads(data)


def _allocate(code, nbytes):
    """An array('d') or array('f') of nbytes, or a bytearray ('B') (code and
    nbytes checked by receive)."""
    itemsize = _ITEMSIZE[code]
    if code == b"B":
        return bytearray(nbytes)
    from array import array

    return array(code.decode(), [0.0]) * (nbytes // itemsize) if nbytes else array(code.decode())


def _read_into(fd, target, recv_into=None):
    """Fill target (a writable buffer) from fd (through recv_into, fd's
    socket's, where given); target."""
    view = memoryview(target).cast("B")
    readv = getattr(os, "readv", None)
    while len(view):
        if recv_into is not None:
            import socket

            got = recv_into(view, len(view), socket.MSG_WAITALL)
        elif readv is not None:
            got = readv(fd, [view])
        else:  # no readv (Windows): through a bytes object
            chunk = os.read(fd, min(len(view), 1 << 20))
            got = len(chunk)
            view[:got] = chunk
        if not got:
            raise EOFError("the stream ended inside a buffer")
        view = view[got:]
    return target


def _write_all(fd, data):
    view = memoryview(data).cast("B")
    while len(view):
        view = view[os.write(fd, view) :]


def _read_exactly(fd, size):
    parts = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _watch_parent(parent):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


class Worker:
    """The calls made where the backend lives, one handler per request.

    In a worker process, with a channel: every call is announced to the
    supervisor and anything the backend raises is caught (reraise=None).  In
    this process (InProcess), without one: KeyboardInterrupt stops the run.
    """

    def __init__(self, channel=None, backend=None, reraise=None):
        self.channel = channel
        self.backend = backend
        self.reraise = reraise

    def announce(self, what):
        if self.channel is not None:
            self.channel.send(("stage", what))

    def handle(self, op, args):
        handler = getattr(self, "op_" + op, None)
        if handler is None:
            raise ValueError("unknown request %r" % (op,))
        return handler(**args)

    def op_load(self, selector):
        from .registry import Registry

        self.announce("loading the backend")
        info = Registry().info(selector)
        if info.status == "available":
            self.backend = info.backend
        return info.describe()

    def op_case(self, case_id, repeat=1):
        from .cases import parse_case_id
        from .runner import execute

        return execute(self._loaded(), parse_case_id(case_id), repeat, self.announce, self.reraise)

    def op_sequence(self, case_ids):
        from .cases import parse_case_id
        from .runner import execute

        backend = self._loaded()
        return [
            execute(backend, parse_case_id(c), 1, self.announce, self.reraise) for c in case_ids
        ]

    def op_sized(self, **args):
        from .sized import execute_sized, wire_outputs

        if self.channel is None:  # in process: the verifier's own inputs
            return execute_sized(self._loaded(), self.announce, self.reraise, **args)
        raw = execute_sized(self._loaded(), self.announce, self.reraise, own_inputs=True, **args)
        return wire_outputs(raw)

    def op_warmup(self, dtype):
        from .sized import execute_warmup

        return execute_warmup(self._loaded(), self.announce, self.reraise, dtype)

    def op_bench(self, **args):
        from .bench import bench_backend

        return bench_backend(self._loaded(), announce=self.announce, **args)

    def _loaded(self):
        if self.backend is None:
            raise RuntimeError("no backend is loaded in this worker")
        return self.backend


class InProcess:
    """An executor running the backend in this process: no isolation.  For
    the plain Python API, runtimes without processes, and debugging
    (--in-process).  The same handlers as a worker, called directly.

    info: the backend's BackendInfo (registry.describe); selector: how the
    CLI names it.  Anything the backend raises fails the check, except
    KeyboardInterrupt, which stops the run.
    """

    supervised = False

    def __init__(self, backend, info, selector=None):
        self.info = info
        self.label = info.backend_name or info.name
        self.selector = selector or self.label
        self.calls = Worker(None, backend, KeyboardInterrupt)

    def load(self):
        return self.info

    def execute(self, case, repeat=1):
        return self.calls.handle("case", {"case_id": case.id, "repeat": repeat})

    def sequence(self, cases):
        return self.calls.handle("sequence", {"case_ids": [c.id for c in cases]})

    def request(self, op, args, madds=0, elements=0, reply_bytes=0):
        """(result, None, '') like Supervised.request; the backend's own
        exceptions are caught inside the handlers."""
        return self.calls.handle(op, args), None, ""

    def close(self):
        pass


def main():
    """The worker's loop (see the module docstring)."""
    import signal

    requests, replies = os.dup(0), os.dup(1)
    quiet = os.open(os.devnull, os.O_RDONLY)
    os.dup2(quiet, 0)
    os.dup2(2, 1)  # the backend's stdout: the capture file
    os.close(quiet)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, AttributeError):
        pass
    try:
        import faulthandler

        faulthandler.enable(file=sys.stderr)
    except Exception:
        pass
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    channel = Channel(requests, replies)
    worker = Worker(channel)
    while True:
        message = channel.receive()
        if message is None or message[0] == "stop":
            break
        op, args = message
        try:
            reply = ("result", worker.handle(op, args))
        except BaseException as e:  # the harness's own trouble
            from .runner import exception_text

            reply = ("error", exception_text(e))
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        try:
            channel.send(reply)
        except BaseException as e:  # e.g. a reply that cannot pickle
            from .runner import exception_text

            channel.send(("error", "the reply could not be sent: %s" % exception_text(e)))
    os._exit(0)


# The command a supervisor starts: the parent's sys.path comes as argv[1].
BOOT = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
    "from refbackprop.worker import main; main()"
)
