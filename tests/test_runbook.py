# SPDX-License-Identifier: LGPL-2.1-or-later
"""What runbooks and fleet tools rely on: every exit code, every JSON field,
dry runs that change nothing, selecting processes, trusting patch files,
timeouts, and an audit line in syslog."""
import hashlib
import os
import shutil
import socket
import stat
import subprocess
import time

from hptest import (BUILD, HOTPATCH, HeldLock, Skip, Target, check, eq, hotpatch, hotpatch_json, patch, prologue, tmpdir)


def test_exit_codes():
    t = Target("worker-gcc")
    missing = 4194000
    while os.path.exists(f"/proc/{missing}"):
        missing -= 1
    cases = [
        (0, ["--pid", t.pid, patch("fix_compute")]),
        (0, ["--pid", t.pid, patch("fix_compute")]),          # already applied
        (2, ["--pid", t.pid]),                                  # usage
        (3, ["--pid", missing, patch("fix_compute")]),
        (5, ["--pid", t.pid, patch("bad_nosym")]),
        (6, ["--pid", t.pid, patch("bad_unpatchable")]),
        (7, ["rollback", "--pid", t.pid, patch("fix_compute"), "--dry-run"]),
    ]
    for want, args in cases[:-1]:
        r = hotpatch(*args)
        eq(r.returncode, want, f"exit code of {args}")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 8, "nothing to do")
    # 9: one process patched, one not
    r = hotpatch("--pid", t.pid, "--pid", missing, patch("fix_compute"))
    eq(r.returncode, 9, "partial success")
    eq(t.call("compute", 1), 2001, "the good one was patched")
    # 1: hotpatch's own record in the target is damaged
    ctl = [l for l in t.maps().splitlines() if "memfd:hotpatch-ctl" in l][0]
    start = int(ctl.split("-")[0], 16)
    slot_size = ((1 << 20) - 0x1000) // 2
    with open(f"/proc/{t.pid}/mem", "r+b") as f:
        for slot in (0, 1):  # inside each registry slot's payload
            f.seek(start + 0x1000 + slot * slot_size + 32)
            f.write(b"\xff" * 16)
    r = hotpatch("status", "--pid", t.pid)
    eq(r.returncode, 1, "internal: a damaged registry")
    check("damaged" in r.stderr, r.stderr)
    # (4, permission, is in test_errors.test_fail_permission and test_patch_file_trust)
    t.assert_healthy()


def test_json_fields():
    t = Target("worker-gcc")
    code, doc = hotpatch_json("--pid", t.pid, patch("fix_original"))
    eq(code, 0, "apply")
    for k in ("schema", "command", "version", "dry_run", "processes", "notes", "ok",
              "exit_code", "exit_class"):
        check(k in doc, f"top-level {k}")
    eq((doc["command"], doc["ok"], doc["exit_code"], doc["exit_class"]),
       ("apply", True, 0, "ok"), "outcome")
    p = doc["processes"][0]
    eq((p["pid"], p["comm"], p["exe"], p["result"]),
       (t.pid, "worker-gcc", os.path.realpath(t.path), "applied"), "process")
    for k in ("total", "resolve", "load", "seize", "stop", "pause", "record", "unload"):
        check(isinstance(p["timings_us"][k], int), f"timings_us.{k}")
    check(p["timings_us"]["pause"] < p["timings_us"]["total"], "the pause is part of the total")
    check(p["threads_stopped"] >= 9, "every thread was stopped")
    patch0 = p["patches"][0]
    with open(patch("fix_original"), "rb") as f:
        eq(patch0["sha256"], hashlib.sha256(f.read()).hexdigest(), "sha256")
    check(len(patch0["build_id"]) == 40, "build-id of the patch")
    f0 = patch0["functions"][0]
    eq((f0["symbol"], f0["result"], f0["replacement"]), ("compute", "applied", "compute_wrapped"),
       "function")
    check(int(f0["replacement_address"], 16) > 0 and f0["trampoline"].startswith("0x"), "targets")

    # a failure says, per function, what failed and what was skipped with it
    code, doc = hotpatch_json("--pid", t.pid, patch("bad_half"))
    eq(code, 6, "exit code")
    eq((doc["ok"], doc["exit_class"]), (False, "not-patchable"), "outcome")
    p = doc["processes"][0]
    eq(p["result"], "error", "result")
    eq(p["error"]["class"], "not-patchable", "error class")
    check("unpatchable" in p["error"]["message"], "message")
    funcs = {f["symbol"]: f for f in p["patches"][0]["functions"]}
    eq(funcs["unpatchable"]["result"], "failed", "the culprit")
    eq(funcs["compute"]["result"], "skipped", "the innocent one")
    check("all of its functions or none" in funcs["compute"]["reason"], "why skipped")
    t.assert_healthy()


def test_dry_run_writes_nothing():
    t = Target("worker-gcc")
    before, disk = prologue(t, "compute")
    maps = t.maps()
    code, doc = hotpatch_json("--dry-run", "--pid", t.pid, patch("fix_compute"))
    eq(code, 0, "dry run")
    p = doc["processes"][0]
    eq(p["result"], "would-apply", "result")
    eq(p["patches"][0]["functions"][0]["symbol"], "compute", "what it would do")
    check(p["threads_stopped"] >= 9 and "threads_in_window" in p, "threads were checked")
    eq(prologue(t, "compute")[0], before, "bytes unchanged")
    eq(t.maps(), maps, "nothing mapped: not even hotpatch's control mapping")
    eq(t.call("compute", 5), 1005, "still original")
    r = hotpatch("--dry-run", "--pid", t.pid, patch("bad_unpatchable"))
    eq(r.returncode, 6, "a dry run finds what a real run would refuse")
    t.assert_healthy()


def private_copies(*names):
    """Copies of test programs, so that selecting by executable or library
    cannot catch processes of tests running alongside."""
    d = tmpdir()
    for n in names + ("libworklib.so",):
        shutil.copy(os.path.join(BUILD, n), d)
    return d


def test_exe_selects_processes():
    d = private_copies("worker-gcc", "worker-clang")
    exe = os.path.join(d, "worker-gcc")
    same = [Target(exe, threads=2) for _ in range(3)]
    other = Target(os.path.join(d, "worker-clang"), threads=2)
    code, doc = hotpatch_json("--exe", exe, patch("fix_compute"))
    eq(code, 0, "apply to every worker-gcc")
    eq(sorted(p["pid"] for p in doc["processes"]), sorted(t.pid for t in same), "the three")
    for t in same:
        eq(t.call("compute", 1), 2001, f"pid {t.pid} patched")
        t.assert_healthy()
    eq(other.call("compute", 1), 1001, "the unrelated process is untouched")
    code, doc = hotpatch_json("rollback", "--exe", exe, patch("fix_compute"))
    eq(code, 0, "rollback everywhere")
    for t in same:
        eq(t.call("compute", 1), 1001, "original")
    r = hotpatch("--exe", "/bin/true", patch("fix_compute"))
    eq(r.returncode, 3, "no process runs it")


def test_lib_selects_processes():
    d = private_copies("worker-gcc", "worker-clang")
    a = Target(os.path.join(d, "worker-gcc"), threads=2)
    b = Target(os.path.join(d, "worker-clang"), threads=2)
    lib = os.path.join(d, "libworklib.so")
    code, doc = hotpatch_json("--lib", lib, patch("fix_lib_default"))
    eq(code, 0, "apply to every process mapping the library")
    eq(sorted(p["pid"] for p in doc["processes"]), sorted([a.pid, b.pid]), "both, only them")
    for t in (a, b):
        eq(t.call("lib_step", 1), 31, "the library's function, though the patch named none")
        eq(t.call("compute", 1), 1001, "the executable untouched")
    eq(hotpatch("rollback", "--pid", a.pid, "--pid", b.pid, patch("fix_lib_default")).returncode,
       0, "rollback")


def test_stop_on_error():
    a, b = Target("worker-gcc", threads=2), Target("worker-gcc", threads=2)
    helper = subprocess.Popen(["sleep", "60"])  # not patchable: no worker symbols
    try:
        code, doc = hotpatch_json("--stop-on-error", "--pid", a.pid, "--pid", helper.pid,
                                  "--pid", b.pid, patch("fix_compute"))
        eq(code, 9, "partial")
        res = [p["result"] for p in doc["processes"]]
        eq(res, ["applied", "error", "skipped"], "stopped after the failure")
        eq(b.call("compute", 1), 1001, "the last one was left alone")
        code, doc = hotpatch_json("--pid", helper.pid, "--pid", b.pid, patch("fix_compute"))
        eq([p["result"] for p in doc["processes"]], ["error", "applied"], "default: go on")
    finally:
        helper.kill()
        helper.wait()


def test_patch_file_trust():
    if os.geteuid() != 0:
        raise Skip("the checks apply when hotpatch runs as root")
    t = Target("worker-gcc")
    d = os.path.join(tmpdir(), "patches")
    os.mkdir(d, 0o755)
    p = os.path.join(d, "fix.so")
    shutil.copy(patch("fix_compute"), p)
    os.chmod(p, 0o666)
    r = hotpatch("--pid", t.pid, p)
    eq(r.returncode, 4, "a world-writable patch is refused")
    check("writable by everyone" in r.stderr and "--insecure" in r.stderr, r.stderr)
    os.chmod(p, 0o644)
    os.chmod(d, 0o777)
    r = hotpatch("--pid", t.pid, p)
    eq(r.returncode, 4, "a patch in a world-writable directory is refused")
    check(d in r.stderr, r.stderr)
    os.chmod(d, 0o755)
    os.chown(p, 4321, 4321)
    r = hotpatch("--pid", t.pid, p)
    eq(r.returncode, 4, "a patch owned by another user is refused")
    check("uid 4321" in r.stderr, r.stderr)
    eq(t.call("compute", 1), 1001, "nothing applied")
    eq(hotpatch("--insecure", "--pid", t.pid, p).returncode, 0, "--insecure accepts it")
    eq(hotpatch("rollback", "--pid", t.pid, p).returncode, 0, "rollback")
    os.chown(p, 0, 0)
    with open(p, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    r = hotpatch("--sha256", "0" * 64, "--pid", t.pid, p)
    eq(r.returncode, 5, "a different hash is refused")
    check(sha in r.stderr, r.stderr)
    eq(hotpatch("--sha256", sha, "--pid", t.pid, p).returncode, 0, "the pinned hash applies")
    t.assert_healthy()


def test_lock_and_timeout():
    """Another hotpatch holding the target: we wait up to --timeout, then
    give up, leaving the target as it was."""
    t = Target("worker-gcc")
    # what a running hotpatch holds
    with HeldLock(t.pid, f"hotpatch pid=4242 uid=0 user=root verb=apply since={int(time.time())}\n"
                  .encode()):
        t0 = time.monotonic()
        r = hotpatch("--timeout", "1", "--pid", t.pid, patch("fix_compute"))
        waited = time.monotonic() - t0
        eq(r.returncode, 7, "busy")
        check("another hotpatch (pid 4242" in r.stderr, r.stderr)
        check(waited >= 0.9, f"it waited for the lock ({waited:.2f}s of --timeout 1)")
        eq(t.call("compute", 1), 1001, "unchanged")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "free again")
    t.assert_healthy()


def test_audit_syslog():
    """Every apply and rollback leaves a line in syslog: who, which process
    and executable, the patch and its hash, the functions, the outcome."""
    if os.path.exists("/dev/log"):
        raise Skip("a syslog daemon owns /dev/log here; see the journal for hotpatch's lines")
    if os.geteuid() != 0:
        raise Skip("needs root to stand in for the syslog daemon at /dev/log")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind("/dev/log")
    try:
        log.settimeout(10)
        t = Target("worker-gcc")
        eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
        msg = log.recv(4096).decode()
        for want in ("hotpatch[", "apply applied", f"pid={t.pid}",
                     f'exe="{os.path.realpath(t.path)}"', f'patch="{os.path.realpath(patch("fix_compute"))}"',
                     "sha256=", 'functions="compute"', 'user="root" uid=0'):
            check(want in msg, f"{want!r} in {msg!r}")
        check(msg.startswith("<85>"), f"authpriv.notice: {msg[:5]}")  # 10*8+5
        eq(hotpatch("--pid", t.pid, patch("bad_nosym")).returncode, 5, "a failure")
        msg = log.recv(4096).decode()
        check(msg.startswith("<84>") and "apply failed" in msg and "error=" in msg, msg)
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
        msg = log.recv(4096).decode()
        check("rollback rolled-back" in msg and 'functions="compute"' in msg, msg)
    finally:
        log.close()
        os.unlink("/dev/log")


def test_timeout_bounds_the_whole_command():
    """--timeout is for the whole command, not for each process: three
    processes another hotpatch holds are given up on within it, together."""
    ts = [Target("worker-gcc", threads=2) for _ in range(3)]
    for t in ts:
        HeldLock(t.pid, b"hotpatch pid=1 uid=0 user=root verb=apply since=1\n")
    t0 = time.monotonic()
    r = hotpatch("--timeout", "2", *[a for t in ts for a in ("--pid", t.pid)], patch("fix_compute"))
    took = time.monotonic() - t0
    eq(r.returncode, 7, "all three busy")
    eq(r.stderr.count("another hotpatch"), 3, f"each one says why: {r.stderr}")
    check(took < 4, f"the command ended within --timeout 2 (took {took:.1f} s, not 3 x 2)")
    for t in ts:
        eq(t.call("compute", 1), 1001, "untouched")
