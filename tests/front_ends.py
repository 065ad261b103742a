"""How the tests run refbackprop as its users do: the command line in this
process (click's CliRunner) or as `python -m refbackprop` in a subprocess, and
the conformance suite through pytest in a subprocess.

A command is one string of words split at white space, followed by any words
given one by one (a word that holds a space, or one the test computes):

    run_cli("check --backend python --size 3 40 5 --dtype", dtype)
"""

import subprocess
import sys

# pytest over the conformance suite, as a backend author runs it
CONFORMANCE_PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "--pyargs",
    "refbackprop.conformance",
    "-p",
    "no:cacheprovider",
]


def words(command, *more):
    """The argument list of `command` (split at white space) and `more`."""
    return command.split() + list(more)


def run_cli(command, *more, catch_exceptions=True):
    """`refbackprop COMMAND MORE...` in this process: click's Result."""
    from click.testing import CliRunner

    from refbackprop.cli.app import cli

    return CliRunner().invoke(cli, words(command, *more), catch_exceptions=catch_exceptions)


def module_argv(command, *more):
    """The argument list of `python -m refbackprop COMMAND MORE...`."""
    return [sys.executable, "-m", "refbackprop"] + words(command, *more)


def run_module(command, *more, **run):
    """`python -m refbackprop COMMAND MORE...` in a subprocess, its output as
    text: the CompletedProcess (`run` goes to subprocess.run: cwd, env)."""
    return subprocess.run(module_argv(command, *more), capture_output=True, text=True, **run)


def run_conformance_pytest(*args, **run):
    """pytest over the conformance suite with these arguments in a subprocess,
    its output as text: the CompletedProcess (`run` goes to subprocess.run)."""
    return subprocess.run(CONFORMANCE_PYTEST + list(args), capture_output=True, text=True, **run)
