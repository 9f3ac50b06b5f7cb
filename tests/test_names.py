# SPDX-License-Identifier: LGPL-2.1-or-later
"""Naming the target's objects and variables: an object by the path a user
sees (ldd's, a link, a chroot's own), a thread-local variable by a record
that gives each thread its own instance."""
import json
import os
import re
import shutil
import subprocess
import time

from hptest import (BUILD, SOURCE, Skip, Target, User, check, eq, hotpatch, hotpatch_json,
                    patch, tmpdir)
from stallfs import StallFS

TARGET_FLAGS = ["-O2", "-fpatchable-function-entry=7,5", "-fcf-protection=none"]


def cc(*args):
    r = subprocess.run(["gcc"] + [str(a) for a in args], capture_output=True, text=True)
    check(r.returncode == 0, f"gcc {' '.join(map(str, args))}:\n{r.stderr}")


def build_patch(name, source):
    """A patch built from `source` with the tree's <hotpatch.h>."""
    src = os.path.join(tmpdir(), name + ".c")
    with open(src, "w") as f:
        f.write("#include <hotpatch.h>\n" + source)
    out = os.path.join(tmpdir(), name + ".so")
    cc("-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-I", os.path.join(SOURCE, "include"),
       src, "-o", out)
    return out


def lib_step_patch(name, obj):
    """Replaces lib_step (x + 10) of the object named `obj` with x + 20."""
    return build_patch(name, "static int lib_step_fixed(int x) { return x + 20; }\n"
                       f"HOTPATCH_REPLACE_IN({json.dumps(obj)}, lib_step, lib_step_fixed);\n")


def soname_tree(root, rpath=None, symlink_target="libworklib.so.0.0.0"):
    """root/lib/libworklib.so.0.0.0 (soname libworklib.so.0), the link
    libworklib.so.0 pointing at it as ldconfig makes it, and root/worker
    that needs libworklib.so.0 and finds it through `rpath` (root/lib)."""
    lib = os.path.join(root, "lib")
    os.makedirs(lib)
    real = os.path.join(lib, "libworklib.so.0.0.0")
    cc(*TARGET_FLAGS, "-shared", "-fPIC", "-Wl,-soname,libworklib.so.0",
       os.path.join(SOURCE, "tests/targets/worklib.c"), "-o", real)
    os.symlink(symlink_target, os.path.join(lib, "libworklib.so.0"))
    worker = os.path.join(root, "worker")
    cc(*TARGET_FLAGS, "-g", "-pthread", "-rdynamic", os.path.join(SOURCE, "tests/targets/worker.c"),
       "-o", worker, f"-L{lib}", "-l:libworklib.so.0.0.0", f"-Wl,-rpath,{rpath or lib}")
    return worker, real


def mapped_paths(t):
    return {line.split(None, 5)[5] for line in t.maps().splitlines() if len(line.split()) == 6}


def ldd_path(program, name):
    """Where ldd says `program` finds library `name`."""
    out = subprocess.run(["ldd", program], capture_output=True, text=True).stdout
    m = re.search(rf"^\s*{re.escape(name)} => (\S+)", out, re.M)
    check(m, f"ldd {program} does not list {name}:\n{out}")
    return m.group(1)


def applies(t, patchfile, what):
    """The patch applies (lib_step answers 21), and rolls back (11)."""
    eq(t.call("lib_step", 1), 11, f"{what}: lib_step before")
    r = hotpatch("--pid", t.pid, patchfile)
    eq(r.returncode, 0, f"{what}: apply exit code")
    eq(t.call("lib_step", 1), 21, f"{what}: lib_step patched")
    eq(hotpatch("rollback", "--pid", t.pid, patchfile).returncode, 0, f"{what}: rollback")
    eq(t.call("lib_step", 1), 11, f"{what}: lib_step after rollback")


def refused(t, patchfile, what, want):
    r = hotpatch("--pid", t.pid, patchfile)
    eq(r.returncode, 5, f"{what}: refused as an invalid patch")
    check(want in r.stderr, f"{what}: the message says {want!r}: {r.stderr}")
    eq(t.call("lib_step", 1), 11, f"{what}: lib_step untouched")
    check("memfd:hotpatch:" not in t.maps(), f"{what}: nothing was loaded")
    return r


def test_object_by_the_path_ldd_shows():
    """REPLACE_IN with ldd's path (a link to libworklib.so.0.0.0, the file
    mapped) names that object, however the path is spelled; a file of the
    same name elsewhere does not; the bare name works as before."""
    d = os.path.join(tmpdir(), "app")
    worker, real = soname_tree(d)
    shown = ldd_path(worker, "libworklib.so.0")
    check(os.path.islink(shown), f"ldd shows the link {shown}")
    t = Target(worker, threads=2)
    check(shown not in mapped_paths(t) and real in mapped_paths(t),
          "the target maps the link's target, not the link")

    applies(t, lib_step_patch("by_ldd", shown), "the path ldd shows")
    applies(t, lib_step_patch("by_real", real), "the path /proc/PID/maps shows")
    spelled = shown.replace("/lib/", "/lib/../lib/.//", 1).replace("/app/", "//app/", 1)
    applies(t, lib_step_patch("by_spelling", spelled), f"spelled {spelled}")
    applies(t, lib_step_patch("by_name", "libworklib.so.0"), "the bare soname")

    other = os.path.join(tmpdir(), "other")
    os.mkdir(other)
    shutil.copy(real, os.path.join(other, "libworklib.so.0"))
    r = refused(t, lib_step_patch("by_other", os.path.join(other, "libworklib.so.0")),
                "a file of the same name elsewhere", "is not loaded in pid")
    check("in its root that path names /" in r.stderr, f"says what the path names: {r.stderr}")
    refused(t, lib_step_patch("by_missing", os.path.join(d, "lib", "libworklib.so.9")),
            "a path that names nothing", "names nothing (")

    # --lib by that path selects the process, and patches the object
    code, doc = hotpatch_json("--lib", shown, patch("fix_lib_default"))
    eq(code, 0, "--lib PATH applies")
    eq([p["pid"] for p in doc["processes"]], [t.pid], "--lib PATH selects the process")
    eq(t.call("lib_step", 1), 31, "--lib PATH: the library's function")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_lib_default")).returncode, 0, "rollback")
    r = hotpatch("--lib", os.path.join(other, "libworklib.so.0"), patch("fix_lib_default"))
    eq(r.returncode, 3, "--lib naming an unrelated file of that name selects nobody")
    # a relative --lib path is the operator's, from the current directory
    code, doc = hotpatch_json("--lib", "./lib/libworklib.so.0", patch("fix_lib_default"), cwd=d)
    eq(code, 0, "--lib with a relative path applies")
    eq([p["pid"] for p in doc["processes"]], [t.pid], "--lib ./lib/...: the process")
    eq(t.call("lib_step", 1), 31, "--lib ./lib/...: the library's function")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_lib_default")).returncode, 0, "rollback")
    t.assert_healthy()


def jail_tree():
    """A chroot: /hpt-app/worker and its libraries (libc, libworklib.so.0 as
    an absolute link only the jail can resolve, and libescape.so.0, a link
    through /proc/self/root that leads out of it), ld.so, /proc."""
    jail = os.path.join(tmpdir(), "jail")
    app = os.path.join(jail, "hpt-app")
    worker, real = soname_tree(app, rpath="/hpt-app/lib",
                               symlink_target="/hpt-app/lib/libworklib.so.0.0.0")
    lib = os.path.join(app, "lib")
    shutil.copy(os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6"), os.path.join(lib, "libc.so.6"))
    os.makedirs(os.path.join(jail, "lib64"))
    shutil.copy(os.path.realpath("/lib64/ld-linux-x86-64.so.2"),
                os.path.join(jail, "lib64", "ld-linux-x86-64.so.2"))
    os.mkdir(os.path.join(jail, "proc"))
    os.symlink("/proc/self/root" + real, os.path.join(lib, "libescape.so.0"))
    return jail, worker, real


def test_object_path_in_the_targets_root():
    """A target chrooted in its own mount namespace: a path names what it
    names there (links resolved inside that root), never something outside
    it, and the lookup follows no magic link out of it."""
    if os.geteuid() != 0:
        raise Skip("needs root for a mount namespace and a chroot")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise Skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")
    jail, worker, real = jail_tree()

    def in_jail(argv):
        # /proc in the jail: the target loads patches through /proc/self/fd
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount --bind /proc "$0/proc" && exec chroot "$0" /hpt-app/worker "$@"',
                jail] + argv[1:]

    t = Target(worker, threads=2, wrap=in_jail)
    eq(os.readlink(f"/proc/{t.pid}/root"), jail, "the target's root is the jail")
    check(not os.path.exists("/hpt-app"), "the jail's path does not exist outside it")
    applies(t, lib_step_patch("jail_path", "/hpt-app/lib/libworklib.so.0"),
            "the path in the target's root (an absolute link inside it)")
    applies(t, lib_step_patch("jail_name", "libworklib.so.0"), "the bare soname")
    applies(t, lib_step_patch("jail_maps", real), "the path as /proc/PID/maps shows it")
    # followed from outside the jail, /proc/self/root leads to the very file
    # the target maps; the target itself would find nothing there
    check(os.path.samefile(os.path.join(jail, "hpt-app/lib/libescape.so.0"), real),
          "the escape link, followed by hotpatch's own root, reaches the mapped file")
    refused(t, lib_step_patch("jail_escape", "/hpt-app/lib/libescape.so.0"),
            "a magic link out of the root", "is not loaded in pid")
    # outside the jail the link names the file too; in the target's root it does not
    refused(t, lib_step_patch("jail_host", os.path.join(jail, "hpt-app/lib/libworklib.so.0")),
            "the link's path outside the jail", "names nothing (")
    t.assert_healthy()


def test_object_path_on_overlayfs():
    """A library on an overlay mounted in the target's own mount namespace
    only: the path reaches it through the target's root.  (Kernels before
    the backing-file rework show the inode of the file below the overlay in
    /proc/PID/maps, and the canonical path names it; this one shows the
    overlay's own, printed below, and the unit test covers that rule.)"""
    if os.geteuid() != 0:
        raise Skip("needs root to mount an overlay")
    d = os.path.join(tmpdir(), "ov")
    lower = os.path.join(d, "lower")
    worker, real = soname_tree(lower, rpath=os.path.join(d, "merged", "lib"))
    for sub in ("upper", "work", "merged"):
        os.mkdir(os.path.join(d, sub))
    merged = os.path.join(d, "merged")
    opts = f"lowerdir={lower},upperdir={d}/upper,workdir={d}/work"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "mount", "-t",
                            "overlay", "overlay", "-o", opts, merged],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise Skip(f"cannot mount an overlay here: {probe.stderr.strip()}")

    def on_overlay(argv):
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount -t overlay overlay -o "$0" "$1" && exec "$1/worker" "$2"', opts, merged,
                argv[1]]

    t = Target(worker, threads=2, wrap=on_overlay)
    link = os.path.join(merged, "lib", "libworklib.so.0")
    mapped = [line for line in t.maps().splitlines() if "libworklib" in line][0].split()
    eq(mapped[5], os.path.join(merged, "lib", "libworklib.so.0.0.0"), "maps shows the overlay path")
    st = os.stat(f"/proc/{t.pid}/root{link}")
    print(f"maps says {mapped[3]} {mapped[4]}; the overlay's file is "
          f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x} {st.st_ino} (hex, as maps)")
    applies(t, lib_step_patch("ov_link", link), "the overlay path, through the link")
    t.assert_healthy()


def test_object_path_on_a_stalled_filesystem():
    """A path that leads into a filesystem that stops answering is looked up
    within --timeout: hotpatch says why and leaves the target alone."""
    u = User()
    fs = StallFS(u, {"libworklib.so.0": os.path.join(BUILD, "libworklib.so")})
    t = Target("worker-gcc", threads=2)
    fs.stall()
    p = lib_step_patch("stalled", fs.path("libworklib.so.0"))
    t0 = time.monotonic()
    r = hotpatch("--timeout", "2", "--pid", t.pid, p, timeout=60)
    took = time.monotonic() - t0
    eq(r.returncode, 7, "busy: the lookup timed out")
    check("does not answer" in r.stderr, r.stderr)
    check(took < 8, f"ended within --timeout 2 (took {took:.1f} s)")
    t0 = time.monotonic()
    r = hotpatch("--timeout", "2", "status", "--lib", fs.path("libworklib.so.0"), timeout=60)
    took = time.monotonic() - t0
    eq(r.returncode, 7, "--lib on the stalled path: busy")
    check(took < 8, f"--lib ended within --timeout 2 (took {took:.1f} s)")
    eq(t.call("lib_step", 1), 11, "untouched")
    t.assert_healthy()


def tls_rows(t, n):
    """Per thread: (probe, lib_probe, tls_exe, tls_hidden, lib_tls) after it
    set 1000 i, i and 100000 i and called both probes."""
    rows = {}
    for item in t.cmd(f"tls {n}").split():
        i, *vals = (int(v) for v in item.split(":"))
        rows[i] = tuple(vals)
    eq(sorted(rows), list(range(1, n + 1)), "every thread reported")
    return rows


def test_tls_from_several_threads():
    """HOTPATCH_TLS gives each thread its own instance of a thread-local
    variable of the executable (exported and static) and of a library;
    rollback puts the original functions back."""
    for name in ("worker-gcc", "worker-gcc-nopie"):
        t = Target(name, threads=2)
        n = 6
        for i, row in tls_rows(t, n).items():
            eq(row, (0, 0, 1000 * i, i, 100000 * i), f"{name} thread {i} before")
        code, doc = hotpatch_json("--pid", t.pid, patch("fix_tls"))
        eq(code, 0, f"{name}: apply")
        for i, row in tls_rows(t, n).items():
            # the patch added 1 to the thread's own tls_exe and 2 to its lib_tls
            eq(row, (1000 * i + 1 + i, 100000 * i + 2, 1000 * i + 1, i, 100000 * i + 2),
               f"{name} thread {i} patched: its own variables, changed in place")
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_tls")).returncode, 0, "rollback")
        for i, row in tls_rows(t, n).items():
            eq(row, (0, 0, 1000 * i, i, 100000 * i), f"{name} thread {i} after rollback")
        t.assert_healthy()


def test_tls_of_many_objects():
    """Thread-local variables of more objects than ride along in the patch's
    dlopen call (six preloaded libraries, the executable and libworklib):
    the rest are looked up in one more call, each to its own module."""
    d = os.path.join(tmpdir(), "tlslibs")
    os.mkdir(d)
    libs = []
    for k in range(1, 7):
        src = os.path.join(d, f"tls{k}.c")
        with open(src, "w") as f:
            f.write(f"__thread long tls{k} = {7 * k};\n")
        libs.append(os.path.join(d, f"libtls{k}.so"))
        cc("-O2", "-shared", "-fPIC", src, "-o", libs[-1])
    body = "static struct hotpatch_tls_index ie, il"
    body += "".join(f", i{k}" for k in range(1, 7)) + ";\n"
    body += "static long probe(int x)\n{\n\tlong s = 0;\n\t(void)x;\n"
    for v in ["ie", "il"] + [f"i{k}" for k in range(1, 7)]:
        body += f"\ts += *(long *)hotpatch_tls_addr(&{v});\n"
    body += "\treturn s;\n}\nHOTPATCH_REPLACE(tls_probe, probe);\n"
    body += "HOTPATCH_TLS(tls_exe, ie);\nHOTPATCH_TLS_IN(\"libworklib.so\", lib_tls, il);\n"
    body += "".join(f"HOTPATCH_TLS_IN(\"libtls{k}.so\", tls{k}, i{k});\n" for k in range(1, 7))
    p = build_patch("tls_many", body)
    t = Target("worker-gcc", threads=2, env={"LD_PRELOAD": ":".join(libs)})
    code, doc = hotpatch_json("--pid", t.pid, p)
    eq(code, 0, "apply")
    calls = doc["processes"][0]["remote_calls"]
    _, base = hotpatch_json("--pid", t.pid, patch("fix_compute"))
    print(f"remote calls: {calls} with 8 TLS objects, "
          f"{base['processes'][0]['remote_calls']} for a patch without TLS records")
    want = sum(7 * k for k in range(1, 7))
    for i, row in tls_rows(t, 4).items():
        eq(row[0], want + 1000 * i + 100000 * i, f"thread {i}: the sum of its own eight")
    eq(hotpatch("rollback", "--pid", t.pid, "--all").returncode, 0, "rollback")
    t.assert_healthy()


def test_tls_refusals():
    """What cannot work is refused before anything is written, with the
    record to use instead: one address of a thread-local variable
    (HOTPATCH_SYMBOL), a thread-local index of a plain one, a thread-local
    variable to replace."""
    t = Target("worker-gcc", threads=2)
    r = hotpatch("--pid", t.pid, patch("bad_tls_symbol"))
    eq(r.returncode, 5, "HOTPATCH_SYMBOL of a thread-local variable: invalid patch")
    check("thread-local" in r.stderr and "HOTPATCH_TLS(tls_exe" in r.stderr,
          f"names HOTPATCH_TLS: {r.stderr}")
    check("is not a function" not in r.stderr, f"no longer 'not a function': {r.stderr}")
    r = hotpatch("--pid", t.pid, patch("bad_tls_notls"))
    eq(r.returncode, 5, "HOTPATCH_TLS of a variable that is not thread-local")
    check("not a thread-local variable" in r.stderr and "HOTPATCH_SYMBOL" in r.stderr, r.stderr)
    p = build_patch("tls_replace", "static long f(int x) { return x; }\n"
                    "HOTPATCH_REPLACE(tls_exe, f);\n")
    r = hotpatch("--pid", t.pid, p)
    eq(r.returncode, 5, "REPLACE of a thread-local variable")
    check("is not a function but a thread-local variable" in r.stderr, r.stderr)
    check("hotpatch" not in t.maps(), "nothing was mapped in the target")
    for i, row in tls_rows(t, 2).items():
        eq(row, (0, 0, 1000 * i, i, 100000 * i), f"thread {i} untouched")
    t.assert_healthy()
