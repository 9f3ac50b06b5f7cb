# SPDX-License-Identifier: LGPL-2.1-or-later
"""hotpatch never harms its target: under load, with threads coming and
going, threads asleep in syscalls, signals arriving, hardened processes,
a stopped process, two hotpatch runs at once, and any bad input."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from hptest import (BUILD, HOTPATCH, Fail, Skip, Target, check, eq, hotpatch, hotpatch_json,
                    lock_path, patch, prologue, tmpdir, wait_for, wait_paused)

CYCLES = int(os.environ.get("HOTPATCH_STRESS_CYCLES", "200"))
# the storm finds races in attaching: as many cycles as the stress asks, at least 50
STORM_CYCLES = max(50, CYCLES // 4)


def cycle(t, n, patchname="fix_compute", fn="compute", new=2005, old=1005):
    for i in range(n):
        eq(hotpatch("--pid", t.pid, patch(patchname)).returncode, 0, f"apply #{i}")
        eq(hotpatch("rollback", "--pid", t.pid, patch(patchname)).returncode, 0, f"rollback #{i}")
        check(t.alive(), f"target alive after cycle {i}")
    eq(t.call(fn, 5), old, "original at the end")


def test_stress_64_threads():
    """64 threads call compute() non-stop through CYCLES apply/rollback
    cycles: not one wrong answer, bytes exact at the end."""
    t = Target("worker-gcc", threads=64)
    disk = prologue(t, "compute")[1]
    flips = stepped = 0
    for i in range(CYCLES):
        code, doc = hotpatch_json("--pid", t.pid, patch("fix_compute"))
        eq(code, 0, f"apply #{i}")
        stepped += doc["processes"][0]["threads_single_stepped"]
        code, doc = hotpatch_json("rollback", "--pid", t.pid, patch("fix_compute"))
        eq(code, 0, f"rollback #{i}")
        flips += 2
        if i % 50 == 49:
            t.assert_healthy()
    calls, wrong = t.stats()
    print(f"{CYCLES} cycles, {flips} flips, {stepped} single steps, {calls} calls")
    eq(wrong, 0, "wrong answers")
    eq(prologue(t, "compute")[0], disk, "bytes exact at the end")
    t.assert_healthy()


def test_thread_storm():
    """A thread creates and joins threads as fast as it can while the
    process is patched: every thread is caught, none is left stopped."""
    t = Target("worker-gcc", threads=2)
    eq(t.cmd("storm"), "storming", "storm started")
    before = int(t.cmd("storm?"))
    cycle(t, STORM_CYCLES)
    after = int(t.cmd("storm?"))
    check(after > before, f"threads kept coming and going ({before} -> {after})")
    t.assert_healthy()


def asleep_in_syscall(pid, tid):
    """The kernel says the thread sleeps inside a system call (whichever:
    /proc/PID/task/TID/syscall names one, not "running" or -1)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/syscall") as f:
            nr = f.read().split()[0]
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return st == "S" and nr.lstrip("-").isdigit() and int(nr) >= 0


def test_syscalls_and_signals():
    """Threads asleep in epoll_wait, semop and sigtimedwait (which abort on
    EINTR), nanosleep (which counts early returns) and read; a storm of
    queued real-time signals meanwhile: the syscalls never notice, and no
    signal is lost.  The epoll_wait and semop threads never wake by
    themselves, so every stop hotpatch makes while they sleep makes both
    return EINTR, and hotpatch must undo both, every time."""
    t = Target("worker-gcc", threads=2)
    line = t.cmd("syscalls")
    check(line.startswith("waiting "), f"syscall threads started: {line!r}")
    epoll_tid, semop_tid = (int(x) for x in line.split()[1:3])
    sleepers = (epoll_tid, semop_tid)
    sent = [0]
    stop = threading.Event()

    def storm():
        # kill() queues real-time signals beyond RLIMIT_SIGPENDING (the
        # kernel overrides the limit for them): bound the storm, or a starved
        # target takes minutes to drain it
        while not stop.is_set() and sent[0] < 100000:
            try:
                os.kill(t.pid, signal.SIGRTMIN)
                sent[0] += 1
            except OSError:  # the queue is full: count only what was queued
                time.sleep(0.001)

    def both_asleep(what):
        wait_for(lambda: all(asleep_in_syscall(t.pid, x) for x in sleepers), timeout=10,
                 what=f"{what}: the epoll_wait and semop threads asleep in their calls")

    sender = threading.Thread(target=storm)
    sender.start()
    try:
        restarted = 0
        for i in range(15):
            for verb in ("apply", "rollback"):
                both_asleep(f"before {verb} #{i}")
                code, doc = hotpatch_json(verb, "--pid", t.pid, patch("fix_compute"))
                eq(code, 0, f"{verb} #{i}")
                n = doc["processes"][0]["waits_restarted"]
                check(n >= len(sleepers), f"{verb} #{i}: the EINTRs of both sleepers were "
                      f"undone (waits_restarted {n})")
                restarted += n
                check(t.alive(), f"the target lives after {verb} #{i}")
    finally:
        stop.set()
        sender.join()
    eq(t.cmd("trouble"), "0", "nanosleep and read saw nothing")
    eq(t.cmd("feed"), "4", "the blocked reader still reads")
    got = [0]

    def all_delivered():
        got[0] = int(t.cmd("signals"))
        return got[0] == sent[0]

    try:
        wait_for(all_delivered, timeout=120, what="every real-time signal delivered")
    except Exception:
        raise Fail(f"{sent[0]} real-time signals sent, {got[0]} received")
    print(f"{sent[0]} signals sent and received, {restarted} EINTRs undone")
    t.assert_healthy()


def thread_states(t):
    """{tid: (state letter, TracerPid)} of every thread, as the kernel reports them."""
    out = {}
    for tid in t.threads():
        with open(f"/proc/{t.pid}/task/{tid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{t.pid}/task/{tid}/status") as f:
            tracer = [l.split()[1] for l in f if l.startswith("TracerPid:")][0]
        out[tid] = (st, tracer)
    return out


def stays_stopped(t, what):
    """Every thread in a job-control stop ('T') with no tracer: only SIGCONT
    makes such a thread run again.  A thread hotpatch ran a call on goes back
    into the stop as it leaves the kernel after the detach: that takes a
    moment, so wait for it, bounded."""
    wait_for(lambda: set(thread_states(t).values()) == {("T", "0")}, timeout=10,
             what=f"{what}: every thread in the stop, untraced ({thread_states(t)})")


def runs_again(t, what):
    os.kill(t.pid, signal.SIGCONT)
    wait_for(lambda: all(st not in ("T", "t") for st, _ in thread_states(t).values()),
             timeout=10, what=f"{what}: SIGCONT makes every thread run ({thread_states(t)})")


def test_job_control_stopped():
    """A process stopped by SIGSTOP is patched and stays stopped: after each
    command every thread is in the stop the kernel reports, and SIGCONT then
    makes them run.  (Its threads do not run compute(): a thread stopped
    inside the replacement would rightly keep the patch from being
    unloaded.)"""
    t = Target("worker-gcc", threads=0)
    # One round trip first: right after "ready" the only thread may still be
    # binding fgets lazily, and stopped inside the dynamic loader it is
    # rightly never a thread hotpatch may load code from.
    eq(t.call("compute", 5), 1005, "original")
    os.kill(t.pid, signal.SIGSTOP)
    stays_stopped(t, "SIGSTOP")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply to a stopped process")
    stays_stopped(t, "after apply")
    eq(hotpatch("status", "--pid", t.pid).returncode, 0, "status")
    stays_stopped(t, "after status")
    runs_again(t, "after apply")
    eq(t.call("compute", 5), 2005, "patched once it runs")
    os.kill(t.pid, signal.SIGSTOP)
    stays_stopped(t, "the second SIGSTOP")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    stays_stopped(t, "after rollback")
    runs_again(t, "after rollback")
    eq(t.call("compute", 5), 1005, "original")
    t.assert_healthy()


def hardened(how):
    return Target("worker-gcc", threads=2, env={"WORKER_HARDEN": how})


SECCOMP_FILTERS = (("seccomp-kill-memfd", "kills the process for memfd_create"),
                   ("seccomp-errno-memfd", "fails it with"))


def test_hardened_seccomp_suspended():
    """A seccomp filter that would kill the target (or fail it) for a call
    hotpatch makes in it: root suspends the filter for its own calls, in
    the one thread that makes them (PTRACE_O_SUSPEND_SECCOMP), and patches;
    the filter is back in place after."""
    for how, _ in SECCOMP_FILTERS:
        t = hardened(how)
        r = hotpatch("--dry-run", "--pid", t.pid, patch("fix_compute"))
        eq(r.returncode, 0, f"{how}: a dry run sees it can be done")
        r = hotpatch("--pid", t.pid, patch("fix_compute"))
        eq(r.returncode, 0, f"{how}: apply")
        check("PTRACE_O_SUSPEND_SECCOMP" in r.stderr, f"{how}: says so: {r.stderr}")
        eq(t.call("compute", 5), 2005, f"{how}: patched")
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0,
           f"{how}: rollback")
        eq(t.call("compute", 5), 1005, f"{how}: original")
        with open(f"/proc/{t.pid}/status") as f:
            check("Seccomp:\t2" in f.read(), f"{how}: the filter is still there")
        t.assert_healthy()


def _under_seccomp():
    """In the child, before exec: a filter that allows everything, enough
    that the kernel will not let this process suspend another's."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    allow = (Filter * 1)(Filter(0x06, 0, 0, 0x7fff0000))  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
    prog = Prog(1, allow)
    if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(prog), 0, 0):
        raise OSError(ctypes.get_errno(), "seccomp")


def test_hardened_seccomp_refused():
    """Where the filter can be neither read nor suspended (hotpatch itself
    runs under seccomp, or lacks CAP_SYS_ADMIN), the patch is refused
    before anything is written, saying what it needs."""
    for how, _ in SECCOMP_FILTERS:
        t = hardened(how)
        disk = prologue(t, "compute")[1]
        maps = t.maps()
        runs = [([HOTPATCH, "--pid", t.pid], _under_seccomp),
                ([HOTPATCH, "--dry-run", "--pid", t.pid], _under_seccomp)]
        if shutil.which("setpriv"):
            runs.append((["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin",
                          HOTPATCH, "--pid", t.pid], None))
        for cmd, pre in runs:
            r = subprocess.run([str(a) for a in cmd] + [patch("fix_compute")],
                               capture_output=True, text=True, timeout=60, preexec_fn=pre)
            print(r.stderr)
            eq(r.returncode, 4, f"{how} {cmd[:2]}: refused, permission")
            check("seccomp" in r.stderr and "CAP_SYS_ADMIN" in r.stderr,
                  f"{how}: says what it needs: {r.stderr}")
        eq(prologue(t, "compute")[0], disk, f"{how}: unchanged")
        eq(t.maps(), maps, f"{how}: nothing mapped")
        t.assert_healthy()


def test_hardened_allowed():
    """A seccomp filter that allows what hotpatch needs, no W+X memory
    (MDWE), a non-dumpable process as root: patched."""
    for how in ("seccomp-unrelated", "mdwe", "nondumpable"):
        t = hardened(how)
        eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, f"{how}: apply")
        eq(t.call("compute", 5), 2005, f"{how}: patched")
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0,
           f"{how}: rollback")
        t.assert_healthy()


def test_hardened_nondumpable_as_user():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        raise Skip("needs root and setpriv to run target and tool as another user")
    d = tmpdir()
    os.chmod(d, 0o755)
    for f in ("worker-gcc", "libworklib.so", "fix_compute.so"):
        shutil.copy(os.path.join(BUILD, f), d)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    p = subprocess.Popen(as_nobody + [os.path.join(d, "worker-gcc"), "2"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=dict(os.environ, WORKER_HARDEN="nondumpable"))
    try:
        check(p.stdout.readline().startswith("ready"), "target ready")
        r = subprocess.run(as_nobody + [HOTPATCH, "--pid", str(p.pid),
                                        os.path.join(d, "fix_compute.so")],
                           capture_output=True, text=True, timeout=60)
        print(r.stderr)
        eq(r.returncode, 4, "the same user may not patch a non-dumpable process")
        check("not dumpable" in r.stderr and "root" in r.stderr, r.stderr)
        check(p.poll() is None, "target alive")
    finally:
        p.kill()
        p.wait()


def test_two_runs_at_once():
    """Two hotpatch runs on one process never interleave: the second waits.
    The first is held just after its flip, lock in hand, while the second
    starts; the second must be seen waiting on the lock, and finish after."""
    t = Target("worker-gcc", threads=8)
    env = dict(os.environ, HOTPATCH_PAUSE_AT="apply:flipped", HOTPATCH_FAULT_TRACE="1")
    a = subprocess.Popen([HOTPATCH, "--pid", str(t.pid), patch("fix_compute")], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    b = None
    try:
        wait_paused(a, "apply:flipped")
        lock = lock_path(t.pid)
        b = subprocess.Popen([HOTPATCH, "--pid", str(t.pid), patch("fix_lib")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def b_waits_on_the_lock():
            check(b.poll() is None, f"the second run did not wait (exit {b.poll()})")
            try:
                fds = os.listdir(f"/proc/{b.pid}/fd")
                return any(os.readlink(f"/proc/{b.pid}/fd/{fd}") == lock for fd in fds)
            except OSError:
                return False
        wait_for(b_waits_on_the_lock, timeout=20, what="the second run to open the lock")
        check(b.poll() is None, "the second run waits while the first holds the lock")
        eq(t.call("compute", 5), 2005, "the first run's flip is in effect")
        eq(t.call("lib_step", 5), 15, "the second run has done nothing yet")
        out_a = a.communicate(input=b"\n", timeout=60)[1].decode()  # let the first go
        out_b = b.communicate(timeout=60)[1]
        eq((a.returncode, b.returncode), (0, 0), f"both succeed: {out_a}{out_b}")
    finally:
        for p in (a, b):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    code, doc = hotpatch_json("status", "--pid", t.pid)
    pats = doc["processes"][0]["patches"]
    eq([os.path.basename(p["path"]) for p in pats], ["fix_compute.so", "fix_lib.so"],
       "both recorded, one after the other")
    check(pats[0]["applied_at_ns"] < pats[1]["applied_at_ns"], "the second applied after the first")
    eq((t.call("compute", 5), t.call("lib_step", 5)), (2005, 25), "both in effect")
    t.assert_healthy()


def test_bad_input_catalogue():
    """Every kind of bad input: its own clear refusal, and the target exactly
    as before after all of them."""
    t = Target("worker-gcc")
    disk = prologue(t, "compute")[1]
    maps = t.maps()
    d = tmpdir()
    good = open(patch("fix_compute"), "rb").read()

    def write(name, data):
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def corrupt(offset_fn, value):
        b = bytearray(good)
        off = offset_fn(b)
        b[off:off + len(value)] = value
        return bytes(b)

    def section_offset(b):
        import struct
        shoff, = struct.unpack_from("<Q", b, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3a)
        stroff, = struct.unpack_from("<Q", b, shoff + shstrndx * shentsize + 0x18)
        for i in range(shnum):
            name, = struct.unpack_from("<I", b, shoff + i * shentsize)
            if b[stroff + name:stroff + name + 9] == b"hotpatch\0":
                return struct.unpack_from("<Q", b, shoff + i * shentsize + 0x18)[0]
        raise AssertionError("no hotpatch section")

    fifo = os.path.join(d, "fifo.so")
    os.mkfifo(fifo)
    os.mkdir(os.path.join(d, "dir.so"))
    elf32 = bytearray(good)
    elf32[4] = 1
    cases = [
        ("empty file", write("empty.so", b""), 5, "implausible size"),
        ("short file", write("short.so", b"\x7fELF" + b"\0" * 60), 5, "ELF"),
        ("text file", write("text.so", b"not a patch\n" * 20), 5, "not an ELF"),
        ("truncated ELF", write("trunc.so", good[:200]), 5, ""),
        ("32-bit ELF", write("elf32.so", bytes(elf32)), 5, "x86-64"),
        ("an executable", os.path.join(BUILD, "worker-gcc"), 5, "not a patch"),
        ("a directory", os.path.join(d, "dir.so"), 5, "not a regular file"),
        ("a FIFO", fifo, 5, "not a regular file"),
        ("a device", "/dev/zero", 5, "not a regular file"),
        ("missing file", os.path.join(d, "nope.so"), 5, "cannot open"),
        ("bad record magic", write("magic.so", corrupt(section_offset, b"XXXX")), 5, "magic"),
        ("newer ABI", write("abi.so", corrupt(lambda b: section_offset(b) + 4, b"\x07\x00")), 5,
         "ABI 7"),
        ("no records", patch("bad_norecords"), 5, "HOTPATCH_REPLACE"),
        ("symbol not found", patch("bad_nosym"), 5, "compute_typo"),
        ("object not loaded", patch("bad_noobject"), 5, "libnope.so.9"),
        ("not patchable", patch("bad_unpatchable"), 6, "not patchable"),
        ("half patchable", patch("bad_half"), 6, "unpatchable"),
        ("dlopen fails", patch("bad_unresolved"), 5, "no_such_function_anywhere"),
        ("wrong build-id", patch("bad_buildid"), 5, "build-id"),
    ]
    for what, path, code, words in cases:
        r = hotpatch("--pid", t.pid, path, timeout=30)
        eq(r.returncode, code, f"{what}: exit code")
        check(words in r.stderr, f"{what}: the message says {words!r}: {r.stderr}")
        check(r.stderr.count("\n") <= 3, f"{what}: one clear message, not a flood")
    for args, code in ((["--pid", "0", patch("fix_compute")], 2),
                       (["--pid", "-5", patch("fix_compute")], 2),
                       (["--pid", "99999999999", patch("fix_compute")], 2),
                       (["--pid", str(os.getpid() + 10 ** 6), patch("fix_compute")], 3),
                       (["--timeout", "abc", "--pid", t.pid, patch("fix_compute")], 2),
                       (["--sha256", "xyz", "--pid", t.pid, patch("fix_compute")], 2),
                       (["frobnicate", "--pid", t.pid], 5),
                       (["--exe", os.path.join(d, "nope"), patch("fix_compute")], 2)):
        r = hotpatch(*args)
        eq(r.returncode, code, f"exit code of {args}")
        check(r.stderr.strip(), f"{args}: says why")
    eq(prologue(t, "compute")[0], disk, "bytes exactly as before")
    after = t.maps()
    check("memfd:hotpatch:" not in after, "no patch loaded")
    # the one failure that got as far as dlopen made the control mapping
    eq([l for l in after.splitlines() if "hotpatch" not in l],
       [l for l in maps.splitlines() if "hotpatch" not in l] or None, "no other mapping changed")
    t.assert_healthy()


def test_freezer_flip():
    """--freezer: the flip through the cgroup-v1 freezer gives the same
    result, and the target ends up in its own cgroup again, thawed."""
    if not os.path.exists("/sys/fs/cgroup/freezer/cgroup.procs") or os.geteuid() != 0:
        raise Skip("needs root and a cgroup-v1 freezer hierarchy")
    t = Target("worker-gcc", threads=16)
    before = open(f"/proc/{t.pid}/cgroup").read()
    disk = prologue(t, "compute")[1]
    paths = set()
    for i in range(10):
        code, doc = hotpatch_json("--freezer", "--pid", t.pid, patch("fix_compute"))
        eq(code, 0, f"apply #{i}")
        paths.add(doc["processes"][0]["flip_path"])
        eq(t.call("compute", 5), 2005, "patched")
        eq(open(f"/proc/{t.pid}/cgroup").read(), before, "back in its own cgroups")
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    check("freezer" in paths, f"the freezer did flips ({paths})")
    eq(prologue(t, "compute")[0], disk, "bytes exact")
    # ours only: tests running alongside may be in the middle of a freeze
    check(not [d for d in os.listdir("/sys/fs/cgroup/freezer")
               if d.startswith(f"hotpatch-{t.pid}-")], "no freezer cgroup left behind")
    t.assert_healthy()


def test_no_dlopen_inside_malloc():
    """Every thread spends its life in malloc and free: hotpatch must run
    dlopen only on a thread outside them, or the target deadlocks."""
    t = Target("worker-gcc", threads=0)
    eq(t.cmd("mallocstorm"), "storming", "the malloc storm started")
    for i in range(5):
        code, doc = hotpatch_json("--timeout", "30", "--pid", t.pid, patch("fix_compute"))
        eq(code, 0, f"apply #{i} (a deadlock would time out): {doc}")
        eq(hotpatch("--timeout", "30", "rollback", "--pid", t.pid, patch("fix_compute")).returncode,
           0, f"rollback #{i}")
    check(t.alive(), "alive")
    check(t.state() != "T", "not stopped")


def test_trampoline_gap_taken_meanwhile():
    """The gap hotpatch chose for a trampoline page is taken by the target's
    own mmap before hotpatch maps it: hotpatch chooses again and the apply
    succeeds, with the patch it loaded still loaded (it used to dlclose the
    patch here and go on with a stale handle), and the target's own page
    left alone."""
    t = Target("worker-gcc", threads=4)
    env = dict(os.environ, HOTPATCH_PAUSE_AT="apply:trampolines-chosen",
               HOTPATCH_FAULT_TRACE="1")
    a = subprocess.Popen([HOTPATCH, "--pid", str(t.pid), patch("fix_compute")], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        said = wait_paused(a, "apply:trampolines-chosen")
        pages = re.findall(r"mark trampoline page (0x[0-9a-f]+)", said)
        check(pages, f"hotpatch said where its trampoline pages go: {said}")
        eq(t.cmd(f"mapat {pages[0]}"), pages[0], "the target took the gap first")
        err = a.communicate(input=b"\n", timeout=60)[1].decode()
        eq(a.returncode, 0, f"apply after choosing again: {err}")
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    check(err.count("paused at apply:trampolines-chosen") == 1, "paused once")
    check("a trampoline gap was taken" in err, f"it chose again: {err}")
    eq(t.call("compute", 5), 2005, "patched")
    maps = t.maps()
    check(any(line.startswith(pages[0][2:]) for line in maps.splitlines()),
          "the target's own page is still mapped")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
    eq(t.call("compute", 5), 1005, "original")
    maps = t.maps()
    check("memfd:hotpatch:" not in maps and "memfd:hotpatch-tramp" not in maps,
          "the patch and its trampolines are gone")
    t.assert_healthy()
