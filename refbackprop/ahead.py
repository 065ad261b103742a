"""The next sized run's inputs, drawn while this process verifies the run before.

    ahead = start(n, d, m, dtype, seed, kind, bias, options)  # None: drawn in the run
    inputs, early = ahead.take(n, d, m, dtype, seed, kind, bias)
    ahead.cancel()                                            # what was not taken

SizedSession runs its dtypes one after another at one N, D, M.  A run's
verification (freivalds.Prepared.finish) uses one core, and drawing the next
run's inputs used to wait for it.  start() overlaps the two, for the next
run (seed is its inputs' seed, options its verification's, as
check_at_size makes them):

- X (N, D) and dY (N, M) are drawn here (sized.x_and_dy), a small share of
  the inputs, and dW's early children are started on them
  (freivalds.start_dw, what the run itself would start);
- a forked child (forked.start) draws W (D, M) and b (M,) into an anonymous
  shared mmap with sized_inputs' own code and seeds: the same numbers.

take() waits for that child and copies W and b into arrays of this process
(the verifier's inputs are its own; the mmap is closed), returning
sized_inputs' dict and start_dw's Early (None where it did not start), which
the caller now owns.  It refuses, with ValueError and after cancelling
everything, a run with other arguments than start() was given.  A child
that failed or died is a RuntimeError (the sized run reports it as a
verifier error, never a verdict).

start() returns None where drawing ahead does not pay or cannot be done:
below freivalds' PARALLEL_MADDS (where prepare does not fork either), where
the runtime cannot fork, or has no mmap; the run then draws its inputs
itself.  The child runs only refbackprop's input drawing (never a backend's
code) and sends nothing but "done" through forked's pipe.
"""

from array import array

from .flat import Matrix


def start(n, d, m, dtype, seed, kind, bias, options):
    """An Ahead drawing the inputs of the run (N, D, M, dtype, inputs' seed,
    kind, bias) whose verification takes `options` (prepare's keywords), or
    None (see the module's docstring)."""
    from . import forked, freivalds
    from .sized import w_and_b_into, x_and_dy

    if not freivalds.forks(n, d, m, options.get("parallel")):
        return None
    try:
        import mmap

        sizes = (8 * d * m, 8 * m if bias else 0)
        shared = mmap.mmap(-1, max(1, sizes[0] + sizes[1]))  # MAP_SHARED: the child's writes
    except (ImportError, AttributeError, OSError, ValueError):
        return None

    def fill():
        view = memoryview(shared)
        b = view[sizes[0] :] if bias else None
        w_and_b_into(n, d, m, dtype, seed, kind, view[: sizes[0]], b)
        return "done"

    child = forked.start(fill)
    if child is None:
        shared.close()
        return None
    ahead = Ahead((n, d, m, dtype, seed, kind, bias), None, None, None, child, shared, sizes)
    try:  # (whatever has started is stopped if this is interrupted)
        ahead.x, ahead.dy = x_and_dy(n, d, m, dtype, seed, kind)
        ahead.early = freivalds.start_dw(ahead.x, ahead.dy, dtype, **options)
    except BaseException:
        ahead.cancel()
        raise
    return ahead


KEY = ("N", "D", "M", "dtype", "seed", "kind", "bias")


class Ahead:
    """A run's inputs being drawn (start())."""

    def __init__(self, key, x, dy, early, child, shared, sizes):
        self.key, self.x, self.dy, self.early = key, x, dy, early
        self.child, self.shared, self.sizes = child, shared, sizes

    def take(self, n, d, m, dtype, seed, kind, bias):
        """(sized_inputs' dict, start_dw's Early or None), once; see the
        module's docstring."""
        key = (n, d, m, dtype, seed, kind, bias)
        if self.child is None:
            raise ValueError("these inputs were already taken, or cancelled")
        if key != self.key:
            self.cancel()
            raise ValueError(
                "the inputs drawn ahead were started for another run: %s"
                % ", ".join(
                    "%s %r, not %r" % (name, a, b)
                    for name, a, b in zip(KEY, self.key, key)
                    if a != b
                )
            )
        child, self.child = self.child, None
        try:
            child.result()  # RuntimeError if it failed
            with memoryview(self.shared) as view:
                w = array("d")
                w.frombytes(view[: self.sizes[0]])
                b = None
                if bias:
                    b = array("d")
                    b.frombytes(view[self.sizes[0] :])
        except BaseException:
            self.cancel()
            raise
        self._close()
        early, self.early = self.early, None
        inputs = {"x": self.x, "w": Matrix(w, (d, m)), "b": None, "dy": self.dy}
        if b is not None:
            inputs["b"] = Matrix(b, (m,))
        self.x = self.dy = None
        return inputs, early

    def cancel(self):
        """Stop the child and dW's early children, and free the shared memory:
        whatever take() has not handed over."""
        if self.child is not None:
            self.child.cancel()
            self.child = None
        if self.early is not None:
            self.early.cancel()
            self.early = None
        self._close()

    def _close(self):
        if self.shared is not None:
            self.shared.close()
            self.shared = None
