# SPDX-License-Identifier: LGPL-2.1-or-later
"""Targets that see another filesystem: a chroot without /proc (refused
before anything is written: the patch is loaded through /proc/self/fd), the
same chroot with /proc (patched), and a process in its own mount and PID
namespaces with its own /proc (patched)."""
import os
import re
import shutil
import subprocess
import time

from hptest import (BUILD, Skip, Target, User, check, eq, hotpatch, hotpatch_json, on_cleanup,
                    patch, prologue, tmpdir)
from stallfs import StallFS

EXIT_NOT_PATCHABLE = 6


def needs_root(*tools):
    if os.geteuid() != 0:
        raise Skip("needs root (chroot, mount, namespaces)")
    for t in tools:
        if not shutil.which(t):
            raise Skip(f"needs {t}")


def jail(with_proc):
    """A directory holding what worker-gcc needs to run chrooted in it: the
    program, libworklib.so and the C library and loader it links against (as
    ldd names them); with /proc mounted in it or not.  Every mount is undone
    when the test ends, pass or fail."""
    d = os.path.join(tmpdir(), "jail")
    os.makedirs(os.path.join(d, "proc"))
    worker = os.path.join(BUILD, "worker-gcc")
    shutil.copy(worker, d)
    out = subprocess.run(["ldd", worker], capture_output=True, text=True, check=True).stdout
    libs = re.findall(r"(/\S+) \(0x", out)
    libc = [p for p in libs if os.path.basename(p).startswith("libc.so")]
    check(libc, f"ldd names the C library: {out}")
    libdir = os.path.dirname(libc[0])
    for p in libs:
        if "ld-linux" in os.path.basename(p):
            dest = d + p  # the loader lives at the path the program names
        else:
            # without /proc, $ORIGIN cannot be resolved: every library goes
            # where the loader looks by default
            dest = os.path.join(d + libdir, os.path.basename(p))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(p, dest)
    if with_proc:
        proc = os.path.join(d, "proc")
        subprocess.run(["mount", "-t", "proc", "proc", proc], check=True)

        def unmount():
            if subprocess.run(["umount", proc]).returncode != 0:
                subprocess.run(["umount", "--lazy", proc], check=True)
        on_cleanup(unmount)
    return d


def jailed(d):
    t = Target(os.path.join(d, "worker-gcc"), threads=2,
               wrap=lambda argv: ["chroot", d, "/worker-gcc"] + argv[1:])
    eq(os.readlink(f"/proc/{t.pid}/root"), d, "the target runs chrooted")
    return t


def test_chroot_without_proc_refused():
    """apply and --dry-run refuse, say why and what to do, and write
    nothing: no control mapping, every mapping and byte as before."""
    needs_root("chroot", "ldd")
    d = jail(with_proc=False)
    t = jailed(d)
    check(not os.listdir(os.path.join(d, "proc")), "the jail has nothing at /proc")
    maps = t.maps()
    live, disk = prologue(t, "compute")
    eq(live, disk, "the bytes before")
    want = (f"pid {t.pid} runs with root {d}, which has no /proc for it: hotpatch loads patches "
            f"through /proc/self/fd; mount one (mount -t proc proc {d}/proc) and try again")
    for args in ([], ["--dry-run"]):
        what = " ".join(["apply"] + args)
        r = hotpatch(*args, "--pid", t.pid, patch("fix_compute"))
        eq(r.returncode, EXIT_NOT_PATCHABLE, f"{what}: refused")
        check(want in r.stderr, f"{what}: says why and what to do: {r.stderr}")
        eq(t.maps(), maps, f"{what}: every mapping as before")
        check("/memfd:hotpatch" not in t.maps(), f"{what}: no control mapping, no patch")
        eq(prologue(t, "compute")[0], disk, f"{what}: bytes exact")
    code, doc = hotpatch_json("--pid", t.pid, patch("fix_compute"))
    eq((code, doc["processes"][0]["error"]["class"]), (EXIT_NOT_PATCHABLE, "not-patchable"),
       "JSON: the class")
    check(want in doc["processes"][0]["error"]["message"], "JSON: the message")
    eq(t.call("compute", 5), 1005, "the original answers")
    t.assert_healthy()


def test_chroot_proc_on_stalled_filesystem():
    """The jail's /proc is a filesystem that stops answering (its owner's
    FUSE server): looking for the target there ends within --timeout,
    refused, and nothing is written."""
    needs_root("chroot", "ldd", "mount", "umount")
    d = jail(with_proc=False)
    fs = StallFS(User(), {})
    proc = os.path.join(d, "proc")
    subprocess.run(["mount", "--bind", fs.mnt, proc], check=True)
    on_cleanup(lambda: subprocess.run(["umount", "--lazy", proc], timeout=30))
    t = jailed(d)
    maps = t.maps()
    disk = prologue(t, "compute")[1]
    fs.stall()
    for args in ([], ["--dry-run"]):
        what = " ".join(["apply"] + args)
        t0 = time.monotonic()
        r = hotpatch("--timeout", "2", *args, "--pid", t.pid, patch("fix_compute"), timeout=60)
        took = time.monotonic() - t0
        eq(r.returncode, 7, f"{what}: refused as busy")
        check(f"cannot tell whether pid {t.pid} can load a patch" in r.stderr and
              "does not answer" in r.stderr, f"{what}: says why: {r.stderr}")
        check(took < 8, f"{what}: ended within --timeout 2 (took {took:.1f} s)")
        eq(t.maps(), maps, f"{what}: every mapping as before")
        eq(prologue(t, "compute")[0], disk, f"{what}: bytes exact")
    t.assert_healthy()


def test_chroot_with_proc():
    """The same chroot with /proc mounted: applied, called, rolled back."""
    needs_root("chroot", "ldd", "mount", "umount")
    d = jail(with_proc=True)
    t = jailed(d)
    check(os.path.exists(os.path.join(d, "proc", str(t.pid), "stat")),
          "the jail's /proc shows the target")
    disk = prologue(t, "compute")[1]
    eq(hotpatch("--dry-run", "--pid", t.pid, patch("fix_compute")).returncode, 0, "dry run")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
    eq(t.call("compute", 5), 2005, "patched")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    eq(t.call("compute", 5), 1005, "original")
    eq(prologue(t, "compute")[0], disk, "bytes exact")
    check("memfd:hotpatch:" not in t.maps(), "the patch is unloaded")
    t.assert_healthy()


def test_pid_namespace():
    """A target in its own mount and PID namespaces, with its own /proc
    (unshare --mount --pid --fork --mount-proc): applied and rolled back."""
    needs_root("unshare")
    t = Target("worker-gcc", threads=2, forks=True,
               wrap=lambda argv: ["unshare", "--mount", "--pid", "--fork", "--mount-proc"] + argv)
    with open(f"/proc/{t.pid}/status") as f:
        nspid = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
    eq(nspid, [str(t.pid), "1"], "pid 1 of a PID namespace of its own")
    check(os.stat(f"/proc/{t.pid}/ns/mnt").st_ino != os.stat("/proc/self/ns/mnt").st_ino,
          "a mount namespace of its own")
    disk = prologue(t, "compute")[1]
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
    eq(t.call("compute", 5), 2005, "patched")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    eq(t.call("compute", 5), 1005, "original")
    eq(prologue(t, "compute")[0], disk, "bytes exact")
    check("memfd:hotpatch:" not in t.maps(), "the patch is unloaded")
    t.assert_healthy()
