"""Backends run in a worker process; the verdict stays in this one.

A Supervised backend is an executor (like runner.InProcess) whose calls run
in a worker process (refbackprop.worker): this process sends the case, the
worker makes the backend's calls and sends back plain data, and this process
judges it.  Nothing a backend does can end, freeze or fool the verdict's
process:

- it exits (sys.exit or os._exit, any status), dies on a signal, or closes
  its pipe: the check in progress fails with "the backend's worker exited
  with status 0 during backward", naming the call it was making;
- it does not answer within the call's timeout (Timeouts): the worker is
  killed and the check fails with "no answer in 60 s during forward";
- it raises anything, SystemExit and pytest's skip/xfail outcomes included:
  the worker records a failure of that check (runner.execute);
- it prints: its standard output and error go to a file, shown with a
  failure, never to this process's output (so --json stays one document).

After a worker is lost a fresh one is started for the next check; after
MAX_LOSSES losses in a row the backend's remaining checks fail without
running (a backend that crashes on every call would otherwise cost a
restart, or a timeout, per check).  Replies are unpickled with a loader that
refuses every class: plain data only.

Needs subprocess and threads: CPython and PyPy on POSIX systems.
"""

import io
import json
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading

from .registry import BackendInfo
from .runner import exception_text
from .worker import BOOT, Channel

DEFAULT_TIMEOUT = 60.0  # seconds per call, before the work term
SECONDS_PER_MADD = 1e-8  # allowed per multiply-add (10x a declared cost if larger)
SECONDS_PER_ELEMENT = 1e-6  # allowed per element converted (array, tolist)
MAX_LOSSES = 5  # workers lost in a row before a backend stops being run
OUTPUT_TAIL = 4000  # characters of captured output kept with a failure
READER_GRACE = 5.0  # seconds a stopped worker's reader thread gets to see its end of file
SMALL_FRAME = 1 << 16  # bytes of a request written by the caller's thread (else by its own)
_COMPUTE = ("forward", "backward", "dx", "dw", "warmup", "bench", "compute")


class WorkerLost(Exception):
    """The worker exited, died, hung or garbled a reply during a call."""

    def __init__(self, cause, call, output=""):
        where = ("during %s" % call) if call else "before the check's first call"
        Exception.__init__(self, "%s %s" % (cause, where))
        self.cause, self.call, self.output = cause, call, output


class WorkerError(Exception):
    """The worker's harness (not the backend) could not serve a request."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError("a reply may hold plain data only, not %s.%s" % (module, name))


def plain_loads(data, buffers=None):
    """Unpickle data that may hold only lists, tuples, dicts, str, bytes,
    numbers, bools and None, and the channel's out-of-band buffers (arrays
    and bytearrays it read itself)."""
    if buffers is None:
        return _PlainUnpickler(io.BytesIO(data)).load()
    return _PlainUnpickler(io.BytesIO(data), buffers=buffers).load()


def exit_text(status):
    """'exited with status 0' or 'killed by signal 11 (SIGSEGV)'."""
    if status is None:
        return "stopped answering"
    if status < 0:
        import signal

        try:
            name = signal.Signals(-status).name
        except (ValueError, AttributeError):
            name = "signal %d" % -status
        return "was killed by signal %d (%s)" % (-status, name)
    return "exited with status %d" % status


def seconds_text(t):
    return "%g s" % t if t < 100 else "%d s" % round(t)


class Timeouts:
    """How long each call may take before its worker is killed.

    fixed: one limit for every call (--timeout).  Otherwise DEFAULT_TIMEOUT
    plus the work: per multiply-add the larger of SECONDS_PER_MADD and ten
    times the backend's declared seconds_per_madd for compute calls, and
    SECONDS_PER_ELEMENT per element for conversions.
    """

    def __init__(self, fixed=None, seconds_per_madd=None, base=DEFAULT_TIMEOUT):
        if fixed is not None and not fixed > 0:
            raise ValueError("timeout must be a positive number of seconds, not %r" % (fixed,))
        self.fixed, self.base = fixed, base
        per = SECONDS_PER_MADD
        if seconds_per_madd is not None and 10 * seconds_per_madd > per:
            per = 10 * seconds_per_madd
        self.per_madd = per

    def limit(self, call, madds=0, elements=0):
        if self.fixed is not None:
            return self.fixed
        if call.split("(")[0] in _COMPUTE:
            return self.base + madds * self.per_madd
        return self.base + elements * SECONDS_PER_ELEMENT


def _worker_environment():
    """The worker's environment: this process's, with NumPy's huge-page
    advice off (NUMPY_MADVISE_HUGEPAGE=0) unless the caller set it: on a
    virtual machine that hands free memory back to its host, a fresh 2 MiB
    page is backed again on first touch, and zeroing those of a sized run's
    new arrays cost the worker more than its compute (docs/supervision.md).
    None: inherit this process's as it is."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return None
    return dict(os.environ, NUMPY_MADVISE_HUGEPAGE="0")


def _reply_ends():
    """(this process's end, the worker's end) of the connection the worker's
    replies come back on: a Unix socket pair where there is one, so that
    the reader thread receives each out-of-band buffer in one call
    (MSG_WAITALL) that waits for all of it without the GIL; from a pipe it
    reads at most the pipe's buffer a call and needs the GIL back for each
    next one, which a verifying thread holds for up to the switch interval
    each time (docs/supervision.md).  (None, None): the worker's standard
    output is a pipe."""
    try:
        import socket

        if not (hasattr(socket, "AF_UNIX") and hasattr(socket, "MSG_WAITALL")):
            return None, None
        ends = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except (ImportError, OSError):
        return None, None
    for end in ends:  # (blocking, whatever socket.setdefaulttimeout says: the
        end.setblocking(True)  # worker's writes and this side's reads wait)
    return ends


class WorkerProcess:
    """One worker process and the thread that reads its replies."""

    def __init__(self):
        self.capture = tempfile.TemporaryFile()
        self.offset = 0
        self.reply, theirs = _reply_ends()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-c", BOOT, json.dumps(sys.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE if theirs is None else theirs.fileno(),
                stderr=self.capture,
                close_fds=True,
                start_new_session=True,
                env=_worker_environment(),
            )
        except BaseException:
            if self.reply is not None:
                self.reply.close()
            raise
        finally:
            if theirs is not None:
                theirs.close()  # (the worker has its copy)
        if self.reply is None:
            self.reply = self.proc.stdout
        self.replies = queue.Queue()
        self.channel = Channel(
            self.reply.fileno(),
            self.proc.stdin.fileno(),
            loads=plain_loads,
            recv_into=getattr(self.reply, "recv_into", None),  # (the socket's: not a file's)
        )
        self.reader = threading.Thread(
            target=self._read, daemon=True, name="refbackprop-worker-reader"
        )
        self.reader.start()

    def _read(self):
        """The reader thread: replies into self.replies until the worker's end
        of file.  The thread closes the pipe itself when it is done: closed
        from another thread while this one is between two reads, its
        descriptor's number could be given to the next worker's pipe, and this
        thread would read (steal) that worker's request or replies."""
        try:
            self._read_replies()
        finally:
            try:
                self.reply.close()
            except OSError:
                pass

    def _read_replies(self):
        while True:
            try:
                message = self.channel.receive()
            except BaseException as e:
                self.replies.put(("garbled", exception_text(e)))
                return
            if message is None:
                self.replies.put(("eof", None))
                return
            if not (
                isinstance(message, tuple)
                and len(message) == 2
                and message[0] in ("stage", "result", "error")
                and (message[0] == "result" or isinstance(message[1], str))
            ):
                self.replies.put(("garbled", "not a reply: %s" % repr(message)[:80]))
                return
            self.replies.put(message)

    def request(self, op, args, limit, first_call, reply_bytes=0):
        """Send (op, args), wait for the result; each call the worker
        announces gets limit(call) seconds; the reply may bring reply_bytes
        of out-of-band buffers (worker.Channel).  WorkerLost or WorkerError.

        A request with large buffers (a sized run's inputs) is written by a
        thread of its own: a worker that stops reading cannot block this
        one past its time limit (killed, it breaks the pipe)."""
        self.channel.limit = reply_bytes
        head, views = self.channel.frame((op, args))
        if sum(len(v) for v in views) + len(head) <= SMALL_FRAME:
            self._write(head, views)
        else:
            threading.Thread(
                target=self._write, args=(head, views), daemon=True, name="refbackprop-request"
            ).start()
        call = first_call
        seconds = limit(call or op)
        while True:
            try:
                kind, payload = self.replies.get(timeout=min(seconds, threading.TIMEOUT_MAX))
            except queue.Empty:
                self.kill()
                raise WorkerLost(
                    "gave no answer in %s" % seconds_text(seconds), call, self.output()
                )
            if kind == "stage":
                call, seconds = payload, limit(payload)
            elif kind == "result":
                return payload
            elif kind == "error":
                raise WorkerError(payload)
            elif kind == "eof":
                try:
                    status = self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill()
                    status = None
                raise WorkerLost(exit_text(status), call, self.output())
            else:
                self.kill()
                raise WorkerLost("sent an unreadable reply (%s)" % payload, call, self.output())

    def _write(self, head, views):
        try:
            self.channel.write(head, views)
        except OSError:
            pass  # a dead worker: its end of file says how

    def output(self):
        """What the worker printed since the last call (the tail of it)."""
        try:
            size = os.fstat(self.capture.fileno()).st_size
            data = os.pread(self.capture.fileno(), size - self.offset, self.offset)
        except (OSError, AttributeError):
            return ""
        self.offset += len(data)
        text = data.decode("utf-8", "replace")
        return text if len(text) <= OUTPUT_TAIL else "..." + text[-OUTPUT_TAIL:]

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except (OSError, AttributeError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self):
        """Ask the worker to exit; kill it if it does not within a second."""
        # (not while a request's writer thread still holds the pipe: a worker
        # that stopped reading is killed instead)
        if self.proc.poll() is None and self.channel.lock.acquire(timeout=1):
            self.channel.lock.release()
            try:
                self.channel.send(("stop", None))
                self.proc.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        # The reply pipe is closed by its reader thread (see _read), which ends
        # at the worker's end of file: wait for it, so that no thread of this
        # process reads a descriptor that a later worker's pipe may reuse.
        self.reader.join(READER_GRACE)
        for f in (self.proc.stdin, self.capture):
            try:
                f.close()
            except OSError:
                pass


class Supervised:
    """An executor whose backend runs in a worker process (module docstring).

    selector: a registered name or package.module:attr.  timeout: seconds per
    call (None: Timeouts' default, scaled with the work).
    """

    supervised = True

    def __init__(self, selector, timeout=None, origin=None):
        self.selector = selector
        self.timeout = timeout
        self.origin = origin
        self.info = None
        self.label = selector
        self.worker = None
        self.losses = 0
        self.last_loss = ""
        self.restarts = 0

    def load(self):
        """Start a worker, load the backend there; its BackendInfo (status
        'broken' with the cause if the worker could not load it)."""
        self.info = self._start()
        if self.info.status == "available":
            self.label = self.info.backend_name or self.selector
        return self.info

    def _start(self):
        worker = WorkerProcess()
        base = Timeouts(self.timeout)
        try:
            desc = worker.request(
                "load",
                {"selector": self.selector},
                lambda call: base.limit(call),
                "loading the backend",
            )
        except (WorkerLost, WorkerError) as e:
            worker.stop()
            info = BackendInfo(self.selector, self.selector, self.origin or self.selector)
            info.status = "broken"
            text = ("its worker %s" % e) if isinstance(e, WorkerLost) else str(e)
            output = getattr(e, "output", "").strip()
            info.reason = text + (("; it printed: %s" % _last_lines(output)) if output else "")
            return info
        info = BackendInfo.from_description(desc, self.origin)
        if info.status == "available":
            self.worker = worker
        else:
            worker.stop()
        return info

    def timeouts(self):
        cost = self.info.seconds_per_madd if self.info is not None else None
        return Timeouts(self.timeout, cost)

    def execute(self, case, repeat=1):
        """runner.execute's plain data for case, run in the worker."""
        work = _case_work(case)
        raws = self._request("case", {"case_id": case.id, "repeat": repeat}, work, 1)
        return raws[0]

    def sequence(self, cases):
        """[execute(case) for case in cases], in one call sequence."""
        work = (max(_case_work(c)[0] for c in cases), max(_case_work(c)[1] for c in cases))
        return self._request("sequence", {"case_ids": [c.id for c in cases]}, work, len(cases))

    def request(self, op, args, madds=0, elements=0, reply_bytes=0):
        """A raw request (cases, sized runs, bench): (result, None, output)
        or (None, problem, output), output what the backend printed;
        reply_bytes: the out-of-band bytes its reply may bring."""
        problem = self._ready()
        if problem:
            return None, problem, ""
        limits = self.timeouts()
        try:
            result = self.worker.request(
                op, args, lambda call: limits.limit(call, madds, elements), None, reply_bytes
            )
        except WorkerLost as e:
            self._lost(e)
            return None, "the backend's worker %s" % e, e.output
        except WorkerError as e:
            return None, "the worker could not serve %s: %s" % (op, e), self.worker.output()
        self.losses = 0
        return result, None, self.worker.output()

    def _request(self, op, args, work, count):
        result, problem, output = self.request(op, args, work[0], work[1])
        if problem:
            return [{"values": [], "problems": [problem], "notes": [], "output": output}]
        if op == "case":
            result = [result]
        if output and result:
            result[-1]["output"] = output
        return result

    def _ready(self):
        """'' when a worker with the backend loaded is there; else why not."""
        if self.worker is not None:
            return ""  # alive or not: a request finds out, and says so
        if self.losses >= MAX_LOSSES:
            return "not run: the backend's worker was lost %d times in a row (last: %s)" % (
                self.losses,
                self.last_loss,
            )
        self.restarts += 1
        info = self._start()
        if info.status != "available":
            self.losses += 1
            self.last_loss = "a fresh worker could not load it: %s" % info.reason
            return "could not start a fresh worker for the backend: %s" % info.reason
        return ""

    def _lost(self, e):
        self.losses += 1
        self.last_loss = str(e)
        if self.worker is not None:
            self.worker.stop()
        self.worker = None

    def close(self):
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


def _case_work(case):
    """(multiply-adds of the case's op, largest array's elements)."""
    n, d, m = case.n, case.d, case.m
    madds = n * d * m * (1 if case.op == "forward" else 2) + n * m
    return madds, max(n * d, d * m, n * m, 1)


def _last_lines(text, count=5):
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def open_backends(selectors, supervised=True, timeout=None, dtype=None):
    """Executors for the selected backends, loaded, and [(label, why)] for
    the registered backends that will not run.

    selectors: registered names or import paths (package.module:attr,
    resolved from the current folder); none: every registered backend,
    where those that cannot run (broken, unavailable, ambiguous, without
    the dtype) are named in not_run.  BackendError (a usage error) when a
    selected backend cannot run, or when none can.
    """
    from .registry import BackendError, Registry, dtype_problem, usable
    from .worker import InProcess

    if any(":" in s for s in selectors) and "" not in sys.path:
        sys.path.insert(0, "")  # import paths resolve from the current folder
    reg = Registry()

    def start(selector, info):
        if supervised:
            runs = Supervised(selector, timeout, origin=info.origin)
            runs.load()
            return runs
        loaded = reg.info(selector)
        runs = InProcess(loaded.backend, loaded, selector)
        runs.info = loaded
        return runs

    executors, not_run = [], []
    try:
        if selectors:
            for selector in selectors:
                runs = start(selector, reg.resolve(selector))
                executors.append(runs)
                usable(runs.info, selector)
                problem = dtype_problem(runs.info, dtype, selector) if dtype else ""
                if problem:
                    raise BackendError(problem)
            return executors, not_run
        for info in reg.infos:
            if info.status == "ambiguous":
                if (info.name, "ambiguous: " + info.reason) not in not_run:
                    not_run.append((info.name, "ambiguous: " + info.reason))
                continue
            runs = start(info.name, info)
            status = runs.info.status
            if status != "available":
                not_run.append((info.name, "%s: %s" % (status, runs.info.reason)))
                runs.close()
            elif dtype is not None and dtype_problem(runs.info, dtype):
                not_run.append((info.name, dtype_problem(runs.info, dtype)))
                runs.close()
            else:
                executors.append(runs)
        if not executors:
            raise BackendError(
                "no backend can run: %s" % "; ".join("%s (%s)" % item for item in not_run)
            )
        return executors, not_run
    except BaseException:
        for runs in executors:
            runs.close()
        raise


def list_backends(supervised=True, timeout=None):
    """Every registered backend's BackendInfo, each loaded in its own worker
    (in this process when supervised is False), in name order."""
    from .registry import Registry, load

    reg = Registry()
    out = []
    for info in reg.infos:
        if info.status == "ambiguous":
            out.append(info)
        elif supervised:
            runs = Supervised(info.name, timeout, origin=info.origin)
            loaded = runs.load()
            runs.close()
            loaded.name, loaded.target = info.name, info.target
            out.append(loaded)
        else:
            out.append(load(info))
    return out
