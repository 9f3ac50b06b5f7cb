# SPDX-License-Identifier: LGPL-2.1-or-later
"""What an untrusted target can put in hotpatch's output: its comm, its
executable's path and, through a registry it forges, patch paths and symbol
names. None of it may reach the operator's terminal, a JSON consumer or the
audit log as anything but visible text: no escape sequence, no line of its
own, no invalid UTF-8."""
import array
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess

from hptest import BUILD, HOTPATCH, Fail, Skip, Target, User, check, eq, exe, patch, tmpdir

# A directory and a file name that try to add a line to hotpatch's report and
# to the audit log, and to clear the screen (the name becomes the comm).
HOSTILE_DIR = "srv\nhotpatch[1]: apply applied: pid=1 exe=SPOOFED patch=FAKE.so sha256=FAKE"
HOSTILE_NAME = 'x\n\x1b[2J\x1b[31m"}'

# What must never appear raw: C0 controls but the newline ending a line, DEL,
# C1 controls (in UTF-8), and the bidi and separator controls.
RAW_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xd8\x9c"
                         rb"|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]")


def run(*args, timeout=120):
    """The CLI, as bytes (the log shows them escaped by repr)."""
    cmd = [HOTPATCH] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    print(f"$ {cmd!r}\n-> exit {r.returncode}\nstdout {r.stdout!r}\nstderr {r.stderr!r}",
          flush=True)
    return r


def check_clean(r, what, line_starts=("pid ", "  ")):
    """Nothing a terminal would act on, and every line one hotpatch wrote."""
    for name, data in (("stdout", r.stdout), ("stderr", r.stderr)):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Fail(f"{what}: {name} is not UTF-8 ({e}): {data!r}")
        m = RAW_CONTROL.search(data)
        check(not m, f"{what}: raw control {m and m.group()!r} in {name}: {data!r}")
    for line in r.stdout.decode().splitlines():
        check(line.startswith(line_starts), f"{what}: a line hotpatch did not write: {line!r}")
    for line in r.stderr.decode().splitlines():
        check(line.startswith("hotpatch: "), f"{what}: a stderr line not hotpatch's: {line!r}")


def hostile_worker(user):
    """The test worker, copied to HOSTILE_DIR/HOSTILE_NAME, run as `user`."""
    d = os.path.join(tmpdir(), HOSTILE_DIR)
    os.mkdir(d)
    os.chmod(d, 0o755)
    path = os.path.join(d, HOSTILE_NAME)
    shutil.copy(exe("worker-gcc"), path)
    shutil.copy(os.path.join(BUILD, "libworklib.so"), d)  # found through $ORIGIN
    t = Target(path, threads=2, user=user)
    # the trick is real: this is what the kernel reports
    with open(f"/proc/{t.pid}/comm", "rb") as f:
        eq(f.read().rstrip(b"\n"), HOSTILE_NAME.encode(), "the target's comm")
    eq(os.readlink(f"/proc/{t.pid}/exe"), os.path.realpath(path), "the target's executable")
    with open(f"/proc/{t.pid}/status") as f:
        uid = [ln.split()[1] for ln in f if ln.startswith("Uid:")][0]
    eq(int(uid), user.uid, "the target runs as the unprivileged user")
    return t


def forger(user):
    """The hostile target that forges hotpatch's registry; returns it and
    its strings: path, symbol 1, symbol 2, object, replacement."""
    f = Target("forger", user=user)
    strings = [bytes.fromhex(h) for h in f.cmd("strings").split()]
    eq(len(strings), 5, "the forger's hostile strings")
    for s in strings:
        check(RAW_CONTROL.search(s) or b"\xff" in s or b"\xe2\x82" in s,
              f"the forger's string is hostile: {s!r}")
    return f, strings


def test_hostile_names_in_terminal_output():
    """A target named x\\n\\e[2J... in a directory whose name carries a
    newline and a fake hotpatch line: root's apply, status, list and rollback
    print its comm and paths escaped, and nothing reaches the terminal raw."""
    u = User()
    t = hostile_worker(u)
    shown = b"x\\n\\e[2J\\e[31m\"}"  # the comm as hotpatch shows it

    r = run("--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, 0, "apply")
    check_clean(r, "apply")
    check(b"pid %d (%s): applied" % (t.pid, shown) in r.stdout, "the comm shows escaped")
    eq(t.call("compute", 1), 2001, "the patch is in effect")

    r = run("status", "--pid", t.pid)
    eq(r.returncode, 0, "status")
    check_clean(r, "status")
    check(shown in r.stdout and b"fix_compute.so" in r.stdout, "status names comm and patch")

    r = run("list", "--pid", t.pid)
    eq(r.returncode, 0, "list")
    check_clean(r, "list", line_starts=("/", "  "))
    spoof = [ln for ln in r.stdout.decode().splitlines() if "SPOOFED" in ln]
    check(spoof and all(ln.startswith(os.path.realpath(tmpdir()) + "/srv\\") for ln in spoof),
          f"the executable's path is one escaped line: {spoof!r}")

    r = run("--pid", t.pid, patch("bad_nosym"))
    eq(r.returncode, 5, "a failing apply")
    check_clean(r, "failed apply")
    check(shown in r.stderr, "the error names the comm, escaped")

    r = run("rollback", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, 0, "rollback")
    check_clean(r, "rollback")
    eq(t.call("compute", 1), 1001, "rolled back")

    r = run("rollback", "--pid", t.pid, "--all")
    eq(r.returncode, 8, "nothing left to roll back")
    check_clean(r, "rollback with nothing applied")
    check(b"nothing is applied in pid %d (%s)" % (t.pid, shown) in r.stderr, "the reason")
    t.assert_healthy()


def test_forged_registry_cannot_forge_output():
    """A registry the target forged, with newlines, escape sequences, DEL,
    C1 and bidi controls and invalid UTF-8 in its names: status and
    rollback --all, human and --json, show them as text, and every JSON
    document is strict UTF-8 that a strict parser takes."""
    u = User()
    f, (path, sym1, sym2, obj, repl) = forger(u)

    r = run("status", "--pid", f.pid)
    eq(r.returncode, 0, "status")
    check_clean(r, "status")
    for shown in (b"\\e[2J\\e[1;32mhotpatch[1]", b"\\x7f\\xff\\xc0\\xaf\\u{202e}",
                  b"sym2\\r\\e[1A\\u{009b}31m\\xed\\xa0\\x80\"=\\\\", b"\\e]0;title\\x07\\u{2066}",
                  b"\\u{200f}\\u{2028}\\xe2\\x82"):
        check(shown in r.stdout, f"{shown!r} visible in status")

    def doc_of(r, what):
        check_clean(r, what, line_starts=("{",))
        eq(r.stdout.count(b"\n"), 1, f"{what}: one line of JSON")
        try:
            return json.loads(r.stdout.decode("utf-8", errors="strict"))
        except ValueError as e:
            raise Fail(f"{what}: not strict UTF-8 JSON ({e}): {r.stdout!r}")

    def same(got, raw, what):
        # what a strict decoder makes of the raw bytes: U+FFFD per bad sequence
        eq(got, raw.decode("utf-8", errors="replace"), what)

    r = run("--json", "status", "--pid", f.pid)
    eq(r.returncode, 0, "status --json")
    doc = doc_of(r, "status --json")
    patches = doc["processes"][0]["patches"]
    eq(len(patches), 2, "the forged patches")
    for p, sym in zip(patches, (sym1, sym2)):
        same(p["path"], path, "path")
        fn = p["functions"][0]
        same(fn["symbol"], sym, "symbol")
        same(fn["object"], obj, "object")
        same(fn["replacement"], repl, "replacement")

    r = run("rollback", "--pid", f.pid, "--all")
    eq(r.returncode, 0, "rollback --all")
    check_clean(r, "rollback --all")
    eq(f.cmd("check"), "restored", "the rollback acted on the forged registry")
    check(b"note: could not compare the original bytes of sym\\nhotpatch[1]" in r.stderr,
          "a note quoting a forged symbol, escaped")

    eq(f.cmd("forge"), "forged", "forge again")
    r = run("--json", "rollback", "--pid", f.pid, "--all")
    eq(r.returncode, 0, "rollback --all --json")
    doc = doc_of(r, "rollback --all --json")
    eq(doc["processes"][0]["result"], "rolled-back", "result")
    eq(f.cmd("check"), "restored", "rolled back again")
    got = sorted(p["functions"][0]["symbol"] for p in doc["processes"][0]["patches"])
    eq(got, sorted(s.decode("utf-8", errors="replace") for s in (sym1, sym2)), "symbols")
    eq(len(doc["notes"]), 2, "the notes, in the document")
    check(f.alive(), "the forger is still running")


# ---------------------------------------------------------------- audit

def unescape(s):
    """A quoted value of hotpatch's audit line, back to its bytes."""
    out, i = bytearray(), 0
    simple = {"\\": b"\\", '"': b'"', "n": b"\n", "t": b"\t", "r": b"\r", "e": b"\x1b"}
    while i < len(s):
        if s[i] != "\\":
            out += s[i].encode()
            i += 1
        elif s[i + 1] in simple:
            out += simple[s[i + 1]]
            i += 2
        elif s[i + 1] == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif s[i + 1:i + 3] == "u{":
            j = s.index("}", i)
            out += chr(int(s[i + 3:j], 16)).encode()
            i = j + 1
        else:
            raise Fail(f"unknown escape at {s[i:i + 4]!r} in {s!r}")
    return bytes(out)


LINE = re.compile(r"<(\d+)>.*? hotpatch\[(\d+)\]: (\w+) ([\w-]+):((?: \w+=(?:\"(?:[^\"\\]|\\.)*\"|[^ \"]*))*)$")
PAIR = re.compile(r" (\w+)=(\"(?:[^\"\\]|\\.)*\"|[^ \"]*)")
KEYS = ["pid", "exe", "patch", "sha256", "functions", "user", "uid"]


def parse_syslog(data):
    """One datagram: (priority, verb, outcome, {key: value}); quoted values
    unescaped to bytes, the others as they are."""
    m = RAW_CONTROL.search(data) or re.search(rb"\n", data)
    check(not m, f"a raw control byte in the audit line: {data!r}")
    text = data.decode("utf-8")
    m = LINE.match(text)
    check(m, f"the audit line has hotpatch's shape: {text!r}")
    pairs = PAIR.findall(m.group(5))
    keys = [k for k, _ in pairs]
    eq(keys[:len(KEYS)], KEYS, "keys, in order")
    check(set(keys[len(KEYS):]) <= {"sudo_user", "error"}, f"no key of the target's: {keys}")
    # outside quotes, only hotpatch's own words: nothing forged
    bare = PAIR.sub(lambda p: f" {p.group(1)}=" + ("Q" if p.group(2).startswith('"') else p.group(2)),
                    m.group(5))
    for forged in ("SPOOFED", "FORGED", "FAKE", "hotpatch[1]"):
        check(forged not in bare, f"{forged!r} outside a quoted value: {text!r}")
    vals = {k: unescape(v[1:-1]) if v.startswith('"') else v for k, v in pairs}
    return int(m.group(1)), m.group(3), m.group(4), vals


def test_audit_cannot_be_forged():
    """An executable path with a newline and a forged registry cannot add
    or bend a line of the audit log: one datagram per event, no raw control
    byte, the forged text only inside quoted values that undo to exactly
    the target's bytes."""
    if os.path.exists("/dev/log"):
        raise Skip("a syslog daemon owns /dev/log here; test_audit_journal_fields covers journald")
    u = User()
    t = hostile_worker(u)
    f, (path, sym1, sym2, obj, repl) = forger(u)
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind("/dev/log")
    try:
        log.settimeout(10)
        exe_path = os.path.realpath(t.path).encode()
        with open(patch("fix_compute"), "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()

        eq(run("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
        prio, verb, outcome, v = parse_syslog(log.recv(65536))
        eq((prio, verb, outcome), (85, "apply", "applied"), "authpriv.notice, apply applied")
        eq(v["pid"], str(t.pid), "the real pid")
        eq(v["exe"], exe_path, "exe, unescaped, is the target's path")
        eq(v["sha256"], sha, "sha256")
        eq(v["functions"], b"compute", "functions")

        eq(run("--pid", t.pid, patch("bad_nosym")).returncode, 5, "a failing apply")
        prio, verb, outcome, v = parse_syslog(log.recv(65536))
        eq((prio, verb, outcome), (84, "apply", "failed"), "authpriv.warning, apply failed")
        check(HOSTILE_NAME.encode() in v["error"], f"error quotes the comm: {v['error']!r}")

        eq(run("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")
        _, verb, outcome, v = parse_syslog(log.recv(65536))
        eq((verb, outcome, v["pid"], v["exe"]), ("rollback", "rolled-back", str(t.pid), exe_path),
           "rollback of the hostile worker")

        eq(run("rollback", "--pid", f.pid, "--all").returncode, 0, "rollback of the forgery")
        _, verb, outcome, v = parse_syslog(log.recv(65536))
        eq((verb, outcome, v["pid"]), ("rollback", "rolled-back", str(f.pid)), "the forger's")
        eq(sorted(v["functions"].split(b",")), sorted([sym1, sym2]), "forged symbols, intact")
        eq(f.cmd("check"), "restored", "the rollback acted on the forged registry")

        # every event was sent before its hotpatch exited: nothing more is coming
        log.setblocking(False)
        try:
            extra = log.recv(65536)
            raise Fail(f"a datagram no event accounts for: {extra!r}")
        except BlockingIOError:
            pass
    finally:
        log.close()
        os.unlink("/dev/log")


JOURNAL = "/run/systemd/journal/socket"


def journal_record(sock):
    """One record of journald's native protocol, as [(field, bytes)]; a
    large one comes as a memfd."""
    fds = array.array("i")
    data, anc, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    for fd in fds:
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        os.close(fd)
    fields, i = [], 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:  # FIELD\n, 64-bit little-endian length, value, \n
            k = line
            (n,) = struct.unpack_from("<Q", data, nl + 1)
            v = data[nl + 9:nl + 9 + n]
            eq(data[nl + 9 + n:nl + 10 + n], b"\n", "binary field terminator")
            i = nl + 10 + n
        fields.append((k.decode(), v))
    return fields


def test_audit_journal_fields():
    """With journald there, the record goes to the journal with the pid, the
    patch's SHA-256 and the outcome as fields of their own, the target's
    strings raw in their fields, and a MESSAGE of one escaped line."""
    if os.path.exists(JOURNAL):
        raise Skip("journald's socket exists here: it owns the journal")
    if os.geteuid() != 0:
        raise Skip("needs root to stand in for journald")
    u = User()
    t = hostile_worker(u)
    f, (path, sym1, sym2, obj, repl) = forger(u)
    made = []
    for d in ("/run/systemd", "/run/systemd/journal"):
        if not os.path.isdir(d):
            os.mkdir(d, 0o755)
            made.append(d)
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog, bound = None, False
    try:
        journal.bind(JOURNAL)
        bound = True
        journal.settimeout(10)
        if not os.path.exists("/dev/log"):  # to see that nothing goes there too
            syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            syslog.bind("/dev/log")
        with open(patch("fix_compute"), "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest().encode()

        eq(run("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
        rec = journal_record(journal)
        one = {k: v for k, v in rec}
        for k in ("MESSAGE", "HOTPATCH_PID", "HOTPATCH_SHA256", "HOTPATCH_OUTCOME", "HOTPATCH_EXE"):
            eq(sum(1 for key, _ in rec if key == k), 1, f"{k} once")
        eq(one["HOTPATCH_PID"], str(t.pid).encode(), "HOTPATCH_PID")
        eq(one["HOTPATCH_SHA256"], sha, "HOTPATCH_SHA256")
        eq(one["HOTPATCH_OUTCOME"], b"applied", "HOTPATCH_OUTCOME")
        eq(one["HOTPATCH_VERB"], b"apply", "HOTPATCH_VERB")
        eq(one["HOTPATCH_EXE"], os.path.realpath(t.path).encode(), "HOTPATCH_EXE, raw")
        eq(one["HOTPATCH_COMM"], HOSTILE_NAME.encode(), "HOTPATCH_COMM, raw")
        eq([v for k, v in rec if k == "HOTPATCH_FUNCTION"], [b"compute"], "HOTPATCH_FUNCTION")
        eq((one["PRIORITY"], one["SYSLOG_FACILITY"], one["SYSLOG_IDENTIFIER"]),
           (b"5", b"10", b"hotpatch"), "notice, authpriv, hotpatch")
        eq((one["HOTPATCH_USER"], one["HOTPATCH_UID"]), (b"root", b"0"), "who")
        msg = one["MESSAGE"]
        check(not RAW_CONTROL.search(msg) and b"\n" not in msg, f"MESSAGE is one line: {msg!r}")
        check(msg.startswith(b"apply applied: pid=%d exe=\"" % t.pid), f"MESSAGE: {msg!r}")

        eq(run("rollback", "--pid", f.pid, "--all").returncode, 0, "rollback of the forgery")
        rec = journal_record(journal)
        one = {k: v for k, v in rec}
        eq((one["HOTPATCH_VERB"], one["HOTPATCH_OUTCOME"], one["HOTPATCH_PID"]),
           (b"rollback", b"rolled-back", str(f.pid).encode()), "the forger's rollback")
        eq(sorted(v for k, v in rec if k == "HOTPATCH_FUNCTION"), sorted([sym1, sym2]),
           "one HOTPATCH_FUNCTION per forged symbol, raw")
        check(b"\n" not in one["MESSAGE"] and not RAW_CONTROL.search(one["MESSAGE"]),
              f"MESSAGE is one line: {one['MESSAGE']!r}")
        eq(f.cmd("check"), "restored", "the rollback acted on the forged registry")

        for s, what in ((journal, "journal"), (syslog, "/dev/log")):
            if not s:
                continue
            s.setblocking(False)
            try:
                extra = s.recv(65536)
                raise Fail(f"a record too many at {what}: {extra!r}")
            except BlockingIOError:
                pass
    finally:
        journal.close()
        if bound:
            os.unlink(JOURNAL)
        if syslog:
            syslog.close()
            os.unlink("/dev/log")
        for d in reversed(made):
            os.rmdir(d)
