# SPDX-License-Identifier: LGPL-2.1-or-later
"""An untrusted target attacks the root hotpatch working on it: every attack
runs as a throwaway unprivileged user, and root's hotpatch must write, read
and open nothing outside the target, never hang past --timeout, and never
record or report a patch the target did not really load."""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import types
import time

from hptest import (BUILD, HOTPATCH, Fail, Target, User, check, eq, hotpatch, hotpatch_json,
                    patch, tmpdir, wait_for, wait_paused)
from stallfs import StallFS

ATTEMPTS = 30


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_size


def hostile(user):
    d = tmpdir()
    shutil.copy(os.path.join(BUILD, "hostile"), d)
    return Target(os.path.join(d, "hostile"), user=user)


def attack_until_fired(t, victims, want_messages, too_late_ok=False):
    """Applies fix_compute until the target's attack fired at least once.
    Each attempt either refuses (the attack fired) or applies cleanly (it
    came too late) and is rolled back; a victim file never changes.  An
    attack that fires after the target loaded the patch changes nothing
    hotpatch relies on: with `too_late_ok`, that apply may succeed, but then
    what runs must be fix_compute itself (2001), never what the target
    swapped in."""
    if isinstance(want_messages, str):
        want_messages = [want_messages]
    before = {v: digest(v) for v in victims}
    for i in range(ATTEMPTS):
        fired = int(t.cmd("count"))
        r = held_apply(t, fired)
        now = int(t.cmd("count"))
        for v in victims:
            eq(digest(v), before[v], f"attempt {i}: {v} is untouched")
        if now > fired and r.returncode == 0 and too_late_ok:
            eq(t.call("compute", 1), 2001, f"attempt {i}: the patch that runs is fix_compute")
            eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0,
               "rollback")
            continue
        if now > fired:
            eq(r.returncode, 7, f"attempt {i}: the attack fired; hotpatch refuses")
            check(any(m in r.stderr for m in want_messages), f"attempt {i}: {r.stderr!r}")
            eq(t.call("compute", 1), 1001, "nothing was applied")
            code, doc = hotpatch_json("status", "--pid", t.pid)
            eq(doc["processes"][0]["patches"], [], "and nothing is recorded")
            return
        eq(r.returncode, 0, f"attempt {i}: no attack, a clean apply ({r.stderr})")
        eq(t.call("compute", 1), 2001, "patched")
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    raise Fail(f"the attack never fired in time in {ATTEMPTS} applies: this test proved nothing")


def held_apply(t, fired):
    """One apply, held just after it made the memfd (a fault point) until
    the target's attack fired or a second passed: the race is then decided
    by the attack, not by how fast this machine happens to be."""
    env = dict(os.environ, HOTPATCH_PAUSE_AT="apply:memfd", HOTPATCH_FAULT_TRACE="1")
    p = subprocess.Popen([HOTPATCH, "--timeout", "5", "--pid", str(t.pid), patch("fix_compute")],
                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        said = wait_paused(p, "apply:memfd")
        try:
            wait_for(lambda: int(t.cmd("count")) > fired, timeout=1, what="the attack")
        except Fail:
            pass  # an attack that waits for a later step
        out, err = p.communicate(input=b"\n", timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = said + err.decode(errors="replace")
    print(f"$ hotpatch --pid {t.pid} fix_compute.so (held at apply:memfd)\n-> exit {p.returncode}\n"
          f"{err}", flush=True)
    return types.SimpleNamespace(returncode=p.returncode, stdout=out.decode(), stderr=err)


def root_file(name, mode, data=b"root's own data\n"):
    p = os.path.join(tmpdir(), name)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)
    return p


def test_memfd_swapped_for_a_readonly_file():
    """The target dup2()s a read-only fd of a root-owned 0644 file onto the
    number of the memfd hotpatch made: root must not write into that file."""
    u = User()
    victim = root_file("rootfile.txt", 0o644)
    t = hostile(u)
    eq(t.cmd(f"arm swap-early {victim}"), "armed", "attack armed")
    attack_until_fired(t, [victim], "replaced it")


def test_memfd_swapped_for_an_unreadable_file():
    """The same with an O_PATH fd of a root 0600 file the user cannot read."""
    u = User()
    victim = root_file("shadowlike", 0o600)
    check(u.run("cat", victim).returncode != 0, "the user cannot read it")
    t = hostile(u)
    eq(t.cmd(f"arm swap-opath {victim}"), "armed", "attack armed")
    attack_until_fired(t, [victim], "replaced it")


def test_memfd_swapped_for_a_fifo():
    """An O_PATH fd of a FIFO: root's hotpatch must not block on it."""
    u = User()
    fifo = os.path.join(tmpdir(), "fifo")
    os.mkfifo(fifo, 0o600)
    t = hostile(u)
    eq(t.cmd(f"arm swap-opath {fifo}"), "armed", "attack armed")
    attack_until_fired(t, [], "replaced it")
    check(stat.S_ISFIFO(os.stat(fifo).st_mode), "the fifo is still a fifo")


def test_memfd_forged_by_the_target():
    """The target puts its own memfd, with hotpatch's name and mapped
    writable, under the number: hotpatch cannot seal it and refuses."""
    u = User()
    t = hostile(u)
    eq(t.cmd("arm swap-memfd hotpatch:fix_compute.so"), "armed", "attack armed")
    # swapped before the fill: the seal fails; after it, before the load:
    # the fd was not the memfd any more
    attack_until_fired(t, [], ["mapped it writable", "replaced it"])


def test_other_object_loaded():
    """After hotpatch filled and sealed its memfd, the target puts another
    shared object under its number before dlopen runs: hotpatch sees that
    what was loaded is not its memfd, unloads it and records nothing."""
    u = User()
    other = os.path.join(tmpdir(), "other.so")
    shutil.copy(patch("fix_compute_b"), other)
    t = hostile(u)
    eq(t.cmd(f"arm swap-late {other}"), "armed", "attack armed")
    # the other object under the number before or after dlopen opened it:
    # either way hotpatch says the target replaced its memfd
    attack_until_fired(t, [other], "something in the target replaced it", too_late_ok=True)
    check(other not in t.maps(), "the other object was unloaded again")


def stalled_worker():
    """A worker run by a User from that user's FUSE filesystem, which then
    stops answering.  The target keeps running from the page cache."""
    u = User()
    fs = StallFS(u, {"worker-gcc": os.path.join(BUILD, "worker-gcc"),
                     "libworklib.so": os.path.join(BUILD, "libworklib.so")})
    for n in fs.names:
        with open(fs.path(n), "rb") as f:
            f.read()
    t = Target(fs.path("worker-gcc"), threads=2, user=u)
    return fs, t


def timed(*args):
    t0 = time.monotonic()
    r = hotpatch(*args, timeout=60)
    return r, time.monotonic() - t0


def test_stalled_filesystem_bounded_by_timeout():
    """The target's executable is served by a filesystem that stops
    answering: every command ends within --timeout, says why, and leaves
    the target as it was; what needs no file (status) still works."""
    fs, t = stalled_worker()
    eq(hotpatch("--pid", t.pid, patch("fix_lib")).returncode, 0, "apply before the stall")
    eq(t.call("lib_step", 1), 21, "patched")
    fs.stall()
    r, took = timed("--timeout", "2", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, 7, "apply: busy")
    check("does not answer" in r.stderr and "stallfs" in r.stderr, r.stderr)
    check(took < 8, f"apply ended within --timeout 2 (took {took:.1f} s)")
    eq(t.call("compute", 1), 1001, "nothing applied")
    r, took = timed("--timeout", "2", "rollback", "--pid", t.pid, patch("fix_lib"))
    eq(r.returncode, 7, "rollback: busy")
    check(took < 8, f"rollback ended within --timeout 2 (took {took:.1f} s)")
    eq(t.call("lib_step", 1), 21, "the patch stays as it was")
    r, took = timed("--timeout", "2", "status", "--pid", t.pid)
    eq(r.returncode, 0, "status reads only the target")
    check("fix_lib.so" in r.stdout, r.stdout)
    r, took = timed("--timeout", "2", "list", "--pid", t.pid)
    eq(r.returncode, 7, "list: busy (its executable does not answer)")
    check("does not answer" in r.stderr, f"list says why: {r.stderr}")
    check("no patchable functions" not in r.stdout, f"list does not claim there are none: {r.stdout}")
    check(took < 8, f"list ended within --timeout 2 (took {took:.1f} s)")
    t.assert_healthy()


def test_stalled_filesystem_does_not_stall_selection():
    """--exe asks every process running a file of that name about it: one
    on a stalled filesystem is passed over, the others are found."""
    fs, stalled = stalled_worker()
    d = os.path.join(tmpdir(), "real")
    os.mkdir(d)
    for f in ("worker-gcc", "libworklib.so"):
        shutil.copy(os.path.join(BUILD, f), d)
    good = Target(os.path.join(d, "worker-gcc"), threads=2)
    fs.stall()
    r, took = timed("--timeout", "3", "status", "--json", "--exe", os.path.join(d, "worker-gcc"))
    eq(r.returncode, 0, "status")
    eq([p["pid"] for p in json.loads(r.stdout)["processes"]], [good.pid], "only the good one")
    check(took < 8, f"the scan ended in time (took {took:.1f} s)")
    stalled.assert_healthy()


def test_library_truncated_while_read():
    """The target's owner truncates and rewrites a library the target
    mapped, over and over, while root's hotpatch reads it: hotpatch never
    dies of it (a mapped file would SIGBUS), it refuses or succeeds."""
    u = User()
    d = os.path.join(tmpdir(), "lib")
    os.mkdir(d)
    lib = os.path.join(d, "libworklib.so")
    shutil.copy(os.path.join(BUILD, "libworklib.so"), lib)
    u.own(d, lib)
    t = hostile(u)
    eq(t.cmd(f"arm truncate {lib}"), "armed", "attack armed")
    outcomes = set()
    for i in range(20):
        before = int(t.cmd("count"))
        for args in (["list", "--pid", t.pid], ["--dry-run", "--pid", t.pid, patch("fix_lib")],
                     ["status", "--pid", t.pid]):
            r = hotpatch("--timeout", "5", *args, timeout=30)
            check(r.returncode >= 0, f"{args[0]}: hotpatch was killed by signal {-r.returncode}")
            check(r.returncode in (0, 1, 5, 6, 7), f"{args[0]}: a clean outcome: {r.returncode}")
            outcomes.add(r.returncode)
        wait_for(lambda: int(t.cmd("count")) > before, timeout=10,
                 what=f"round {i}: the library to be truncated again")
    eq(t.call("compute", 1), 1001, "the target still answers")
    print(f"outcomes seen: {sorted(outcomes)}")
