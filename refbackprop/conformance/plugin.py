"""pytest plugin (entry point pytest11): inert unless --refbackprop-backend.

    pytest --pyargs refbackprop.conformance --refbackprop-backend NAME|module:attr

Adds the options, a header line naming the backend under test, one test per
check (ids are the checks' stable ids) and the rules that keep a run honest:

- the backend runs in a supervised worker process (refbackprop.supervisor),
  one per pytest process (so per xdist worker): a backend that exits,
  crashes, hangs, prints, or raises pytest's own skip/xfail outcomes fails
  the check it was in, and the session goes on (--refbackprop-in-process
  runs it in pytest's process, for debugging);
- an unknown, ambiguous, unavailable or broken backend, a dtype it does not
  declare, or a -k selection that keeps none of the backend's own checks
  (oracle checks do not count) is a usage error;
- a run in which no check of the backend ran fails;
- the known-failures file is strict, applies to the backend's checks only,
  and a missing or unreadable file is a usage error.
Imports nothing heavy: the backend is loaded only when asked for.
"""

import pytest

_STATE_KEY = "_refbackprop_conformance"


def pytest_addoption(parser):
    from refbackprop.cases import DTYPES

    group = parser.getgroup("refbackprop", "refbackprop conformance suite")
    group.addoption(
        "--refbackprop-backend",
        default=None,
        metavar="NAME|module:attr",
        help="backend to certify: a registered name or an import path",
    )
    group.addoption(
        "--refbackprop-seed",
        type=int,
        default=0,
        metavar="INT",
        help="seed of the case catalogue (default 0)",
    )
    group.addoption(
        "--refbackprop-dtype",
        default=None,
        choices=list(DTYPES),
        help="only this dtype (default: every dtype the backend declares)",
    )
    group.addoption(
        "--refbackprop-xfails",
        default=None,
        metavar="FILE",
        help="known failures: lines 'PATTERN reason' (strict: a listed "
        "check that passes fails the run)",
    )
    group.addoption(
        "--refbackprop-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds each backend call may take before its worker is "
        "killed (default: 60 s plus a term scaled with the work)",
    )
    group.addoption(
        "--refbackprop-in-process",
        action="store_true",
        default=False,
        help="run the backend in pytest's own process, unsupervised (for debugging)",
    )


class _State:
    """The run's backend and checks; registered as a plugin while asked for."""

    def __init__(self, selector, runs, seed, dtype, checks, xfails):
        self.selector, self.runs = selector, runs
        self.seed, self.dtype, self.checks, self.xfails = seed, dtype, checks, xfails
        self.ran = 0

    def pytest_report_header(self, config):
        info = self.runs.info
        return [
            "refbackprop: backend %s from %s; dtypes %s; seed %d; %d checks; %s"
            % (
                self.runs.label,
                info.origin,
                self.dtype or ", ".join(info.dtypes),
                self.seed,
                len(self.checks),
                "supervised (a worker process per pytest process)"
                if self.runs.supervised
                else "in-process (not supervised)",
            )
        ]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        if hasattr(config, "workerinput"):
            return  # an xdist worker: the controller decides, below
        problem = self._selection_problem([i.nodeid for i in items])
        if problem:
            raise pytest.UsageError(problem)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        # the xdist controller, which collects nothing itself, sees each
        # worker's selection here; it ends the run as a usage error
        self.usage_error = self.usage_error or self._selection_problem(ids)

    usage_error = ""

    def _selection_problem(self, nodeids):
        ours = [i for i in nodeids if "::test_check[" in i]
        if any(_is_backend_check(i) for i in ours) or not self.checks:
            return ""
        return (
            "refbackprop: the selection keeps none of the checks of backend %r%s: "
            "a run that checks nothing of the backend is refused"
            % (
                self.selector,
                (" (only %d oracle checks, which do not call it)" % len(ours)) if ours else "",
            )
        )

    def pytest_runtest_logreport(self, report):
        # counted where reports arrive: in the process itself, or in the
        # xdist controller for every worker's tests
        if report.when == "call" and _is_backend_check(report.nodeid):
            self.ran += 1

    def pytest_sessionfinish(self, session, exitstatus):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if self.usage_error:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            if reporter is not None:
                reporter.write_line("ERROR: " + self.usage_error, red=True)
            return
        if self.ran or exitstatus not in (0, 5):
            return
        if hasattr(session.config, "workerinput") or session.config.option.collectonly:
            return  # an xdist worker (the controller decides), or --co
        session.exitstatus = 1
        if reporter is not None:
            reporter.write_line(
                "refbackprop: no check of backend %r ran: a run that "
                "checks nothing is a failure" % self.selector,
                red=True,
            )

    def pytest_unconfigure(self, config):
        self.runs.close()


def _is_backend_check(nodeid):
    return "::test_check[" in nodeid and "::test_check[oracle/" not in nodeid


def read_xfails(path):
    """[(pattern, reason)] from a known-failures file; '#' starts a comment."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise pytest.UsageError(
            "refbackprop: cannot read the known-failures file %r: %s" % (path, e)
        )
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            raise pytest.UsageError(
                "%s:%d: '%s' needs a reason after the pattern" % (path, number, line)
            )
        out.append((parts[0], parts[1]))
    return out


def pytest_configure(config):
    selector = config.getoption("--refbackprop-backend", default=None)
    if selector is None:
        return
    from refbackprop.conformance import build_checks, match
    from refbackprop.registry import BackendError
    from refbackprop.supervisor import open_backends

    timeout = config.getoption("--refbackprop-timeout")
    if timeout is not None and not timeout > 0:
        raise pytest.UsageError("refbackprop: --refbackprop-timeout must be positive")
    dtype = config.getoption("--refbackprop-dtype")
    try:
        executors, _ = open_backends(
            [selector], not config.getoption("--refbackprop-in-process"), timeout, dtype
        )
    except BackendError as e:
        raise pytest.UsageError("refbackprop: %s" % e)
    runs = executors[0]
    seed = config.getoption("--refbackprop-seed")
    try:
        checks = build_checks(runs, None if dtype is None else (dtype,), seed)
    except ValueError as e:
        runs.close()
        raise pytest.UsageError("refbackprop: %s" % e)
    xfails = []
    path = config.getoption("--refbackprop-xfails")
    if path:
        xfails = read_xfails(path)
        for pattern, reason in xfails:
            if not any(match(pattern, c.id) for c in checks if c.kind != "oracle"):
                config.issue_config_time_warning(
                    pytest.PytestConfigWarning(
                        "refbackprop: known-failure pattern %r matches no check of the "
                        "backend" % pattern
                    ),
                    stacklevel=2,
                )
    state = _State(selector, runs, seed, dtype, checks, xfails)
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
            "--refbackprop-backend NAME (or package.module:attr)"
        )
    from refbackprop.conformance import match

    params = []
    for check in state.checks:
        marks = []
        if check.kind != "oracle":
            marks = [
                pytest.mark.xfail(reason=reason, strict=True)
                for pattern, reason in state.xfails
                if match(pattern, check.id)
            ][:1]
        params.append(pytest.param(check, id=check.id, marks=marks))
    metafunc.parametrize("refbackprop_check", params)


@pytest.fixture
def refbackprop_selector(request):
    """How the backend under test is named on the command line."""
    return _state(request.config).selector
