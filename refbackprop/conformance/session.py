"""A whole check run over several backends: what `refbackprop check` reports.

CheckSession runs every backend's checks (refbackprop.conformance.build_checks)
on its executor (supervised by default in the CLI), the reference's oracle
checks once, and cross-checks every pair of backends on every shared case; it
keeps per-backend counts and the worst error/bound ratio, and renders a
table, failure reports and a JSON document.  Backends that were not run
(broken, unavailable, ambiguous, without the dtype) are named with why.
Ctrl-C stops the run: what was checked so far is still reported, and the run
counts as failed (interrupted).
"""

from . import build_checks, failure_report, lost_worker, oracle_checks, shrink
from ..formatting import json_float, summary_line
from ..runner import cross_check

JSON_SCHEMA_VERSION = 2
SHRINK_AT_MOST = 10  # failures shrunk per run (each costs a few cases)
REPORT_AT_MOST = 20  # failures printed in full as text (JSON has all)


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
        return {
            "backend": self.label,
            "dtype": self.dtype,
            "checks": self.cases,
            "passed": self.passed,
            "failed": self.failed,
            "worst_ratio": worst,
        }


def executor_dict(runs):
    """An executor's backend as the JSON document and the HTML report show it."""
    info = runs.info
    return {
        "name": runs.label,
        "selector": runs.selector,
        "dtypes": list(info.dtypes),
        "origin": info.origin,
        "target": info.target,
        "version": info.version,
        "supervised": bool(getattr(runs, "supervised", False)),
    }


def distinct_labels(executors):
    """Give executors whose backends share a name distinct labels:
    'name (selector)'."""
    names = [e.label for e in executors]
    for e in executors:
        if names.count(e.label) > 1:
            e.label = "%s (%s)" % (e.label, e.selector)
    return executors


class CheckSession:
    """Plan and run the checks; results, rows, cross-checks and failures.

    executors: one per backend (runner.InProcess or supervisor.Supervised),
    loaded and available.  not_run: [(label, why)] for the backends that
    will not run, shown in every report.
    """

    def __init__(self, executors, dtype=None, seed=0, pattern=None, not_run=(), selected=True):
        """selected: the backends were named by the user, so a pattern that
        selects none of a backend's checks is a usage error (ValueError);
        otherwise (every registered backend) that backend is not run, and
        said so, as long as some backend has checks."""
        self.executors = []
        self.seed = seed
        self.pattern = pattern
        self.dtype = dtype
        self.not_run = list(not_run)
        self.plan = []  # (executor or None, Check)
        for runs in distinct_labels(list(executors)):
            dtypes = None if dtype is None else (dtype,)
            try:
                checks = build_checks(runs, dtypes, seed, pattern, oracle=False)
            except ValueError as e:
                if selected:
                    raise
                self.not_run.append((runs.label, str(e).split(";")[0]))
                runs.close()
                continue
            self.executors.append(runs)
            self.plan.extend((runs, check) for check in checks)
        if not self.executors:
            raise ValueError(
                "no backend has a check that matches %r: %s"
                % (pattern, "; ".join("%s: %s" % item for item in self.not_run))
            )
        for check in oracle_checks(seed, pattern):
            self.plan.append((None, check))
        self.results = []
        self.rows = {}
        self.cross = []  # problem lines from pairwise checks
        self.cross_count = 0  # pairs of results compared
        self.cross_failed = 0  # pairs that disagreed
        self.failures = []  # (result, shrunk case or None)
        self.notes = {}  # label -> {note: count}
        self.interrupted = False

    def __len__(self):
        return len(self.plan)

    def run(self, progress=None):
        """Run the plan; progress(n) is called after each check if given.
        Ctrl-C stops it (interrupted); the workers are stopped either way."""
        try:
            self._run(progress)
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self.close()
        if not self.interrupted:
            self._cross_check()
        return self

    def _run(self, progress):
        for runs, check in self.plan:
            result = check.run()
            self.results.append(result)
            label = "oracle (reference)" if check.kind == "oracle" else runs.label
            key = (label, check.case.dtype)
            if key not in self.rows:
                self.rows[key] = Row(label, check.case.dtype)
            self.rows[key].add(result)
            for note in result.notes:
                counts = self.notes.setdefault(label, {})
                counts[note] = counts.get(note, 0) + 1
            if not result.passed:
                shrunk = None
                if (
                    check.kind == "case"
                    and len(self.failures) < SHRINK_AT_MOST
                    and not lost_worker(result)
                ):
                    shrunk = shrink(runs, check.case)
                self.failures.append((result, shrunk))
            if progress is not None:
                progress(1)

    def _cross_check(self):
        by_case = {}
        for result in self.results:
            if result.kind == "case" and result.values:
                by_case.setdefault(result.check_id, []).append(result)
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

    def close(self):
        for runs in self.executors:
            runs.close()

    @property
    def backend_checks(self):
        """How many checks that call a backend ran."""
        return sum(1 for r in self.results if r.kind != "oracle")

    @property
    def passed(self):
        """Checks passed, each agreeing pair of backends counted as one."""
        return sum(1 for r in self.results if r.passed) + self.cross_count - self.cross_failed

    @property
    def failed(self):
        return sum(1 for r in self.results if not r.passed) + self.cross_failed

    @property
    def ok(self):
        """The run's verdict: every planned check ran and passed."""
        return (
            not self.interrupted
            and self.failed == 0
            and len(self.results) == len(self.plan)
            and self.backend_checks > 0
        )

    def backend_lines(self):
        """One line per backend: what ran, from where; and what did not run."""
        lines = []
        for runs in self.executors:
            info = runs.info
            lines.append(
                "backend %s: %s%s, dtypes %s%s"
                % (
                    runs.label,
                    info.origin,
                    (" (%s)" % info.target) if info.target and info.target != info.origin else "",
                    ", ".join(info.dtypes),
                    "" if getattr(runs, "supervised", False) else ", in-process (not supervised)",
                )
            )
        for label, why in self.not_run:
            lines.append("not run: %s (%s)" % (label, why))
        return lines

    def table(self):
        """The summary table, one line per backend and dtype."""
        lines = [
            "%-22s %-8s %7s %7s %7s  %s"
            % ("backend", "dtype", "checks", "passed", "failed", "worst error/bound")
        ]
        for key in sorted(self.rows):
            r = self.rows[key]
            lines.append(
                "%-22s %-8s %7d %7d %7d  %s"
                % (
                    r.label,
                    r.dtype,
                    r.cases,
                    r.passed,
                    r.failed,
                    "-" if r.label.startswith("oracle") else "%.3g" % r.worst,
                )
            )
        if self.cross_count:
            lines.append(
                "cross-check: %d pairs of backend results on shared cases, "
                "%d disagree beyond the sum of their bounds" % (self.cross_count, self.cross_failed)
            )
        for label in sorted(self.notes):
            for note, count in sorted(self.notes[label].items()):
                lines.append("note: %s, %d checks: %s" % (label, count, note))
        return lines

    def report_lines(self):
        """Every failure, with its element, bound and repro command."""
        lines = []
        for result, shrunk in self.failures[:REPORT_AT_MOST]:
            lines.extend(failure_report(result, shrunk))
        if len(self.failures) > REPORT_AT_MOST:
            lines.append(
                "... and %d more failures (--json lists them all)"
                % (len(self.failures) - REPORT_AT_MOST)
            )
        for line in self.cross:
            lines.append("CROSS-CHECK FAILED %s" % line)
        if self.interrupted:
            lines.append(
                "INTERRUPTED after %d of %d checks: the run is not complete"
                % (len(self.results), len(self.plan))
            )
        return lines

    def summary(self):
        return summary_line(self.passed, self.failed, self.interrupted)

    def to_dict(self):
        backends = [executor_dict(runs) for runs in self.executors]
        failures = []
        for result, shrunk in self.failures:
            entry = result.to_dict()
            entry["check"] = result.check_id
            entry["shrunk"] = None if shrunk is None else shrunk.id
            failures.append(entry)
        notes = [
            {"backend": label, "note": note, "checks": count}
            for label in sorted(self.notes)
            for note, count in sorted(self.notes[label].items())
        ]
        return {
            "schema": JSON_SCHEMA_VERSION,
            "seed": self.seed,
            "pattern": self.pattern,
            "backends": backends,
            "not_run": [{"backend": label, "why": why} for label, why in self.not_run],
            "rows": [self.rows[k].to_dict() for k in sorted(self.rows)],
            "failures": failures,
            "notes": notes,
            "cross_check": {
                "pairs": self.cross_count,
                "failed_pairs": self.cross_failed,
                "problems": list(self.cross),
            },
            "checks_planned": len(self.plan),
            "checks_run": len(self.results),
            "interrupted": self.interrupted,
            "passed": self.passed,
            "failed": self.failed,
            "ok": self.ok,
        }
