# SPDX-License-Identifier: LGPL-2.1-or-later
"""Debian's stock nginx package, installed with apt and not rebuilt: a
function of a library it loads has no hot-patch prologue (libpcre2-8's
pcre2_match_8, on every request that meets a regex location, takes found
padding; zlib's deflateInit2_, on every gzip answer, is relocated).  It is
patched live with hotpatch --relocate in the master and both workers under
wrk load, the change is seen in the answers while the patch is in and gone
after rollback, the bytes are restored exactly, and wrk counts no failed
request and no answer that is neither the original nor the patched one."""
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import zlib

from hptest import (HOTPATCH, SOURCE, Fail, Skip, check, eq, file_bytes, hotpatch, hotpatch_json,
                    min_load_vaddr, on_cleanup, patch, tmpdir)

sys.path.insert(0, os.path.join(SOURCE, "tests"))
from realworld_nginx import alive, children, free_port, wrk_result  # noqa: E402

NGINX = "/usr/sbin/nginx"
GZ_TEXT = "hotpatch sent this text uncompressed. " * 24


class Case:
    """One library function of the stock server, its patch, and how the
    answers tell the original behaviour from the patched one: kind(status,
    body) for the survey, the same test in Lua (`lua`, the body of a
    function of status and body) for every answer wrk gets."""

    def __init__(self, lib, func, fix, load, before, after, kind, lua, headers=()):
        self.lib, self.func, self.fix, self.load = lib, func, fix, load
        self.before, self.after, self.kind, self.lua = before, after, kind, lua
        self.headers = list(headers)


def pcre2_kind(status, body):
    return body.decode(errors="replace") if status == 200 else f"status {status}"


def gzip_kind(status, body):
    """Valid gzip of the text either way: "deflated" or "stored"."""
    if status != 200:
        return f"status {status}"
    try:
        text = zlib.decompress(body, 31).decode()
    except zlib.error as e:
        return f"not gzip: {e}"
    if text != GZ_TEXT:
        return f"wrong text {text[:40]!r}"
    if GZ_TEXT.encode() in body:
        return "stored"
    return "deflated" if len(body) < len(GZ_TEXT) // 2 else f"{len(body)} bytes, not deflated"


# a regex location: a subject naming "legacy" stops matching (pcre2_match_8
# takes the found padding before it)
PCRE2 = Case("libpcre2-8.so.0", "pcre2_match_8", "stock_pcre2_match", "/rule/legacy",
             {"/rule/legacy": "rule legacy\n", "/rule/other": "rule other\n"},
             {"/rule/legacy": "default\n", "/rule/other": "rule other\n"}, pcre2_kind, r'''
  if status ~= 200 then return nil end
  if body == "rule legacy\n" then return "original" end
  if body == "default\n" then return "patched" end''')
# gzip: every deflate stream is made at level 0 (deflateInit2_ relocated)
ZLIB = Case("libz.so.1", "deflateInit2_", "stock_deflate_init", "/gz",
            {"/gz": "deflated"}, {"/gz": "stored"}, gzip_kind, r'''
  if status ~= 200 or body:sub(1, 2) ~= "\31\139" then return nil end
  if body:find(text, 1, true) then return "patched" end
  if #body < #text / 2 then return "original" end''',
            headers=["-H", "Accept-Encoding: gzip"])

CONF = """# Debian's stock nginx, run by hotpatch's test_realworld_stock
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        add_header X-Worker $pid always;
        location = /status {{ stub_status; }}
        location ~ ^/rule/([a-z]+)$ {{ return 200 "rule $1\\n"; }}
        location = /gz {{
            gzip on; gzip_types text/plain; gzip_min_length 1; gzip_comp_level 1;
            return 200 "{text}";
        }}
        location / {{ return 200 "default\\n"; }}
    }}
}}
"""

# wrk sorts every answer it gets: the original, the patched one, anything else
WRK_SCRIPT = r"""
original, patched, other = 0, 0, 0
text = %s
local threads = {}
local function kind(status, body)
%s
end
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  local k = kind(status, body)
  if k == "original" then original = original + 1
  elseif k == "patched" then patched = patched + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, p, x = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("original"); p = p + t:get("patched"); x = x + t:get("other")
  end
  io.write(string.format("bodies: original %%d patched %%d other %%d\n", o, p, x))
end
"""


def lua_string(text):
    return '"' + "".join(c if c.isalnum() or c in " .,-" else "\\%d" % ord(c) for c in text) + '"'


def package_of(path):
    """The Debian package that installed `path`, its files unmodified
    (dpkg -V), or Fail.  dpkg may know the file by its /lib path (usrmerge)."""
    for p in (path, path[len("/usr"):] if path.startswith("/usr/") else path):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            pkg = r.stdout.split(":")[0]
            v = subprocess.run(["dpkg", "-V", pkg], capture_output=True, text=True)
            eq(v.stdout + v.stderr, "", f"dpkg -V {pkg}: its files are as the package shipped them")
            return pkg
    raise Fail(f"{path} was not installed by a Debian package")


def prepare():
    """Debian's nginx package (scripts/realworld installs it, no service started)."""
    r = subprocess.run([os.path.join(SOURCE, "scripts", "realworld"), "--stock-prepare"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode == 77:
        raise Skip(r.stderr.strip().splitlines()[-1])
    eq(r.returncode, 0, f"installing nginx: {r.stderr}")
    eq(package_of(NGINX), "nginx", f"the package that installed {NGINX}")


class StockNginx:
    """The package's /usr/sbin/nginx with our configuration in `workdir`: a
    master and 2 workers on a free loopback port, stopped by PID."""

    def __init__(self, workdir):
        self.dir = workdir
        self.port = free_port()
        with open(os.path.join(workdir, "nginx.conf"), "w") as f:
            f.write(CONF.format(dir=workdir, port=self.port, text=GZ_TEXT))
        self.p = subprocess.Popen([NGINX, "-p", workdir, "-e", os.path.join(workdir, "error.log"),
                                   "-c", os.path.join(workdir, "nginx.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.p.pid
        self.workers = []
        on_cleanup(self.stop)
        deadline = time.time() + 20
        while time.time() < deadline:
            check(self.p.poll() is None, f"nginx ended: {self.log()}")
            try:
                if len(children(self.pid)) == 2 and get(self.port, "/status")[0] == 200:
                    self.workers = children(self.pid)
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise Fail(f"nginx did not serve on port {self.port} within 20 s: {self.log()}")

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def pids(self):
        return [self.pid] + self.workers

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGQUIT)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for pid in self.workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def get(port, path, headers=()):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = dict(x.split(": ", 1) for x in headers)
    c.request("GET", path, headers=dict(h, Connection="close"))
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("X-Worker"), body


def survey(case, port, n=60):
    """What each worker answers on each path: {path: {worker: {kind}}}."""
    seen = {}
    for path in case.before:
        for _ in range(n):
            status, worker, body = get(port, path, case.headers[1::2])
            seen.setdefault(path, {}).setdefault(int(worker), set()).add(case.kind(status, body))
    return seen


def answers(seen, want, workers, what):
    for path, kind in want.items():
        eq(sorted(seen[path]), sorted(workers), f"every worker answered {path} {what}")
        for w, kinds in seen[path].items():
            eq(kinds, {kind}, f"worker {w} on {path} {what}")


def served(port):
    return int(get(port, "/status")[2].decode().splitlines()[2].split()[2])


def wait_served(port, more, w, what, timeout=20):
    base = served(port)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if w.poll() is not None:
            raise Fail(f"wrk ended {what}: {w.communicate()[0]}")
        if served(port) >= base + more:
            return
        time.sleep(0.01)
    raise Fail(f"nginx did not serve {more} requests {what} within {timeout}s")


def wrk(case, port, seconds):
    script = os.path.join(tmpdir(), "kinds.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT % (lua_string(GZ_TEXT), case.lua))
    return subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", script,
                             *case.headers, f"http://127.0.0.1:{port}{case.load}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_report(p):
    r = wrk_result(p)
    line = [s for s in r["output"].splitlines() if s.startswith("bodies:")]
    check(line, f"wrk's script reported the bodies: {r['output']}")
    w = line[0].split()
    r["original"], r["patched"], r["other"] = int(w[2]), int(w[4]), int(w[6])
    print(f"wrk: {r['requests']} requests, {r['rps']:.0f}/s, socket errors {r['socket_errors']}, "
          f"non-2xx {r['non_2xx']}; bodies original {r['original']} patched {r['patched']} "
          f"other {r['other']}", flush=True)
    return r


def under_load(case, port, action):
    """action() while wrk loads nginx, which served before it and after it."""
    w = wrk(case, port, 300)
    try:
        wait_served(port, 300, w, "before the command")
        got = action()
        wait_served(port, 300, w, "after the command")
    finally:
        if w.poll() is None:
            w.send_signal(signal.SIGINT)
    return got, wrk_report(w)


def no_failures(r, what):
    check(r["requests"] > 0, f"wrk ran {what}")
    eq(r["socket_errors"], 0, f"socket errors {what}")
    eq(r["non_2xx"], 0, f"non-2xx responses {what}")
    eq(r["other"], 0, f"answers neither original nor patched {what}")


def dynsym(path, name):
    """st_value of a defined dynamic symbol, from nm -D."""
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].split("@")[0] == name:
            return int(parts[0], 16)
    raise Fail(f"{name} is not exported by {path}")


def mapped(pid, soname):
    """(real path, load bias) of the object `soname` in process `pid`."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith(soname):
                path = parts[5].strip()
                if int(parts[2], 16) == 0:
                    return path, int(parts[0].split("-")[0], 16) - min_load_vaddr(path)
    raise Fail(f"{soname} is not mapped in {pid}")


def read_mem(pid, addr, n):
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(addr)
        return f.read(n)


# the bytes compared: some before the entry (where found padding takes the
# long jump) and more after it than any relocation displaces
BEFORE, AFTER = 16, 48


def live_bytes(srv, lib, path, vaddr):
    out = {}
    for pid in srv.pids():
        p, bias = mapped(pid, lib)
        eq(os.path.realpath(p), os.path.realpath(path), f"{lib} in {pid}")
        out[pid] = read_mem(pid, bias + vaddr - BEFORE, BEFORE + AFTER)
    return out


def listed(pid, lib, name):
    """list --relocate's verdict on `name` of the object `lib` in `pid`.
    (--object, not --lib: that selects every process mapping the library.)"""
    cmd = [HOTPATCH, "--json", "list", "--pid", str(pid), "--relocate", "--object", lib,
           "--timeout", "120"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    eq(r.returncode, 0, f"{' '.join(cmd)}: {r.stderr}")
    doc = json.loads(r.stdout)
    fns = [f for p in doc.get("processes", []) for o in p.get("objects", [])
           if os.path.realpath(o.get("path", "")) == lib
           for f in o.get("functions", []) if f.get("name") == name]
    eq(len(fns), 1, f"list --relocate --object shows {name} of {lib} once")
    eq(len(doc["processes"][0]["objects"]), 1, "list --object shows that object only")
    return fns[0]


def scenario(case):
    """The case's function patched with --relocate in the master and both
    workers under wrk load, then rolled back; everything checked."""
    prepare()
    srv = StockNginx(tmpdir())
    print(f"nginx {srv.pid}, workers {srv.workers}, port {srv.port}", flush=True)
    lib, _ = mapped(srv.workers[0], case.lib)
    lib = os.path.realpath(lib)
    print(f"{case.lib} is {lib}, from Debian's package {package_of(lib)}", flush=True)
    vaddr = dynsym(lib, case.func)
    disk = file_bytes(lib, vaddr - BEFORE, BEFORE + AFTER)
    fn = case.func
    for pid, got in live_bytes(srv, case.lib, lib, vaddr).items():
        eq(got.hex(), disk.hex(), f"{fn} in {pid} before, as in {lib}")
    fix = patch(case.fix)
    targets = [a for pid in srv.pids() for a in ("--pid", pid)]

    verdict = listed(srv.workers[0], lib, fn)
    print(f"list --relocate: {verdict}", flush=True)
    check(verdict.get("method") in ("padding", "relocate"),
          f"{fn} has no prologue and can be relocated: {verdict}")
    eq(verdict.get("refused"), None, f"{fn} is not refused")

    # without --relocate: refused, saying what --relocate would do, nothing written
    r = hotpatch(*targets, fix)
    eq(r.returncode, 6, "without --relocate, a function without a prologue is refused")
    check("no hot-patch prologue" in r.stderr, f"the refusal says why: {r.stderr}")
    check(("found padding" if verdict["method"] == "padding" else "relocation") in r.stderr,
          f"the refusal names the method --relocate would use: {r.stderr}")
    for pid, got in live_bytes(srv, case.lib, lib, vaddr).items():
        eq(got.hex(), disk.hex(), f"{fn} in {pid} after the refusal")
    answers(survey(case, srv.port), case.before, srv.workers, "before the patch")
    before = wrk_report(wrk(case, srv.port, 2))
    no_failures(before, "before the patch")
    eq(before["patched"], 0, "no patched answer before the patch")

    (code, doc), during_apply = under_load(
        case, srv.port, lambda: hotpatch_json(*targets, "--relocate", fix))
    eq(code, 0, "hotpatch --relocate under load")
    procs = doc.get("processes", [])
    eq(sorted(p["pid"] for p in procs), sorted(srv.pids()), "the master and both workers")
    for p in procs:
        eq(p.get("result"), "applied", f"pid {p['pid']}")
        fns = [f for pa in p.get("patches", []) for f in pa.get("functions", [])]
        eq(len(fns), 1, f"the report of {p['pid']} lists the function")
        for f in fns:
            eq(f.get("method"), verdict["method"], f"method in {p['pid']} (as list said)")
            eq(f.get("displaced"), verdict["displaced"], f"displaced bytes in {p['pid']}")
            eq(f.get("instructions"), verdict["instructions"], f"instructions in {p['pid']}")
    jump = {"padding": 0xEB, "relocate": 0xE9}[verdict["method"]]
    for pid, got in live_bytes(srv, case.lib, lib, vaddr).items():
        eq(got[BEFORE], jump, f"the jump at {fn}'s entry in {pid}")
        eq(got[BEFORE + verdict["displaced"]:].hex(), disk[BEFORE + verdict["displaced"]:].hex(),
           f"{fn}'s body past the displaced bytes in {pid}")
    no_failures(during_apply, "during apply")
    check(during_apply["original"] > 0 and during_apply["patched"] > 0,
          "wrk saw the original answer, then the patched one, while the patch went in")
    answers(survey(case, srv.port), case.after, srv.workers, "while patched")
    code, st = hotpatch_json("status", *targets)
    eq(code, 0, "status")
    for p in st.get("processes", []):
        eq(len(p.get("patches", [])), 1, f"pid {p['pid']} records the patch")
    patched = wrk_report(wrk(case, srv.port, 2))
    no_failures(patched, "while patched")
    eq(patched["original"], 0, "no original answer while patched")

    (code, doc), during_rollback = under_load(
        case, srv.port, lambda: hotpatch_json("rollback", *targets, fix))
    eq(code, 0, "rollback under load")
    eq(set(p.get("result") for p in doc.get("processes", [])), {"rolled-back"},
       "rolled back everywhere")
    no_failures(during_rollback, "during rollback")
    check(during_rollback["original"] > 0 and during_rollback["patched"] > 0,
          "wrk saw the patched answer, then the original one, while the patch went out")
    for pid, got in live_bytes(srv, case.lib, lib, vaddr).items():
        eq(got.hex(), disk.hex(), f"{fn} in {pid} after rollback, byte for byte as in {lib}")
    answers(survey(case, srv.port), case.before, srv.workers, "after rollback")
    after = wrk_report(wrk(case, srv.port, 2))
    no_failures(after, "after rollback")
    eq(after["patched"], 0, "no patched answer after rollback")
    for pid in srv.pids():
        check(alive(pid), f"nginx {pid} alive at the end")
    eq(children(srv.pid), srv.workers, "the same workers served throughout")
    print("pauses (us): apply", [p["timings_us"]["pause"] for p in procs], flush=True)
    print("throughput (req/s): before %.0f, during apply %.0f, patched %.0f, during rollback %.0f, "
          "after %.0f" % tuple(r["rps"] for r in (before, during_apply, patched, during_rollback,
                                                  after)))


def test_stock_nginx_relocate_under_load():
    """libpcre2-8's pcre2_match_8, by found padding (a regex location)."""
    scenario(PCRE2)


def test_stock_nginx_zlib_relocated_under_load():
    """zlib's deflateInit2_, by relocation (gzip answers)."""
    scenario(ZLIB)


def test_stock_nginx_harness():
    """The harness alone, no hotpatch: the stock server answers as both
    scenarios expect, under wrk, and its functions are the files'."""
    prepare()
    srv = StockNginx(tmpdir())
    for case in (PCRE2, ZLIB):
        lib, _ = mapped(srv.workers[0], case.lib)
        lib = os.path.realpath(lib)
        vaddr = dynsym(lib, case.func)
        disk = file_bytes(lib, vaddr - BEFORE, BEFORE + AFTER)
        for pid, got in live_bytes(srv, case.lib, lib, vaddr).items():
            eq(got.hex(), disk.hex(), f"{case.func} in {pid}, as in {lib}")
        answers(survey(case, srv.port), case.before, srv.workers, "unpatched")
        _, r = under_load(case, srv.port, lambda: None)
        no_failures(r, "unpatched")
        eq(r["patched"], 0, "no patched answer")
        check(r["original"] > 0, "wrk counted the original answers")
