# SPDX-License-Identifier: LGPL-2.1-or-later
"""The reproducers of four redis CVEs, after the tcl tests in Debian's fix
patches, spoken in RESP over a plain socket (no redis-py).

  CVE-2024-31449  Lua bit.tohex(x, INT32_MIN) reads far outside its buffer
  CVE-2024-31227  ACL selector "%~" (no permission) accepted, panics later
  CVE-2024-31228  KEYS with a deeply nested pattern overflows the stack
  CVE-2024-51741  ACL selector "%" (nothing at all) accepted, panics later
  (the first three are fixed by 0001-Apply-security-fixes-for-CVEs-1113.patch,
   the last by 0002-Fix-Read-Write-key-pattern-selector-CVE-2024-51741-1.patch)

Each reproducer returns FIXED, VULNERABLE or CRASHED.  With full=False it
runs only a probe that tells a fixed server from a vulnerable one without
taking the vulnerable one down (there is none for CVE-2024-31449: every call
of the bug crashes); with full=True it runs the CVE's own reproducer, which
crashes a vulnerable server: run that on a throwaway instance.

  python3 tests/lib/redis_cves.py --server PATH/redis-server [--cve ID]...
starts a throwaway server per reproducer and prints what each one shows.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FIXED, VULNERABLE, CRASHED = "fixed", "vulnerable", "crashed"


class Error(str):
    """A RESP error reply (-ERR ...), kept apart from status replies."""


class Closed(Exception):
    """The server closed the connection or stopped answering."""


class Conn:
    def __init__(self, host, port, timeout=30):
        try:
            self.s = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise Closed(f"connect {host}:{port}: {e}")
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        try:
            self.s.sendall(b"".join(out))
        except OSError as e:
            raise Closed(f"send: {e}")

    def _fill(self):
        try:
            chunk = self.s.recv(1 << 16)
        except OSError as e:
            raise Closed(f"recv: {e}")
        if not chunk:
            raise Closed("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Error(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self._exact(int(rest))
        if kind == b"*":
            return None if int(rest) < 0 else [self.reply() for _ in range(int(rest))]
        raise Closed(f"not RESP: {line[:60]!r}")

    def call(self, *args):
        self.send(*args)
        return self.reply()


def alive(host, port):
    """The server answers PING on a new connection."""
    try:
        c = Conn(host, port, timeout=10)
        try:
            return c.call("PING") == "PONG"
        finally:
            c.close()
    except Closed:
        return False


def _run(host, port, steps):
    """Runs steps(conn) -> FIXED/VULNERABLE; a lost connection, or a server
    that no longer answers afterwards, is CRASHED."""
    try:
        c = Conn(host, port)
    except Closed:
        return CRASHED
    try:
        verdict = steps(c)
    except Closed:
        verdict = CRASHED
    finally:
        c.close()
    if verdict != CRASHED and not alive(host, port):
        verdict = CRASHED
    return verdict


def cve_2024_31449(host, port, full=True):
    """scripting.tcl "lua bit.tohex bug": n = INT32_MIN stays negative after
    n = -n, and lua_pushlstring is handed (size_t)n bytes of an 8-byte buffer."""
    if not full:
        raise ValueError("CVE-2024-31449 has no probe that spares a vulnerable server")

    def steps(c):
        r = c.call("EVAL", "return bit.tohex(65535, -2147483648)", "0")
        return FIXED if r == b"0000FFFF" else VULNERABLE
    return _run(host, port, steps)


def _acl_selector(host, port, user, selector, full):
    """ACL SETUSER user SELECTOR: a fixed server refuses it as a syntax error;
    a vulnerable one stores a key pattern without permissions, which ACL LIST
    (full) then describes with serverPanic("Invalid key pattern flag")."""
    want = f"ERR Error in ACL SETUSER modifier '{selector}': Syntax error"

    def steps(c):
        r = c.call("ACL", "SETUSER", user, selector)
        if isinstance(r, Error) and r == want:
            return FIXED
        if r != "OK":
            return VULNERABLE
        if full:
            c.call("ACL", "LIST")
        c.call("ACL", "DELUSER", user)
        return VULNERABLE
    return _run(host, port, steps)


def cve_2024_31227(host, port, full=False):
    """acl-v2.tcl "Validate read and write permissions format"."""
    return _acl_selector(host, port, "hotpatch-cve-2024-31227", "%~", full)


def cve_2024_51741(host, port, full=False):
    """acl-v2.tcl "... - empty selector": "%" alone."""
    return _acl_selector(host, port, "hotpatch-cve-2024-51741", "%", full)


def cve_2024_31228(host, port, full=False):
    """keyspace.tcl "Regression for pattern matching very long nested loops":
    KEYS "*?" x 50000 against a 50000-byte key recurses once per star.  The
    fix stops at a nesting of 1000 and reports no match, which the probe
    sees without deep recursion: "*a" x 1100 matches "a" x 1100 on a
    vulnerable server and not on a fixed one.  Works in database 9, so a
    load on database 0 is not disturbed."""
    n = 50000 if full else 1100
    key = b"a" * n
    pattern = (b"*?" if full else b"*a") * n

    def steps(c):
        if c.call("SELECT", "9") != "OK":
            return VULNERABLE
        c.call("SET", key, "1")
        r = c.call("KEYS", pattern)
        c.call("DEL", key)
        if r not in ([], [key]):
            raise RuntimeError(f"KEYS answered {r!r:.200}")
        return FIXED if r == [] else VULNERABLE
    return _run(host, port, steps)


REPRODUCERS = {
    "CVE-2024-31449": cve_2024_31449,
    "CVE-2024-31227": cve_2024_31227,
    "CVE-2024-31228": cve_2024_31228,
    "CVE-2024-51741": cve_2024_51741,
}
# the CVEs each fix patch addresses, and those with a probe (full=False)
BY_PATCH = {
    "cve1113": ["CVE-2024-31449", "CVE-2024-31227", "CVE-2024-31228"],
    "cve51741": ["CVE-2024-51741"],
}
PROBES = ["CVE-2024-31227", "CVE-2024-31228", "CVE-2024-51741"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """redis-server on a free loopback port, without persistence, in its own
    directory; ready once its log says so.  stop() ends it by its PID."""

    def __init__(self, path, workdir, timeout=30):
        self.port = free_port()
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.log = os.path.join(workdir, f"redis-{self.port}.log")
        self.p = subprocess.Popen(
            [path, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", workdir, "--logfile", self.log,
             "--daemonize", "no", "--protected-mode", "yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.pid = self.p.pid
        end = time.time() + timeout
        while "Ready to accept connections" not in self.log_text():
            if self.p.poll() is not None or time.time() > end:
                self.stop()
                raise RuntimeError(f"redis-server did not start: {self.log_text()[-2000:]}")
            time.sleep(0.02)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.p.poll() is None and alive("127.0.0.1", self.port)

    def stop(self):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.p.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.p.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.p.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="redis-server to start")
    ap.add_argument("--cve", action="append", choices=sorted(REPRODUCERS))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="redis-cves-")
    try:
        for cve in args.cve or list(REPRODUCERS):
            modes = [False, True] if cve in PROBES else [True]
            for full in modes:
                srv = Server(args.server, os.path.join(tmp, f"{cve}-{full}"))
                try:
                    verdict = REPRODUCERS[cve]("127.0.0.1", srv.port, full=full)
                    print(f"{cve} {'reproducer' if full else 'probe'}: {verdict}"
                          f" (server {'alive' if srv.alive() else 'gone'})", flush=True)
                finally:
                    srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
