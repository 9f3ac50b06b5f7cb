# SPDX-License-Identifier: LGPL-2.1-or-later
"""HOTPATCH_BIND and qualified names: a patch uses the target's statics by
name, two statics of one name in two files are told apart by file= and a
patch for another build is refused by addr=."""
import os
import subprocess

from hptest import (SOURCE, Target, check, eq, hotpatch, hotpatch_json, patch, prologue, tmpdir)

EXIT_BADPATCH = 5


def symtab(path):
    """{(file, name): value} of the local symbols, and {name: value} of the
    others, from readelf's .symtab (the STT_FILE each local follows)."""
    out = subprocess.run(["readelf", "-sW", path], capture_output=True, text=True,
                         check=True).stdout
    locals_, globals_, file = {}, {}, None
    in_symtab = False
    for line in out.splitlines():
        if line.startswith("Symbol table"):
            in_symtab = "'.symtab'" in line
            continue
        parts = line.split()
        if not in_symtab or len(parts) < 8 or not parts[0][:-1].isdigit():
            continue
        value, typ, bind, name = int(parts[1], 16), parts[3], parts[4], parts[7]
        if typ == "FILE":
            file = name
        elif bind == "LOCAL":
            locals_[(file, name)] = value
        else:
            globals_[name] = value
    return locals_, globals_


def build_patch(name, *defines):
    """bind_twofiles.c built now, with the qualifiers given."""
    out = os.path.join(tmpdir(), name + ".so")
    cmd = ["gcc", "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-Wl,-z,now",
           "-I" + os.path.join(SOURCE, "include")] + [f"-D{d}" for d in defines] + \
        [os.path.join(SOURCE, "tests/patches/bind_twofiles.c"), "-o", out]
    subprocess.run(cmd, check=True)
    return out


def qualified(t, file, name, delta=0):
    locals_, _ = symtab(t.path)
    return f'"{name};file={file};addr=0x{locals_[(file, name)] + delta:x}"'


def values(t):
    return {fn: t.call(fn, 0) for fn in ("a_counter", "b_counter", "total")}


def healthy(t, before):
    check(t.alive(), f"target {t.pid} died (exit {t.p.poll()})")
    check(t.state() not in ("T", "t"), "target left stopped")
    eq(values(t), before, "the target's statics are as they were")


def untouched(t, before):
    eq(t.call("compute", 5), 1005, "compute() still original")
    live, disk = prologue(t, "compute")
    eq(live, disk, "compute bytes unchanged")
    check("memfd:hotpatch:" not in t.maps(), "no patch left loaded")
    healthy(t, before)


def test_bind_qualified_statics():
    t = Target("twofiles", threads=0)
    so = build_patch("bind_ok", "B_COUNTER=" + qualified(t, "twofiles_b.c", "counter"),
                     "A_BUMP=" + qualified(t, "twofiles_a.c", "bump"))
    # some history first: a's counter 1, b's 200, total 201
    eq(t.call("a_bump", 1), 1, "a_bump")
    eq(t.call("b_bump", 2), 200, "b_bump")
    eq(t.call("compute", 5), 1005, "compute before")
    r = hotpatch("--pid", t.pid, so)
    eq(r.returncode, 0, "apply exit code")
    # compute(5): b's counter +1, a's bump(5) (a's counter +5, total +5),
    # and 2000 + total: each value says which static was reached
    eq(t.call("compute", 5), 2206, "compute after apply (reads total)")
    eq(values(t), {"a_counter": 6, "b_counter": 201, "total": 206},
       "a.c's bump and b.c's counter were bound, not their namesakes")
    eq(t.call("compute", 3), 2209, "compute again")
    eq(values(t), {"a_counter": 9, "b_counter": 202, "total": 209}, "after two calls")
    r = hotpatch("rollback", "--pid", t.pid, so)
    eq(r.returncode, 0, "rollback exit code")
    eq(t.call("compute", 3), 1003, "compute after rollback")
    live, disk = prologue(t, "compute")
    eq(live, disk, "compute bytes after rollback")
    check("memfd:hotpatch:" not in t.maps(), "the patch is unloaded")
    healthy(t, {"a_counter": 9, "b_counter": 202, "total": 209})


def test_fail_bind_wrong_addr():
    t = Target("twofiles", threads=0)
    wrong = qualified(t, "twofiles_b.c", "counter", delta=0x10)
    so = build_patch("bind_wrong", "B_COUNTER=" + wrong,
                     "A_BUMP=" + qualified(t, "twofiles_a.c", "bump"))
    before = values(t)
    r = hotpatch("--pid", t.pid, so)
    eq(r.returncode, EXIT_BADPATCH, "exit code")
    addr = wrong.split("addr=")[1].rstrip('"')
    for w in (f"no static counter of twofiles_b.c at {addr}", t.path,
              "another build"):
        check(w in r.stderr, f"the message names {w!r}: {r.stderr!r}")
    untouched(t, before)


def test_fail_bind_not_weak():
    t = Target("twofiles", threads=0)
    before = values(t)
    r = hotpatch("--pid", t.pid, patch("bad_bind_strong"))
    eq(r.returncode, EXIT_BADPATCH, "exit code")
    check("reference to total must be weak" in r.stderr, r.stderr)
    untouched(t, before)


def test_fail_bind_ambiguous_static():
    """Without qualifiers, two statics of one name are refused as before."""
    t = Target("twofiles", threads=0)
    so = build_patch("bind_unqualified", "UNQUALIFIED")
    before = values(t)
    r = hotpatch("--pid", t.pid, so)
    eq(r.returncode, EXIT_BADPATCH, "exit code")
    for w in ("names 2 different static symbols", "twofiles_a.c", "twofiles_b.c",
              "cannot tell which one"):
        check(w in r.stderr, f"the message names {w!r}: {r.stderr!r}")
    untouched(t, before)


def test_fail_bind_tls():
    t = Target("twofiles", threads=0)
    before = values(t)
    r = hotpatch("--pid", t.pid, patch("bad_bind_tls"))
    eq(r.returncode, EXIT_BADPATCH, "exit code")
    check("TLS variable cannot be bound" in r.stderr, r.stderr)
    untouched(t, before)


def test_replace_qualified_static():
    """REPLACE and ORIGINAL records name one of two statics by file=."""
    t = Target("twofiles", threads=0)
    eq(t.call("b_bump", 1), 100, "b_bump before")
    code, doc = hotpatch_json("--pid", t.pid, patch("fix_twofiles_bump"))
    eq(code, 0, "apply exit code")
    func = doc["processes"][0]["patches"][0]["functions"][0]
    eq(func["symbol"], "bump (in twofiles_b.c)", "the function as reported")
    eq(t.call("b_bump", 1), 1000200, "twofiles_b.c's bump replaced, its original called")
    eq(t.call("a_bump", 1), 1, "twofiles_a.c's bump untouched")
    r = hotpatch("rollback", "--pid", t.pid, patch("fix_twofiles_bump"))
    eq(r.returncode, 0, "rollback exit code")
    eq(t.call("b_bump", 1), 300, "b_bump after rollback")
    healthy(t, {"a_counter": 1, "b_counter": 300, "total": 301})
