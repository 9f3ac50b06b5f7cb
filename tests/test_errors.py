# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every refusal: a clear message, its own exit code, and a target left
running exactly as before (same answers, same bytes, nothing loaded)."""
import os
import shutil
import subprocess
import sys

from hptest import (Skip, Target, check, eq, hotpatch, patch, prologue, tmpdir, wait_for)

EXIT_USAGE, EXIT_NOPROC, EXIT_PERM, EXIT_BADPATCH, EXIT_NOTPATCHABLE = 2, 3, 4, 5, 6


def untouched(t, fns=("compute",)):
    """The target behaves and looks exactly as before."""
    eq(t.call("compute", 5), 1005, "compute() still original")
    for fn in fns:
        live, disk = prologue(t, fn)
        eq(live, disk, f"{fn} bytes unchanged")
    check("memfd:hotpatch:" not in t.maps(), "no patch left loaded")
    r = hotpatch("status", "--pid", t.pid)
    eq(r.returncode, 0, "status works")
    check("no patches applied" in r.stdout, "status shows nothing applied")
    t.assert_healthy()


def refuse(t, patchname, code, *words, path=None):
    r = hotpatch("--pid", t.pid, path or patch(patchname))
    eq(r.returncode, code, "exit code")
    for w in words:
        check(w in r.stderr, f"the message names {w!r}: {r.stderr!r}")
    return r


def test_fail_no_such_process():
    pid = 4194000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    r = hotpatch("--pid", pid, patch("fix_compute"))
    eq(r.returncode, EXIT_NOPROC, "exit code")
    check(f"no such process: {pid}" in r.stderr, r.stderr)


def test_fail_not_a_process():
    t = Target("worker-gcc", threads=2)
    tid = [x for x in t.threads() if x != t.pid][0]
    r = hotpatch("--pid", tid, patch("fix_compute"))
    eq(r.returncode, EXIT_USAGE, "exit code")
    check(f"--pid {t.pid}" in r.stderr, f"suggests the process id: {r.stderr}")
    untouched(t)


def test_fail_not_elf():
    t = Target("worker-gcc")
    p = os.path.join(tmpdir(), "typo.so")
    with open(p, "w") as f:
        f.write("this is not a shared object\n" * 10)
    refuse(t, None, EXIT_BADPATCH, "not an ELF file", path=p)
    r = hotpatch("--pid", t.pid, os.path.join(tmpdir(), "missing.so"))
    eq(r.returncode, EXIT_BADPATCH, "missing file exit code")
    check("cannot open patch" in r.stderr, r.stderr)
    untouched(t)


def test_fail_no_records():
    t = Target("worker-gcc")
    refuse(t, "bad_norecords", EXIT_BADPATCH, "HOTPATCH_REPLACE")
    untouched(t)


def test_fail_wrong_architecture():
    t = Target("worker-gcc")
    p = os.path.join(tmpdir(), "arm.so")
    shutil.copy(patch("fix_compute"), p)
    with open(p, "r+b") as f:
        f.seek(18)
        f.write((183).to_bytes(2, "little"))  # EM_AARCH64
    refuse(t, None, EXIT_BADPATCH, "not an x86-64", path=p)
    untouched(t)


def test_fail_symbol_not_found():
    t = Target("worker-gcc")
    refuse(t, "bad_nosym", EXIT_BADPATCH, "compute_typo", "not found")
    untouched(t)


def test_fail_not_patchable():
    t = Target("worker-gcc")
    r = refuse(t, "bad_unpatchable", EXIT_NOTPATCHABLE, "unpatchable", "not patchable",
               "found at entry", "-fpatchable-function-entry")
    # the bytes found are shown disassembled
    check("(" in r.stderr and ")" in r.stderr, "disassembly shown")
    untouched(t, ("compute", "unpatchable"))


def test_fail_half_patchable():
    """All or nothing: one unpatchable function stops the whole patch."""
    t = Target("worker-gcc")
    refuse(t, "bad_half", EXIT_NOTPATCHABLE, "unpatchable")
    untouched(t, ("compute", "unpatchable"))


def test_fail_dlopen():
    t = Target("worker-gcc")
    refuse(t, "bad_unresolved", EXIT_BADPATCH, "could not load", "no_such_function_anywhere")
    untouched(t)


def test_fail_wrong_build_id():
    t = Target("worker-gcc")
    refuse(t, "bad_buildid", EXIT_BADPATCH, "build-id", "0123456789abcdef")
    untouched(t)


def test_fail_another_tracer():
    t = Target("worker-gcc")
    # a second tracer seizes the main thread (PTRACE_SEIZE does not stop it)
    helper = subprocess.Popen(
        [sys.executable, "-c",
         "import ctypes,sys,time\n"
         "libc=ctypes.CDLL(None,use_errno=True)\n"
         "r=libc.ptrace(0x4206,int(sys.argv[1]),None,None)\n"
         "print('seized' if r==0 else 'failed',flush=True)\n"
         "time.sleep(120)\n", str(t.pid)],
        stdout=subprocess.PIPE, text=True)
    try:
        eq(helper.stdout.readline().strip(), "seized", "helper attached")
        r = refuse(t, "fix_compute", EXIT_PERM, "another tracer", f"TracerPid {helper.pid}")
        del r
    finally:
        helper.kill()
        helper.wait()
    wait_for(lambda: "TracerPid:\t0" in open(f"/proc/{t.pid}/status").read(),
             what="the helper's detach")
    untouched(t)


def test_fail_permission():
    if os.geteuid() != 0:
        raise Skip("needs root to start a target another user cannot trace")
    if not shutil.which("setpriv"):
        raise Skip("setpriv (util-linux) is missing")
    t = Target("worker-gcc")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        os.environ["HOTPATCH"], "--pid", str(t.pid), patch("fix_compute")],
                       capture_output=True, text=True, timeout=60)
    print(r.stdout, r.stderr)
    eq(r.returncode, EXIT_PERM, "exit code")
    check("root" in r.stderr, f"says how to fix it: {r.stderr}")
    untouched(t)


def test_fail_stripped_static():
    t = Target("worker-gcc-stripped")
    r = hotpatch("--pid", t.pid, patch("fix_static"))
    eq(r.returncode, EXIT_BADPATCH, "exit code")
    check("secret" in r.stderr and ".symtab" in r.stderr, r.stderr)
    eq(t.call("compute", 5), 1005, "still original")
    t.assert_healthy()


def test_fail_usage():
    cases = [
        [],
        ["--pid", "abc", "x.so"],
        ["--pid"],
        ["--pid", "1"],
        ["rollback", "--pid", "1"],
        ["rollback", "--pid", "1", "x.so", "--all"],
        ["--bogus"],
        ["--pid", "1", "--timeout", "-3", "x.so"],
        ["--pid", "1", "a.so", "b.so"],
        ["status"],
    ]
    for args in cases:
        r = hotpatch(*args)
        eq(r.returncode, EXIT_USAGE, f"exit code of hotpatch {' '.join(args)}")
        check(r.stderr.strip(), "an explanation on stderr")


test_fail_usage.no_ptrace = True


def test_help_and_version():
    r = hotpatch("--help")
    eq(r.returncode, 0, "--help")
    check("Usage" in r.stdout and "rollback" in r.stdout and "Exit codes" in r.stdout, r.stdout)
    for verb in ("apply", "rollback", "status", "list"):
        r = hotpatch(verb, "--help")
        eq(r.returncode, 0, f"{verb} --help")
        check(f"hotpatch {verb}" in r.stdout or verb == "apply" and "hotpatch [apply]" in r.stdout,
              f"{verb} usage: {r.stdout}")
    r = hotpatch("--version")
    eq(r.returncode, 0, "--version")
    check(r.stdout.startswith("hotpatch "), r.stdout)


test_help_and_version.no_ptrace = True
