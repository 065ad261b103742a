"""The jax backend: jnp.matmul under jax.jit, differentiated by jax.vjp.

    forward:   y = x @ w + b                     x (..., D), w (D, M), b (M,)
    backward:  (dx, dw, db) = vjp of the forward at (x, w, b), applied to dy

JaxFunctions certifies any fn(x, w, b) through jax.vjp, or through an
explicit backward(x, w, dy, b) -> (dx, dw, db) (the adapter `jax:module:fn`,
backends/adapters.py).  JaxBackend is that class on the jitted matmul above.

float64 is declared only while JAX computes in 64 bits (jax_enable_x64; the
JAX_ENABLE_X64 environment variable or jax.config.update): without it, JAX
turns a float64 request into float32 with a warning, and a float64 check
would judge float32 numbers.  dtype_reasons() says so instead.

JAX dispatches asynchronously: a call returns before the device has
finished.  synchronize() waits for the last results, and bench calls it
before reading the clock.  JAX is imported on first use: listing backends
never imports it (x64 is then read from the environment, as JAX reads it).
"""

import os
import sys

from refbackprop import __version__

from ._frameworks import FunctionBackend, as_rows, dist_version

_jax_module = None

# JAX's own reading of a boolean environment variable (jax._src.config.bool_env).
_TRUE = ("y", "yes", "t", "true", "on", "1")
_FALSE = ("n", "no", "f", "false", "off", "0")

X64_REASON = (
    "JAX computes in float32 only: float64 needs jax_enable_x64 (set "
    "JAX_ENABLE_X64=1 before JAX is imported, or call "
    "jax.config.update('jax_enable_x64', True)); without it a float64 "
    "array silently holds float32 numbers"
)


def _jax():
    global _jax_module
    if _jax_module is None:
        import jax

        _jax_module = jax
    return _jax_module


def x64_enabled():
    """Whether JAX computes float64: its config when JAX is imported, else the
    JAX_ENABLE_X64 environment variable read as JAX reads it."""
    if "jax" in sys.modules and hasattr(sys.modules["jax"], "config"):
        return bool(sys.modules["jax"].config.jax_enable_x64)
    value = os.environ.get("JAX_ENABLE_X64", "0").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        "JAX_ENABLE_X64 is %r; JAX takes one of %s" % (value, ", ".join(_TRUE + _FALSE))
    )


class JaxFunctions(FunctionBackend):
    """jax.Arrays on JAX's default device; fn(x, w, b) differentiated by
    jax.vjp unless a backward function is given."""

    framework = "jax"
    native_name = "jax.Array"
    modules = ("jax", "jaxlib")
    extra = "jax"
    framework_layouts = ("batched",)  # a jax.Array has no strides or offset
    name = "jax-functions"
    _pending = ()

    @property
    def version(self):
        return "%s (jax %s, jaxlib %s)" % (__version__, dist_version("jax"), dist_version("jaxlib"))

    def _declared_dtypes(self):
        return ("float64", "float32") if x64_enabled() else ("float32",)

    def dtype_reasons(self):
        """{'float64': why} while x64 is off; {} when every dtype is declared."""
        return {} if x64_enabled() else {"float64": X64_REASON}

    def to_buffer(self, a):
        """a's values row-major in its own dtype ('d' or 'f'), on the host."""
        import numpy as np

        return np.ascontiguousarray(np.asarray(a))

    def _from_host(self, host):
        """A jax.Array on the default device."""
        a = _jax().numpy.asarray(host)
        if a.dtype != host.dtype:  # x64 switched off meanwhile
            raise ValueError(
                "JAX made a %s array when asked for %s: %s"
                % (a.dtype.name, host.dtype.name, X64_REASON)
            )
        return a

    def tolist(self, a):
        """Nested lists of floats; leading batch dimensions flattened into N."""
        import numpy as np

        return as_rows(np.asarray(a)).tolist()

    def view(self, a, layout):
        """'batched' only: (N, C) as (B, T, C) (JAX chooses memory layouts itself)."""
        split = self._view_checked(a, layout)
        return a.reshape(split + (a.shape[1],))

    def synchronize(self):
        """Wait until the last results of forward/backward are computed."""
        pending, self._pending = self._pending, ()
        if pending:
            _jax().block_until_ready(pending)

    def shares_memory(self, a, b):
        """Whether the device buffers of a and b overlap (unsafe_buffer_pointer
        and nbytes; a jax.Array is one dense buffer).  None when either is not
        a jax.Array or has no single buffer to point at (sharded, deleted)."""
        jax = _jax()
        if not (isinstance(a, jax.Array) and isinstance(b, jax.Array)):
            return None
        if a.size == 0 or b.size == 0:
            return False
        try:
            if a.devices() != b.devices():
                return False
            pa, pb = a.unsafe_buffer_pointer(), b.unsafe_buffer_pointer()
        except Exception:
            return None
        return pa < pb + b.nbytes and pb < pa + a.nbytes

    def forward(self, x, w, b=None):
        y = FunctionBackend.forward(self, x, w, b)
        self._pending = (y,)
        return y

    def backward(self, x, w, dy, b=None):
        out = FunctionBackend.backward(self, x, w, dy, b)
        self._pending = tuple(g for g in out if g is not None)
        return out

    # -- FunctionBackend hooks -------------------------------------------

    def _is_native(self, a):
        return isinstance(a, _jax().Array)

    def _transposed(self, w):
        return w.T  # (D, M) -> (M, D)

    def _differentiate(self, x_in, w, dy_in, b):
        """jax.vjp of y = fn(x, weight(w), b) at the inputs, applied to dy."""
        jax = _jax()
        fn = self.forward_function()
        if b is None:
            y, pull = jax.vjp(lambda x, w: fn(x, self._weight_in(w), None), x_in, w)
        else:
            y, pull = jax.vjp(lambda x, w, b: fn(x, self._weight_in(w), b), x_in, w, b)
        self._check("forward", "y", y, tuple(dy_in.shape), x_in)
        grads = pull(dy_in)
        return grads[0], grads[1], grads[2] if b is not None else None


_jitted = {}


def _compiled(name):
    """The jitted forward and vjp of y = x @ w + b (compiled per shape by JAX)."""
    if not _jitted:
        jax = _jax()
        jnp = jax.numpy

        def forward(x, w, b):
            y = jnp.matmul(x, w)  # (..., D) @ (D, M) -> (..., M)
            return y if b is None else y + b  # + b (M,)

        def backward(x, w, dy, b):
            if b is None:
                return jax.vjp(lambda x, w: forward(x, w, None), x, w)[1](dy) + (None,)
            return jax.vjp(forward, x, w, b)[1](dy)

        _jitted["forward"] = jax.jit(forward)
        _jitted["backward"] = jax.jit(backward)
    return _jitted[name]


class JaxBackend(JaxFunctions):
    """The built-in jax backend: jnp.matmul, jitted, and its vjp."""

    name = "jax"

    def forward_function(self):
        return _compiled("forward")

    def _differentiate(self, x_in, w, dy_in, b):
        return _compiled("backward")(x_in, w, dy_in, b)
