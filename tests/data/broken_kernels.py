"""A user module that fails on import (for the selector error test)."""

raise ImportError("cannot load libmykernel.so")
