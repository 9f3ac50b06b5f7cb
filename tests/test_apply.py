# SPDX-License-Identifier: LGPL-2.1-or-later
"""hotpatch --pid PID fix.so on real, busy, multi-threaded targets."""
import hashlib
import os
import signal

from hptest import (BUILD, Target, check, eq, hotpatch, hotpatch_json, park_thread, patch,
                    prologue, symbol, wait_for)


def apply_rollback(target, patchname, fn, x, old, new, layout=None, lib=None):
    """Apply, check the new answer, roll back, check the old answer and the
    exact original bytes; the workers must never see a wrong answer."""
    path = os.path.join(BUILD, lib) if lib else None
    live, disk = prologue(target, fn, path)
    eq(live, disk, f"{fn} bytes before patching")
    eq(target.call(fn, x), old, f"{fn}({x}) before")

    code, doc = hotpatch_json("--pid", target.pid, patch(patchname))
    eq(code, 0, "apply exit code")
    proc = doc["processes"][0]
    eq(proc["result"], "applied", "result")
    func = proc["patches"][0]["functions"][0]
    eq(func["symbol"], fn, "patched symbol")
    if layout:
        eq(func["layout"], layout, "recognised prologue layout")
    check(proc["timings_us"]["pause"] > 0, "the pause was measured")
    eq(target.call(fn, x), new, f"{fn}({x}) after apply")
    live, _ = prologue(target, fn, path)
    check(live != disk, "the prologue bytes changed")
    target.assert_healthy()

    r = hotpatch("rollback", "--pid", target.pid, patch(patchname))
    eq(r.returncode, 0, "rollback exit code")
    eq(target.call(fn, x), old, f"{fn}({x}) after rollback")
    live, disk = prologue(target, fn, path)
    eq(live, disk, f"{fn} bytes after rollback (must equal the file)")
    check(f"memfd:hotpatch:{patchname}" not in target.maps(), "the patch is unloaded")
    target.assert_healthy()
    return func


def test_gcc():
    t = Target("worker-gcc")
    f = apply_rollback(t, "fix_compute", "compute", 5, 1005, 2005, layout="gcc")
    # a PIE executable is too far from the patch for a rel32 jump
    check(f["trampoline"] is not None, "a trampoline was used")


def test_gcc_cet():
    t = Target("worker-gcc-cet")
    live, _ = prologue(t, "compute")
    eq(live[5:9], bytes.fromhex("f30f1efa"), "entry starts with endbr64")
    apply_rollback(t, "fix_compute", "compute", 5, 1005, 2005, layout="gcc")
    # the window sits after endbr64: eb f5 jumps back over it to the pad
    hotpatch("--pid", t.pid, patch("fix_compute"))
    live, _ = prologue(t, "compute")
    eq(live[9:11], bytes.fromhex("ebf5"), "short jump after endbr64")
    eq(live[5:9], bytes.fromhex("f30f1efa"), "endbr64 kept")


def test_clang():
    t = Target("worker-clang")
    live, _ = prologue(t, "compute")
    eq(live[5:7], bytes.fromhex("6690"), "clang's 2-byte nop")
    apply_rollback(t, "fix_compute", "compute", 5, 1005, 2005, layout="clang")


def test_clang_cet():
    t = Target("worker-clang-cet")
    apply_rollback(t, "fix_compute", "compute", 5, 1005, 2005, layout="clang")


def test_nopie():
    t = Target("worker-gcc-nopie")
    f = apply_rollback(t, "fix_compute", "compute", 5, 1005, 2005, layout="gcc")
    check(int(f["address"], 16) < 0x1000000, "a non-PIE executable sits low")


def test_ms_hook_prologue():
    t = Target("worker-gcc")
    live, _ = prologue(t, "ms_func")
    eq(live[:5], b"\xcc" * 5, "ms_hook_prologue pads with int3")
    eq(live[5:13], bytes.fromhex("488da42400000000"), "lea rsp,[rsp+0] at the entry")
    apply_rollback(t, "fix_ms", "ms_func", 5, 12, 112, layout="ms_hook_prologue")


def test_shared_library():
    t = Target("worker-gcc")
    apply_rollback(t, "fix_lib", "lib_step", 5, 15, 25, lib="libworklib.so")


def test_static_function():
    t = Target("worker-gcc")
    eq(t.call("use_secret", 5), 15, "use_secret before")
    r = hotpatch("--pid", t.pid, patch("fix_static"))
    eq(r.returncode, 0, "apply exit code")
    got = t.call("use_secret", 5)
    # the replacement reached the static variable of the target
    eq(t.call("get_counter", 0), 1, "static counter after one patched call")
    check(got in (20, 21), f"use_secret(5) with the patched static secret(): {got}")
    r = hotpatch("rollback", "--pid", t.pid, patch("fix_static"))
    eq(r.returncode, 0, "rollback exit code")
    eq(t.call("use_secret", 5), 16, "original secret() again (15 + counter 1)")
    live, disk = prologue(t, "secret")
    eq(live, disk, "secret() bytes restored")
    t.assert_healthy()


def test_call_original():
    t = Target("worker-gcc")
    apply_rollback(t, "fix_original", "compute", 5, 1005, 6005)


def test_calls_target_export():
    t = Target("worker-gcc")
    apply_rollback(t, "fix_exported", "compute", 5, 1005, 4005)


def test_no_wrong_answers():
    """16 threads call compute() non-stop through 10 flips each way."""
    t = Target("worker-gcc", threads=16)
    last = 0
    for i in range(10):
        eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, f"apply #{i}")
        eq(t.call("compute", 1), 2001, "patched")
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0,
           f"rollback #{i}")
        eq(t.call("compute", 1), 1001, "original")
        calls, wrong = t.stats()
        eq(wrong, 0, "wrong answers")
        check(calls > last, "the workers keep running")
        last = calls
    live, disk = prologue(t, "compute")
    eq(live, disk, "bytes exact at the end")


def test_idempotent():
    t = Target("worker-gcc")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "first apply")
    before, _ = prologue(t, "compute")
    code, doc = hotpatch_json("--pid", t.pid, patch("fix_compute"))
    eq(code, 0, "second apply of the same patch succeeds")
    eq(doc["processes"][0]["result"], "already-applied", "and says so")
    r = hotpatch("--pid", t.pid, patch("fix_compute"))
    check("nothing to do" in r.stdout, "human output says nothing was done")
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(len(doc["processes"][0]["patches"]), 1, "still one patch applied")
    eq(prologue(t, "compute")[0], before, "nothing was written")
    eq(t.call("compute", 5), 2005, "patched once")
    t.assert_healthy()


def test_many_patches_loaded_at_once():
    """Each patch's memfd gets the same fd number in the target: the name
    dlopen is given must still be new for every one (glibc would hand back
    the object already loaded under a name it knows)."""
    t = Target("worker-gcc")
    names = ["fix_compute", "fix_static", "fix_lib", "fix_ms", "fix_window", "fix_tls",
             "fix_block", "fix_compute_b", "fix_original"]
    for n in names:
        r = hotpatch("--pid", t.pid, patch(n))
        eq(r.returncode, 0, f"apply {n} ({len(names)} loaded at once): {r.stderr}")
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(len(doc["processes"][0]["patches"]), len(names), "all applied")
    eq(hotpatch("rollback", "--all", "--pid", t.pid).returncode, 0, "rollback --all")
    t.assert_healthy()


def test_status_json():
    t = Target("worker-gcc")
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(code, 0, "status exit code")
    eq(doc["processes"][0]["patches"], [], "nothing applied yet")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(code, 0, "status exit code")
    p = doc["processes"][0]["patches"][0]
    with open(patch("fix_compute"), "rb") as f:
        eq(p["sha256"], hashlib.sha256(f.read()).hexdigest(), "sha256 of the patch file")
    eq(p["path"], os.path.realpath(patch("fix_compute")), "path")
    eq(p["state"], "applied", "state")
    check(p["applied_at"].endswith("Z"), "applied_at is UTC")
    eq(p["order"], 1, "order")
    f = p["functions"][0]
    eq(f["symbol"], "compute", "symbol")
    eq(int(f["address"], 16), t.bias() + symbol(t.path, "compute"), "address")
    eq(f["bytes_ok"], True, "bytes match the record")
    eq(f["replacement"], "compute_fixed", "replacement name")
    r = hotpatch("status", "--pid", t.pid)
    check("fix_compute.so" in r.stdout and "compute" in r.stdout, "human status")
    t.assert_healthy()


def test_list():
    t = Target("worker-gcc")
    code, doc = hotpatch_json("list", "--pid", t.pid)
    eq(code, 0, "list exit code")
    objs = {os.path.basename(o["path"]): {f["name"]: f for f in o["functions"]}
            for o in doc["processes"][0]["objects"]}
    check("worker-gcc" in objs and "libworklib.so" in objs, f"objects: {list(objs)}")
    for name in ("compute", "secret", "use_secret", "main"):
        check(name in objs["worker-gcc"], f"{name} is listed")
    check("unpatchable" not in objs["worker-gcc"], "a function without prologue is not")
    eq(objs["worker-gcc"]["compute"]["layout"], "gcc", "layout")
    # not in __patchable_function_entries, found by its prologue
    eq(objs["worker-gcc"]["ms_func"]["layout"], "ms_hook_prologue", "ms_hook_prologue listed")
    check("lib_step" in objs["libworklib.so"], "library function listed")
    r = hotpatch("list", "--pid", t.pid)
    check("compute" in r.stdout, "human list")


def test_window_check():
    """A thread stopped exactly inside the 2-byte window is single-stepped
    out before the window is written: it never runs half of the new jump.
    The thread is put there on purpose, so that every flip meets it."""
    t = Target("worker-gcc", threads=2)
    eq(t.cmd("spinwindow"), "spinning", "a thread loops inside window_spin's window")
    live0, disk = prologue(t, "window_spin")
    entry = t.bias() + symbol(t.path, "window_spin")
    for i, verb in enumerate(["apply", "rollback"] * 3):
        park_thread(t, entry + 1, signal.SIGSTOP, near=(entry, entry + 16))
        wait_for(lambda: t.state() == "T", what="the target to stop")
        code, doc = hotpatch_json(verb, "--pid", t.pid, patch("fix_window"))
        eq(code, 0, f"{verb} #{i}")
        eq(doc["processes"][0]["threads_single_stepped"], 1, f"{verb} #{i}: the parked thread")
        eq(t.state(), "T", f"{verb} #{i}: a stopped process is left stopped")
        os.kill(t.pid, signal.SIGCONT)
        wait_for(lambda: t.state() != "T", what="the target to run on")
        t.assert_healthy()
    eq(prologue(t, "window_spin")[0], disk, "bytes exact")
