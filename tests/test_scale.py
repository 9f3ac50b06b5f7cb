# SPDX-License-Identifier: LGPL-2.1-or-later
"""Many processes in one command: --jobs, the order of the reports, and
processes that exit, exec or fork while the command works on them."""
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import time

from hptest import (BUILD, HOTPATCH, Target, check, eq, hotpatch, hotpatch_json, patch,
                    tmpdir, wait_paused)


def private_copies(*names):
    """Copies of test programs, so that --exe cannot catch processes of
    tests running alongside."""
    d = tmpdir()
    for n in names + ("libworklib.so",):
        shutil.copy(os.path.join(BUILD, n), d)
    return d


def start_many(path, n, threads):
    """n targets, started together (each then says it is ready)."""
    ts = []
    for _ in range(n):
        ts.append(Target(path, threads=threads))
    return ts


def quit_all(ts):
    """Every target asked to quit at once, then waited for (one by one, a
    sleeper answers only between its naps)."""
    for t in ts:
        try:
            t.send("quit")
        except OSError:
            pass
    for t in ts:
        try:
            t.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def results(doc):
    return [(p["pid"], p["result"]) for p in doc["processes"]]


def without_timings(doc):
    for p in doc["processes"]:
        p.pop("timings_us", None)
        for k in ("threads_single_stepped", "waits_restarted", "stop_attempts", "remote_calls"):
            p.pop(k, None)
        for q in p.get("patches", []):
            q.pop("handle", None)
    return doc


def test_jobs_200_processes_in_order():
    """200 two-thread processes, --jobs 2: each applied, its status, each
    rolled back, reported in pid order; patched and back in each."""
    d = private_copies("sleeper")
    exe = os.path.join(d, "sleeper")
    ts = start_many(exe, 200, 1)
    pids = sorted(t.pid for t in ts)
    fix = patch("fix_compute")
    t0 = time.monotonic()
    code, doc = hotpatch_json("--exe", exe, "--jobs", 2, fix)
    took = time.monotonic() - t0
    eq(code, 0, "apply to 200")
    eq(results(doc), [(p, "applied") for p in pids], "every one applied, in pid order")
    check(all(p["timings_us"]["pause"] < 50000 for p in doc["processes"]),
          "each pause as short as ever")
    print(f"apply of 200 took {took:.2f} s")
    for t in ts[::50]:
        eq(t.call("compute", 1), 2001, f"pid {t.pid} patched")
    code, one = hotpatch_json("status", "--exe", exe, "--jobs", 1)
    eq(code, 0, "status, one at a time")
    code, two = hotpatch_json("status", "--exe", exe, "--jobs", 2)
    eq(code, 0, "status, two at a time")
    eq(without_timings(two), without_timings(one), "--jobs 2 reports what --jobs 1 does")
    check(all(len(p["patches"]) == 1 for p in two["processes"]), "one patch in each")
    human1 = hotpatch("status", "--exe", exe, "--jobs", 1)
    human2 = hotpatch("status", "--exe", exe, "--jobs", 2)
    eq(human2.stdout, human1.stdout, "the same text, in the same order")
    code, doc = hotpatch_json("rollback", "--exe", exe, "--jobs", 2, fix)
    eq(code, 0, "rollback of 200")
    eq(results(doc), [(p, "rolled-back") for p in pids], "every one rolled back, in order")
    for t in ts[::50]:
        eq(t.call("compute", 1), 1001, f"pid {t.pid} original")
    check(all(t.alive() for t in ts), "all alive")
    quit_all(ts)


def test_jobs_one_is_the_old_behaviour():
    """The order of --pid, a failure among them and its exit code: the
    same with --jobs 1 and --jobs 3."""
    d = private_copies("sleeper")
    ts = start_many(os.path.join(d, "sleeper"), 4, 1)
    helper = subprocess.Popen(["sleep", "60"])  # not patchable
    try:
        order = [ts[2].pid, ts[0].pid, helper.pid, ts[3].pid, ts[1].pid]
        args = [a for p in order for a in ("--pid", p)]
        runs = {}
        for jobs in (1, 3):
            r = hotpatch("--dry-run", "--json", "--jobs", jobs, *args, patch("fix_compute"))
            runs[jobs] = (r.returncode, without_timings(json.loads(r.stdout)))
        eq(runs[1][0], 9, "partial success")
        eq([p["pid"] for p in runs[1][1]["processes"]], order, "the order of --pid")
        eq(runs[3], runs[1], "--jobs 3 says what --jobs 1 says")
        h1 = hotpatch("status", "--jobs", 1, *args)
        h3 = hotpatch("status", "--jobs", 3, *args)
        eq((h3.returncode, h3.stdout, h3.stderr), (h1.returncode, h1.stdout, h1.stderr),
           "status text and exit code")
        # on a terminal, the progress line counts what is done
        master, slave = pty.openpty()
        r = subprocess.run([HOTPATCH, "status", "--jobs", "3", *map(str, args)],
                           stdout=subprocess.PIPE, stderr=slave, timeout=60)
        os.close(slave)
        seen = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        check(b"[5/5] done" in seen, f"the progress line on a terminal: {seen!r}")
        eq(r.stdout.decode(), h1.stdout, "the same report")
    finally:
        helper.kill()
        helper.wait()
    quit_all(ts)


def paused_run(env_step, *args):
    env = dict(os.environ, HOTPATCH_PAUSE_AT=env_step)
    cmd = [HOTPATCH, "--json", "--jobs", "1"] + [str(a) for a in args]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def go_on(proc):
    proc.stdin.write(b"x")
    proc.stdin.flush()


def finish(proc):
    out, err = proc.communicate(timeout=60)
    print(f"-> exit {proc.returncode}\n{out.decode()}{err.decode()}")
    return proc.returncode, json.loads(out)


def test_process_exits_during_command():
    """A process killed while hotpatch works on it is reported as exited
    and not counted: the others' outcome is the exit code; alone, exit 3."""
    a, b, c = (Target("forker", threads=2) for _ in range(3))
    proc = paused_run("apply:loaded", "--pid", a.pid, "--pid", b.pid, "--pid", c.pid,
                      patch("fix_compute"))
    wait_paused(proc, "apply:loaded")
    go_on(proc)
    wait_paused(proc, "apply:loaded")
    os.kill(b.pid, signal.SIGKILL)  # left a zombie: the test does not reap it yet
    go_on(proc)
    wait_paused(proc, "apply:loaded")
    go_on(proc)
    code, doc = finish(proc)
    eq(code, 0, "the command succeeded for the processes that stayed")
    eq(results(doc), [(a.pid, "applied"), (b.pid, "exited"), (c.pid, "applied")], "outcomes")
    for t in (a, c):
        eq(t.call("compute", 1), 2001, "patched")
    d = Target("forker", threads=2)
    proc = paused_run("apply:loaded", "--pid", d.pid, patch("fix_compute"))
    wait_paused(proc, "apply:loaded")
    os.kill(d.pid, signal.SIGKILL)
    d.p.wait()
    go_on(proc)
    code, doc = finish(proc)
    eq(code, 3, "every process exited: as if none had been found")
    eq(results(doc), [(d.pid, "exited")], "outcome")


def test_process_execs_during_command():
    """A process that runs a new program while hotpatch works on it is
    reported as execed, not counted, and left as its new program started."""
    a, b = Target("forker", threads=2), Target("forker", threads=2)
    proc = paused_run("apply:loaded", "--pid", a.pid, "--pid", b.pid, patch("fix_compute"))
    wait_paused(proc, "apply:loaded")
    a.send("exec")
    check(a.readline().startswith("ready"), "the new program started")
    t0 = time.monotonic()
    go_on(proc)
    # found out at once: the process after it still has its time
    wait_paused(proc, "apply:loaded", timeout=5)
    took = time.monotonic() - t0
    go_on(proc)
    code, doc = finish(proc)
    eq(code, 0, "the command succeeded for the other")
    eq(results(doc), [(a.pid, "execed"), (b.pid, "applied")], "outcomes")
    check(took < 5, f"the exec was found out in {took:.1f} s")
    eq(a.call("compute", 1), 1001, "the new program is the original")
    eq(b.call("compute", 1), 2001, "the other is patched")
    code, doc = hotpatch_json("status", "--pid", a.pid)
    eq(doc["processes"][0]["patches"], [], "nothing left of the old program in the new")


def test_fork_during_command_is_covered():
    """A child forked while --exe works on its parent inherits the parent's
    state (here: patch loaded, not yet flipped) and is found and patched by
    the same command; rollback takes it out of both."""
    d = private_copies("forker")
    exe = os.path.join(d, "forker")
    parent = Target(exe, threads=2)
    fix = patch("fix_compute")
    proc = paused_run("apply:loaded", "--exe", exe, fix)
    wait_paused(proc, "apply:loaded")
    out = parent.cmd("fork")
    check(out.startswith("forked "), f"forked: {out!r}")
    child = int(out.split()[1])
    go_on(proc)
    # the child's own apply meets the same pause point
    wait_paused(proc, "apply:loaded")
    go_on(proc)
    code, doc = finish(proc)
    eq(code, 0, "both")
    eq(results(doc), [(parent.pid, "applied"), (child, "applied")],
       "the parent, then the child found by looking again")
    eq(parent.call("compute", 1), 2001, "the parent patched")
    code, doc = hotpatch_json("status", "--pid", child)
    eq(code, 0, "status of the child")
    eq([(p["state"], p["sha256"] == doc["processes"][0]["patches"][0]["sha256"])
        for p in doc["processes"][0]["patches"]], [("applied", True)],
       "one patch, applied (what it inherited half-done was finished or removed)")
    # forked once the parent is patched: it inherits the patch itself
    out = parent.cmd("fork")
    late = int(out.split()[1])
    code, doc = hotpatch_json("status", "--exe", exe)
    eq([p["pid"] for p in doc["processes"]], sorted([parent.pid, child, late]), "all three")
    check(all(len(p["patches"]) == 1 for p in doc["processes"]), "each patched")
    code, doc = hotpatch_json("rollback", "--exe", exe, fix)
    eq(code, 0, "rollback everywhere")
    eq(sorted(results(doc)), sorted((p, "rolled-back") for p in (parent.pid, child, late)),
       "each rolled back")
    eq(parent.call("compute", 1), 1001, "the parent original")


def test_libpulp_stress_shape():
    """libpulp's stress shape, smaller: children of one program, each
    looping on sleep(1), all patched through a shared library, then rolled
    back (scripts/stress runs 4,000)."""
    n = int(os.environ.get("HOTPATCH_STRESS_CHILDREN", "200"))
    d = private_copies("forker")
    exe = os.path.join(d, "forker")
    parent = Target(exe, threads=1, args=[str(n)])
    fix = patch("fix_lib")
    timings = {}
    for verb in ("apply", "status", "rollback"):
        t0 = time.monotonic()
        code, doc = hotpatch_json(verb, "--exe", exe, "--timeout", 120,
                                  *([fix] if verb != "status" else []), timeout=600)
        timings[verb] = time.monotonic() - t0
        eq(code, 0, f"{verb} of {n + 1} processes")
        eq(len(doc["processes"]), n + 1, "the parent and every child")
        want = {"apply": "applied", "status": "ok", "rollback": "rolled-back"}[verb]
        eq({p["result"] for p in doc["processes"]}, {want}, f"every one {want}")
        if verb == "apply":
            eq(parent.call("lib_step", 1), 21, "the parent calls the fixed library function")
        if verb == "status":
            check(all(len(p["patches"]) == 1 for p in doc["processes"]), "one patch each")
    eq(parent.call("lib_step", 1), 11, "back to the original")
    print(" ".join(f"{v} {s:.2f} s" for v, s in timings.items()), f"for {n + 1} processes")
    check(all(s < 120 for s in timings.values()), "within libpulp's 120 s allowance")
