# SPDX-License-Identifier: LGPL-2.1-or-later
"""`hotpatch build` on real software: Debian's redis 7.0.15 source package,
built (scripts/realworld-redis --prepare) with the patches of its series that
come before a security fix, and that fix, as Debian ships it, turned into a
live patch of the running server under load.  Each CVE's reproducer shows
the vulnerable behaviour before, the fixed one while the patch is in, the
vulnerable one again after rollback (for those that do not crash a
vulnerable server); no request of the load fails and the server lives on.

  cve1113   0001-Apply-security-fixes-for-CVEs-1113.patch: Lua's bit_tohex
            (deps/lua), ACLSetSelector (src/acl.c), stringmatchlen_impl
            (src/util.c, a static whose signature changes) and the callers
            stringmatchlen was inlined into
  cve51741  0002-Fix-Read-Write-key-pattern-selector-CVE-2024-51741-1.patch:
            ACLSetSelector, 5 lines longer (the __LINE__ of later asserts
            moves; those functions must not be in the patch)
"""
import json
import os
import re
import subprocess
import sys
import threading
import time

from hptest import HOTPATCH, SOURCE, Fail, Skip, check, eq, hotpatch, on_cleanup, tmpdir

sys.path.insert(0, os.path.join(SOURCE, "tests", "lib"))
import redis_cves  # noqa: E402
from redis_cves import CRASHED, FIXED, VULNERABLE  # noqa: E402

HOST = "127.0.0.1"
# what a reading of each diff finds changed at the object level, by function
# (stringmatch and stringmatchlen_fuzz_test have stringmatchlen inlined)
CHANGED = {
    "cve1113": ["bit_tohex", "ACLSetSelector", "stringmatchlen_impl", "stringmatchlen",
                "stringmatch", "stringmatchlen_fuzz_test"],
    "cve51741": ["ACLSetSelector"],
}
# those a caller outside the patch reaches, which the patch must redirect
# (the new stringmatchlen_impl, called only from new code, need not be)
REDIRECTED = {
    "cve1113": ["bit_tohex", "ACLSetSelector", "stringmatchlen", "stringmatch"],
    "cve51741": ["ACLSetSelector"],
}
# changed only by __LINE__ (serverAssert, serverPanic after the hunk): the
# patch must leave them alone
LINE_DRIFT = {"cve1113": [],
              "cve51741": ["ACLSetUser", "ACLStringSetUser", "ACLLoadConfiguredUsers",
                           "aclCommand"]}


def prepare():
    """{name: (tree, patch)} from scripts/realworld-redis --prepare (cached)."""
    work = os.path.join(os.environ["HP_TESTS_BUILD"], "realworld")
    r = subprocess.run([os.path.join(SOURCE, "scripts", "realworld-redis"), "--prepare"],
                       env=dict(os.environ, HOTPATCH_REALWORLD_DIR=work),
                       capture_output=True, text=True, timeout=1200)
    if r.returncode == 77:
        raise Skip(r.stderr.strip().splitlines()[-1])
    eq(r.returncode, 0, f"fetching and building redis: {r.stderr}")
    print(r.stderr, end="", flush=True)  # build times, when it built
    trees = {}
    for line in r.stdout.splitlines():
        name, tree, diff = line.split()
        trees[name] = (tree, diff)
    eq(sorted(trees), sorted(CHANGED), "trees prepared")
    return trees


def build_implemented():
    r = subprocess.run([HOTPATCH, "build", "--help"], capture_output=True, text=True, timeout=30)
    # the general help also exits 0: the verb exists once its own help names --diff
    return r.returncode == 0 and "--diff" in r.stdout + r.stderr


class Load:
    """Load on database 0 while the test works: redis-benchmark, run again
    and again, whose every run must end well and print no error (it exits
    at the first error reply or lost connection), and a checking client
    that pipelines SET/GET pairs and counts every answer that is not the
    one written."""

    def __init__(self, tree, port):
        self.bench = os.path.join(tree, "src", "redis-benchmark")
        self.port = port
        self.stop_flag = threading.Event()
        self.runs, self.failed_runs, self.checked, self.failures = 0, [], 0, []
        self.threads = [threading.Thread(target=self._bench, daemon=True),
                        threading.Thread(target=self._check, daemon=True)]
        for t in self.threads:
            t.start()
        on_cleanup(self.stop)

    def _bench(self):
        while not self.stop_flag.is_set():
            r = subprocess.run([self.bench, "-h", HOST, "-p", str(self.port), "-t",
                                "ping,set,get", "-n", "100000", "-c", "20", "-q"],
                               capture_output=True, text=True, timeout=300)
            self.runs += 1
            out = r.stdout + r.stderr
            if r.returncode != 0 or re.search(r"error", out, re.I):
                self.failed_runs.append(f"exit {r.returncode}: {out[-400:]}")

    def _check(self):
        try:
            c = redis_cves.Conn(HOST, self.port)
        except redis_cves.Closed as e:
            self.failures.append(str(e))
            return
        i = 0
        try:
            # a last batch after stop(): a server that died at the end counts
            while True:
                last = self.stop_flag.is_set()
                batch = range(i, i + 100)
                for k in batch:
                    c.send("SET", f"hotpatch:load:{k % 1000}", f"v{k}")
                    c.send("GET", f"hotpatch:load:{k % 1000}")
                for k in batch:
                    s, g = c.reply(), c.reply()
                    if s != "OK" or g != f"v{k}".encode():
                        self.failures.append(f"request {k}: SET {s!r}, GET {g!r}")
                    self.checked += 1
                i += 100
                if last:
                    break
        except redis_cves.Closed as e:
            self.failures.append(f"after {self.checked} checked pairs: {e}")
        finally:
            c.close()

    def wait_running(self, timeout=30):
        """Both parts answered since now: the load is on."""
        base, end = self.checked, time.time() + timeout
        while self.checked < base + 1000 or not redis_cves.alive(HOST, self.port):
            if self.failures or time.time() > end:
                raise Fail(f"the load is not running: {self.failures[:3]}")
            time.sleep(0.01)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=300)


def probe(cves, port, full=False):
    """{cve: verdict} for those reproducers that spare a vulnerable server."""
    return {cve: redis_cves.REPRODUCERS[cve](HOST, port, full=full)
            for cve in cves if full or cve in redis_cves.PROBES}


def start_server(tree):
    srv = redis_cves.Server(os.path.join(tree, "src", "redis-server"),
                            os.path.join(tmpdir(), f"redis-{len(os.listdir(tmpdir()))}"))
    on_cleanup(srv.stop)
    return srv


def build_patch(name, tree, diff):
    out = os.path.join(tmpdir(), f"{name}.so")
    t0 = time.time()
    r = hotpatch("build", "--source", tree, "--diff", diff, "--target",
                 os.path.join(tree, "src", "redis-server"), "-o", out,
                 "--keep", os.path.join(tmpdir(), f"{name}-src"), "--json", timeout=900)
    print(f"hotpatch build {name}: {time.time() - t0:.1f} s", flush=True)
    eq(r.returncode, 0, f"hotpatch build {name}: {r.stderr}")
    try:
        doc = json.loads(r.stdout)
    except ValueError as e:
        raise Fail(f"build --json is not JSON ({e}): {r.stdout!r}")
    text = json.dumps(doc)
    for fn in CHANGED[name]:
        check(re.search(rf'"{re.escape(fn)}"', text), f"build report names {fn}: {text[:2000]}")
    check(os.path.isfile(out), f"{out} was written")
    return out, doc


def scenario(name):
    trees = prepare()
    if not build_implemented():
        raise Skip("hotpatch build not implemented")
    tree, diff = trees[name]
    cves = redis_cves.BY_PATCH[name]
    srv = start_server(tree)
    before = probe(cves, srv.port)
    eq(before, {c: VULNERABLE for c in before}, "the probes before the patch")

    load = Load(tree, srv.port)
    load.wait_running()
    out, _ = build_patch(name, tree, diff)
    load.wait_running()
    r = hotpatch("--pid", srv.pid, out, "--json")
    eq(r.returncode, 0, f"apply: {r.stderr}")
    procs = json.loads(r.stdout)["processes"]
    eq([p["result"] for p in procs], ["applied"], "applied")
    # a static shows as "name (in file.c)"
    redirected = {re.sub(r" \(in [^)]*\)$", "", f["symbol"])
                  for p in procs for pa in p["patches"] for f in pa["functions"]}
    check(set(REDIRECTED[name]) <= redirected <= set(CHANGED[name]),
          f"redirected {sorted(redirected)}: want {REDIRECTED[name]}, at most {CHANGED[name]}")
    check(not redirected & set(LINE_DRIFT[name]), f"line drift only: {LINE_DRIFT[name]}")
    load.wait_running()
    eq(probe(cves, srv.port, full=True), {c: FIXED for c in cves}, "every reproducer, patched")
    eq(probe(cves, srv.port), {c: FIXED for c in before}, "the probes, patched")

    r = hotpatch("rollback", "--pid", srv.pid, out, "--json")
    eq(r.returncode, 0, f"rollback: {r.stderr}")
    load.wait_running()
    eq(probe(cves, srv.port), before, "the probes after rollback")
    load.stop()
    eq(load.failures, [], "failed requests of the checking client")
    eq(load.failed_runs, [], "redis-benchmark runs that failed")
    check(load.runs > 0 and load.checked > 0, "the load ran")
    check(srv.alive(), "redis-server alive at the end")
    print(f"{load.runs} redis-benchmark runs, {load.checked} SET/GET pairs checked", flush=True)


def test_redis_trees():
    """The trees build, and each patch applies to its tree with patch -p1
    (--dry-run), the other way round it does not: they are the right trees."""
    for name, (tree, diff) in prepare().items():
        r = subprocess.run(["patch", "-p1", "--dry-run", "-s", "-f", "-d", tree, "-i", diff],
                           capture_output=True, text=True)
        eq(r.returncode, 0, f"{os.path.basename(diff)} applies to {name}: {r.stdout}")
        r = subprocess.run(["patch", "-p1", "-R", "--dry-run", "-s", "-f", "-d", tree, "-i", diff],
                           capture_output=True, text=True)
        check(r.returncode != 0, f"{os.path.basename(diff)} is not already in {name}")


def test_redis_reproducers():
    """Each reproducer, on a throwaway server of the unpatched tree: the probes
    see VULNERABLE, the CVE reproducers take the server down (the KEYS one
    only overflows a stack smaller than 8 MiB: either is the bug); on the
    cve51741 tree, which has 0001 in, the 0001 CVEs show FIXED."""
    trees = prepare()
    want = {
        "cve1113": {
            (c, False): VULNERABLE for c in redis_cves.PROBES} | {
            ("CVE-2024-31449", True): {CRASHED}, ("CVE-2024-31227", True): {CRASHED},
            ("CVE-2024-31228", True): {VULNERABLE, CRASHED}, ("CVE-2024-51741", True): {CRASHED}},
        "cve51741": {
            ("CVE-2024-31449", True): FIXED, ("CVE-2024-31227", True): FIXED,
            ("CVE-2024-31227", False): FIXED, ("CVE-2024-31228", True): FIXED,
            ("CVE-2024-31228", False): FIXED, ("CVE-2024-51741", False): VULNERABLE,
            ("CVE-2024-51741", True): {CRASHED}},
    }
    for name, cases in want.items():
        for (cve, full), verdict in cases.items():
            srv = start_server(trees[name][0])
            got = redis_cves.REPRODUCERS[cve](HOST, srv.port, full=full)
            ok = got in verdict if isinstance(verdict, set) else got == verdict
            check(ok, f"{name} {cve} {'reproducer' if full else 'probe'}: got {got}, "
                      f"want {verdict}")
            if got != CRASHED:
                check(srv.alive(), f"{name} {cve}: the server lives")
            srv.stop()


def test_redis_cve1113_under_load():
    scenario("cve1113")


def test_redis_cve51741_under_load():
    scenario("cve51741")
