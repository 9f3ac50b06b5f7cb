# SPDX-License-Identifier: LGPL-2.1-or-later
"""hotpatch build on synthetic targets (tests/build/<case>/).

Each case is the original source of a small program (with the shared
command loop of tests/build/common/driver.c) and fix.patch, a unified diff
as upstream would ship it.  test_<case> builds the program as a project
would (compile_commands.json written here, or from `bear -- make`), starts
it, runs `hotpatch build`, checks the JSON report, applies the patch, checks
the fixed behaviour through the command loop, rolls back and checks the old
one.  truth_<case> needs no `hotpatch build`: it checks that the case is
what it claims (the original builds and behaves, the diff applies, the fully
patched rebuild behaves as the live patch must, and the compiler really did
what the case is about: the inlining, the .cold part, the folded pair...).
"""
import json
import os
import re
import shutil
import subprocess

import hptest
from hptest import SOURCE, Fail, Skip, Target, check, eq

CASES_DIR = os.path.join(SOURCE, "tests", "build")
FLAGS = ["-O2", "-g", "-fpatchable-function-entry=7,5", "-fcf-protection=none", "-pthread"]
EXIT_CLASS = {0: "ok", 5: "invalid-patch", 6: "not-patchable", 8: "nothing-to-do"}


def calls(*rows):
    """Stateless cases: rows of (function, x, old answer, new answer)."""
    before = [(f, x, old) for f, x, old, _ in rows]
    after = [(f, x, new) for f, x, _, new in rows]
    return dict(before=before, after=after, rolled=before, truth=after)


def poly(x, k):
    r = 0
    for i in range(8):
        r = r * x + i + k
    return r


# Each case: sources compiled into the target (driver.c is added), the
# compiler, extra flags, the link flags; the answers before the patch,
# after it, after rollback, and of a fresh fully patched build (truth); and
# what the report must say: exit code, functions (name -> action), names
# it must not report, clones (name -> action, reported as name or name.constprop.N),
# subjects of refusals and warnings (each a tuple of
# accepted names), files ignored, words of the error.
CASES = {
    "statics": dict(
        sources=["main.c"],
        before=[("add", 5, 5), ("compute", 2, 7), ("get", 0, 5)],
        # the patch adds 100 to the counter the target already holds
        after=[("compute", 2, 111), ("get", 0, 105)],
        rolled=[("compute", 2, 7), ("get", 0, 105)],
        truth=[("add", 5, 5), ("compute", 2, 111), ("get", 0, 105)],
        functions={"compute": "replace"}, absent=["scale", "add", "get"]),
    "inlined": dict(
        sources=["main.c"],
        **calls(("limit", 70, 140, 100), ("limit", 200, 200, 100), ("limit", 3, 6, 6),
                ("limit_plus", 70, 78, 57)),
        functions={"limit": "replace", "limit_plus": "replace"}, absent=["clamp"]),
    "cold": dict(
        sources=["main.c"],
        before=[("parse", 3, 31), ("parse", -5, -1), ("errors", 0, 1)],
        after=[("parse", 3, 31), ("parse", -5, -4), ("errors", 0, 2)],
        rolled=[("parse", -5, -1), ("errors", 0, 3)],
        truth=[("parse", 3, 31), ("parse", -5, -3), ("errors", 0, 1)],
        functions={"parse": "replace"}, absent=["complain", "errors_seen"]),
    # two units with statics of the same names; built with clang
    "static_local": dict(
        sources=["main.c"],
        before=[("next_id", 0, 100), ("next_id", 0, 200)],
        after=[("next_id", 0, 3000)], rolled=[("next_id", 0, 400)],
        truth=[("next_id", 0, 1000)],
        functions={"next_id": "replace"}, builddir=True),
    "constprop": dict(
        sources=["main.c"],
        **calls(("heavy", 5, 15, 16), ("heavier", 5, 36, 38), ("heavy", 100, 312, 325)),
        # the clone cannot be replaced by name (its calling convention is
        # the compiler's): its callers are, and call the new one
        functions={"heavy": "replace", "heavier": "replace"}),
    "twotu": dict(
        sources=["main.c", "one.c", "two.c"], cc="clang",
        before=[("one", 3, 7), ("one_hits", 0, 1), ("two", 3, 30), ("two_hits", 0, 1001)],
        after=[("one", 3, 9), ("one_hits", 0, 3), ("two", 3, 35), ("two_hits", 0, 1004)],
        rolled=[("one", 3, 7), ("one_hits", 0, 4), ("two", 3, 30), ("two_hits", 0, 1005)],
        truth=[("one", 3, 8), ("one_hits", 0, 2), ("two", 3, 35), ("two_hits", 0, 1003)],
        functions={"one": "replace", "two": "replace"}, absent=["helper", "one_hits"],
        units={"one": "one.c", "two": "two.c"}),
    # the patch is for a shared library the program loads (built by its
    # Makefile under bear); its static state is the library's
    "shlib": dict(
        sources=[], make=True, target="libcalc.so.1",
        before=[("compute", 5, 11), ("ncalls", 0, 1)],
        after=[("compute", 5, 1010), ("ncalls", 0, 2)],
        rolled=[("compute", 5, 11), ("ncalls", 0, 3)],
        truth=[("compute", 5, 1010), ("ncalls", 0, 1)],
        functions={"compute": "replace"}, absent=["twice", "ncalls"]),
    # only a header changes: the units that include it are rebuilt
    "header_inline": dict(
        sources=["main.c", "one.c", "two.c"],
        **calls(("capped_twice", 70, 140, 100), ("capped_plus", 70, 77, 57),
                ("plain", 1, 2, 2)),
        functions={"capped_twice": "replace", "capped_plus": "replace"}, absent=["plain"],
        units={"capped_twice": "one.c", "capped_plus": "two.c"}),
    # net/util.c and disk/util.c: one file name, one set of static names;
    # built by its Makefile under bear
    "samename": dict(
        make=True,
        before=[("net_op", 3, 7), ("net_hits", 0, 1), ("disk_op", 3, 31), ("disk_hits", 0, 501)],
        after=[("net_op", 3, 9), ("net_hits", 0, 3), ("disk_op", 3, 533), ("disk_hits", 0, 503)],
        rolled=[("net_op", 3, 7), ("net_hits", 0, 4), ("disk_op", 3, 31), ("disk_hits", 0, 504)],
        truth=[("net_op", 3, 8), ("net_hits", 0, 2), ("disk_op", 3, 532), ("disk_hits", 0, 502)],
        functions={"net_op": "replace", "disk_op": "replace"}, absent=["helper"],
        units={"net_op": "net/util.c", "disk_op": "disk/util.c"}),
    "signature": dict(
        sources=["main.c"],
        # a thread parked inside the old recursion finishes it the old way
        before=[("total", 5, 12), ("total2", 5, 16), ("park", 0, 1)],
        # the parked thread is let go first: the new sum would wait at the
        # gate it still holds
        after=[("unpark", 0, 7), ("total", 5, 24), ("total2", 5, 18)],
        rolled=[("total", 5, 12), ("total2", 5, 16), ("park", 0, 1), ("unpark", 0, 7)],
        truth=[("total", 5, 24), ("total2", 5, 18), ("park", 0, 1), ("unpark", 0, 106)],
        functions={"sum": "private", "total": "replace", "total2": "replace",
                   "parker": "replace"}),
    "signature_refused": dict(
        sources=["main.c"],
        **calls(("total", 5, 106, 207), ("other", 5, 12, 14)),
        exit=6, refusals=[("sum",)]),
    "testfile": dict(
        sources=["main.c"],
        **calls(("check_len", 16, 16, -1), ("check_len", 3, 3, 3)),
        functions={"check_len": "replace"}, ignored=["tests/foo_test.c", "README"]),
    "line_drift": dict(
        sources=["main.c"],
        **calls(("first", -3, -2, -1), ("first", 4, 5, 5), ("checked", 4, 8, 8)),
        functions={"first": "replace"}, absent=["checked"]),
    "refuse_struct": dict(
        sources=["main.c"],
        # the new layout reads the old initializer's price as a discount
        **calls(("price_of", 1, 20, -20)),
        exit=6, refusals=[("item", "struct item")]),
    "refuse_init": dict(
        sources=["main.c"], **calls(("under_limit", 15, 0, 1)),
        exit=6, refusals=[("limit",)]),
    "refuse_size": dict(
        sources=["main.c"], **calls(("store", 5, 5, 5)),
        exit=6, refusals=[("ring",)]),
    "refuse_type": dict(
        sources=["main.c"], **calls(("level_times", 2, 6, 6)),
        exit=6, refusals=[("level",)]),
    "refuse_global_sig": dict(
        sources=["main.c", "scale.c"], **calls(("use_scale", 3, 13, 16)),
        exit=6, refusals=[("scale",)]),
    "refuse_icf": dict(
        sources=["main.c"], cflags=["-ffunction-sections"],
        ldflags=["-fuse-ld=gold", "-Wl,--icf=all"], needs="ld.gold",
        **calls(("tax", 2, 17, 19), ("fee", 2, 17, 17)),
        exit=6, refusals=[("tax", "fee")]),
    "refuse_ctor": dict(
        sources=["main.c"], **calls(("with_base", 1, 41, 51)),
        exit=6, refusals=[("set_base",)]),
    "refuse_ctor_new": dict(
        sources=["main.c"], **calls(("with_base", 1, 41, 51)),
        exit=6, refusals=[("raise_base",)]),
    "refuse_ifunc": dict(
        sources=["main.c"], **calls(("mix", 0, 0x55, 0xAA), ("use_mix", 0, 0x56, 0xAB)),
        exit=6, refusals=[("mix", "resolve_mix")]),
    "refuse_tls": dict(
        sources=["main.c"],
        before=[("tick", 3, 3)], after=[], rolled=[("tick", 3, 6)], truth=[("tick", 3, 6)],
        exit=6, refusals=[("per_thread",)]),
    "refuse_asm": dict(
        sources=["main.c", "add3.S"], **calls(("add3", 1, 4, 5)),
        exit=6, refusals=[("add3", "add3.S")]),
    "refuse_lto": dict(
        sources=["main.c"], cflags=["-flto"], ldflags=["-flto"],
        **calls(("twice", 4, 8, 12)), exit=6, refusals=[None]),
    "refuse_inl_unpatchable": dict(
        sources=["main.c"], **calls(("fixed_entry", 20, 10, 6), ("other", 3, 2, 2)),
        exit=6, refusals=[("fixed_entry", "bound")], mention=["fixed_entry"]),
    "warn_newvar": dict(
        sources=["main.c"],
        before=[("request", 1, 2)], after=[("request", 1, 1002), ("request", 1, 1003)],
        rolled=[("request", 1, 2)], truth=[("request", 1, 1002)],
        functions={"request": "replace"}, warnings=[("requests_seen",)]),
    "warn_main": dict(
        sources=["main.c"], cflags=["-DCASE_OWN_MAIN"],
        # main ran once, before the patch: its change is not seen
        before=[("get_mode", 0, 10), ("greet", 1, 2)],
        after=[("get_mode", 0, 10), ("greet", 1, 3)],
        rolled=[("get_mode", 0, 10), ("greet", 1, 2)],
        truth=[("get_mode", 0, 20), ("greet", 1, 3)],
        functions={"greet": "replace"}, absent=["get_mode"], warnings=[("main",)]),
    "warn_loop": dict(
        sources=["main.c"],
        **calls(("handle", 3, 6, 9), ("ticks", 0, 1, 1)),
        functions={"handle": "replace"}, absent=["ticks_seen"], warnings=[("event_loop",)]),
    "nothing": dict(
        sources=["main.c"], **calls(("twice", 4, 8, 8)), exit=8),
    "bad_diff": dict(
        sources=["main.c"], before=[("twice", 4, 8)], after=[], rolled=[("twice", 4, 8)],
        truth=None, exit=5, error=["main.c", "hunk"]),
    # the target is -O2, the compile commands say -O1
    "bad_target": dict(
        sources=["main.c"], ccdb_opt="-O1",
        **calls(("poly", 2, poly(2, 0), poly(2, 1)), ("poly", 3, poly(3, 0), poly(3, 1))),
        # the error sets the target's own record of its flags beside the command
        exit=5, error=["poly", "compiled by: GNU C", "-O2"]),
    # the compile commands say -DTERMS=9, the target was built without it
    "bad_tree": dict(
        sources=["main.c"], ccdb_extra=["-DTERMS=9"],
        **calls(("poly", 2, poly(2, 0), poly(2, 1)), ("poly", 3, poly(3, 0), poly(3, 1))),
        exit=5, error=["poly"]),
}


def run(argv, cwd=None, env=None):
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Fail(f"{' '.join(argv)} (in {cwd}) -> exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout


def need_tools(case):
    c = CASES[case]
    for tool in [c.get("cc", "gcc")] + ([c["needs"]] if "needs" in c else []) + \
            (["bear", "make"] if c.get("make") else []):
        if not shutil.which(tool):
            raise Skip(f"{tool} is not installed")


def make_tree(case, where, patched=False):
    """The case's source tree at `where`, with the driver; patched with its
    fix.patch (patch -p1, as a user would) when asked."""
    shutil.copytree(os.path.join(CASES_DIR, case), where)
    for f in ("driver.c", "driver.h"):
        shutil.copy(os.path.join(CASES_DIR, "common", f), where)
    if patched:
        with open(os.path.join(where, "fix.patch")) as f:
            r = subprocess.run(["patch", "-p1", "--batch", "--no-backup-if-mismatch"],
                               stdin=f, cwd=where, capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail(f"fix.patch does not apply to {case}: {r.stdout}{r.stderr}")
    return where


def build(case, tree):
    """Builds the target as its project would; returns its path.  The
    compile commands are in tree/compile_commands.json (tree-build/ for a
    case with builddir)."""
    c = CASES[case]
    prog = os.path.join(tree, "prog")
    if c.get("make"):
        env = dict(os.environ, CC=c.get("cc", "gcc"))
        run(["bear", "--", "make", "-s"], cwd=tree, env=env)
        check(os.path.exists(os.path.join(tree, "compile_commands.json")),
              "bear wrote compile_commands.json")
        return prog
    cc = c.get("cc", "gcc")
    flags = FLAGS + c.get("cflags", []) + ["-I" + tree]
    # builddir: as meson does, objects and compile_commands.json in a build
    # directory outside the tree, file names relative to it
    where = tree + "-build" if c.get("builddir") else tree
    os.makedirs(where, exist_ok=True)
    db, objs = [], []
    for src in c["sources"] + ["driver.c"]:
        path = os.path.join(tree, src)
        if c.get("builddir"):
            path = os.path.relpath(path, where)
        obj = os.path.join(where, os.path.splitext(src)[0] + ".o")
        args = [cc] + flags + ["-c", path, "-o", obj]
        run(args, cwd=where)
        if c.get("ccdb_opt"):
            args = [c["ccdb_opt"] if a == "-O2" else a for a in args]
        if c.get("ccdb_extra") and src != "driver.c":
            args = args[:1] + c["ccdb_extra"] + args[1:]
        db.append({"directory": where, "file": path, "arguments": args, "output": obj})
        objs.append(obj)
    with open(os.path.join(where, "compile_commands.json"), "w") as f:
        json.dump(db, f, indent=1)
    run([cc] + FLAGS + c.get("cflags", []) + objs + c.get("ldflags", []) + ["-o", prog],
        cwd=tree)
    return prog


def snapshot(tree):
    """Every file of a tree and its contents: hotpatch build must leave the
    user's tree as it found it (no .rej, no half-applied diff)."""
    out = {}
    for d, _, files in os.walk(tree):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                out[os.path.relpath(os.path.join(d, f), tree)] = fh.read()
    return out


def expect(t, rows, what):
    for fn, x, want in rows:
        eq(t.call(fn, x), want, f"{what}: {fn}({x})")


def build_id(path):
    out = run(["readelf", "-n", path])
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    check(m, f"{path} has a build-id")
    return m.group(1)


# ---------------------------------------------------------------- claims

def syms(path):
    """name -> [address] from nm (local symbols too)."""
    out = {}
    for line in run(["nm", path]).splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[2], []).append(int(parts[0], 16))
    return out


def disasm(obj, sym):
    """The instructions and relocations of one function of an object, with
    no addresses, so that two builds compare.  (objdump --disassemble=SYM
    stops early in binutils 2.40 when SYM is not at the section start.)"""
    out = run(["objdump", "-dr", "--no-show-raw-insn", obj])
    m = re.search(r"^[0-9a-f]+ <" + re.escape(sym) + r">:\n(.*?)(?:\n\n|\Z)", out, re.S | re.M)
    check(m, f"{sym} is in {obj}")
    body = re.sub(r"^\s*[0-9a-f]+:\s*", "", m.group(1), flags=re.M)
    return re.sub(r"\b[0-9a-f]+ <", "<", body).strip()


def readelf_syms(path):
    return run(["readelf", "-sW", path])


def claims(case, orig, fixed):
    """What the case says the compiler did, checked on the objects."""
    po, pf = os.path.join(orig, "prog"), os.path.join(fixed, "prog")
    mo, mf = os.path.join(orig, "main.o"), os.path.join(fixed, "main.o")
    if case == "inlined":
        s = syms(po)
        check("clamp" not in s and not any(n.startswith("clamp.") for n in s),
              "clamp has no out-of-line copy (it is inlined into both callers)")
        check("limit" in s and "limit_plus" in s, "both callers are functions")
    elif case == "cold":
        for p in (po, pf):
            check("parse.cold" in syms(p), f"{p} has parse.cold")
        check(disasm(mo, "parse.cold") != disasm(mf, "parse.cold"), "the fix changes parse.cold")
    elif case == "constprop":
        s = syms(po)
        check("weigh.constprop.0" in s and "weigh" not in s, "only weigh's clone exists")
        check("weigh.constprop.0" in disasm(mo, "heavy"), "heavy calls the clone")
    elif case == "static_local":
        check(any(n.startswith("n.") for n in syms(po)), "the static local is n.N")
    elif case in ("twotu", "samename"):
        eq(len(syms(po).get("helper", [])), 2, "two local helpers")
        eq(len(syms(po).get("hits", [])), 2, "two local hits")
    elif case == "signature":
        check("sum" in syms(po) and "sum" in syms(pf), "sum is a function of its own, not a clone")
        check("call   <sum" in disasm(mo, "sum"), "sum calls itself (no loop made of it)")
    elif case in ("signature_refused", "refuse_global_sig"):
        caller, obj = ("other", "main.o") if case == "signature_refused" else ("use_scale", "main.o")
        eq(disasm(os.path.join(fixed, obj), caller), disasm(os.path.join(orig, obj), caller),
           f"{caller}'s code is the same in both builds")
    elif case == "line_drift":
        lines = []
        for tree in (orig, fixed):
            with open(os.path.join(tree, "main.c")) as f:
                n = next(i for i, l in enumerate(f, 1) if "assert(x != 12345)" in l)
            lines.append(n)
            obj = os.path.join(tree, "main.o")
            text = "".join(disasm(obj, f) for f in ("checked", "checked.cold") if f in syms(obj))
            check(f"$0x{n:x}," in text, f"checked() holds its assert's line {n} as an immediate")
        check(lines[0] != lines[1], "the hunk moves checked()'s assert")
    elif case == "refuse_icf":
        s = syms(po)
        eq(s["tax"], s["fee"], "tax and fee share one address (folded)")
    elif case == "refuse_ifunc":
        check(re.search(r"IFUNC .* mix$", readelf_syms(po), re.M), "mix is an IFUNC")
    elif case == "refuse_tls":
        check(re.search(r"TLS .* per_thread$", readelf_syms(po), re.M), "per_thread is TLS")
    elif case == "refuse_lto":
        check(".gnu.lto_" in run(["readelf", "-SW", mo]), "main.o is LTO bytecode")
    elif case == "refuse_inl_unpatchable":
        s = syms(po)
        check("bound" not in s, "bound is inlined")
        first = disasm(mo, "fixed_entry").splitlines()[0]
        check("nop" not in first, f"fixed_entry has no patchable entry: {first}")
        check(disasm(mo, "fixed_entry") != disasm(mf, "fixed_entry"),
              "the fix changes fixed_entry's code")
    elif case == "warn_loop":
        check("event_loop" in syms(po), "event_loop is a function")
    elif case == "nothing":
        for fn in ("twice",):
            eq(disasm(mf, fn), disasm(mo, fn), "the comment changes no code")
    elif case == "bad_tree":
        o9 = os.path.join(orig, "poly-9.o")
        run(["gcc"] + FLAGS + ["-DTERMS=9", "-I" + orig, "-c", os.path.join(orig, "main.c"),
                               "-o", o9])
        check(disasm(o9, "poly") != disasm(mo, "poly"), "-DTERMS=9 gives poly different code")
        prod = [re.findall(r"DW_AT_producer.*", run(["readelf", "--debug-dump=info", o]))
                for o in (o9, mo)]
        eq(prod[0], prod[1], "DW_AT_producer does not show -D")
    elif case == "bad_target":
        o1 = os.path.join(orig, "poly-O1.o")
        run(["gcc"] + [a if a != "-O2" else "-O1" for a in FLAGS] +
            ["-I" + orig, "-c", os.path.join(orig, "main.c"), "-o", o1])
        check(disasm(o1, "poly") != disasm(mo, "poly"), "-O1 and -O2 give poly different code")


def truth(case):
    """The ground truth the live patch must match."""
    need_tools(case)
    c = CASES[case]
    orig = build(case, make_tree(case, os.path.join(hptest.tmpdir(), "orig")))
    t = Target(orig)
    expect(t, c["before"], "original")
    t.stop()
    if c.get("truth") is None:  # bad_diff: the diff must not apply
        with open(os.path.join(CASES_DIR, case, "fix.patch")) as f:
            r = subprocess.run(["patch", "-p1", "--dry-run"], stdin=f, capture_output=True,
                               text=True, cwd=os.path.dirname(orig))
        check(r.returncode != 0, "the diff does not apply")
        return
    fixed = build(case, make_tree(case, os.path.join(hptest.tmpdir(), "fixed"), patched=True))
    t = Target(fixed)
    expect(t, c["truth"], "fully patched rebuild")
    t.stop()
    claims(case, os.path.dirname(orig), os.path.dirname(fixed))


# ---------------------------------------------------------------- hotpatch build

def build_available():
    """Until the verb lands, `hotpatch build --help` fails or prints the
    general help (which exits 0 and does not know --source)."""
    r = subprocess.run([hptest.HOTPATCH, "build", "--help"], capture_output=True, text=True)
    if r.returncode != 0 or "--source" not in r.stdout + r.stderr:
        raise Skip("hotpatch build not implemented")


def subjects_match(notes, wanted, what):
    for names in wanted:
        if names is None:
            check(notes, f"at least one {what}")
            continue
        check(any(n.get("subject") in names for n in notes),
              f"a {what} names {' or '.join(names)}: {notes}")
        for n in notes:
            check(n.get("message"), f"the {what} about {n.get('subject')} says why")


def check_report(case, doc, code, tree, prog, out, keep):
    c = CASES[case]
    want = c.get("exit", 0)
    eq(code, want, "hotpatch build exit code")
    eq(doc.get("ok"), want == 0, "ok")
    eq(doc.get("exit_class"), EXIT_CLASS[want], "exit_class")
    if want != 0:
        check(doc.get("error"), "a failed build says why")
        check(not os.path.exists(out), "nothing is written when nothing is built")
        for word in c.get("error", []):
            check(word.lower() in doc["error"].lower(), f"the error names {word!r}: {doc['error']!r}")
    else:
        eq(os.path.realpath(doc.get("output")), os.path.realpath(out), "output")
        eq(doc.get("build_id"), build_id(prog), "build_id")
        check(os.path.exists(out), "the patch was written")
        kept = [f for _, _, fs in os.walk(keep) for f in fs if f.endswith(".c")]
        check(kept, f"--keep {keep} holds the generated C source")
    eq(os.path.realpath(doc.get("target")), os.path.realpath(prog), "target")
    funcs = {f["name"]: f for f in doc.get("functions", [])}
    for name, action in c.get("functions", {}).items():
        check(name in funcs, f"{name} is reported: {sorted(funcs)}")
        eq(funcs[name]["action"], action, f"action for {name}")
        check(funcs[name].get("unit") and funcs[name].get("why"), f"{name} has unit and why")
    for name, unit in c.get("units", {}).items():
        got = funcs[name]["unit"]
        check(got == unit or got.endswith("/" + unit), f"{name} is from {unit}: {got}")
    for base, action in c.get("clones", {}).items():
        got = [f for n, f in funcs.items() if n == base or n.startswith(base + ".")]
        check(got, f"{base} or a clone of it is reported: {sorted(funcs)}")
        eq(got[0]["action"], action, f"action for {got[0]['name']}")
    for name in c.get("absent", []):
        check(name not in funcs, f"{name} is not reported ({funcs.get(name)})")
    subjects_match(doc.get("refusals", []), c.get("refusals", []), "refusal")
    for word in c.get("mention", []):
        check(any(word in n.get("subject", "") + " " + n.get("message", "")
                  for n in doc.get("refusals", [])), f"a refusal mentions {word}")
    if want != 6:
        eq(doc.get("refusals", []), [], "refusals")
    subjects_match(doc.get("warnings", []), c.get("warnings", []), "warning")
    ignored = sorted(os.path.relpath(p, tree) if os.path.isabs(p) else p
                     for p in doc.get("ignored", []))
    eq(ignored, sorted(c.get("ignored", [])), "ignored files")


def live(case):
    build_available()
    need_tools(case)
    c = CASES[case]
    tree = make_tree(case, os.path.join(hptest.tmpdir(), "src"))
    prog = build(case, tree)
    t = Target(prog)
    expect(t, c["before"], "before the patch")
    out, keep = os.path.join(hptest.tmpdir(), "fix.so"), os.path.join(hptest.tmpdir(), "keep")
    before = snapshot(tree)
    ccdb = ["--compile-commands", os.path.join(tree + "-build", "compile_commands.json")] \
        if c.get("builddir") else []
    target = os.path.join(tree, c["target"]) if c.get("target") else prog
    r = hptest.hotpatch("build", "--source", tree, "--diff", os.path.join(tree, "fix.patch"),
                        "--target", target, "-o", out, "--keep", keep, "--json", *ccdb,
                        timeout=180)
    try:
        doc = json.loads(r.stdout)
    except ValueError as e:
        raise Fail(f"--json output is not JSON ({e}): {r.stdout!r}")
    after = snapshot(tree)
    eq(sorted(after), sorted(before), "the files of --source after hotpatch build")
    check(after == before, "hotpatch build changed no file of --source")
    check_report(case, doc, r.returncode, tree, target, out, keep)
    if r.returncode == 0:
        a = hptest.hotpatch("--pid", t.pid, out)
        eq(a.returncode, 0, "apply exit code")
        expect(t, c["after"], "patched")
        check(t.alive(), "the target lives")
        a = hptest.hotpatch("rollback", "--pid", t.pid, out)
        eq(a.returncode, 0, "rollback exit code")
    expect(t, c["rolled"], "rolled back" if r.returncode == 0 else "after a failed build")
    check(t.alive(), "the target lives")


def test_line_drift_without_marks():
    """The #line marks are what keeps `checked` out: without them its
    assert's line number moves and it is reported as changed."""
    build_available()
    tree = make_tree("line_drift", os.path.join(hptest.tmpdir(), "src"))
    prog = build("line_drift", tree)
    out = os.path.join(hptest.tmpdir(), "fix.so")
    r = hptest.hotpatch("build", "--source", tree, "--diff", os.path.join(tree, "fix.patch"),
                        "--target", prog, "-o", out, "--json", "--no-line-marks", timeout=180)
    doc = json.loads(r.stdout)
    eq(r.returncode, 0, "exit code")
    names = sorted(f["name"] for f in doc["functions"])
    check("checked" in names and "first" in names,
          f"without marks checked is reported beside first: {names}")


def test_cases_registered():
    """Every case directory has an entry here and a meson test, and back."""
    dirs = sorted(d for d in os.listdir(CASES_DIR)
                  if d != "common" and os.path.isdir(os.path.join(CASES_DIR, d)))
    eq(dirs, sorted(CASES), "tests/build/ directories vs CASES")
    with open(os.path.join(SOURCE, "tests", "meson.build")) as f:
        m = re.search(r"build_cases = \[(.*?)\]", f.read(), re.S)
    eq(sorted(re.findall(r"'(\w+)'", m.group(1))), sorted(CASES), "meson's build_cases")
    for d in dirs:
        check(os.path.exists(os.path.join(CASES_DIR, d, "fix.patch")), f"{d} has fix.patch")


test_cases_registered.no_ptrace = True


def _tests():
    for name in CASES:
        globals()[f"test_{name}"] = lambda n=name: live(n)
        t = lambda n=name: truth(n)  # noqa: E731
        t.no_ptrace = True  # it runs the programs, it does not trace them
        globals()[f"truth_{name}"] = t


_tests()
