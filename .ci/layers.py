#!/usr/bin/env python3
"""Fails when two top-level modules of src/ import each other, directly or through others.

Every `crate::<module>` mention in src/<a>.rs or src/<a>/** counts as an arrow a -> module.
The layers (docs/architecture.md) only point down, so the graph must have no cycle.
"""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
files = [f for f in src.rglob("*.rs") if f.parent != src or f.name not in ("main.rs", "lib.rs")]
top = {f: f.relative_to(src).parts[0].removesuffix(".rs") for f in files}
modules = set(top.values())
arrows = {m: set() for m in modules}
for f, a in top.items():
    text = re.sub(r"//[^\n]*", "", f.read_text(encoding="utf-8"))
    names = re.findall(r"crate::([a-z_][a-z0-9_]*)", text)
    for group in re.findall(r"use\s+crate::\{(.*?)\};", text, re.S):
        names += re.findall(r"(?:^|[,{]\s*)([a-z_][a-z0-9_]*)", group)
    arrows[a] |= {b for b in names if b in modules and b != a}

# Depth-first search; a grey node met again closes a cycle.
state, cycles = {}, []


def visit(m, path):
    state[m] = "grey"
    for n in sorted(arrows[m]):
        if state.get(n) == "grey":
            cycles.append(path[path.index(n):] + [n])
        elif n not in state:
            visit(n, path + [n])
    state[m] = "black"


for m in sorted(modules):
    if m not in state:
        visit(m, [m])
for c in cycles:
    print("import loop: " + " -> ".join(c))
print(f"{len(modules)} top-level modules, {sum(map(len, arrows.values()))} arrows, {len(cycles)} loop(s)")
sys.exit(1 if cycles else 0)
