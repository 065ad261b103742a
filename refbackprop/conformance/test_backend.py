"""The conformance tests, collected by: pytest --pyargs refbackprop.conformance
--refbackprop-backend NAME.  One test per check; see refbackprop.conformance."""

import pytest

from refbackprop.conformance import failure_report, lost_worker, shrink


def test_check(refbackprop_check, refbackprop_selector):
    result = refbackprop_check.run()
    result.selector = refbackprop_selector
    if not result.passed:
        shrunk = None
        if refbackprop_check.kind == "case" and not lost_worker(result):
            shrunk = shrink(refbackprop_check.backend, refbackprop_check.case)
        pytest.fail("\n".join(failure_report(result, shrunk)), pytrace=False)
