"""pytest plugin (entry point pytest11): inert unless --refbackprop-backend.

    pytest --pyargs refbackprop.conformance --refbackprop-backend NAME|module:attr

Adds the options, a header line naming the backend under test, one test per
check (ids are the checks' stable ids) and the rules that keep a run honest:
an unavailable or broken backend is a usage error, a run in which no check ran
fails, and the known-failures file is strict.  Imports nothing heavy: the
backend is loaded only when asked for.
"""

import pytest

_STATE_KEY = "_refbackprop_conformance"


def pytest_addoption(parser):
    group = parser.getgroup("refbackprop", "refbackprop conformance suite")
    group.addoption("--refbackprop-backend", default=None, metavar="NAME|module:attr",
                    help="backend to certify: a registered name or an import path")
    group.addoption("--refbackprop-seed", type=int, default=0, metavar="INT",
                    help="seed of the case catalogue (default 0)")
    group.addoption("--refbackprop-dtype", default=None, choices=["float64", "float32"],
                    help="only this dtype (default: every dtype the backend declares)")
    group.addoption("--refbackprop-xfails", default=None, metavar="FILE",
                    help="known failures: lines 'PATTERN reason' (strict: a listed "
                         "check that passes fails the run)")


class _State:
    """The run's backend and checks; registered as a plugin while asked for."""

    def __init__(self, selector, backend, origin, seed, dtype, checks, xfails):
        self.selector, self.backend, self.origin = selector, backend, origin
        self.seed, self.dtype, self.checks, self.xfails = seed, dtype, checks, xfails
        self.ran = 0

    def pytest_report_header(self, config):
        return ["refbackprop: backend %s from %s; dtypes %s; seed %d; %d checks"
                % (self.backend.name, self.origin,
                   self.dtype or ", ".join(self.backend.dtypes), self.seed,
                   len(self.checks))]

    def pytest_runtest_logreport(self, report):
        # counted where reports arrive: in the process itself, or in the
        # xdist controller for every worker's tests
        if report.when == "call" and "::test_check[" in report.nodeid:
            self.ran += 1

    def pytest_sessionfinish(self, session, exitstatus):
        if self.ran or exitstatus not in (0, 5):
            return
        if hasattr(session.config, "workerinput") or session.config.option.collectonly:
            return                # an xdist worker (the controller decides), or --co
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("refbackprop: no conformance check ran for backend "
                                "%r: a run that checks nothing is a failure"
                                % self.selector, red=True)


def read_xfails(path):
    """[(pattern, reason)] from a known-failures file; '#' starts a comment."""
    out = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 1)
            if len(parts) < 2:
                raise pytest.UsageError("%s:%d: '%s' needs a reason after the pattern"
                                        % (path, number, line))
            out.append((parts[0], parts[1]))
    return out


def pytest_configure(config):
    selector = config.getoption("--refbackprop-backend", default=None)
    if selector is None:
        return
    import sys
    from refbackprop.conformance import build_checks, match
    from refbackprop.registry import BackendError, Registry
    if ":" in selector and "" not in sys.path:
        sys.path.insert(0, "")
    reg = Registry()
    try:
        info = reg.info(selector)
        backend = reg.get(selector)
    except BackendError as e:
        raise pytest.UsageError("refbackprop: %s" % e)
    seed = config.getoption("--refbackprop-seed")
    dtype = config.getoption("--refbackprop-dtype")
    try:
        checks = build_checks(backend, None if dtype is None else (dtype,), seed)
    except ValueError as e:
        raise pytest.UsageError("refbackprop: %s" % e)
    xfails = []
    path = config.getoption("--refbackprop-xfails")
    if path:
        xfails = read_xfails(path)
        for pattern, reason in xfails:
            if not any(match(pattern, c.id) for c in checks):
                config.issue_config_time_warning(pytest.PytestConfigWarning(
                    "refbackprop: known-failure pattern %r matches no check" % pattern),
                    stacklevel=2)
    state = _State(selector, backend, info.origin, seed, dtype, checks, xfails)
    setattr(config, _STATE_KEY, state)
    config.pluginmanager.register(state, "refbackprop-conformance-run")


def _state(config):
    return getattr(config, _STATE_KEY, None)


def pytest_generate_tests(metafunc):
    if "refbackprop_check" not in metafunc.fixturenames:
        return
    state = _state(metafunc.config)
    if state is None:
        raise pytest.UsageError(
            "refbackprop: the conformance suite needs a backend: add "
            "--refbackprop-backend NAME (or package.module:attr)")
    from refbackprop.conformance import match
    params = []
    for check in state.checks:
        marks = [pytest.mark.xfail(reason=reason, strict=True)
                 for pattern, reason in state.xfails if match(pattern, check.id)][:1]
        params.append(pytest.param(check, id=check.id, marks=marks))
    metafunc.parametrize("refbackprop_check", params)


@pytest.fixture
def refbackprop_selector(request):
    """How the backend under test is named on the command line."""
    return _state(request.config).selector
