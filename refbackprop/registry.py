"""Backends, found through the entry-point group 'refbackprop.backends'.

A backend is any object with name, dtypes, array, tolist, forward, backward
(README, "The backend protocol").  An entry point names such an object or a
zero-argument factory (a class counts).  A backend may also be named by import
path, 'package.module:attr', without registration.

Nothing is hard-coded: the built-ins are declared in refbackprop's own
pyproject.toml like any plugin.  A plugin that fails to import, or whose
dependency is missing, is recorded with its reason and never breaks the
others; duplicate names are reported; the order is by name.
"""

REQUIRED = ("name", "dtypes", "array", "tolist", "forward", "backward")
KNOWN_DTYPES = ("float64", "float32")
GROUP = "refbackprop.backends"


class BackendError(Exception):
    """A backend cannot be used: unknown, unavailable or broken, with why."""


class BackendInfo:
    """What the registry knows of one backend, loaded or not.

    status: 'available', 'unavailable' (a dependency is missing: reason) or
    'broken' (it failed to load or does not follow the protocol: reason).
    origin: 'distribution version' for an entry point, or the import path.
    """

    def __init__(self, name, target, origin):
        self.name = name
        self.target = target          # 'package.module:attr'
        self.origin = origin
        self.status = "unloaded"
        self.reason = ""
        self.backend = None

    def to_dict(self):
        dtypes = list(self.backend.dtypes) if self.backend is not None else []
        return {"name": self.name, "status": self.status, "reason": self.reason,
                "dtypes": dtypes, "origin": self.origin, "target": self.target}


def _distributions():
    try:
        from importlib import metadata
    except ImportError:           # MicroPython, and CPython 3.7 (unsupported)
        return []
    return metadata.distributions()


def entry_points(group=GROUP):
    """(name, 'module:attr', 'dist version') for the group, sorted, deduplicated.

    Reads every distribution's entry points, which works the same from
    CPython 3.8 (where entry_points() has no group= and returns a dict) to
    3.13, and gives the distribution for the origin column.
    """
    seen = set()
    out = []
    for dist in _distributions():
        try:
            dist_name = dist.metadata["Name"]
            origin = "%s %s" % (dist_name, dist.version)
            eps = dist.entry_points
        except Exception:
            continue
        for ep in eps:
            if ep.group != group:
                continue
            key = (ep.name, ep.value, dist_name)
            if key in seen:       # one distribution seen twice on sys.path
                continue
            seen.add(key)
            out.append((ep.name, ep.value, origin))
    out.sort()
    return out


def _import_target(target):
    """Import 'package.module:attr' (attr may be dotted)."""
    if ":" not in target:
        raise BackendError("%r is not an import path; use package.module:attr"
                           % target)
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


def protocol_problem(backend):
    """Why backend does not follow the protocol, or '' when it does."""
    missing = [m for m in REQUIRED if not hasattr(backend, m)]
    if missing:
        return "missing required member(s): %s" % ", ".join(missing)
    if not isinstance(backend.name, str) or not backend.name:
        return "name must be a non-empty str, not %r" % (backend.name,)
    dtypes = tuple(backend.dtypes)
    if not dtypes or [d for d in dtypes if d not in KNOWN_DTYPES]:
        return ("dtypes must be a non-empty subset of %s, not %r"
                % (KNOWN_DTYPES, backend.dtypes))
    return ""


def load(info):
    """Load one BackendInfo in place: import, instantiate, check, availability."""
    if info.status != "unloaded":
        return info
    try:
        backend = instantiate(_import_target(info.target))
    except Exception as e:
        info.status = "broken"
        info.reason = "%s: %s" % (type(e).__name__, e)
        return info
    problem = protocol_problem(backend)
    if problem:
        info.status, info.reason = "broken", problem
        return info
    info.backend = backend
    check = getattr(backend, "unavailable_reason", None)
    reason = check() if check is not None else None
    if reason:
        info.status, info.reason = "unavailable", reason
    else:
        info.status = "available"
    return info


class Registry:
    """All backends of the entry-point group, loaded lazily, in name order."""

    def __init__(self, group=GROUP):
        self.group = group
        self.infos = []           # BackendInfo, by name
        self.duplicates = []      # (name, origin kept, origin ignored)
        by_name = {}
        for name, target, origin in entry_points(group):
            if name in by_name:
                self.duplicates.append((name, by_name[name].origin, origin))
                continue
            info = BackendInfo(name, target, origin)
            by_name[name] = info
            self.infos.append(info)

    def names(self):
        return [info.name for info in self.infos]

    def load_all(self):
        """Load every backend; broken ones are recorded, never raised."""
        for info in self.infos:
            load(info)
        return self.infos

    def info(self, name):
        """The BackendInfo for a registered name or a 'module:attr' path."""
        for info in self.infos:
            if info.name == name:
                return load(info)
        if ":" in name:
            info = BackendInfo(name, name, name)
            load(info)
            if info.backend is not None:
                info.name = info.backend.name
            return info
        raise BackendError("unknown backend %r; known backends: %s (or give "
                           "an import path package.module:attr)"
                           % (name, ", ".join(self.names()) or "none"))

    def get(self, name):
        """The backend object, or BackendError with the reason it cannot run."""
        info = self.info(name)
        if info.status == "broken":
            raise BackendError("backend %r is broken: %s" % (name, info.reason))
        if info.status == "unavailable":
            raise BackendError("backend %r is unavailable: %s" % (name, info.reason))
        return info.backend

    def available(self):
        """The backends that can run, in name order."""
        return [i.backend for i in self.load_all() if i.status == "available"]


def get_backend(name):
    """Shorthand: Registry().get(name)."""
    return Registry().get(name)
