"""What the numpy, torch and jax backends share: a linear layer given as
functions in a framework's own convention, called on its native arrays.

A FunctionBackend wraps

    forward(x, weight, bias) -> y                  y (..., M)
    backward(x, weight, dy, bias) -> (dx, dweight, dbias)      optional

and converts between refbackprop's convention, x (N, D), w (D, M), b (M,),
dy (N, M), and the function's:

    weight 'dm'   the function takes w as it is, (D, M)      (NumPy, JAX, flax)
    weight 'md'   it takes the transpose, (M, D)             (torch F.linear)
    batch B       it takes x as (B', T, D) and dy as (B', T, M) with
                  B' = gcd(B, N) and T = N / B' (B' = B whenever B divides N)

Without a backward function the framework differentiates forward (torch
autograd, jax.vjp); NumPy has no autodiff and needs one.  The outputs go
back to refbackprop's convention: y and dx with x's own leading dimensions,
dw as (D, M).  Every result is checked for its type, shape and dtype, and a
wrong one is an error naming the function, never a silently reshaped number.

Each framework's subclass supplies the library calls (the hooks at the end);
the library is imported on first use, never when this module is imported.
"""

import importlib.util

from refbackprop.cases import LAYOUTS, batch_split
from refbackprop.shapes import check_layer_shapes, element_count

WEIGHTS = ("dm", "md")


def missing_reason(modules, extra):
    """Why a framework cannot run (a module is not installed), or None."""
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return "%s is not installed; install it with: pip install 'refbackprop[%s]'" % (
                module,
                extra,
            )
    return None


def dist_version(distribution):
    """An installed distribution's version from its metadata (no import), or '?'."""
    try:
        from importlib import metadata

        return metadata.version(distribution)
    except Exception:
        return "?"


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def as_rows(a):
    """a (..., C) with its leading dimensions flattened into N: (N, C); a 1-D
    or 2-D array as it is.  For any array with .shape and .reshape (NumPy,
    torch, JAX)."""
    if len(a.shape) > 2:
        return a.reshape(element_count(a.shape[:-1]), a.shape[-1])
    return a


def check_values(values, shape):
    """Raise ValueError unless nested lists `values` have `shape` (1-D or 2-D)."""
    shape = tuple(shape)
    if len(shape) not in (1, 2):
        raise ValueError("shape must be 1-D or 2-D, not %r" % (shape,))
    if len(values) != shape[0]:
        raise ValueError("values have %d entries (rows), shape is %r" % (len(values), shape))
    if len(shape) == 2:
        for i, row in enumerate(values):
            if len(row) != shape[1]:
                raise ValueError("values row %d has %d entries, shape is %r" % (i, len(row), shape))


def host_array(buffer, shape, dtype):
    """A NumPy array of `dtype` and `shape` from a row-major float64 buffer
    (from_buffer: data at size without making a Python float per element)."""
    import numpy as np

    a = np.frombuffer(buffer, dtype=np.float64)
    count = element_count(shape)
    if a.size != count:
        raise ValueError(
            "the buffer holds %d values, not the %d of shape %r" % (a.size, count, tuple(shape))
        )
    return a.reshape(tuple(shape)).astype(dtype)  # a copy that owns its memory


def layout_shape(layout, shape):
    """Check a layout name against an array's shape; (B, T) for 'batched'."""
    if layout not in LAYOUTS:
        raise ValueError("layout must be one of %s, not %r" % (", ".join(LAYOUTS), layout))
    shape = tuple(shape)
    if layout in ("transposed", "batched") and len(shape) != 2:
        raise ValueError("the %s layout needs a 2-D array, not shape %r" % (layout, shape))
    if layout == "batched":
        return batch_split(shape[0])
    return None


def layout_kind(shape, strides, offset):
    """Which of view()'s layouts an array with these strides (in elements) and
    element offset has: 'offset', 'transposed', 'strided' or None (row-major).
    Used to give an (M, D) weight the layout its (D, M) original has."""
    shape, strides = tuple(shape), tuple(strides)
    if offset:
        return "offset"
    big = [(s, st) for s, st in zip(shape, strides) if s > 1]
    expected = 1
    row_major = True
    for s, st in reversed(big):
        if st != expected:
            row_major = False
        expected *= s
    if row_major:
        return None
    if len(shape) == 2 and len(big) == 2 and strides == (1, shape[0]):
        return "transposed"
    return "strided"


class FunctionBackend:
    """A backend made of a forward function and, optionally, a backward one.

    forward, backward: callables in the framework's convention (above), or
    None for backward to let the framework differentiate forward.
    weight: 'dm' or 'md'; batch: None or an int B >= 1; name: the backend's
    name; dtypes, layouts: narrow what the framework would declare.
    """

    framework = ""  # 'numpy', 'torch' or 'jax'
    native_name = ""  # its array type, for messages: 'NumPy array'
    modules = ()  # the import names it needs
    extra = ""  # pip extra that installs them
    default_weight = "dm"
    framework_layouts = LAYOUTS
    framework_dtypes = ("float64", "float32")
    # What a user's function is certified in unless its selector says dtypes=...
    # (None: every dtype the framework declares).
    default_dtypes = None

    def __init__(
        self,
        forward=None,
        backward=None,
        weight=None,
        batch=None,
        name=None,
        dtypes=None,
        layouts=None,
    ):
        self._fn = forward
        self._bwd = backward
        self.weight = weight or self.default_weight
        if self.weight not in WEIGHTS:
            raise ValueError("weight must be 'dm' (D, M) or 'md' (M, D), not %r" % (self.weight,))
        if batch is not None and (type(batch) is not int or batch < 1):
            raise ValueError("batch must be an int >= 1, not %r" % (batch,))
        self.batch = batch
        if name is not None:
            self.name = name
        self._dtypes = None if dtypes is None else tuple(dtypes)
        self._layouts = None if layouts is None else tuple(layouts)
        for layout in self._layouts or ():
            if layout not in self.framework_layouts:
                raise ValueError(
                    "%s arrays cannot take the %r layout (they can: %s)"
                    % (self.framework, layout, ", ".join(self.framework_layouts) or "none")
                )

    # -- what the registry reads -------------------------------------------

    @property
    def dtypes(self):
        declared = self._declared_dtypes()
        wanted = self.default_dtypes if self._dtypes is None else self._dtypes
        if wanted is None:
            return declared
        return tuple(d for d in wanted if d in declared)

    def _declared_dtypes(self):
        return self.framework_dtypes

    def dtype_reasons(self):
        """{dtype: why it is not declared} for the dtypes left out."""
        return {}

    # The layouts a user's function is checked in unless its selector says
    # layouts=... (None: every layout the framework's arrays can take).
    default_layouts = None

    @property
    def layouts(self):
        if self._layouts is not None:
            return self._layouts
        if self.default_layouts is not None:
            return self.default_layouts
        return self.framework_layouts

    def unavailable_reason(self):
        return missing_reason(self.modules, self.extra)

    def _require_dtype(self, dtype):
        """ValueError, with the reason when there is one, for an undeclared dtype."""
        if dtype not in self.dtypes:
            reason = self.dtype_reasons().get(dtype)
            raise ValueError(
                "%s computes in %s, not %s%s"
                % (
                    self.name,
                    ", ".join(self.dtypes),
                    dtype,
                    "" if reason is None else ": " + reason,
                )
            )

    # -- arrays in ---------------------------------------------------------------

    def array(self, values, shape, dtype):
        """A native array of that shape and dtype from nested lists (through
        a C-contiguous NumPy array, handed to _from_host)."""
        import numpy as np

        self._require_dtype(dtype)
        check_values(values, shape)
        return self._from_host(np.array(values, dtype=dtype).reshape(tuple(shape)))

    def from_buffer(self, buffer, shape, dtype):
        """A native array of that shape and dtype from a row-major float64 buffer."""
        self._require_dtype(dtype)
        return self._from_host(host_array(buffer, shape, dtype))

    # -- the layer -----------------------------------------------------------

    def forward_function(self):
        """The forward callable (built-ins resolve theirs on first use)."""
        return self._fn

    def backward_function(self):
        return self._bwd

    def forward(self, x, w, b=None):
        """y (..., M) = x (..., D) @ w (D, M) + b (M,), through the function."""
        lead, n, d, m = self._shapes(x, w, b)
        x_in = self._split(x, n, d)
        weight = self._weight_in(w)
        y = self.forward_function()(x_in, weight, b)
        self._check("forward", "y", y, tuple(x_in.shape[:-1]) + (m,), x)
        return y.reshape(lead + (m,))

    def backward(self, x, w, dy, b=None):
        """(dx (..., D), dw (D, M), db (M,) or None) for dy (..., M)."""
        lead, n, d, m = self._shapes(x, w, b, dy)
        x_in, dy_in = self._split(x, n, d), self._split(dy, n, m)
        bwd = self.backward_function()
        if bwd is None:
            dx, dw, db = self._differentiate(x_in, w, dy_in, b)
        else:
            weight = self._weight_in(w)
            grads = bwd(x_in, weight, dy_in, b)
            if not isinstance(grads, (tuple, list)) or len(grads) != 3:
                raise TypeError(
                    "the backward function returned %s; it must return "
                    "(dx, dweight, dbias)" % type(grads).__name__
                )
            dx, dweight, db = grads
            self._check("backward", "dweight", dweight, tuple(weight.shape), x)
            dw = dweight if self.weight == "dm" else dweight.T  # (M, D) -> (D, M)
        self._check("backward", "dx", dx, tuple(x_in.shape), x)
        if b is None:
            db = None  # no bias: its gradient has no meaning
        else:
            self._check("backward", "dbias", db, (m,), x)
        return dx.reshape(tuple(x.shape)), dw, db

    # -- conversions ---------------------------------------------------------

    def _shapes(self, x, w, b=None, dy=None):
        """(lead, N, D, M) for x (*lead, D), w (D, M), b (M,), dy (*lead, M),
        validated once here with messages naming the argument and shapes."""
        arrays = (("x", x), ("w", w), ("b", b), ("dy", dy))
        for name, a in arrays:
            if a is not None and not self._is_native(a):
                raise TypeError(
                    "%s must be a %s, not %s" % (name, self.native_name, type(a).__name__)
                )
        xs = tuple(x.shape)
        if len(xs) < 2:
            raise ValueError("x must be (N, D) or batched (..., T, D), but its shape is %r" % (xs,))
        lead = xs[:-1]
        n = element_count(lead)
        dy_shape = None
        if dy is not None:
            dys = tuple(dy.shape)
            if dys[:-1] != lead:
                raise ValueError(
                    "dy is %r but x is %r: dy needs x's leading dimensions %r" % (dys, xs, lead)
                )
            dy_shape = (n, dys[-1])
        n, d, m = check_layer_shapes(
            (n, xs[-1]), tuple(w.shape), None if b is None else tuple(b.shape), dy_shape
        )
        dtype = self._dtype_name(x)
        if dtype not in self.dtypes:
            raise TypeError(
                "x has dtype %s; %s computes in %s" % (dtype, self.name, " or ".join(self.dtypes))
            )
        for name, a in arrays[1:]:
            if a is not None and self._dtype_name(a) != dtype:
                raise TypeError(
                    "%s has dtype %s but x has %s: all arrays need one dtype"
                    % (name, self._dtype_name(a), dtype)
                )
        return lead, n, d, m

    def _split(self, a, n, c):
        """a (*lead, C) as the function takes it: (B', T, C) with batch, else as is."""
        if self.batch is None:
            return a
        bb = gcd(self.batch, n)
        return a.reshape((bb, n // bb, c))

    def _weight_in(self, w):
        """w (D, M) as the function takes it; an (M, D) copy keeps w's layout."""
        if self.weight == "dm":
            return w
        return self._transposed(w)

    def _check(self, which, name, value, shape, x):
        """value must be a native array of this shape and of x's dtype."""
        if not self._is_native(value):
            raise TypeError(
                "the %s function returned %s as %s, not a %s"
                % (which, name, type(value).__name__, self.native_name)
            )
        got = tuple(value.shape)
        if got != tuple(shape):
            raise ValueError(
                "the %s function returned %s of shape %r; it must be %r"
                % (which, name, got, tuple(shape))
            )
        if self._dtype_name(value) != self._dtype_name(x):
            raise TypeError(
                "the %s function returned %s as %s for %s inputs"
                % (which, name, self._dtype_name(value), self._dtype_name(x))
            )

    def _view_checked(self, a, layout):
        """Shared argument checks of view(); (B, T) for 'batched'."""
        if layout not in self.layouts:
            raise ValueError(
                "%s does not declare the %r layout (it declares: %s)"
                % (self.name, layout, ", ".join(self.layouts) or "none")
            )
        return layout_shape(layout, a.shape)

    # -- hooks each framework supplies --------------------------------------

    def _is_native(self, a):
        """Whether a is the framework's array type (native_name)."""
        raise NotImplementedError

    def _from_host(self, host):
        """The native array holding a C-contiguous NumPy array's values (the
        NumPy array itself for NumPy)."""
        return host

    def _dtype_name(self, a):
        """a's dtype as refbackprop names it ('float32'); NumPy and JAX spell
        it so already."""
        return a.dtype.name

    def _transposed(self, w):
        """(D, M) -> an (M, D) array of the same layout kind."""
        raise NotImplementedError

    def _differentiate(self, x_in, w, dy_in, b):
        """(dx like x_in, dw (D, M), db (M,) or None) by the framework's autodiff."""
        raise NotImplementedError
