"""Any function as a backend, named by a selector: no class to write.

    KIND:MODULE:FORWARD[,BACKWARD][,OPTION=VALUE]...

    torch:mykernels:linear                  fn(x, weight, bias), weight (M, D), autograd
    torch:mykernels:linear,linear_bwd       ... with an explicit backward
    torch:mykernels:LinearFn.apply          a torch.autograd.Function
    torch:mykernels:linear,batch=4          x given as (B, T, D)
    jax:mykernels:dense                     fn(x, w, b), w (D, M), through jax.vjp
    jax:mykernels:dense,weight=md           ... w given as (M, D)
    numpy:mykernels:forward,backward        explicit NumPy pair, w (D, M)

KIND is torch, jax or numpy.  MODULE is imported (the CLI puts the current
folder on sys.path first); FORWARD and BACKWARD are attribute paths in it
(dotted: LinearFn.apply).  The functions, in the weight convention W (below):

    forward(x, weight, bias) -> y                     bias is None without one
    backward(x, weight, dy, bias) -> (dx, dweight, dbias)

with x (N, D) or (B, T, D), weight (D, M) or (M, D), bias (M,) or None,
y and dy (N, M) or (B, T, M), dweight shaped like weight.  Options:

    weight=md|dm       the weight's layout: md = (M, D), dm = (D, M)
                       (default: md for torch, dm for jax and numpy)
    batch=B            pass x as (B', T, D) and dy as (B', T, M), B' = gcd(B, N),
                       T = N / B' (B' = B when B divides N)
    dtypes=D1+D2       only these dtypes (default: all the framework declares)
    layouts=L1+L2|none the layout variants to declare (default: every one the
                       framework can express: refbackprop.cases.LAYOUTS)
    device=DEV         torch only: cpu (default), cuda, cuda:1, ...

make_backend(selector) returns the backend; any mistake in the selector is a
ValueError naming the part that is wrong; a framework that is not installed
is an AdapterUnavailable (a ValueError) carrying the reason.
"""

import difflib
import importlib
import inspect

from refbackprop.cases import LAYOUTS

KINDS = ("torch", "jax", "numpy")
OPTIONS = ("weight", "batch", "dtypes", "layouts", "device")
FORWARD_ARGS = "x, weight, bias"
BACKWARD_ARGS = "x, weight, dy, bias"


class AdapterUnavailable(ValueError):
    """The selector is well formed but its framework is not installed."""

    def __init__(self, selector, reason):
        ValueError.__init__(self, "selector %r: %s" % (selector, reason))
        self.reason = reason


def is_adapter_selector(text):
    """Whether text names a function adapter (KIND:...), not a registered
    name or a package.module:attr import path."""
    return isinstance(text, str) and text.split(":", 1)[0] in KINDS and ":" in text


def parse_selector(selector):
    """{'kind', 'module', 'forward', 'backward', 'options'} from a selector,
    without importing anything.  ValueError names the part that is wrong."""

    def fail(what):
        raise ValueError(
            "selector %r: %s; the form is KIND:MODULE:FORWARD"
            "[,BACKWARD][,OPTION=VALUE]..." % (selector, what)
        )

    if not isinstance(selector, str):
        raise TypeError("a selector is a str, not %s" % type(selector).__name__)
    parts = selector.split(":", 2)
    if len(parts) < 3:
        fail("it needs three parts separated by ':'")
    kind, module, rest = parts
    if kind not in KINDS:
        fail("kind %r is not one of %s" % (kind, ", ".join(KINDS)))
    if not _dotted(module):
        fail("module %r is not a dotted Python name" % module)
    functions, options = [], {}
    for item in rest.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            if key not in OPTIONS:
                fail("unknown option %r (options: %s)" % (key, ", ".join(OPTIONS)))
            if key in options:
                fail("option %r is given twice" % key)
            options[key] = value
        elif options:
            fail("function %r comes after an option; functions come first" % item)
        elif not _dotted(item):
            fail("function %r is not a dotted attribute name" % item)
        else:
            functions.append(item)
    if not functions:
        fail("it names no forward function")
    if len(functions) > 2:
        fail(
            "it names %d functions (%s); give FORWARD or FORWARD,BACKWARD"
            % (len(functions), ", ".join(functions))
        )
    return {
        "kind": kind,
        "module": module,
        "forward": functions[0],
        "backward": functions[1] if len(functions) == 2 else None,
        "options": _options(selector, kind, options),
    }


def _dotted(text):
    return bool(text) and all(p.isidentifier() for p in text.split("."))


def _options(selector, kind, raw):
    """Option values checked and converted; ValueError names the option."""

    def fail(key, what):
        raise ValueError("selector %r: option %s=%s: %s" % (selector, key, raw[key], what))

    out = {}
    if "weight" in raw:
        if raw["weight"] not in ("md", "dm"):
            fail("weight", "the weight layout is md (M, D) or dm (D, M)")
        out["weight"] = raw["weight"]
    if "batch" in raw:
        if not raw["batch"].isdigit() or int(raw["batch"]) < 1:
            fail("batch", "B must be an integer >= 1")
        out["batch"] = int(raw["batch"])
    if "dtypes" in raw:
        dtypes = tuple(raw["dtypes"].split("+"))
        bad = [d for d in dtypes if d not in ("float64", "float32")]
        if bad or not raw["dtypes"]:
            fail("dtypes", "dtypes are float64 and float32, joined by '+'")
        out["dtypes"] = dtypes
    if "layouts" in raw:
        value = raw["layouts"]
        layouts = () if value == "none" else tuple(value.split("+"))
        bad = [name for name in layouts if name not in LAYOUTS]
        if bad:
            fail(
                "layouts",
                "not a layout: %s (layouts: %s, joined by '+', or none)"
                % (", ".join(bad), ", ".join(LAYOUTS)),
            )
        out["layouts"] = layouts
    if "device" in raw:
        if kind != "torch":
            fail("device", "only torch selectors take a device")
        if not raw["device"]:
            fail("device", "empty device")
        out["device"] = raw["device"]
    return out


def _resolve(selector, module, path, role, nargs, args):
    """module.path, which must be a callable taking nargs positional arguments."""
    obj = module
    walked = module.__name__
    for part in path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            near = difflib.get_close_matches(part, names, 3)
            raise ValueError(
                "selector %r: %s function %r: %s has no attribute %r%s"
                % (
                    selector,
                    role,
                    path,
                    walked,
                    part,
                    "; did you mean %s?" % ", ".join(near) if near else "",
                )
            )
        obj = getattr(obj, part)
        walked += "." + part
    if not callable(obj):
        raise ValueError(
            "selector %r: %s function %r is a %s, not a function"
            % (selector, role, path, type(obj).__name__)
        )
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return obj
    try:
        signature.bind(*range(nargs))
    except TypeError:
        raise ValueError(
            "selector %r: %s function %r takes %s; it is called as "
            "%s(%s)" % (selector, role, path, _describe(signature), path.split(".")[-1], args)
        )
    return obj


def _describe(signature):
    text = str(signature)
    return "no arguments" if text == "()" else "arguments %s" % text


def _framework(kind):
    """(FunctionBackend subclass, its unavailable reason or None)."""
    if kind == "torch":
        from .torch_backend import TorchFunctions as cls
    elif kind == "jax":
        from .jax_backend import JaxFunctions as cls
    else:
        from .numpy_backend import NumpyFunctions as cls
    return cls, cls().unavailable_reason()


def make_backend(selector):
    """The backend a selector names (see the module docstring).

    Raises ValueError naming the wrong part (kind, module, function, arity,
    option) and AdapterUnavailable when the framework is not installed.
    """
    spec = parse_selector(selector)
    kind, options = spec["kind"], spec["options"]
    cls, reason = _framework(kind)
    if reason:
        raise AdapterUnavailable(selector, reason)
    if kind == "numpy" and spec["backward"] is None:
        raise ValueError(
            "selector %r: NumPy has no autodiff, so a numpy selector "
            "needs a backward function: numpy:%s:%s,BACKWARD"
            % (selector, spec["module"], spec["forward"])
        )
    try:
        module = importlib.import_module(spec["module"])
    except Exception as e:
        raise ValueError(
            "selector %r: module %r cannot be imported: %s: %s"
            % (selector, spec["module"], type(e).__name__, e)
        )
    forward = _resolve(selector, module, spec["forward"], "forward", 3, FORWARD_ARGS)
    backward = None
    if spec["backward"] is not None:
        backward = _resolve(selector, module, spec["backward"], "backward", 4, BACKWARD_ARGS)
    backend = cls(forward=forward, backward=backward, name=selector, **options)
    for dtype in options.get("dtypes", ()):
        if dtype not in backend.dtypes:
            why = backend.dtype_reasons().get(dtype, "%s does not declare it" % kind)
            raise ValueError(
                "selector %r: option dtypes: %s is not available: %s" % (selector, dtype, why)
            )
    if kind == "torch":
        why = backend.unavailable_reason()
        if why:
            raise AdapterUnavailable(selector, why)
    return backend
