import os
import sys

# tests/ holds helper modules (wrong_backends) imported by path in some tests.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (tests/browser.py); the test
    skips, with the reason, where there is none."""
    from browser import Browser, skip_reason

    reason = skip_reason()
    if reason and os.environ.get("REFBACKPROP_REQUIRE_BROWSER"):
        pytest.fail("REFBACKPROP_REQUIRE_BROWSER is set (CI) but: %s" % reason)
    if reason:
        pytest.skip(reason)
    with Browser() as b:
        yield b
