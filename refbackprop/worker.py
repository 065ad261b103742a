"""The process a backend runs in: it loads the backend and makes its calls; it never judges.

Started by refbackprop.supervisor as `python -u -c BOOT SYS_PATH_JSON`, with
requests on its standard input, replies on its standard output and its
standard error a file the supervisor reads.  First thing, the worker moves
the two pipes to private descriptors and points descriptors 0, 1 and 2 at
/dev/null and the capture file, so whatever the backend prints (from Python
or from C) lands in the capture file and never in a reply.

Frames are an 8-byte big-endian length and a pickle.  Requests are
(op, args) tuples; replies are ('stage', text) before each backend call,
then ('result', data) or ('error', text).  Replies hold only plain data
(lists, tuples, dicts, str, bytes, numbers, None): the supervisor unpickles
them with a loader that refuses every class, so a backend cannot make the
verdict's process run code.

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

_HEADER = struct.Struct(">Q")


class Channel:
    """Length-prefixed pickles over two file descriptors."""

    def __init__(self, read_fd, write_fd, loads=pickle.loads):
        self.read_fd, self.write_fd, self.loads = read_fd, write_fd, loads
        self.lock = threading.Lock()

    def send(self, message):
        data = pickle.dumps(message, protocol=4)
        with self.lock:
            _write_all(self.write_fd, _HEADER.pack(len(data)) + data)

    def receive(self):
        """The next message, or None at end of file."""
        head = _read_exactly(self.read_fd, _HEADER.size)
        if head is None:
            return None
        size = _HEADER.unpack(head)[0]
        data = _read_exactly(self.read_fd, size)
        if data is None:
            raise EOFError("the stream ended inside a message of %d bytes" % size)
        return self.loads(data)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd, size):
    parts = []
    while size:
        chunk = os.read(fd, min(size, 1 << 24))
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
        from .sized import execute_sized

        return execute_sized(self._loaded(), self.announce, self.reraise, **args)

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

    def request(self, op, args, madds=0, elements=0):
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
