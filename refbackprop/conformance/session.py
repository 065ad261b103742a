"""A whole check run over several backends: what `refbackprop check` reports.

CheckSession runs every backend's checks (refbackprop.conformance.build_checks),
the reference's oracle checks once, and cross-checks every pair of backends on
every shared case; it keeps per-backend counts and the worst error/bound ratio,
and renders a table, failure reports and a JSON document.
"""

from . import build_checks, failure_report, oracle_checks, shrink
from ..compare import json_float
from ..runner import cross_check

JSON_SCHEMA_VERSION = 1
SHRINK_AT_MOST = 10         # failures shrunk per run (each costs a few cases)
REPORT_AT_MOST = 20         # failures printed in full as text (JSON has all)


class Row:
    """Counts for one line of the table (a backend and dtype, or the oracle)."""

    def __init__(self, label, dtype):
        self.label, self.dtype = label, dtype
        self.cases = self.passed = self.failed = 0
        self.worst = 0.0

    def add(self, result):
        self.cases += 1
        if result.passed:
            self.passed += 1
        else:
            self.failed += 1
        if result.kind == "case" and result.ratio > self.worst:
            self.worst = result.ratio

    def to_dict(self):
        worst = json_float(self.worst)
        return {"backend": self.label, "dtype": self.dtype, "checks": self.cases,
                "passed": self.passed, "failed": self.failed, "worst_ratio": worst}


class CheckSession:
    """Plan and run the checks; results, rows, cross-checks and failures."""

    def __init__(self, backends, dtype=None, seed=0, pattern=None, origins=None,
                 selectors=None):
        """backends: objects; origins and selectors: dicts by backend name
        (where it came from; how `--backend` names it in repro commands)."""
        self.backends = backends
        self.selectors = selectors or {}
        self.seed = seed
        self.pattern = pattern
        self.origins = origins or {}
        self.plan = []                       # (backend or None, Check)
        for backend in backends:
            dtypes = None if dtype is None else (dtype,)
            for check in build_checks(backend, dtypes, seed, pattern, oracle=False):
                self.plan.append((backend, check))
        for check in oracle_checks(seed, pattern):
            self.plan.append((None, check))
        self.results = []
        self.rows = {}
        self.cross = []                      # problem lines from pairwise checks
        self.cross_count = 0                 # pairs of results compared
        self.cross_failed = 0                # pairs that disagreed
        self.failures = []                   # (result, shrunk case or None)

    def __len__(self):
        return len(self.plan)

    def run(self, progress=None):
        """Run the plan; progress(n) is called after each check if given."""
        by_case = {}
        for backend, check in self.plan:
            result = check.run()
            if backend is not None:
                result.selector = self.selectors.get(backend.name, backend.name)
            self.results.append(result)
            label = "oracle (reference)" if check.kind == "oracle" else backend.name
            key = (label, check.case.dtype)
            if key not in self.rows:
                self.rows[key] = Row(label, check.case.dtype)
            self.rows[key].add(result)
            if check.kind == "case" and result.values:
                by_case.setdefault(check.id, []).append(result)
            if not result.passed:
                shrunk = None
                if check.kind == "case" and len(self.failures) < SHRINK_AT_MOST:
                    shrunk = shrink(backend, check.case)
                self.failures.append((result, shrunk))
            if progress is not None:
                progress(1)
        for case_id in sorted(by_case):
            group = by_case[case_id]
            for i in range(len(group)):
                for j in range(i + 1, len(group)):
                    self.cross_count += 1
                    lines = cross_check(group[i], group[j])
                    if lines:
                        self.cross_failed += 1
                    for line in lines:
                        self.cross.append("%s: %s" % (case_id, line))
        return self

    @property
    def passed(self):
        """Checks passed, each agreeing pair of backends counted as one."""
        return (sum(1 for r in self.results if r.passed)
                + self.cross_count - self.cross_failed)

    @property
    def failed(self):
        return sum(1 for r in self.results if not r.passed) + self.cross_failed

    def table(self):
        """The summary table, one line per backend and dtype."""
        lines = ["%-22s %-8s %7s %7s %7s  %s" % ("backend", "dtype", "checks",
                                                "passed", "failed", "worst error/bound")]
        for key in sorted(self.rows):
            r = self.rows[key]
            lines.append("%-22s %-8s %7d %7d %7d  %s" % (
                r.label, r.dtype, r.cases, r.passed, r.failed,
                "-" if r.label.startswith("oracle") else "%.3g" % r.worst))
        if self.cross_count:
            lines.append("cross-check: %d pairs of backend results on shared cases, "
                         "%d disagree beyond the sum of their bounds"
                         % (self.cross_count, self.cross_failed))
        return lines

    def report_lines(self):
        """Every failure, with its element, bound and repro command."""
        lines = []
        for result, shrunk in self.failures[:REPORT_AT_MOST]:
            lines.extend(failure_report(result, shrunk))
        if len(self.failures) > REPORT_AT_MOST:
            lines.append("... and %d more failures (--json lists them all)"
                         % (len(self.failures) - REPORT_AT_MOST))
        for line in self.cross:
            lines.append("CROSS-CHECK FAILED %s" % line)
        return lines

    def summary(self):
        return "%d passed, %d failed" % (self.passed, self.failed)

    def to_dict(self):
        backends = []
        for b in self.backends:
            backends.append({"name": b.name, "dtypes": list(b.dtypes),
                             "origin": self.origins.get(b.name, "")})
        failures = []
        for result, shrunk in self.failures:
            entry = result.to_dict()
            entry["check"] = result.check_id
            entry["shrunk"] = None if shrunk is None else shrunk.id
            failures.append(entry)
        return {"schema": JSON_SCHEMA_VERSION, "seed": self.seed,
                "pattern": self.pattern, "backends": backends,
                "rows": [self.rows[k].to_dict() for k in sorted(self.rows)],
                "failures": failures, "cross_check": {"pairs": self.cross_count,
                                                      "failed_pairs": self.cross_failed,
                                                      "problems": list(self.cross)},
                "passed": self.passed, "failed": self.failed}
