"""python -m refbackprop: the core's self-test, standard library only.

With arguments, the command line (refbackprop check ..., which needs click):
`python -m refbackprop check --backend numba` is `refbackprop check --backend
numba`.  Where the command line is not installed, arguments are refused with
how to install it, never ignored.
"""

import sys

if len(sys.argv) > 1:
    try:
        from .cli import main as cli_main
    except ImportError:
        sys.stderr.write(
            "refbackprop: arguments %s are for the command line, which is not "
            "installed here (pip install 'refbackprop[cli]'); without "
            "arguments, python -m refbackprop runs the self-test\n" % " ".join(sys.argv[1:])
        )
        sys.exit(2)
    sys.exit(cli_main(sys.argv[1:]))

from .selftest import main  # noqa: E402

sys.exit(main())
