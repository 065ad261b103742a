"""Backends, found through the entry-point group 'refbackprop.backends'.

A backend is any object with name, dtypes, array, tolist, forward, backward
(README, "The backend protocol"; docs/design.md).  An entry point names such an object or a
zero-argument factory (a class counts).  A backend may also be named by import
path, 'package.module:attr', without registration.

Nothing is hard-coded: the built-ins are declared in refbackprop's own
pyproject.toml like any plugin.  Listing reads packaging metadata only;
loading imports.  A plugin cannot crash or fool the registry: importing it,
making it and reading each of its attributes happen once, inside a guard
(any exception, SystemExit included, makes it *broken* with the reason), and
what was read is kept in its BackendInfo: `dtypes` is normalized once to a
tuple, so a property that answers differently on each read is read once.  A
name declared by two distributions is *ambiguous*: it is listed with both and
selecting it names both and how to pick one.  The order is by name.

In the CLI and the pytest plugin, loading runs in a worker process
(refbackprop.supervisor), so a plugin that exits or crashes while importing
takes down only that worker.
"""

from .cases import DTYPES

REQUIRED = ("name", "dtypes", "array", "tolist", "forward", "backward")
# Optional members, discovered with getattr (README, "The backend protocol").
OPTIONAL = (
    "unavailable_reason",
    "version",
    "warmup",
    "shares_memory",
    "dx",
    "dw",
    "synchronize",
    "seconds_per_madd",
    "dtype_reasons",
    "from_buffer",
    "to_buffer",
    "layouts",
    "view",
)
KNOWN_DTYPES = DTYPES
GROUP = "refbackprop.backends"
# Selector kinds, KIND:MODULE:FUNCTION[,...]: any function as a backend
# (docs/frameworks.md).  An entry point maps KIND to a factory that takes the
# whole selector text; refbackprop's own are torch, jax and numpy.
SELECTOR_GROUP = "refbackprop.selectors"


class BackendError(Exception):
    """A backend cannot be used: unknown, ambiguous, unavailable or broken, with why."""


class BackendInfo:
    """What the registry knows of one backend, loaded or not.

    status: 'unloaded', 'available', 'unavailable' (a dependency is missing:
    reason), 'broken' (it failed to load or does not follow the protocol:
    reason) or 'ambiguous' (two distributions declare the name).
    origin: 'distribution version' for an entry point, or the import path.
    Once loaded: name (the backend's own), dtypes (a tuple), version,
    members (the optional members it has), seconds_per_madd, dtype_reasons.
    """

    def __init__(self, name, target, origin):
        self.name = name  # the registered name (or the selector)
        self.target = target  # 'package.module:attr'
        self.origin = origin
        self.status = "unloaded"
        self.reason = ""
        self.backend = None  # the object, when loaded in this process
        self.factory = None  # 'module:attr' making the backend from the selector
        self.backend_name = ""  # the object's own name, read once
        self.dtypes = ()
        self.version = ""
        self.members = ()
        self.seconds_per_madd = None
        self.dtype_reasons = {}
        self.layouts = ()  # memory layouts it takes (cases.LAYOUTS)

    def __repr__(self):
        return "BackendInfo(%r, %s)" % (self.name, self.status)

    def to_dict(self):
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "dtypes": list(self.dtypes),
            "dtype_reasons": dict(self.dtype_reasons),
            "origin": self.origin,
            "target": self.target,
            "version": self.version,
        }

    def describe(self):
        """The plain-data description (what a worker process sends back)."""
        out = self.to_dict()
        out["backend_name"] = self.backend_name
        out["members"] = list(self.members)
        out["seconds_per_madd"] = self.seconds_per_madd
        out["dtype_reasons"] = dict(self.dtype_reasons)
        out["layouts"] = list(self.layouts)
        return out

    @classmethod
    def from_description(cls, desc, origin=None):
        info = cls(desc["name"], desc["target"], origin or desc["origin"])
        info.status, info.reason = desc["status"], desc["reason"]
        info.backend_name = desc["backend_name"]
        info.dtypes = tuple(desc["dtypes"])
        info.version = desc["version"]
        info.members = tuple(desc["members"])
        info.seconds_per_madd = desc["seconds_per_madd"]
        info.dtype_reasons = dict(desc["dtype_reasons"])
        info.layouts = tuple(desc["layouts"])
        return info

    def has(self, member):
        return member in self.members


def _distributions():
    try:
        from importlib import metadata
    except ImportError:  # MicroPython, and CPython 3.7 (unsupported)
        return []
    return metadata.distributions()


def entry_points(group=GROUP):
    """(name, 'module:attr', 'dist version') for the group, sorted, deduplicated.

    Reads every distribution's entry points, which works the same from
    CPython 3.8 (where entry_points() has no group= and returns a dict) to
    3.13, and gives the distribution for the origin column.  A distribution
    whose metadata cannot be read is skipped.  Only the distributions with
    entry points in the group have their metadata (name, version) read: it
    is parsed as an e-mail message, and every CLI run and worker load scans
    all installed distributions twice (backends and selector kinds).
    """
    seen = set()
    out = []
    for dist in _distributions():
        try:
            eps = [(ep.name, ep.value) for ep in dist.entry_points if ep.group == group]
            if not eps:
                continue
            dist_name = dist.metadata["Name"]
            origin = "%s %s" % (dist_name, dist.version)
        except Exception:
            continue
        for name, value in eps:
            key = (name, value, dist_name)
            if key in seen:  # one distribution seen twice on sys.path
                continue
            seen.add(key)
            out.append((name, value, origin))
    out.sort()
    return out


def _import_target(target):
    """Import 'package.module:attr' (attr may be dotted)."""
    if target.count(":") != 1 or target.startswith(":") or target.endswith(":"):
        raise BackendError("%r is not an import path; use package.module:attr" % target)
    module_name, attr = target.split(":", 1)
    module = __import__(module_name, None, None, ["__name__"])
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def instantiate(obj):
    """A backend from an entry point's object: itself, or what a factory makes."""
    if isinstance(obj, type) or not hasattr(obj, "forward"):
        if not callable(obj):
            raise BackendError("%r is neither a backend nor a factory" % (obj,))
        obj = obj()
    return obj


def _text(e):
    return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__


def _printable(text):
    """text with control characters (newlines included) shown as escapes."""
    return "".join(c if 32 <= ord(c) != 127 else repr(c)[1:-1] for c in text)


def normalize_dtypes(value):
    """A tuple of known dtype names from a backend's dtypes, read once, or
    ValueError saying what is wrong with it."""
    if isinstance(value, (str, bytes)):
        raise ValueError(
            "dtypes must be a tuple of names such as ('float64',), not the string %r" % (value,)
        )
    names = tuple(value)  # a one-shot iterable is read here, once
    if not names:
        raise ValueError("dtypes is empty; declare at least one of %s" % ", ".join(KNOWN_DTYPES))
    for d in names:
        if not isinstance(d, str) or d not in KNOWN_DTYPES:
            raise ValueError(
                "dtypes must be a non-empty subset of %s, not %r "
                "(unknown: %r)" % (KNOWN_DTYPES, names, d)
            )
    for i in range(len(names)):
        if names[i] in names[:i]:
            raise ValueError("dtypes %r names %s twice" % (names, names[i]))
    return names


_ABSENT = object()


def _member(backend, name):
    """getattr once; _ABSENT when there is no such member."""
    try:
        return getattr(backend, name)
    except AttributeError:
        return _ABSENT


def _normalize_layouts(value, view):
    """A backend's layouts as a tuple of known names; it needs view() too."""
    from .cases import LAYOUTS

    if isinstance(value, (str, bytes)):
        raise ValueError(
            "layouts must be a tuple of names such as ('strided',), not the string %r" % (value,)
        )
    names = tuple(value)
    for name in names:
        if name not in LAYOUTS:
            raise ValueError("layouts must be a subset of %s, not %r" % (LAYOUTS, names))
    if names and (view is _ABSENT or not callable(view)):
        raise ValueError("declares layouts %s but has no view(a, layout)" % (names,))
    return tuple(n for i, n in enumerate(names) if n not in names[:i])


def describe(info, backend):
    """Read every attribute of a loaded backend once, into info (in place).

    Each member is read exactly once (a property that answers differently
    on each read is read once); any exception while reading makes the
    backend broken with the reason.  An unavailable backend's optional
    members are not read: they may need what is missing.
    """
    try:
        got = dict((m, _member(backend, m)) for m in REQUIRED)
        missing = [m for m in REQUIRED if got[m] is _ABSENT]
        if missing:
            raise ValueError("missing required member(s): %s" % ", ".join(missing))
        name = got["name"]
        if (
            not isinstance(name, str)
            or not name
            or len(name) > 200
            or [c for c in name if ord(c) < 32 or ord(c) == 127]
        ):
            raise ValueError(
                "name must be a non-empty str of printable characters "
                "(at most 200), not %r" % (name,)
            )
        dtypes = normalize_dtypes(got["dtypes"])
        for m in ("array", "tolist", "forward", "backward"):
            if not callable(got[m]):
                raise ValueError("%s must be callable" % m)
        check = _member(backend, "unavailable_reason")
        reason = check() if check is not _ABSENT and check is not None else None
        if reason:
            info.backend, info.backend_name, info.dtypes = backend, name, dtypes
            info.status, info.reason = "unavailable", str(reason)
            return info
        optional = dict((m, _member(backend, m)) for m in OPTIONAL if m != "unavailable_reason")
        members = tuple(
            m
            for m in OPTIONAL
            if m == "unavailable_reason"
            and check is not _ABSENT
            or optional.get(m, _ABSENT) is not _ABSENT
        )
        version = optional["version"]
        version = "" if version is _ABSENT or version is None else _printable(str(version))
        cost = optional["seconds_per_madd"]
        cost = None if cost is _ABSENT or cost is None else float(cost)
        if cost is not None and not cost >= 0:
            raise ValueError("seconds_per_madd must be a number ≥ 0, not %r" % cost)
        reasons = {}
        if optional["dtype_reasons"] is not _ABSENT:
            for k, v in dict(optional["dtype_reasons"]()).items():
                reasons[str(k)] = str(v)
        layouts = ()
        if optional["layouts"] is not _ABSENT:
            layouts = _normalize_layouts(optional["layouts"], optional["view"])
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        info.status, info.reason = "broken", _text(e)
        return info
    info.backend, info.backend_name, info.dtypes = backend, name, dtypes
    info.version, info.members = version, members
    info.seconds_per_madd, info.dtype_reasons = cost, reasons
    info.layouts = layouts
    info.status, info.reason = "available", ""
    return info


def load(info):
    """Load one BackendInfo in place: import, instantiate, describe."""
    if info.status != "unloaded":
        return info
    try:
        if info.factory is not None:  # a function adapter: KIND:MODULE:FUNCTION...
            backend = _import_target(info.factory)(info.target)
        else:
            backend = instantiate(_import_target(info.target))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit at import included
        reason = getattr(e, "reason", None)  # an adapter whose framework is missing
        info.status = "unavailable" if reason else "broken"
        info.reason = str(reason) if reason else _text(e)
        return info
    return describe(info, backend)


class Registry:
    """All backends of the entry-point group, loaded lazily, in name order."""

    def __init__(self, group=GROUP):
        self.group = group
        self.infos = []  # BackendInfo, by name (several when ambiguous)
        by_name = {}
        for name, target, origin in entry_points(group):
            by_name.setdefault(name, []).append(BackendInfo(name, target, origin))
        for name in sorted(by_name):
            group_infos = by_name[name]
            if len(group_infos) > 1:
                for info in group_infos:
                    info.status = "ambiguous"
                    info.reason = _ambiguity(name, group_infos)
            self.infos.extend(group_infos)
        self.selector_kinds = {}  # KIND -> (factory, origin)
        for kind, factory, origin in entry_points(SELECTOR_GROUP):
            self.selector_kinds.setdefault(kind, (factory, origin))

    def names(self):
        out = []
        for info in self.infos:
            if info.name not in out:
                out.append(info.name)
        return out

    def load_all(self):
        """Load every backend; broken ones are recorded, never raised."""
        for info in self.infos:
            load(info)
        return self.infos

    def resolve(self, selector):
        """The BackendInfo a selector names, without loading it: a registered
        name, or an import path 'package.module:attr'.  BackendError when the
        name is unknown or ambiguous."""
        if not isinstance(selector, str) or not selector.strip():
            raise BackendError(
                "a backend selector must be a registered name or "
                "package.module:attr, not %r" % (selector,)
            )
        found = [info for info in self.infos if info.name == selector]
        if len(found) > 1:
            raise BackendError("backend %r is ambiguous: %s" % (selector, found[0].reason))
        if found:
            return found[0]
        kind = selector.split(":", 1)[0]
        if ":" in selector and kind in self.selector_kinds:
            factory, origin = self.selector_kinds[kind]
            info = BackendInfo(selector, selector, "%s adapter (%s)" % (kind, origin))
            info.factory = factory
            return info
        if ":" in selector:
            return BackendInfo(selector, selector, selector)
        raise BackendError(
            "unknown backend %r; known backends: %s (or give "
            "an import path package.module:attr)" % (selector, ", ".join(self.names()) or "none")
        )

    def info(self, selector):
        """The loaded BackendInfo for a registered name or an import path."""
        info = load(self.resolve(selector))
        if info.target == selector and info.backend_name:
            info.name = info.backend_name  # an import path: the backend's name
        return info

    def get(self, selector):
        """The backend object, or BackendError with the reason it cannot run."""
        return usable(self.info(selector), selector).backend

    def available(self):
        """The backends that can run, in name order."""
        return [i.backend for i in self.load_all() if i.status == "available"]


def dtype_problem(info, dtype, label=None):
    """'' when the backend declares dtype, else why not: the one place this
    message is written (the CLI, the pytest plugin and run() all use it)."""
    if dtype in info.dtypes:
        return ""
    why = info.dtype_reasons.get(dtype)
    return "backend %r declares dtypes %s, not %s%s" % (
        label or info.name,
        ", ".join(info.dtypes),
        dtype,
        (": " + why) if why else "",
    )


def usable(info, selector):
    """info itself when its backend can run, else BackendError saying why."""
    if info.status in ("broken", "unavailable", "ambiguous"):
        raise BackendError("backend %r is %s: %s" % (selector, info.status, info.reason))
    return info


def _ambiguity(name, infos):
    parts = ["%s (%s)" % (i.origin, i.target) for i in infos]
    return "the name is declared by %s; select one by its import path, e.g. --backend %s" % (
        " and by ".join(parts),
        infos[0].target,
    )


def get_backend(name):
    """Shorthand: Registry().get(name)."""
    return Registry().get(name)
