"""The refbackprop command line, installed as refbackprop.cli."""

import sys


def main(argv=None):
    """Console-script entry: runs the click app, or explains how to get click."""
    try:
        from .app import cli
    except ImportError as e:
        if getattr(e, "name", None) != "click":
            raise
        sys.stderr.write(
            "refbackprop: the command line needs click; install it "
            "with: pip install 'refbackprop[cli]'\n"
        )
        return 2
    for stream in (sys.stdout, sys.stderr):  # click's own texts (help) too
        try:
            "∂·×".encode(stream.encoding or "utf-8")
        except (UnicodeEncodeError, LookupError):
            try:
                stream.reconfigure(errors="replace")
            except (AttributeError, ValueError):
                pass
        except AttributeError:
            pass
    return cli.main(args=argv, prog_name="refbackprop")
