"""The core is the standard library only, and runs when copied anywhere."""

import ast
import glob
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = sorted(glob.glob(os.path.join(ROOT, "refbackprop", "*.py")))

# What MicroPython lacks (measured; docs/runtimes.md); the core guards each use.
NOT_ON_MICROPYTHON = {
    "fractions",
    "decimal",
    "numbers",
    "typing",
    "dataclasses",
    "enum",
    "warnings",
    "contextlib",
    "traceback",
    "statistics",
}


def imports(path):
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node, node.module.split(".")[0]


def test_core_imports_only_the_standard_library():
    stdlib = set(sys.stdlib_module_names)
    for path in CORE:
        for node, name in imports(path):
            assert name in stdlib, "%s imports %s" % (os.path.basename(path), name)


def test_core_guards_what_micropython_lacks():
    """Every import of a module MicroPython lacks sits inside a try or a function."""
    for path in CORE:
        tree = ast.parse(open(path).read())
        for node in tree.body:  # module level, unguarded
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    assert name.split(".")[0] not in NOT_ON_MICROPYTHON, (
                        "%s imports %s unguarded" % (os.path.basename(path), name)
                    )


# Modules whose float results must be bit-identical on every interpreter.
IDENTICAL_EVERYWHERE = (
    "reference.py",
    "oracle.py",
    "bounds.py",
    "cases.py",
    "rng.py",
    "compare.py",
    "selftest.py",
)


def test_core_uses_no_future_imports_or_dataclasses():
    for path in CORE:
        text = open(path).read()
        assert "from __future__" not in text and "@dataclass" not in text
        if os.path.basename(path) not in IDENTICAL_EVERYWHERE:
            continue  # e.g. freivalds: its tolerances allow any summation order
        calls = [
            n
            for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "sum"
        ]
        assert not calls, (
            "%s calls the builtin sum(), which is compensated from CPython 3.12" % path
        )


def test_copied_core_runs_its_self_test(tmp_path):
    """The README's embedding recipe: copy refbackprop/*.py, nothing else."""
    target = tmp_path / "vendor" / "refbackprop"
    target.mkdir(parents=True)
    for path in CORE:
        shutil.copy(path, str(target))
    code = (
        "import sys; sys.path.insert(0, 'vendor'); "
        "import refbackprop, refbackprop.selftest as t; "
        "assert '/vendor/refbackprop/' in refbackprop.__file__, refbackprop.__file__; "
        "sys.exit(t.main())"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=str(tmp_path), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import refbackprop.selftest

    checks = len(refbackprop.selftest.CHECKS)
    assert proc.stdout.splitlines()[-1] == "%d passed, 0 failed" % checks
    y = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys; sys.path.insert(0, 'vendor'); import refbackprop; "
            "print(refbackprop.forward([[1, 2]], [[3], [4]], [5]))",
        ],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
    ).stdout
    assert y.strip() == "[[16]]"


def test_the_embedding_recipe_lists_every_core_file_to_copy():
    recipe = open(os.path.join(ROOT, "docs", "runtimes.md")).read()
    listed = recipe.split("**Embedding without pip**", 1)[1].split("nothing else", 1)[0]
    for path in CORE:
        name = os.path.basename(path)[:-3]
        assert "`%s`" % name in listed, name
