# SPDX-License-Identifier: LGPL-2.1-or-later
"""rollback, stacking, activeness, and state kept inside the target."""
import os
import signal
import subprocess

from hptest import (HOTPATCH, Skip, Target, check, eq, hotpatch, hotpatch_json, patch,
                    park_thread, prologue, tmpdir, wait_for, BUILD)

EXIT_BUSY, EXIT_NOTHING = 7, 8


def applied(t):
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(code, 0, "status exit code")
    return [os.path.basename(p["path"]) for p in doc["processes"][0]["patches"]]


def test_rollback_restores_bytes():
    t = Target("worker-gcc")
    live0, disk = prologue(t, "compute")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
    check("memfd:hotpatch:fix_compute.so" in t.maps(), "patch loaded")
    code, doc = hotpatch_json("rollback", "--pid", t.pid, patch("fix_compute"))
    eq(code, 0, "rollback")
    p = doc["processes"][0]["patches"][0]
    eq(p["action"], "rolled-back", "action")
    eq(p["unloaded"], True, "unloaded")
    eq(prologue(t, "compute")[0], disk, "bytes equal the executable's file")
    check("memfd:hotpatch:fix_compute.so" not in t.maps(), "patch object gone from maps")
    eq(t.call("compute", 7), 1007, "original answer")
    eq(applied(t), [], "status: nothing applied")
    t.assert_healthy()


def test_rollback_keep_loaded():
    t = Target("worker-gcc")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
    r = hotpatch("rollback", "--keep-loaded", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, 0, "rollback --keep-loaded")
    eq(t.call("compute", 7), 1007, "original answer")
    check("memfd:hotpatch:fix_compute.so" in t.maps(), "patch object still loaded")
    eq(prologue(t, "compute")[0], prologue(t, "compute")[1], "bytes restored")
    eq(applied(t), [], "nothing applied")
    t.assert_healthy()


def test_stacking():
    t = Target("worker-gcc")
    disk = prologue(t, "compute")[1]
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply A")
    eq(t.call("compute", 5), 2005, "A")
    code, doc = hotpatch_json("--pid", t.pid, patch("fix_compute_b"))
    eq(code, 0, "apply B on top")
    eq(doc["processes"][0]["patches"][0]["functions"][0]["stacked"], True, "B is stacked")
    eq(t.call("compute", 5), 3005, "B")
    eq(applied(t), ["fix_compute.so", "fix_compute_b.so"], "status order")

    r = hotpatch("rollback", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, EXIT_BUSY, "rollback of A under B is refused")
    check("fix_compute_b.so" in r.stderr and "first" in r.stderr, r.stderr)
    eq(t.call("compute", 5), 3005, "still B")

    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute_b")).returncode, 0, "rollback B")
    eq(t.call("compute", 5), 2005, "back to A")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback A")
    eq(t.call("compute", 5), 1005, "original")
    eq(prologue(t, "compute")[0], disk, "bytes exact")
    t.assert_healthy()


def test_rollback_all():
    t = Target("worker-gcc")
    lib = os.path.join(BUILD, "libworklib.so")
    for p in ("fix_compute", "fix_compute_b", "fix_lib"):
        eq(hotpatch("--pid", t.pid, patch(p)).returncode, 0, f"apply {p}")
    eq((t.call("compute", 5), t.call("lib_step", 5)), (3005, 25), "patched")
    code, doc = hotpatch_json("rollback", "--all", "--pid", t.pid)
    eq(code, 0, "rollback --all")
    eq([os.path.basename(p["path"]) for p in doc["processes"][0]["patches"]],
       ["fix_lib.so", "fix_compute_b.so", "fix_compute.so"], "newest first")
    eq((t.call("compute", 5), t.call("lib_step", 5)), (1005, 15), "originals")
    eq(prologue(t, "compute")[0], prologue(t, "compute")[1], "compute bytes")
    eq(prologue(t, "lib_step", lib)[0], prologue(t, "lib_step", lib)[1], "lib_step bytes")
    check("memfd:hotpatch:fix" not in t.maps(), "all unloaded")
    t.assert_healthy()


def test_rollback_all_dry_run():
    """A dry run of --all over stacked patches judges each as the ones above
    it would leave it, says it would roll every one back, and changes
    nothing (it used to loop forever: a dry run takes no record out)."""
    t = Target("worker-gcc")
    for p in ("fix_compute", "fix_compute_b", "fix_lib"):
        eq(hotpatch("--pid", t.pid, patch(p)).returncode, 0, f"apply {p}")
    before = prologue(t, "compute")[0]
    code, doc = hotpatch_json("rollback", "--all", "--dry-run", "--pid", t.pid, timeout=30)
    eq(code, 0, "rollback --all --dry-run")
    pats = doc["processes"][0]["patches"]
    eq([os.path.basename(p["path"]) for p in pats],
       ["fix_lib.so", "fix_compute_b.so", "fix_compute.so"], "newest first")
    eq({p["action"] for p in pats}, {"would-roll-back"}, "each would be rolled back")
    eq((t.call("compute", 5), t.call("lib_step", 5)), (3005, 25), "still patched")
    eq(prologue(t, "compute")[0], before, "compute bytes untouched")
    eq(applied(t), ["fix_compute.so", "fix_compute_b.so", "fix_lib.so"], "all still recorded")
    eq(hotpatch("rollback", "--all", "--pid", t.pid).returncode, 0, "the real one")
    eq((t.call("compute", 5), t.call("lib_step", 5)), (1005, 15), "originals")
    t.assert_healthy()


def test_rollback_not_applied():
    t = Target("worker-gcc")
    r = hotpatch("rollback", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, EXIT_NOTHING, "nothing applied at all")
    check("nothing is applied" in r.stderr, r.stderr)
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply A")
    r = hotpatch("rollback", "--pid", t.pid, patch("fix_compute_b"))
    eq(r.returncode, EXIT_NOTHING, "B is not applied")
    check("not applied" in r.stderr and "fix_compute.so" in r.stderr, r.stderr)
    r = hotpatch("rollback", "--all", "--pid", t.pid)
    eq(r.returncode, 0, "rollback --all")
    r = hotpatch("rollback", "--all", "--pid", t.pid)
    eq(r.returncode, EXIT_NOTHING, "a second rollback --all has nothing to do")
    t.assert_healthy()


def test_activeness():
    fifo = os.path.join(tmpdir(), "release")
    os.mkfifo(fifo)
    t = Target("worker-gcc", env={"HOTPATCH_TEST_FIFO": fifo})
    eq(hotpatch("--pid", t.pid, patch("fix_block")).returncode, 0, "apply")
    eq(t.call("use_secret", 5), 55, "patched")
    # the thread that runs the call says so from inside the patch, then
    # waits there until the test opens the fifo
    t.send("call use_secret -1")
    line = t.readline()
    check(line.startswith("inside "), f"the call entered the patch: {line!r}")
    tid = int(line.split()[1])
    check(tid in t.threads(), f"thread {tid} is one of the target's")
    r = hotpatch("rollback", "--timeout", "2", "--pid", t.pid, patch("fix_block"))
    eq(r.returncode, EXIT_BUSY, "rollback refused while a thread is inside")
    check(f"thread {tid}" in r.stderr and "use_secret_blocking" in r.stderr,
          f"names the thread and the frame: {r.stderr}")
    check("the patch stays applied" in r.stderr, r.stderr)
    live, disk = prologue(t, "use_secret")
    check(live != disk, "the patch stays applied after the refusal")
    eq(applied(t), ["fix_block.so"], "still recorded")
    with open(fifo, "w") as f:  # let the thread out
        f.write("x")
    eq(t.readline(), "77", "the blocked call returned")
    r = hotpatch("rollback", "--pid", t.pid, patch("fix_block"))
    eq(r.returncode, 0, "rollback once the thread left")
    eq(t.call("use_secret", 5), 15, "original")
    eq(prologue(t, "use_secret")[0], prologue(t, "use_secret")[1], "bytes restored")
    t.assert_healthy()


def test_state_survives_sigkill():
    """hotpatch killed right after the flip: the state in the target tells a
    later run everything."""
    t = Target("worker-gcc")
    env = dict(os.environ, HOTPATCH_FAULT="apply:flipped")
    r = subprocess.run([HOTPATCH, "--pid", str(t.pid), patch("fix_compute")], env=env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        raise Skip("hotpatch was built without -Dfault_injection=true")
    eq(r.returncode, -signal.SIGKILL, "hotpatch was killed")
    eq(t.call("compute", 5), 2005, "the flip happened")
    t.assert_healthy()
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(code, 0, "status after the kill")
    p = doc["processes"][0]["patches"]
    eq(len(p), 1, "the patch is recorded")
    eq(p[0]["functions"][0]["bytes_ok"], True, "its bytes are as recorded")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    eq(t.call("compute", 5), 1005, "original")
    eq(prologue(t, "compute")[0], prologue(t, "compute")[1], "bytes exact")
    eq(applied(t), [], "nothing recorded")
    t.assert_healthy()


def test_foreign_write_detected():
    t = Target("worker-gcc")
    live0, disk = prologue(t, "compute")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
    # someone (a debugger, say) puts the original window back behind our back
    addr = t.bias() + __import__("hptest").symbol(t.path, "compute")
    with open(f"/proc/{t.pid}/mem", "r+b") as f:
        f.seek(addr)
        f.write(disk[5:7])
    code, doc = hotpatch_json("status", "--pid", t.pid)
    f0 = doc["processes"][0]["patches"][0]["functions"][0]
    eq(f0["bytes_ok"], False, "status reports the foreign write")
    r = hotpatch("status", "--pid", t.pid)
    check("BYTES CHANGED" in r.stdout, r.stdout)
    r = hotpatch("rollback", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, EXIT_BUSY, "rollback refused")
    check("--force" in r.stderr, r.stderr)
    r = hotpatch("rollback", "--force", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, 0, "rollback --force")
    eq(prologue(t, "compute")[0], disk, "original bytes")
    eq(t.call("compute", 5), 1005, "original")
    t.assert_healthy()


def test_disk_mismatch_refused():
    """The original bytes in the record are checked against the file the
    process runs; if they disagree, rollback writes nothing unless --force."""
    import shutil
    from hptest import file_bytes, symbol
    d = tmpdir()
    for f in ("worker-gcc", "libworklib.so"):
        shutil.copy(os.path.join(BUILD, f), d)
    lib = os.path.join(d, "libworklib.so")
    t = Target(os.path.join(d, "worker-gcc"))
    eq(hotpatch("--pid", t.pid, patch("fix_lib")).returncode, 0, "apply")
    eq(t.call("lib_step", 5), 25, "patched")
    # the library file changes on disk under the running process
    v = symbol(lib, "lib_step")
    off = None
    from hptest import _phdrs
    for p in _phdrs(lib):
        if p[0] == 1 and p[3] <= v < p[3] + p[5]:
            off = p[2] + v - p[3]
    with open(lib, "r+b") as f:
        f.seek(off)
        f.write(b"\xcc\xcc")
    eq(file_bytes(lib, v, 2), b"\xcc\xcc", "the file changed")
    r = hotpatch("rollback", "--pid", t.pid, patch("fix_lib"))
    eq(r.returncode, EXIT_BUSY, "rollback refused")
    check("on disk" in r.stderr and "--force" in r.stderr, r.stderr)
    eq(t.call("lib_step", 5), 25, "still patched: nothing was written")
    r = hotpatch("rollback", "--force", "--pid", t.pid, patch("fix_lib"))
    eq(r.returncode, 0, "rollback --force")
    eq(t.call("lib_step", 5), 15, "the recorded original is back")
    t.assert_healthy()


def test_signal_frame_in_trampoline():
    """A thread a signal interrupted at the first byte of the trampoline,
    its handler still running: it will return there.  Rollback must see it
    (the frame's pc is exact, not a return address) and keep the patch
    loaded until the handler returned; never unload it under the thread."""
    t = Target("worker-gcc", threads=2)
    code, doc = hotpatch_json("--pid", t.pid, patch("fix_compute"))
    eq(code, 0, "apply")
    slot = int(doc["processes"][0]["patches"][0]["functions"][0]["trampoline"], 16)
    check(slot % 4096 == 0, f"the first slot starts its page (0x{slot:x})")
    tid = park_thread(t, slot, signal.SIGUSR1)
    wait_for(lambda: t.cmd("held") == "1", what="the thread to be held in its handler")
    r = hotpatch("rollback", "--timeout", "1", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, EXIT_BUSY, "rollback refused while a frame returns into the trampoline")
    check(f"thread {tid}" in r.stderr and "trampoline" in r.stderr, r.stderr)
    eq(t.call("compute", 1), 2001, "still patched")
    eq(t.cmd("release"), "released", "the handler returns")
    wait_for(lambda: t.cmd("held") == "0", what="the handler to return")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    eq(t.call("compute", 1), 1001, "original")
    t.assert_healthy()
