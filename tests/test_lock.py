# SPDX-License-Identifier: LGPL-2.1-or-later
"""One hotpatch run per process: a lock no other user can take or fake,
that names its holder to whoever waits, and that a killed holder frees."""
import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import time

from hptest import (HOTPATCH, HeldLock, Target, User, check, eq, hotpatch, hotpatch_json, lock_path,
                    patch, prologue, start_time, tmpdir, wait_paused)

# Run as the unprivileged user: squat the lock hotpatch used to take (an
# abstract unix socket, which has no permissions), then try to take the new
# one; report each outcome on stdout and hold on until stdin closes.
SQUATTER = r"""
import errno, fcntl, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1])
print("bound", flush=True)
try:
    fd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("lock file taken", flush=True)
except OSError as e:
    print("lock file " + errno.errorcode[e.errno], flush=True)
sys.stdin.read()
"""


def test_lock_cannot_be_squatted():
    """A user who binds the old lock's name, or tries the new lock file,
    cannot keep root from applying, checking or rolling back."""
    u = User()
    t = Target("worker-gcc")
    disk = prologue(t, "compute")[1]
    eq(hotpatch("status", "--pid", t.pid).returncode, 0, "status (makes /run/hotpatch)")
    st = os.lstat("/run/hotpatch")
    check(stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o700,
          f"/run/hotpatch is root's, 0700: {oct(st.st_mode)} uid {st.st_uid}")
    old_name = f"hotpatch/{t.pid}/{start_time(t.pid)}"
    sq = subprocess.Popen(u.argv(sys.executable, "-c", SQUATTER, old_name, lock_path(t.pid)),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        eq(sq.stdout.readline().strip(), "bound", "the user squats the old lock's name")
        eq(sq.stdout.readline().strip(), "lock file EACCES", "the user cannot touch the new lock")
        code, doc = hotpatch_json("--timeout", "2", "--pid", t.pid, patch("fix_compute"))
        eq(code, 0, "apply despite the squatter")
        eq(t.call("compute", 5), 2005, "patched")
        code, doc = hotpatch_json("--timeout", "2", "status", "--pid", t.pid)
        eq(code, 0, "status despite the squatter")
        eq([os.path.basename(p["path"]) for p in doc["processes"][0]["patches"]],
           ["fix_compute.so"], "status sees the patch")
        code, doc = hotpatch_json("--timeout", "2", "rollback", "--pid", t.pid,
                                  patch("fix_compute"))
        eq(code, 0, "rollback despite the squatter")
        eq(t.call("compute", 5), 1005, "rolled back")
        eq(prologue(t, "compute")[0], disk, "bytes exact")
        # the squat was in place all along: the name is still taken
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.bind("\0" + old_name)
            raise AssertionError("the squatter's socket was gone")
        except OSError as e:
            eq(e.errno, errno.EADDRINUSE, "the squatter still holds the old name")
        finally:
            probe.close()
        check(sq.poll() is None, "the squatter is still there")
    finally:
        sq.stdin.close()
        sq.wait(10)
    check(not os.path.exists(lock_path(t.pid)), "each run removed its lock file")
    t.assert_healthy()


def _expected_since(since):
    hms = time.strftime("%H:%M:%S", time.localtime(since))
    return (f"since {hms})", f"since {time.strftime('%Y-%m-%d', time.localtime(since))} {hms})")


def test_lock_names_its_holder():
    """A run that finds the lock taken waits out --timeout, then says who
    holds it (pid, user, verb, since when), and changes nothing; a holder
    line that is not hotpatch's own is not repeated."""
    t = Target("worker-gcc")
    disk = prologue(t, "compute")[1]
    since = int(time.time())
    line = f"hotpatch pid=4242 uid=0 user=root verb=rollback since={since}\n".encode()
    with HeldLock(t.pid, line) as lk:
        r = hotpatch("--timeout", "1", "--pid", t.pid, patch("fix_compute"))
        eq(r.returncode, 7, "busy")
        check("another hotpatch (pid 4242, user root, rollback, " in r.stderr, r.stderr)
        check(any(s in r.stderr for s in _expected_since(since)), f"since when: {r.stderr}")
        check(f"is working on pid {t.pid}" in r.stderr and "raise --timeout" in r.stderr,
              r.stderr)
        eq(t.call("compute", 5), 1005, "unchanged")
        eq(prologue(t, "compute")[0], disk, "bytes unchanged")
        # a holder line with escapes, as a hostile or broken writer might leave
        lk.write(b"hotpatch pid=1 uid=0 user=\x1b[2J\x1b[31mroot verb=apply since=1\n")
        r = hotpatch("--timeout", "0.5", "status", "--pid", t.pid)
        eq(r.returncode, 7, "busy")
        check("does not say which" in r.stderr, r.stderr)
        check("\x1b" not in r.stderr and "[31m" not in r.stderr, f"no escapes: {r.stderr!r}")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "free again")
    eq(t.call("compute", 5), 2005, "patched")
    t.assert_healthy()


def test_killed_holder_frees_the_lock():
    """hotpatch killed (SIGKILL) while it holds the lock: the kernel frees
    it, and the file it left behind does not block the next run."""
    t = Target("worker-gcc")
    env = dict(os.environ, HOTPATCH_PAUSE_AT="lock:taken", HOTPATCH_FAULT_TRACE="1")
    a = subprocess.Popen([HOTPATCH, "--pid", str(t.pid), patch("fix_compute")], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_paused(a, "lock:taken")
        with open(lock_path(t.pid)) as f:
            holder = f.read()
        check(holder.startswith(f"hotpatch pid={a.pid} uid={os.getuid()} ") and
              " verb=apply since=" in holder, f"the holder says who it is: {holder!r}")
        a.kill()
        eq(a.wait(10), -signal.SIGKILL, "the holder was killed")
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    check(os.path.exists(lock_path(t.pid)), "the killed holder left its file")
    r = hotpatch("--timeout", "1", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, 0, f"the next run takes the lock at once: {r.stderr}")
    eq(t.call("compute", 5), 2005, "patched")
    check(not os.path.exists(lock_path(t.pid)), "and removes the file when done")
    t.assert_healthy()


def _remove_lock_dir(d):
    if os.path.isdir(d) and not os.path.islink(d):
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


# Run as the other user (nobody): make the victim's /tmp lock directory
# first, open to everyone, so that its hotpatch runs would share it.
PLANTER = r"""
import os, sys
os.mkdir(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
print("planted", flush=True)
"""


def test_lock_dir_of_a_user():
    """Without root, hotpatch keeps its locks in a directory of the user's
    own: $XDG_RUNTIME_DIR/hotpatch, else /tmp/hotpatch-UID; one that another
    user planted there first is refused, not used."""
    u = User()
    t = Target("worker-gcc", user=u)
    mine = f"/tmp/hotpatch-{u.uid}"
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    xdg = os.path.join(tmpdir(), "xdg")
    _remove_lock_dir(mine)  # left by an earlier account with this (reused) uid
    try:
        # another user gets there first
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--", sys.executable, "-c", PLANTER, mine],
                           capture_output=True, text=True, timeout=30)
        eq(r.stdout.strip(), "planted", f"nobody plants {mine}: {r.stderr}")
        r = u.run(HOTPATCH, "status", "--pid", t.pid, env=env)
        print(r.stdout, r.stderr)
        eq(r.returncode, 4, "refused")
        check(f"refusing the lock directory {mine}: it belongs to uid 65534" in r.stderr,
              r.stderr)
        os.rmdir(mine)
        # the user's own, made 0700
        r = u.run(HOTPATCH, "--pid", t.pid, patch("fix_compute"), env=env)
        eq(r.returncode, 0, f"apply as the user: {r.stderr}")
        eq(t.call("compute", 5), 2005, "patched")
        st = os.lstat(mine)
        check(stat.S_ISDIR(st.st_mode) and st.st_uid == u.uid and
              stat.S_IMODE(st.st_mode) == 0o700, f"{mine}: {oct(st.st_mode)} uid {st.st_uid}")
        eq(os.listdir(mine), [], "the lock file is gone after the run")
        # with a runtime directory of the user's, there
        os.mkdir(xdg, 0o700)
        u.own(xdg)
        r = u.run(HOTPATCH, "rollback", "--pid", t.pid, patch("fix_compute"),
                  env=dict(env, XDG_RUNTIME_DIR=xdg))
        eq(r.returncode, 0, f"rollback as the user: {r.stderr}")
        st = os.lstat(os.path.join(xdg, "hotpatch"))
        check(stat.S_ISDIR(st.st_mode) and st.st_uid == u.uid and
              stat.S_IMODE(st.st_mode) == 0o700, f"$XDG_RUNTIME_DIR/hotpatch: {oct(st.st_mode)}")
    finally:
        _remove_lock_dir(mine)
    eq(t.call("compute", 5), 1005, "rolled back")
    t.assert_healthy()
