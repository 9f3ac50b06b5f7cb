#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The shape of src/, checked: architecture.py SRC_DIR.

1. The modules form a tree: module M uses module N when M.c or M.h
   includes N.h (and N.c exists); that graph has no cycle.
2. A private header declares only functions its own .c (or .S) defines.
3. No function in src/ is longer than 80 lines, unless it is a table.

Prints every violation, one per line, and exits 1 when there is one.
"""
import os
import re
import sys

MAX_LINES = 80
INCLUDE = re.compile(r'^#include "([a-z_]+)\.h"', re.M)
DECL = re.compile(r'^(?!static|typedef|#|\s|}|/\*|\*|extern)[^;()]*?\b(hp_\w+)\s*\(', re.M)


def modules(src):
    return sorted(f[:-2] for f in os.listdir(src) if f.endswith(".c"))


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def graph(src, mods):
    g = {}
    for m in mods:
        text = read(os.path.join(src, m + ".c")) + read(os.path.join(src, m + ".h"))
        g[m] = sorted({n for n in INCLUDE.findall(text) if n != m and n in mods})
    return g


def cycles(g):
    """Every cycle found by a depth-first walk, each as a list of modules."""
    found, state, stack = [], {}, []

    def walk(m):
        state[m] = "open"
        stack.append(m)
        for n in g[m]:
            if state.get(n) == "open":
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                walk(n)
        stack.pop()
        state[m] = "done"

    for m in g:
        if m not in state:
            walk(m)
    return found


def foreign_declarations(src, mods):
    bad = []
    for h in sorted(f for f in os.listdir(src) if f.endswith(".h")):
        m = h[:-2]
        own = read(os.path.join(src, m + ".c")) + read(os.path.join(src, m + ".S"))
        # a declaration may span lines: join each statement up to its ';'
        text = re.sub(r"/\*.*?\*/", "", read(os.path.join(src, h)), flags=re.S)
        text = re.sub(r"static inline[^{]*\{.*?\n\}", "", text, flags=re.S)
        for name in DECL.findall(text):
            if not re.search(r"^[^\s#].*\b%s\s*\(" % name, own, re.M) and \
                    not re.search(r"^\s*\.?globa?l\s+%s\b" % name, own, re.M) and \
                    not re.search(r"^%s:" % name, own, re.M):
                bad.append(f"{h} declares {name}(), which {m}.c does not define")
    return bad


def long_functions(src, mods):
    bad = []
    for m in mods:
        lines = read(os.path.join(src, m + ".c")).split("\n")
        i = 0
        while i < len(lines):
            if lines[i] == "{" and i > 0 and not re.search(r"=\s*$", lines[i - 1]):
                j = i - 1
                while j > 0 and "(" not in lines[j]:
                    j -= 1
                name = re.search(r"(\w+)\s*\(", lines[j])
                k = i + 1
                while k < len(lines) and lines[k] != "}":
                    k += 1
                if k - i + 1 > MAX_LINES:
                    bad.append(f"{m}.c:{j + 1}: {name.group(1) if name else '?'}() is "
                               f"{k - i + 1} lines (at most {MAX_LINES})")
                i = k
            i += 1
    return bad


def main():
    src = sys.argv[1]
    mods = modules(src)
    bad = [f"include cycle: {' -> '.join(c)}" for c in cycles(graph(src, mods))]
    bad += foreign_declarations(src, mods)
    bad += long_functions(src, mods)
    for b in bad:
        print(b)
    print(f"{len(mods)} modules, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
