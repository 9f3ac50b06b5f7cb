# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for hotpatch's integration tests: real targets, real ptrace.

A test starts targets with Target(...) (they announce "ready PID" on stdout,
so no test ever sleeps to wait for one), runs the real CLI with hotpatch(),
and checks what a user would check. Every target is stopped by its PID when
the test ends, pass or fail; temporary files live in tmpdir().
"""
import fcntl
import ctypes
import json
import os
import pwd
import select
import shutil
import signal
import struct
import subprocess
import time

HOTPATCH = os.environ.get("HOTPATCH", "hotpatch")
BUILD = os.environ.get("HP_TESTS_BUILD", ".")
SOURCE = os.environ.get("HP_SOURCE_ROOT", ".")

_started = []
_users = []
_cleanups = []
_locks = []
_tmp = [None]


class Skip(Exception):
    """Raise to skip a test; the reason is printed."""


class Fail(AssertionError):
    pass


def tmpdir():
    return _tmp[0]


def exe(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        raise Skip(f"{name} was not built (is its compiler installed?)")
    return path


def patch(name):
    return os.path.join(BUILD, name + ".so")


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


def hotpatch(*args, timeout=120, env=None, cwd=None):
    """Runs the CLI (in `cwd` when given); returns the CompletedProcess (text)."""
    cmd = [HOTPATCH] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    where = f"(in {cwd}) " if cwd else ""
    print(f"{where}$ {' '.join(cmd)}\n-> exit {r.returncode}\n{r.stdout}{r.stderr}", flush=True)
    return r


def hotpatch_json(*args, **kw):
    r = hotpatch("--json", *args, **kw)
    try:
        doc = json.loads(r.stdout)
    except ValueError as e:
        raise Fail(f"--json output is not JSON ({e}): {r.stdout!r}")
    eq(doc.get("schema"), 1, "JSON schema")
    return r.returncode, doc


class User:
    """A throwaway unprivileged account, made for one test and removed when
    the test ends, pass or fail (after every process the test started was
    stopped). Attacks on root's hotpatch run as this user."""

    def __init__(self):
        if os.geteuid() != 0:
            raise Skip("needs root to create a throwaway user")
        if not shutil.which("useradd") or not shutil.which("setpriv"):
            raise Skip("needs useradd and setpriv (passwd, util-linux)")
        self.name = f"hpt{os.getpid()}"
        # parallel tests take turns on /etc/passwd's lock
        for _ in range(100):
            r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                                "/usr/sbin/nologin", "--user-group", self.name],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            if r.returncode != 10:  # 10: cannot lock the password file
                raise Fail(f"useradd {self.name}: {r.stderr.strip()}")
            time.sleep(0.05)
        else:
            raise Fail(f"useradd {self.name}: /etc/passwd stayed locked")
        _users.append(self)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # the user must reach the test's files
        os.chmod(tmpdir(), 0o755)

    def argv(self, *cmd):
        """cmd, run as this user (no groups, no capabilities)."""
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--inh-caps=-all", "--"] + [str(c) for c in cmd]

    def run(self, *cmd, timeout=60, **kw):
        return subprocess.run(self.argv(*cmd), capture_output=True, text=True,
                              timeout=timeout, **kw)

    def own(self, *paths):
        for p in paths:
            os.chown(p, self.uid, self.gid)

    def remove(self):
        for _ in range(100):
            r = subprocess.run(["userdel", self.name], capture_output=True, text=True)
            if r.returncode != 10:
                return
            time.sleep(0.05)


class Target:
    """A test program under our control, talking over pipes; `user` runs it
    as that User; `wrap(argv)` gives the command line that runs it (one that
    ends by exec'ing it, so that the PID stays the same: chroot, unshare);
    with `forks` the wrapper forks it instead (unshare --fork), and self.pid
    is the process that runs `name`, found after it said it is ready."""

    def __init__(self, name="worker-gcc", threads=8, env=None, args=None, user=None, wrap=None,
                 forks=False):
        self.path = exe(name)
        e = dict(os.environ)
        e.update(env or {})
        argv = [self.path, str(threads)] + list(args or [])
        if wrap:
            argv = wrap(argv)
        if user:
            argv = user.argv(*argv)
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1, env=e, cwd=tmpdir())
        _started.append(self)
        self.pid = self.p.pid  # setpriv execs: the same process
        line = self.readline(timeout=20)
        check(line.startswith("ready"), f"target did not get ready: {line!r}")
        if forks:
            self.pid = running(self.p.pid, self.path)

    def readline(self, timeout=20):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise Fail(f"target {self.pid} did not answer within {timeout}s")
        line = self.p.stdout.readline()
        if not line:
            raise Fail(f"target {self.pid} closed its output (exit {self.p.poll()})")
        return line.strip()

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def cmd(self, line, timeout=20):
        self.send(line)
        return self.readline(timeout)

    def call(self, fn, x):
        out = self.cmd(f"call {fn} {x}")
        try:
            return int(out)
        except ValueError:
            raise Fail(f"call {fn} {x} answered {out!r}")

    def stats(self):
        out = self.cmd("stats").split()
        return int(out[1]), int(out[3])

    def state(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return "gone"

    def alive(self):
        return self.p.poll() is None and self.state() not in ("Z", "X", "gone")

    def assert_healthy(self):
        """Alive, not stopped, and every worker answer was old or new."""
        check(self.alive(), f"target {self.pid} died (exit {self.p.poll()})")
        st = self.state()
        check(st not in ("T", "t"), f"target {self.pid} was left stopped (state {st})")
        calls, wrong = self.stats()
        eq(wrong, 0, f"wrong answers among {calls} calls")

    def maps(self):
        with open(f"/proc/{self.pid}/maps") as f:
            return f.read()

    def threads(self):
        return sorted(int(t) for t in os.listdir(f"/proc/{self.pid}/task"))

    def read(self, addr, n):
        with open(f"/proc/{self.pid}/mem", "rb") as f:
            f.seek(addr)
            return f.read(n)

    def bias(self, path=None):
        """Load bias of the executable (or of `path`) in this process."""
        path = os.path.realpath(path or self.path)
        lo = min_load_vaddr(path)
        for line in self.maps().splitlines():
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5] == path and int(parts[2], 16) == 0:
                return int(parts[0].split("-")[0], 16) - lo
        raise Fail(f"{path} is not mapped in {self.pid}")

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=5)
            except Exception:
                pass
        if self.p.poll() is None:
            # by PID, never by name; SIGCONT first in case a test stopped it
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
            self.p.wait(timeout=10)


def running(pid, path):
    """The process, `pid` or one of its descendants, that runs the file
    `path` (by /proc/PID/exe, as hotpatch sees it)."""
    want = os.path.realpath(path)
    kids = {}
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    todo = [pid]
    while todo:
        p = todo.pop(0)
        try:
            if os.readlink(f"/proc/{p}/exe") == want:
                return p
        except OSError:
            pass
        todo += kids.get(p, [])
    raise Fail(f"no process under {pid} runs {want}")


def on_cleanup(fn):
    """fn() runs when the test ends, after its targets were stopped and
    before its users are removed."""
    _cleanups.append(fn)


def start_time(pid):
    """Field 22 of /proc/PID/stat: with the PID, names a process for good."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def lock_dir():
    """Where hotpatch, run as we are, keeps its per-process locks (lock.c)."""
    me = os.geteuid()
    if me == 0:
        return "/run/hotpatch"
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg.startswith("/") and os.path.isdir(xdg):
        st = os.stat(xdg)
        if st.st_uid == me and not st.st_mode & 0o022:
            return os.path.join(xdg, "hotpatch")
    return f"/tmp/hotpatch-{me}"


def lock_path(pid):
    return os.path.join(lock_dir(), f"{pid}-{start_time(pid)}")


class HeldLock:
    """A process's lock, taken by the test exactly as a hotpatch run takes
    it (flock on its file), with `holder` (bytes) written inside; released
    (unlink, then close) on release() or when the test ends."""

    def __init__(self, pid, holder=b""):
        os.makedirs(lock_dir(), mode=0o700, exist_ok=True)
        self.path = lock_path(pid)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600)
        _locks.append(self)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.write(holder)

    def write(self, holder):
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, holder, 0)

    def release(self):
        if self.fd is not None:
            os.unlink(self.path)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def wait_paused(proc, step, timeout=30):
    """Reads a hotpatch's stderr until it says it is paused at `step`
    (HOTPATCH_PAUSE_AT, fault-injection builds); returns what it said."""
    want = f"hotpatch: paused at {step}\n".encode()
    got = b""
    end = time.time() + timeout
    fd = proc.stderr.fileno()
    while want not in got:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not r:
            raise Fail(f"hotpatch did not pause at {step} within {timeout}s: {got!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            if b"fault point" not in got:
                raise Skip("hotpatch was built without -Dfault_injection=true")
            raise Fail(f"hotpatch ended (exit {proc.wait()}) before {step}: {got!r}")
        got += chunk
    return got.decode(errors="replace")


def cleanup():
    for lk in _locks:
        try:
            lk.release()
        except Exception as e:
            print(f"cleanup of lock {lk.path}: {e}")
    _locks.clear()
    for t in _started:
        try:
            t.stop()
        except Exception as e:  # keep cleaning the rest
            print(f"cleanup of {t.pid}: {e}")
    _started.clear()
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:
            print(f"cleanup {fn}: {e}")
    for u in _users:
        try:
            u.remove()
        except Exception as e:
            print(f"cleanup of user {u.name}: {e}")
    _users.clear()


def _phdrs(path):
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        yield p  # type, flags, offset, vaddr, paddr, filesz, memsz, align


def min_load_vaddr(path):
    return min(p[3] for p in _phdrs(path) if p[0] == 1) & ~0xFFF


def file_bytes(path, vaddr, n):
    """The bytes the ELF file holds for a virtual address."""
    for p in _phdrs(path):
        if p[0] == 1 and p[3] <= vaddr and vaddr + n <= p[3] + p[5]:
            with open(path, "rb") as f:
                f.seek(p[2] + vaddr - p[3])
                return f.read(n)
    raise Fail(f"0x{vaddr:x} is not in a loaded segment of {path}")


def symbol(path, name):
    """vaddr of a symbol in an ELF file, from nm."""
    out = subprocess.run(["nm", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise Fail(f"{name} not in {path}")


def prologue(target, name, path=None):
    """(live bytes, file bytes) of the 5-byte pad and the first 11 bytes at
    the entry of a function."""
    path = path or target.path
    v = symbol(path, name)
    live = target.read(target.bias(path) + v - 5, 16)
    return live, file_bytes(path, v - 5, 16)


class _Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags "
        "rsp ss fs_base gs_base ds es fs gs").split()]


def park_thread(t, at, sig, near=None, max_steps=5000):
    """Puts a thread of target t exactly at address `at` and leaves it there
    with signal `sig` about to be delivered: the test traces a thread
    (ptrace, through libc), single-steps it until its pc is `at` and
    detaches with `sig` (SIGSTOP stops the process with the thread there;
    a signal with a handler that waits leaves a signal frame whose saved pc
    is `at`).  Only threads whose pc is in `near` (lo, hi) are tried, if
    given.  Returns the thread's id."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    SEIZE, INTERRUPT, SINGLESTEP, GETREGS, DETACH, WALL = 0x4206, 0x4207, 9, 12, 17, 0x40000000
    regs = _Regs()

    def call(req, tid, data=None):
        if libc.ptrace(req, tid, None, data) < 0:
            raise OSError(ctypes.get_errno(), f"ptrace {req} on {tid}")

    for tid in t.threads():
        call(SEIZE, tid)
        call(INTERRUPT, tid)
        os.waitpid(tid, WALL)
        call(GETREGS, tid, ctypes.byref(regs))
        # a thread in a system call would step only when the call returns
        if (near and not near[0] <= regs.rip < near[1]) or regs.orig_rax != 2**64 - 1:
            call(DETACH, tid)
            continue
        for _ in range(max_steps):
            # step first: the signal PTRACE_DETACH names is delivered only
            # from the stop a step ends in, not from the interrupt's
            call(SINGLESTEP, tid)
            os.waitpid(tid, WALL)
            call(GETREGS, tid, ctypes.byref(regs))
            if regs.rip == at:
                call(DETACH, tid, sig)
                return tid
        call(DETACH, tid)
    raise Fail(f"no thread of {t.pid} reached 0x{at:x}")


def wait_for(pred, timeout=10, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.01)
    raise Fail(f"timed out waiting for {what}")
