# SPDX-License-Identifier: LGPL-2.1-or-later
"""--freezer=auto: the freezer where it stops the process faster than
ptrace (many threads parked in futex waits), ptrace elsewhere; the
report says which path the flip took and why; the patch works either way."""
import os

from hptest import Skip, Target, check, eq, hotpatch, hotpatch_json, patch, prologue, wait_for

FREEZER = "/sys/fs/cgroup/freezer"
EXIT_USAGE = 2
NR = {"futex": 202, "epoll": 232, "read": 0}


def need_freezer():
    if not os.path.exists(f"{FREEZER}/cgroup.procs") or os.geteuid() != 0:
        raise Skip("needs root and a cgroup-v1 freezer hierarchy")


def waiting(t, how, n):
    """At least n threads of t asleep in the syscall of `how`."""
    def count():
        k = 0
        for tid in os.listdir(f"/proc/{t.pid}/task"):
            try:
                with open(f"/proc/{t.pid}/task/{tid}/syscall") as f:
                    k += f.read().split()[0] == str(NR[how])
            except (OSError, IndexError):
                pass
        return k >= n
    wait_for(count, timeout=20, what=f"{n} threads of {t.pid} asleep in {how}")


def apply_auto(t, choice, tries=1):
    """Applies and rolls back with --freezer=auto `tries` times: the choice
    is `choice` every time and the patch works; returns the paths taken."""
    before = open(f"/proc/{t.pid}/cgroup").read()
    disk = prologue(t, "compute")[1]
    paths = set()
    for i in range(tries):
        code, doc = hotpatch_json("--freezer=auto", "--pid", t.pid, patch("fix_compute"))
        eq(code, 0, f"apply #{i}")
        p = doc["processes"][0]
        check(p["flip_choice"].startswith(f"auto: {choice}, "),
              f"auto chose {choice}: {p['flip_choice']!r}")
        if choice == "ptrace":
            eq(p["flip_path"], "ptrace", "the flip went through ptrace")
        elif p["flip_path"] == "ptrace":  # a freeze the busy machine did not finish in time
            check(any("the flip used ptrace" in n for n in doc["notes"]), "a note says why")
        paths.add(p["flip_path"])
        eq(t.call("compute", 5), 2005, "patched")
        eq(open(f"/proc/{t.pid}/cgroup").read(), before, "back in its own cgroups")
        eq(hotpatch("rollback", "--freezer=auto", "--pid", t.pid, patch("fix_compute")).returncode,
           0, f"rollback #{i}")
        eq(t.call("compute", 5), 1005, "rolled back")
    eq(prologue(t, "compute")[0], disk, "bytes exact")
    check(not [d for d in os.listdir(FREEZER) if d.startswith(f"hotpatch-{t.pid}-")],
          "no freezer cgroup left behind")
    t.assert_healthy()
    return paths


def human_line(t, choice, path):
    r = hotpatch("--freezer=auto", "--pid", t.pid, patch("fix_compute"))
    eq(r.returncode, 0, "apply, human output")
    line = [l for l in r.stdout.splitlines() if l.strip().startswith("pause ")]
    eq(len(line), 1, f"one detail line in {r.stdout!r}")
    check(f"; auto: {choice}, " in line[0], f"the detail line says auto chose {choice}: {line[0]!r}")
    if path == "ptrace" or "the flip used ptrace" not in r.stderr:
        check(f", by {'the freezer' if path == 'freezer' else 'ptrace'};" in line[0],
              f"and which path the flip took: {line[0]!r}")
    eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0, "rollback")


def sleepers_take_the_freezer(how):
    need_freezer()
    t = Target("waiters", threads=64, args=[how])
    waiting(t, how, 64)
    paths = apply_auto(t, "freezer", tries=5)
    check("freezer" in paths, f"the freezer did flips ({paths})")
    human_line(t, "freezer", "freezer")


def test_auto_takes_the_freezer_for_futex_sleepers():
    """64 threads parked in a condition variable: auto takes the freezer."""
    sleepers_take_the_freezer("futex")


def test_auto_takes_ptrace_for_epoll_sleepers():
    """64 threads in epoll_wait: the freezer wakes them too, and in the
    final bench run it was 1.2-1.7x the floor from 100 epoll sleepers up:
    auto takes ptrace."""
    need_freezer()
    t = Target("waiters", threads=64, args=["epoll"])
    waiting(t, "epoll", 64)
    apply_auto(t, "ptrace", tries=2)
    human_line(t, "ptrace", "ptrace")


def test_auto_takes_ptrace_for_read_sleepers():
    """64 threads in read(2): the freezer would wake every one, as ptrace
    does, and add its own cost: auto takes ptrace."""
    need_freezer()
    t = Target("waiters", threads=64, args=["read"])
    waiting(t, "read", 64)
    apply_auto(t, "ptrace", tries=2)
    human_line(t, "ptrace", "ptrace")


def test_auto_takes_ptrace_for_few_threads():
    """4 futex sleepers: too few for the freezer's fixed cost to pay off."""
    need_freezer()
    t = Target("waiters", threads=4, args=["futex"])
    waiting(t, "futex", 4)
    apply_auto(t, "ptrace", tries=2)


def test_auto_takes_ptrace_for_busy_threads():
    """48 threads that call the patched function without a break: each must
    be scheduled to stop either way, and only ptrace can single-step one
    out of the window; auto takes ptrace, and not one answer is wrong."""
    need_freezer()
    t = Target("waiters", threads=48, args=["spin"])
    apply_auto(t, "ptrace", tries=3)


def test_freezer_value_refused():
    """--freezer takes no value but auto; a wrong one is a usage error."""
    r = hotpatch("--freezer=always", "--pid", 1, patch("fix_compute"))
    eq(r.returncode, EXIT_USAGE, "exit code")
    eq(r.stderr, "hotpatch: --freezer=always: the only value is auto\n", "the message")
    eq(r.stdout, "", "nothing on stdout")


test_freezer_value_refused.no_ptrace = True
