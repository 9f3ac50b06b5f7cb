#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""hotpatch's benchmark, every case measured side by side in one run.

1. The pause a target feels (a spinning thread's longest gap between clock
   readings) with N sleeping threads and F patched functions: hotpatch's
   ptrace flip, its --freezer flip, the kernel's floor (seize, interrupt,
   resume, detach with nothing done), gdb.
2. Busy targets (threads spinning on the CPU, or half of them): the pause
   felt, the floor, how long until the last thread stopped, the command.
   The freezer against the floor by where the threads sleep (futex, epoll,
   read), ptrace, --freezer and --freezer=auto side by side.
3. Whole command time.
4. Tail latency of a loaded request/response server through one apply and
   one rollback, against a window without patching.
5. What a call costs through the unpatched prologue and the patched path.
Medians and ranges over repeated runs; ratios are of medians of one run.
"""
import argparse
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Proc:
    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.pid = self.p.pid
        self.first = self.line()

    def line(self, timeout=60):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("benchmark target did not answer")
        return self.p.stdout.readline().strip()

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        return self.line()

    def felt(self, action):
        """Runs action(); returns (its result, the longest gap in us)."""
        self.cmd("reset")
        res = action()
        return res, int(self.cmd("gap")) / 1000.0

    def stop(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=5)
        except Exception:
            pass
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def make_patch(work, nfuncs, symbol="bf_{}", name=None):
    name = name or f"bench_{nfuncs}"
    src = os.path.join(work, name + ".c")
    with open(src, "w") as f:
        f.write("#include <hotpatch.h>\n")
        for i in range(nfuncs):
            f.write(f"static long r{i}(long x) {{ return x + {i} + 1; }}\n"
                    f"HOTPATCH_REPLACE_NAMED(\"\", \"{symbol.format(i)}\", r{i});\n")
    out = os.path.join(work, name + ".so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-I", os.path.join(ROOT, "include"), src,
                    "-o", out], check=True)
    return out


def run(cmd, check=True):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr}")
    return r.stdout, (time.monotonic() - t0) * 1e6


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def gdb_can_call(build, patchfile):
    """gdb 13 cannot restore AMX state on some CPUs; its call then fails
    (and may kill the target).  Tried once, on a throwaway target."""
    if not shutil.which("gdb"):
        return False
    sp = Proc([os.path.join(build, "bench", "spinner"), "1"])
    try:
        subprocess.run(["gdb", "-p", str(sp.pid), "-batch", "-nx", "-ex",
                        f'call (void*)dlopen("{patchfile}", 2)'], capture_output=True, timeout=60)
        with open(f"/proc/{sp.pid}/maps") as f:
            return os.path.basename(patchfile) in f.read() and sp.p.poll() is None
    except Exception:
        return False
    finally:
        sp.stop()


def pause_case(a, build, hp, floor, threads, patchfile, gdb_expr, sleepers="read"):
    sp = Proc([os.path.join(build, "bench", "spinner"), str(threads), sleepers])
    res = {k: [] for k in ("quiet", "floor", "hotpatch", "reported", "command", "rollback",
                           "freezer", "gdb")}
    try:
        for _ in range(a.reps):
            res["quiet"].append(sp.felt(lambda: time.sleep(0.05))[1])
            res["floor"].append(sp.felt(lambda: run([floor, str(sp.pid)]))[1])
            (out, us), g = sp.felt(lambda: run([hp, "--json", "--pid", str(sp.pid), patchfile]))
            doc = json.loads(out)["processes"][0]
            if doc["result"] != "applied":
                raise RuntimeError(f"apply: {doc}")
            res["hotpatch"].append(g)
            res["reported"].append(doc["timings_us"]["pause"])
            res["command"].append(us / 1000)
            res["rollback"].append(sp.felt(lambda: run([hp, "rollback", "--pid", str(sp.pid),
                                                        patchfile]))[1])
            if a.freezer:
                (out, us), g = sp.felt(lambda: run([hp, "--json", "--freezer", "--pid", str(sp.pid),
                                                    patchfile]))
                if json.loads(out)["processes"][0]["flip_path"] == "freezer":
                    res["freezer"].append(g)
                run([hp, "rollback", "--pid", str(sp.pid), patchfile])
        if gdb_expr and threads <= a.gdb_max_threads:
            for _ in range(a.gdb_reps):
                cmd = ["gdb", "-p", str(sp.pid), "-batch", "-nx", "-ex", gdb_expr(patchfile)]
                res["gdb"].append(sp.felt(lambda: run(cmd, check=False))[1])
    finally:
        sp.stop()
    return {k: stats(v) for k, v in res.items() if v}


def flip_case(a, build, hp, floor, threads, kind, patchfile, variants):
    """One target, every variant of a flip in turn in each repetition: the
    kernel's floor, hotpatch's ptrace flip, --freezer, --freezer=auto.  For
    each: the pause felt, the pause and the stop hotpatch measured, the
    command time, and the path the flip took."""
    sp = Proc([os.path.join(build, "bench", "spinner"), str(threads), kind])
    res = {"quiet": []}
    paths = {}
    flags = {"ptrace": [], "freezer": ["--freezer"], "auto": ["--freezer=auto"]}
    try:
        time.sleep(0.2)
        for _ in range(a.reps):
            res["quiet"].append(sp.felt(lambda: time.sleep(0.05))[1])
            for v in variants:
                if v == "floor":
                    (out, us), g = sp.felt(lambda: run([floor, str(sp.pid)]))
                    pause, stop = map(float, out.split())
                    path = "ptrace"
                else:
                    (out, us), g = sp.felt(lambda: run([hp, "--json", *flags[v], "--pid",
                                                        str(sp.pid), patchfile]))
                    doc = json.loads(out)["processes"][0]
                    if doc["result"] != "applied":
                        raise RuntimeError(f"apply: {doc}")
                    pause, stop = doc["timings_us"]["pause"], doc["timings_us"]["stop"]
                    path = doc["flip_path"]
                    run([hp, "rollback", "--pid", str(sp.pid), patchfile])
                for k, x in (("felt", g), ("pause", pause), ("stop", stop), ("command", us / 1000)):
                    res.setdefault(f"{v}_{k}", []).append(x)
                paths.setdefault(v, {}).setdefault(path, 0)
                paths[v][path] += 1
    finally:
        sp.stop()
    out = {k: stats(v) for k, v in res.items() if v}
    out["paths"] = paths
    return out


def busy_rows(a, build, hp, floor, patchfile, res, m):
    print(f"{'doing':>6} {'threads':>7} {'quiet':>7} {'floor':>7} {'f.stop':>7} {'hotpatch':>8} "
          f"{'hp.stop':>7} {'ratio':>6} {'felt fl':>7} {'felt hp':>7} {'cmd ms':>7}   (us)", flush=True)
    res["busy"] = []
    for kind, n in [(k, int(n)) for k in a.busy.split(",") for n in a.busy_threads.split(",")]:
        r = flip_case(a, build, hp, floor, n, kind, patchfile, ["floor", "ptrace"])
        r.update(threads=n, doing=kind, cpus=os.cpu_count())
        res["busy"].append(r)
        print(f"{kind:>6} {n:7d} {m(r, 'quiet'):7.0f} {m(r, 'floor_pause'):7.0f} "
              f"{m(r, 'floor_stop'):7.0f} {m(r, 'ptrace_pause'):8.0f} {m(r, 'ptrace_stop'):7.0f} "
              f"{m(r, 'ptrace_pause') / m(r, 'floor_pause'):6.2f} {m(r, 'floor_felt'):7.0f} "
              f"{m(r, 'ptrace_felt'):7.0f} {m(r, 'ptrace_command'):7.1f}", flush=True)


def freezer_rows(a, build, hp, floor, patchfile, res, m):
    print(f"{'sleep':>6} {'threads':>7} {'floor':>7} {'ptrace':>7} {'freezer':>7} {'fz/fl':>6} "
          f"{'auto':>7} {'au/fl':>6} {'auto path':>10} {'fz cmd':>7} {'pt cmd':>7}   (felt, us)",
          flush=True)
    res["freezer"] = []
    for kind, n in [(k, int(n)) for k in a.freezer_sleepers.split(",")
                    for n in a.freezer_threads.split(",")]:
        r = flip_case(a, build, hp, floor, n, kind, patchfile, ["floor", "ptrace", "freezer", "auto"])
        r.update(threads=n, sleepers=kind)
        res["freezer"].append(r)
        ap = max(r["paths"]["auto"].items(), key=lambda kv: kv[1])[0]
        print(f"{kind:>6} {n:7d} {m(r, 'floor_felt'):7.0f} {m(r, 'ptrace_felt'):7.0f} "
              f"{m(r, 'freezer_felt'):7.0f} {m(r, 'freezer_felt') / m(r, 'floor_felt'):6.2f} "
              f"{m(r, 'auto_felt'):7.0f} {m(r, 'auto_felt') / m(r, 'floor_felt'):6.2f} {ap:>10} "
              f"{m(r, 'freezer_command'):7.1f} {m(r, 'ptrace_command'):7.1f}", flush=True)


def command_case(a, build, hp, patchfile, threads, how):
    """Whole apply and rollback commands on a target whose N threads sleep,
    call the patched function every 50 ms (nap), or without a break (spin)."""
    sp = Proc([os.path.join(build, "bench", "spinner"), str(threads), how])
    res = {"apply": [], "rollback": [], "apply_load": [], "rollback_unload": []}
    try:
        time.sleep(0.2)
        for _ in range(a.reps):
            for verb in ("apply", "rollback"):
                out, us = run([hp, "--json", verb, "--pid", str(sp.pid), patchfile])
                doc = json.loads(out)["processes"][0]
                res[verb].append(us / 1000)
                k = "load" if verb == "apply" else "unload"
                res[f"{verb}_{k}"].append(doc["timings_us"][k] / 1000)
    finally:
        sp.stop()
    return {k: stats(v) for k, v in res.items() if v}


def latency_case(a, build, hp, work):
    srv = Proc([os.path.join(build, "bench", "server")])
    port = srv.first.split()[1]
    patchfile = make_patch(work, 1, "bs_work", "bench_server")
    total, rate, conns = 10.0, a.rate, 8
    marks = {}

    def patcher():
        t0 = time.monotonic()
        time.sleep(5.0)
        marks["apply"] = run([hp, "--pid", str(srv.pid), patchfile])[1]
        time.sleep(1.5)
        marks["rollback"] = run([hp, "rollback", "--pid", str(srv.pid), patchfile])[1]
        marks["done"] = time.monotonic() - t0

    try:
        lg = subprocess.Popen([os.path.join(build, "bench", "loadgen"), port, str(conns), str(rate),
                               str(total)], stdout=subprocess.PIPE, text=True)
        th = threading.Thread(target=patcher)
        th.start()
        out = lg.communicate(timeout=120)[0]
        th.join()
    finally:
        srv.p.kill()
        srv.p.wait()
    recs = [tuple(map(int, l.split())) for l in out.splitlines() if l]

    def pct(lo, hi):
        lat = sorted(l for t, l in recs if lo * 1e9 <= t < hi * 1e9)
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1000.0
        return {"n": len(lat), "p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": lat[-1] / 1000.0}

    # the load starts 0.1 s after the generator; the patcher acts at ~5 s and ~6.5 s
    return {"rate": rate, "quiet": pct(1.0, 4.5), "patching": pct(4.5, 8.5),
            "apply_us": marks.get("apply"), "rollback_us": marks.get("rollback")}


def callcost_case(a, build):
    out = {}
    runs = [("no prologue", "callcost-none", "plain"), ("gcc prologue", "callcost-gcc", "plain"),
            ("clang prologue", "callcost-clang", "plain"), ("direct call", "callcost-gcc", "direct"),
            ("patched: pad jump", "callcost-gcc", "pad"),
            ("patched: trampoline", "callcost-gcc", "trampoline")]
    for label, exe, mode in runs:
        path = os.path.join(build, "bench", exe)
        if not os.path.exists(path):
            continue
        xs = [float(subprocess.run([path, mode], capture_output=True, text=True,
                                   check=True).stdout.split()[1]) for _ in range(a.call_reps)]
        out[label] = stats(xs)
    return out


def processes_case(a, build, hp, n):
    """apply, status and rollback by --exe over n idle two-thread processes
    of one executable (a private copy, so that nothing else is selected):
    whole command times, and the pause each process felt."""
    work = tempfile.mkdtemp(prefix="hotpatch-bench-procs-")
    exe = os.path.join(work, "sleeper")
    shutil.copy(os.path.join(build, "tests", "sleeper"), exe)
    patchfile = os.path.join(build, "tests", "fix_compute.so")
    procs, res = [], {"apply": [], "status": [], "rollback": [], "pause": [], "pause_max": []}
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([exe, "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        for p in procs:
            p.stdout.readline()
        for _ in range(a.reps):
            for verb in ("apply", "status", "rollback"):
                out, us = run([hp, "--json", verb, "--exe", exe, "--timeout", "120"] +
                              ([patchfile] if verb != "status" else []))
                doc = json.loads(out)
                if len(doc["processes"]) != n:
                    raise RuntimeError(f"{verb} saw {len(doc['processes'])} of {n} processes")
                res[verb].append(us / 1000)
                if verb == "apply":
                    pauses = [q["timings_us"]["pause"] for q in doc["processes"]]
                    res["pause"].append(statistics.median(pauses))
                    res["pause_max"].append(max(pauses))
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    return {k: stats(v) for k, v in res.items() if v}


def build_trees(build, work):
    """(name, tree, diff, target) for `hotpatch build`: a synthetic two-unit
    program built here, and Debian's redis trees when scripts/realworld-redis
    --prepare has built them (in this build directory)."""
    src = os.path.join(ROOT, "tests", "build", "twotu")
    tree = os.path.join(work, "twotu")
    shutil.copytree(src, tree)
    for f in ("driver.c", "driver.h"):
        shutil.copy(os.path.join(ROOT, "tests", "build", "common", f), tree)
    flags = ["-O2", "-g", "-fpatchable-function-entry=7,5", "-I" + tree]
    db, objs = [], []
    for c in ("main.c", "one.c", "two.c", "driver.c"):
        obj = os.path.join(tree, c[:-2] + ".o")
        args = ["gcc"] + flags + ["-c", os.path.join(tree, c), "-o", obj]
        run(args)
        db.append({"directory": tree, "file": os.path.join(tree, c), "arguments": args})
        objs.append(obj)
    with open(os.path.join(tree, "compile_commands.json"), "w") as f:
        json.dump(db, f)
    run(["gcc", "-pthread"] + objs + ["-o", os.path.join(tree, "prog")])
    out = [("two units (synthetic)", tree, os.path.join(tree, "fix.patch"), os.path.join(tree, "prog"))]
    redis = os.path.join(build, "tests", "realworld", "redis")
    for name in ("cve1113", "cve51741"):
        t = os.path.join(redis, name)
        if os.path.exists(os.path.join(t, "src", "redis-server")):
            out.append((f"redis {name}", t, t + ".patch", os.path.join(t, "src", "redis-server")))
    return out


def build_case(a, hp, work):
    """Whole `hotpatch build` times, and its phases, per tree."""
    res = []
    for name, tree, diff, target in build_trees(a.build, work):
        times = {"total": [], "compile": [], "compare": [], "generate": []}
        for _ in range(a.reps):
            out, _ = run([hp, "build", "--source", tree, "--diff", diff, "--target", target,
                          "-o", os.path.join(work, "build-fix.so"), "--json"])
            t = json.loads(out)["timings_us"]
            for k in times:
                times[k].append(t[k] / 1e6)
        res.append({"tree": name, **{k: stats(v) for k, v in times.items()}})
    return res


SECTIONS = ("pause", "functions", "busy", "freezer", "commands", "processes", "latency", "calls",
            "build")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--gdb-reps", type=int, default=3)
    ap.add_argument("--gdb-max-threads", type=int, default=256)
    ap.add_argument("--call-reps", type=int, default=5)
    ap.add_argument("--threads", default="1,16,256,1024")
    ap.add_argument("--functions", default="1,100,1000")
    ap.add_argument("--sleepers", default="read,futex",
                    help="how the other threads sleep: in read(2) on a pipe, in a condition variable")
    ap.add_argument("--rate", type=float, default=10000)
    ap.add_argument("--no-gdb", dest="gdb", action="store_false")
    ap.add_argument("--no-freezer", dest="freezer", action="store_false")
    ap.add_argument("--busy", default="spin,mix",
                    help="busy rows: threads that spin, or half spin and half wait")
    ap.add_argument("--busy-threads", default="16,64,256")
    ap.add_argument("--freezer-sleepers", default="futex,epoll,read")
    ap.add_argument("--freezer-threads", default="1,16,100,256,1024")
    ap.add_argument("--skip", default="",
                    help="sections to skip: " + ",".join(SECTIONS))
    ap.add_argument("--only", default="",
                    help="run only these sections (e.g. --only processes)")
    ap.add_argument("--processes", default="1,100,1000",
                    help="how many processes the processes section selects with --exe")
    ap.add_argument("--json", default="bench-results.json")
    a = ap.parse_args()
    skip = set(a.skip.split(","))
    if a.only:
        if not set(a.only.split(",")) <= set(SECTIONS):
            ap.error(f"--only: sections are {','.join(SECTIONS)}")
        skip |= set(SECTIONS) - set(a.only.split(","))
    hp = os.path.join(a.build, "src", "hotpatch")
    floor = os.path.join(a.build, "bench", "floor")
    a.freezer = a.freezer and os.geteuid() == 0 and os.path.exists("/sys/fs/cgroup/freezer/cgroup.procs")
    work = tempfile.mkdtemp(prefix="hotpatch-bench-")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    res = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "cpu": cpu},
           "reps": a.reps, "pause_by_threads": [], "pause_by_functions": []}
    print(f"# {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}; medians of {a.reps} runs, "
          "pauses in us as the target felt them", flush=True)
    m = lambda r, k: r[k]["median"] if k in r else float("nan")
    try:
        one = make_patch(work, 1)
        gdb_expr = None
        if a.gdb and shutil.which("gdb") and "pause" not in skip:
            if gdb_can_call(a.build, one):
                gdb_expr = lambda p: f'call (void*)dlopen("{p}", 2)'
                res["gdb_mode"] = "call dlopen"
            else:
                gdb_expr = lambda p: "info registers rip"
                res["gdb_mode"] = "attach+detach (its call dlopen fails on this machine)"
            print(f"# gdb column: {res['gdb_mode']}", flush=True)
        if "pause" not in skip:
            print(f"{'sleepers':>8} {'threads':>8} {'quiet':>7} {'floor':>8} {'hotpatch':>9} {'range':>13} {'ratio':>6} "
                  f"{'+us':>6} {'freezer':>8} {'f/floor':>7} {'gdb':>9} {'gdb/hp':>7} {'cmd ms':>7}",
                  flush=True)
            cases = [(kind, n) for kind in a.sleepers.split(",") for n in map(int, a.threads.split(","))]
            for kind, n in cases:
                r = pause_case(a, a.build, hp, floor, n, one, gdb_expr if kind == "read" else None, kind)
                r.update(threads=n, sleepers=kind)
                res["pause_by_threads"].append(r)
                print(f"{kind:>8} {n:8d} {m(r, 'quiet'):7.0f} {m(r, 'floor'):8.0f} {m(r, 'hotpatch'):9.0f} "
                      f"{r['hotpatch']['min']:6.0f}-{r['hotpatch']['max']:<6.0f} "
                      f"{m(r, 'hotpatch') / m(r, 'floor'):6.2f} {m(r, 'hotpatch') - m(r, 'floor'):6.0f} "
                      f"{m(r, 'freezer'):8.0f} {m(r, 'freezer') / m(r, 'floor'):7.2f} "
                      f"{m(r, 'gdb'):9.0f} {m(r, 'gdb') / m(r, 'hotpatch'):7.0f} {m(r, 'command'):7.1f}",
                      flush=True)
        if "functions" not in skip:
            print(f"{'funcs':>8} {'quiet':>7} {'floor':>8} {'hotpatch':>9} {'range':>13} {'ratio':>6} "
                  f"{'+us':>6} {'freezer':>8} {'f/floor':>7} {'cmd ms':>7}   (16 threads)", flush=True)
            for f in map(int, a.functions.split(",")):
                pf = one if f == 1 else make_patch(work, f)
                r = pause_case(a, a.build, hp, floor, 16, pf, None)
                r["functions"] = f
                res["pause_by_functions"].append(r)
                print(f"{f:8d} {m(r, 'quiet'):7.0f} {m(r, 'floor'):8.0f} {m(r, 'hotpatch'):9.0f} "
                      f"{r['hotpatch']['min']:6.0f}-{r['hotpatch']['max']:<6.0f} "
                      f"{m(r, 'hotpatch') / m(r, 'floor'):6.2f} {m(r, 'hotpatch') - m(r, 'floor'):6.0f} "
                      f"{m(r, 'freezer'):8.0f} {m(r, 'freezer') / m(r, 'floor'):7.2f} "
                      f"{m(r, 'command'):7.1f}", flush=True)
        if "busy" not in skip:
            busy_rows(a, a.build, hp, floor, one, res, m)
        if "freezer" not in skip and a.freezer:
            freezer_rows(a, a.build, hp, floor, one, res, m)
        if "commands" not in skip:
            print(f"{'threads':>8} {'doing':>6} {'apply ms':>9} {'range':>13} {'rollback ms':>11} "
                  f"{'range':>13} {'load':>6} {'unload':>6}", flush=True)
            res["commands"] = []
            nap = make_patch(work, 1, "bf_1", "bench_nap")
            for n, how in [(1, "read"), (64, "read"), (64, "nap"), (64, "spin")]:
                r = command_case(a, a.build, hp, nap, n, how)
                r.update(threads=n, doing=how)
                res["commands"].append(r)
                print(f"{n:8d} {how:>6} {m(r, 'apply'):9.1f} {r['apply']['min']:6.1f}-{r['apply']['max']:<6.1f} "
                      f"{m(r, 'rollback'):11.1f} {r['rollback']['min']:6.1f}-{r['rollback']['max']:<6.1f} "
                      f"{m(r, 'apply_load'):6.1f} {m(r, 'rollback_unload'):6.1f}", flush=True)
        if "processes" not in skip:
            print(f"{'procs':>8} {'apply ms':>9} {'range':>15} {'status ms':>9} {'range':>15} "
                  f"{'rollback ms':>11} {'range':>15} {'pause us':>8} {'max us':>7}   (--exe, 2 threads "
                  "each, --jobs default)", flush=True)
            res["processes"] = []
            for n in map(int, a.processes.split(",")):
                r = processes_case(a, a.build, hp, n)
                r["processes"] = n
                res["processes"].append(r)
                rng = lambda k: f"{r[k]['min']:7.1f}-{r[k]['max']:<7.1f}"
                print(f"{n:8d} {m(r, 'apply'):9.1f} {rng('apply')} {m(r, 'status'):9.1f} "
                      f"{rng('status')} {m(r, 'rollback'):11.1f} {rng('rollback')} "
                      f"{m(r, 'pause'):8.0f} {m(r, 'pause_max'):7.0f}", flush=True)
        if "latency" not in skip:
            r = latency_case(a, a.build, hp, work)
            res["latency"] = r
            q, p = r["quiet"], r["patching"]
            print(f"latency at {r['rate']:.0f} req/s (us): quiet p50 {q['p50']:.0f} p99 {q['p99']:.0f} "
                  f"p99.9 {q['p999']:.0f} max {q['max']:.0f} | with apply+rollback p50 {p['p50']:.0f} "
                  f"p99 {p['p99']:.0f} p99.9 {p['p999']:.0f} max {p['max']:.0f} | p99.9 ratio "
                  f"{p['p999'] / q['p999']:.2f}", flush=True)
        if "calls" not in skip:
            r = callcost_case(a, a.build)
            res["calls_ns"] = r
            d = r.get("direct call", {}).get("median", float("nan"))
            print("ns per call: " + ", ".join(
                f"{k} {v['median']:.2f}" + (f" ({v['median'] - d:+.2f} vs direct)" if k.startswith("patched") else "")
                for k, v in r.items()), flush=True)
        if "build" not in skip:
            print(f"{'hotpatch build':>24} {'total s':>8} {'range':>11} {'compile':>8} "
                  f"{'compare':>8} {'generate':>8}", flush=True)
            res["build"] = build_case(a, hp, work)
            for r in res["build"]:
                print(f"{r['tree']:>24} {r['total']['median']:8.2f} {r['total']['min']:5.2f}-"
                      f"{r['total']['max']:<5.2f} {r['compile']['median']:8.2f} "
                      f"{r['compare']['median']:8.2f} {r['generate']['median']:8.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
    print(f"wrote {a.json}")


if __name__ == "__main__":
    sys.exit(main())
