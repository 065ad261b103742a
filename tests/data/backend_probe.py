"""Run by .ci/selftest-runtimes under CPython 3.8+ and PyPy, with nothing
installed: the list-based backends (python picks its kernels per interpreter)
over the whole float64 catalogue.  Maps backends/ to refbackprop.backends the
way an install would (tools/checkout.py)."""

import os
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(root, "tools"))

from checkout import use_checkout  # noqa: E402

use_checkout()

from refbackprop.backends.pure_python import IDIOM, PythonBackend  # noqa: E402
from refbackprop.backends.reference import ReferenceBackend  # noqa: E402
from refbackprop.cases import catalogue  # noqa: E402
from refbackprop.runner import run_case  # noqa: E402

failed = 0
cases = catalogue(("float64",))
for backend in (ReferenceBackend(), PythonBackend()):
    bad = [c.id for c in cases if not run_case(backend, c).passed]
    failed += len(bad)
    for case_id in bad[:5]:
        print("FAILED %s [%s]" % (case_id, backend.name))
print(
    "backend probe: reference and python (%s): %d cases each, %d failed"
    % (IDIOM, len(cases), failed)
)
sys.exit(1 if failed else 0)
