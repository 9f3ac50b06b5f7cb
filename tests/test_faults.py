# SPDX-License-Identifier: LGPL-2.1-or-later
"""hotpatch killed (SIGKILL) right after each step of apply and of rollback,
for every step: the target must live on, never stopped, every answer old or
new, and a fresh hotpatch must finish the job."""
import os
import signal
import subprocess

from hptest import (HOTPATCH, Skip, Target, check, eq, hotpatch, hotpatch_json, patch,
                    prologue, wait_for, wait_paused)


def run_with_fault(args, fault):
    env = dict(os.environ, HOTPATCH_FAULT=str(fault), HOTPATCH_FAULT_TRACE="1")
    r = subprocess.run([HOTPATCH] + [str(a) for a in args], env=env, capture_output=True,
                       text=True, timeout=120)
    print(f"$ HOTPATCH_FAULT={fault} hotpatch {' '.join(map(str, args))}\n-> exit "
          f"{r.returncode}\n{r.stderr.splitlines()[-1] if r.stderr else ''}", flush=True)
    return r


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
    """Killed before the flip wrote the windows (flip:written), the target
    runs the original and a fresh apply takes out what the run left (its
    record, once apply:recorded wrote one, is noted) and applies anew; killed
    from then on, the patch is in effect and the fresh apply has nothing to
    do but mark the record applied, unless apply:done did that already."""
    steps = steps_of(["apply", patch("fix_compute")])
    print(f"{len(steps)} steps: {steps}")
    recorded, flipped = steps.index("apply:recorded") + 1, steps.index("flip:written") + 1
    done = steps.index("apply:done") + 1
    for k, name in enumerate(steps, 1):
        what = f"killed after apply step {k} ({name})"
        t = Target("worker-gcc", threads=4)
        disk = prologue(t, "compute")[1]
        r = run_with_fault(["--pid", t.pid, patch("fix_compute")], k)
        eq(r.returncode, -signal.SIGKILL, f"{what}: hotpatch was killed")
        check(f"fault point {k}: {name} (+" in r.stderr, f"{what}: at that step: {r.stderr}")
        healthy_and(t, (2005,) if k >= flipped else (1005,), what)
        # a fresh run finishes the job
        code, doc = hotpatch_json("--pid", t.pid, patch("fix_compute"))
        eq(code, 0, f"{what}: a fresh apply")
        notes = " ".join(doc["notes"])
        if k >= flipped:
            eq(doc["processes"][0]["result"], "already-applied", what)
            eq("completed the apply" in notes, k < done,
               f"{what}: it says it completed an earlier run's record ({notes!r})")
        else:
            eq(doc["processes"][0]["result"], "applied", what)
            eq("which an earlier hotpatch left half applied" in notes, k >= recorded,
               f"{what}: it says it took out an earlier run's record ({notes!r})")
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


# What a rollback killed after each of its steps leaves, and what a fresh
# rollback must then do (revert.c, hp_revert):
#   lock:taken, rollback:checked    the record still says applied and the
#       bytes are the patch's: the fresh rollback is an ordinary one.
#   flip:stopped                    the record says rolling back (written
#       just before the flip), the bytes are still the patch's (the stop
#       wrote nothing): the fresh run's recovery rolls it back.
#   flip:written ... rollback:unloaded   rolling back, the bytes are the
#       original's (the patch may be unloaded already: a thread hijacked for
#       dlclose finishes it on its own): recovery finishes the job.
#   rollback:unrecorded             the record is gone: nothing to do.
# (status says "incomplete" for a record that is not applied.)
ROLLBACK_KILLED = {
    "lock:taken": ("applied", 2005, 0),
    "rollback:checked": ("applied", 2005, 0),
    "flip:stopped": ("incomplete", 2005, 0),
    "flip:written": ("incomplete", 1005, 0),
    "rollback:flipped": ("incomplete", 1005, 0),
    "rollback:drained": ("incomplete", 1005, 0),
    "remote:hijacked": ("incomplete", 1005, 0),
    "remote:started": ("incomplete", 1005, 0),
    "remote:done": ("incomplete", 1005, 0),
    "rollback:unloaded": ("incomplete", 1005, 0),
    "rollback:unrecorded": (None, 1005, 8),
}


def test_kill_at_every_rollback_step():
    steps = steps_of(["rollback", patch("fix_compute")])
    print(f"{len(steps)} steps: {steps}")
    eq(sorted(set(steps)), sorted(ROLLBACK_KILLED), "every step has its expected outcome")
    eq(len(steps), len(set(steps)), "each step is passed once")
    for k, name in enumerate(steps, 1):
        state, answer, fresh = ROLLBACK_KILLED[name]
        what = f"killed after rollback step {k} ({name})"
        t = Target("worker-gcc", threads=4)
        disk = prologue(t, "compute")[1]
        eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "apply")
        r = run_with_fault(["rollback", "--pid", t.pid, patch("fix_compute")], k)
        eq(r.returncode, -signal.SIGKILL, f"{what}: hotpatch was killed")
        check(f"fault point {k}: {name} (+" in r.stderr, f"{what}: at that step: {r.stderr}")
        healthy_and(t, (answer,), what)
        code, doc = hotpatch_json("status", "--pid", t.pid)
        eq([p["state"] for p in doc["processes"][0]["patches"]], [state] if state else [],
           f"{what}: the record")
        code, doc = hotpatch_json("rollback", "--pid", t.pid, patch("fix_compute"))
        eq(code, fresh, f"{what}: a fresh rollback")
        notes = " ".join(doc["notes"])
        if fresh == 0:
            eq([p["action"] for p in doc["processes"][0]["patches"]], ["rolled-back"],
               f"{what}: the fresh rollback rolled it back")
            eq("which an earlier hotpatch left half rolled back" in notes, state == "incomplete",
               f"{what}: it says it finished an earlier run's rollback ({notes!r})")
        else:
            p = doc["processes"][0]
            eq(p["result"], "not-applied", f"{what}: nothing to do")
            check("nothing is applied" in p["reason"], f"{what}: says so: {p['reason']}")
        eq(t.call("compute", 5), 1005, f"{what}: original")
        eq(prologue(t, "compute")[0], disk, f"{what}: bytes exact")
        code, doc = hotpatch_json("status", "--pid", t.pid)
        eq(doc["processes"][0]["patches"], [], f"{what}: nothing recorded")
        no_leftovers(t, what)
        healthy_and(t, (1005,), what)
        t.stop()


def thaw(ours, before):
    cg = f"/sys/fs/cgroup/freezer{ours}"
    orig = [l.split(":", 2)[2] for l in before.splitlines() if ":freezer:" in l][0]
    if os.path.isdir(cg):
        with open(f"{cg}/freezer.state", "w") as f:
            f.write("THAWED")
        for pid in open(f"{cg}/cgroup.procs").read().split():
            with open(f"/sys/fs/cgroup/freezer{orig.rstrip('/')}/cgroup.procs", "w") as f:
                f.write(pid)
        os.rmdir(cg)


def test_killed_while_frozen():
    """hotpatch --freezer killed with the target frozen: its watchdog thaws
    the target and puts it back in its own cgroup.

    hotpatch is held just after it asked the freezer to freeze (the
    freezer:freezing pause point), the test waits until the kernel reports
    the cgroup FROZEN, and kills it there.  (Killing it at the freezer:frozen
    fault point instead depends on the machine: a freeze that takes longer
    than hotpatch allows, 50 ms, makes it fall back to ptrace, as it should,
    and that point is never reached.)"""
    if not os.path.exists("/sys/fs/cgroup/freezer/cgroup.procs") or os.geteuid() != 0:
        raise Skip("needs root and a cgroup-v1 freezer hierarchy")
    t = Target("worker-gcc", threads=4)
    before = open(f"/proc/{t.pid}/cgroup").read()
    env = dict(os.environ, HOTPATCH_PAUSE_AT="freezer:freezing", HOTPATCH_FAULT_TRACE="1")
    a = subprocess.Popen([HOTPATCH, "--freezer", "--pid", str(t.pid), patch("fix_compute")],
                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        wait_paused(a, "freezer:freezing")
        ours = f"/hotpatch-{t.pid}-{a.pid}"
        check(f":freezer:{ours}\n" in open(f"/proc/{t.pid}/cgroup").read(),
              f"the target is in hotpatch's freezer cgroup {ours}")
        state = f"/sys/fs/cgroup/freezer{ours}/freezer.state"
        wait_for(lambda: open(state).read().strip() == "FROZEN", timeout=30,
                 what="the kernel to report the target frozen")
        a.kill()  # SIGKILL, by its pid
        eq(a.wait(timeout=30), -signal.SIGKILL, "hotpatch was killed while the target was frozen")
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    try:
        # ours, and the empty one frozen beside it to keep the kernel's freezer on
        wait_for(lambda: open(f"/proc/{t.pid}/cgroup").read() == before and
                 not os.path.exists(f"/sys/fs/cgroup/freezer{ours}") and
                 not os.path.exists(f"/sys/fs/cgroup/freezer{ours}-key"),
                 timeout=10, what="the watchdog to put the target back")
    except Exception:
        thaw(ours, before)  # what the watchdog should have done: the target can be stopped
        raise
    healthy_and(t, (1005,), "after the watchdog thawed it")
    eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, "a fresh apply")
    eq(t.call("compute", 5), 2005, "patched")
