"""Run by .ci/selftest-runtimes under each CPython: entry-point discovery and
one catalogue case through the registry, standard library only."""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "site"))
sys.path.insert(0, os.path.dirname(os.path.dirname(here)))

from refbackprop.cases import catalogue  # noqa: E402
from refbackprop.registry import Registry  # noqa: E402
from refbackprop.runner import run_case  # noqa: E402

reg = Registry()
backend = reg.get("probe")
results = [run_case(backend, c) for c in catalogue(("float64",))[:40]]
failed = [r.case_id for r in results if not r.passed]
print("registry probe: found %s; %d cases, %d failed" % (reg.names(), len(results), len(failed)))
sys.exit(1 if failed or "probe" not in reg.names() else 0)
