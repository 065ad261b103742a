"""A plugin module whose import dies on SIGSEGV."""

import os
import signal

os.kill(os.getpid(), signal.SIGSEGV)
