"""docs/cli.md lists every key of every JSON document: real output, key for key."""

import json
import os
import re

from front_ends import run_cli

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(HERE), "docs", "cli.md")


def documented(optional=False):
    """{'check.failures[]': {keys}, ...} from docs/cli.md's tables (with
    optional=True: only the keys marked '(optional)')."""
    out, path = {}, None
    for line in open(DOC, encoding="utf-8"):
        heading = re.match(r"^### (\S+)\s*$", line)
        if heading:
            path = heading.group(1)
            out[path] = set()
            continue
        row = re.match(r"^\| `([^`]+)` \|(.*)\|\s*$", line)
        if row and path is not None and (not optional or "(optional)" in row.group(2)):
            out[path].add(row.group(1))
    return out


def objects(doc, path):
    """The objects of a document at a path like 'failures[].outputs[]'."""
    found = [doc]
    for part in path.split(".") if path else []:
        name, many = (part[:-2], True) if part.endswith("[]") else (part, False)
        nxt = []
        for o in found:
            v = o.get(name) if isinstance(o, dict) else None
            if v is None:
                continue
            nxt.extend(v if many else [v])
        found = nxt
    return [o for o in found if isinstance(o, dict)]


def run(command, *more):
    return json.loads(run_cli(command, *more).output)


def compare(doc, name):
    tables, optional = documented(), documented(optional=True)
    paths = [p for p in tables if p == name or p.startswith(name + ".")]
    assert paths, "docs/cli.md documents no %s" % name
    for path in paths:
        found = objects(doc, path[len(name) + 1 :] if path != name else "")
        assert found, "no %s object in the real output" % path
        for o in found:
            assert tables[path] - optional[path] <= set(o) <= tables[path], (
                "%s: real %s, documented %s" % (path, sorted(o), sorted(tables[path]))
            )
        if optional[path]:  # each optional key seen somewhere
            assert optional[path] <= set(k for o in found for k in o)


def test_check_document(monkeypatch):
    monkeypatch.chdir(HERE)
    doc = run("check --backend wrong_backends:MissingBias --backend python --case N2-D2-M3 --json")
    assert doc["failures"] and doc["rows"]
    compare(doc, "check")


def test_size_document(monkeypatch):
    monkeypatch.chdir(HERE)
    doc = run("check --backend wrong_backends:CorruptsOneDwElement --size 8 300 12 --seed 1 --json")
    assert not doc["ok"]
    compare(doc, "size")


def test_backends_document():
    compare(run("backends --json"), "backends")


def test_every_documented_table_has_a_test():
    names = set(p.split(".")[0] for p in documented())
    assert names == {"check", "size", "backends"}
