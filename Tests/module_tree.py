#!/usr/bin/env python3
"""Checks the module tree written at the top of Package.swift against the package as SwiftPM
reads it (`swift package describe --type json`): every library module is listed with exactly
the modules of this package it depends on, and none depends on a module listed after it."""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def written():
    tree = {}
    with open(os.path.join(ROOT, "Package.swift")) as f:
        for line in f:
            match = re.match(r"^//   (\w+):(.*)$", line.rstrip())
            if match:
                tree[match.group(1)] = match.group(2).split()
    return tree


def described():
    out = subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return {t["name"]: t.get("target_dependencies", []) for t in json.loads(out)["targets"]}


def main():
    tree, actual = written(), described()
    problems = []
    libraries = [name for name in actual if not name.endswith("Tests") and name not in ("CtrlMeshBench", "CtrlMeshFuzz")]
    order = list(tree)
    for name in libraries:
        if name not in tree:
            problems.append(f"{name} is a module of the package but not in the tree")
            continue
        if name == "CtrlMeshCLI":
            missing = set(order[:-1]) - set(actual[name])
            if tree[name] != ["every", "module", "above"] or missing:
                problems.append(f"CtrlMeshCLI does not import {sorted(missing)}")
            continue
        if sorted(tree[name]) != sorted(actual[name]):
            problems.append(f"{name}: the tree says {sorted(tree[name])}, the package says {sorted(actual[name])}")
        later = [dep for dep in actual[name] if dep in order and order.index(dep) > order.index(name)]
        if later:
            problems.append(f"{name} imports {later}, listed below it")
    for name in tree:
        if name not in actual:
            problems.append(f"{name} is in the tree but not a module of the package")
    if problems:
        sys.exit("the module tree in Package.swift is out of date:\n  " + "\n  ".join(problems))
    print(f"module tree: {len(tree)} modules match swift package describe")


if __name__ == "__main__":
    main()
