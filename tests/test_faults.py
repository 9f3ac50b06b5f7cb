# SPDX-License-Identifier: LGPL-2.1-or-later
"""hotpatch killed (SIGKILL) right after each step of apply and of rollback,
for every step: the target must live on, never stopped, every answer old or
new, and a fresh hotpatch must finish the job."""
import os
import signal
import subprocess

from hptest import (HOTPATCH, Skip, Target, check, eq, hotpatch, hotpatch_json, patch,
                    prologue)


def run_with_fault(args, fault):
    env = dict(os.environ, HOTPATCH_FAULT=str(fault), HOTPATCH_FAULT_TRACE="1")
    return subprocess.run([HOTPATCH] + [str(a) for a in args], env=env, capture_output=True,
                          text=True, timeout=120)


def steps_of(args):
    """The fault points a command passes, in order (on a fresh target)."""
    t = Target("worker-gcc", threads=2)
    if args[0] == "rollback":
        eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "setup apply")
    r = run_with_fault([args[0], "--pid", t.pid] + args[1:], 0)
    eq(r.returncode, 0, f"{args[0]} without a fault: {r.stderr}")
    steps = [l.split(": ", 2)[2].split(" (+")[0] for l in r.stderr.splitlines()
             if l.startswith("hotpatch: fault point")]
    if not steps:
        raise Skip("hotpatch was built without -Dfault_injection=true")
    t.stop()
    return steps


def healthy_and(t, allowed, what):
    st = t.state()
    check(t.alive(), f"{what}: target died")
    check(st not in ("T", "t"), f"{what}: target left stopped ({st})")
    got = t.call("compute", 5)
    check(got in allowed, f"{what}: compute(5) = {got}, not one of {allowed}")
    calls, wrong = t.stats()
    eq(wrong, 0, f"{what}: wrong answers among {calls}")


def no_leftovers(t, what):
    maps = t.maps()
    check("memfd:hotpatch:" not in maps, f"{what}: the patch stays mapped")
    fds = [os.readlink(f"/proc/{t.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{t.pid}/fd")]
    check(not any("memfd:hotpatch:" in fd for fd in fds), f"{what}: a memfd leaked: {fds}")


def test_kill_at_every_apply_step():
    steps = steps_of(["apply", patch("fix_compute")])
    print(f"{len(steps)} steps: {steps}")
    for k, name in enumerate(steps, 1):
        what = f"killed after apply step {k} ({name})"
        t = Target("worker-gcc", threads=4)
        disk = prologue(t, "compute")[1]
        r = run_with_fault(["--pid", t.pid, patch("fix_compute")], k)
        eq(r.returncode, -signal.SIGKILL, f"{what}: hotpatch was killed")
        healthy_and(t, (1005, 2005), what)
        # a fresh run finishes the job
        code, doc = hotpatch_json("--pid", t.pid, patch("fix_compute"))
        eq(code, 0, f"{what}: a fresh apply")
        check(doc["processes"][0]["result"] in ("applied", "already-applied"), what)
        eq(t.call("compute", 5), 2005, f"{what}: patched")
        code, doc = hotpatch_json("status", "--pid", t.pid)
        pats = doc["processes"][0]["patches"]
        eq(len(pats), 1, f"{what}: one patch recorded")
        eq((pats[0]["state"], pats[0]["functions"][0]["bytes_ok"]), ("applied", True), what)
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0,
           f"{what}: rollback")
        eq(prologue(t, "compute")[0], disk, f"{what}: bytes exact")
        no_leftovers(t, what)
        healthy_and(t, (1005,), what)
        t.stop()


def test_kill_at_every_rollback_step():
    steps = steps_of(["rollback", patch("fix_compute")])
    print(f"{len(steps)} steps: {steps}")
    for k, name in enumerate(steps, 1):
        what = f"killed after rollback step {k} ({name})"
        t = Target("worker-gcc", threads=4)
        disk = prologue(t, "compute")[1]
        eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
        r = run_with_fault(["rollback", "--pid", t.pid, patch("fix_compute")], k)
        eq(r.returncode, -signal.SIGKILL, f"{what}: hotpatch was killed")
        healthy_and(t, (1005, 2005), what)
        r = hotpatch("rollback", "--pid", t.pid, patch("fix_compute"))
        check(r.returncode in (0, 8), f"{what}: a fresh rollback finishes ({r.returncode})")
        eq(t.call("compute", 5), 1005, f"{what}: original")
        eq(prologue(t, "compute")[0], disk, f"{what}: bytes exact")
        code, doc = hotpatch_json("status", "--pid", t.pid)
        eq(doc["processes"][0]["patches"], [], f"{what}: nothing recorded")
        no_leftovers(t, what)
        healthy_and(t, (1005,), what)
        t.stop()


def test_killed_while_frozen():
    """hotpatch --freezer killed with the target frozen: its watchdog thaws
    the target and puts it back in its own cgroup."""
    if not os.path.exists("/sys/fs/cgroup/freezer/cgroup.procs") or os.geteuid() != 0:
        raise Skip("needs root and a cgroup-v1 freezer hierarchy")
    t = Target("worker-gcc", threads=4)
    before = open(f"/proc/{t.pid}/cgroup").read()
    r = run_with_fault(["--freezer", "--pid", t.pid, patch("fix_compute")], "freezer:frozen")
    if "fault point" not in r.stderr:
        raise Skip("hotpatch was built without -Dfault_injection=true")
    eq(r.returncode, -signal.SIGKILL, "hotpatch was killed while the target was frozen")
    import time
    deadline = time.time() + 10
    while time.time() < deadline and open(f"/proc/{t.pid}/cgroup").read() != before:
        time.sleep(0.05)
    eq(open(f"/proc/{t.pid}/cgroup").read(), before, "back in its own cgroups")
    healthy_and(t, (1005,), "after the watchdog thawed it")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "a fresh apply")
    eq(t.call("compute", 5), 2005, "patched")
