"""python -m refbackprop: the core's self-test, standard library only."""

import sys

from .selftest import main

sys.exit(main())
