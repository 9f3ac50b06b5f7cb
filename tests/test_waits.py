# SPDX-License-Identifier: LGPL-2.1-or-later
"""Threads asleep and threads waiting for events: hotpatch must be able to
use them, and they must not notice: a sleep ends on time (not early, not
restarted from the beginning), an event loop never sees EINTR."""
import time

from hptest import Target, check, eq, hotpatch, hotpatch_json, patch


def sleeps(t):
    out = t.cmd("stats").split()
    return int(out[1]), int(out[3]), int(out[5])


def patch_sleeping(t, cycles=3):
    """Applies and rolls back fix_compute: each command within a second, and
    every sleep of the target on time."""
    for i in range(cycles):
        for verb, want in (("apply", 2001), ("rollback", 1001)):
            t0 = time.monotonic()
            code, doc = hotpatch_json(verb, "--pid", t.pid, patch("fix_compute"))
            took = time.monotonic() - t0
            eq(code, 0, f"{verb} #{i}: {doc['processes'][0].get('error')}")
            check(took < 1.0, f"{verb} #{i} took {took:.2f} s, not within a second")
            eq(t.call("compute", 1), want, f"{verb} #{i}: compute")
    n0 = sleeps(t)[0]
    while sleeps(t)[0] < n0 + 2:  # the last command's sleeps are over
        time.sleep(0.1)
    n, early, late = sleeps(t)
    check(n > 2 * cycles, f"the target slept ({n} sleeps)")
    eq((early, late), (0, 0), f"sleeps that ended early or late, of {n}")


def test_single_threaded_sleeper():
    """The simplest program there is: one thread that loops on sleep."""
    patch_sleeping(Target("sleeper", threads=0, args=["sleep"]))


def test_every_thread_in_clock_nanosleep_relative():
    patch_sleeping(Target("sleeper", threads=4, args=["rel"]))


def test_every_thread_in_clock_nanosleep_absolute():
    patch_sleeping(Target("sleeper", threads=4, args=["abs"]))


def event_loop(who, how, cycles=20):
    t = Target("eventloop", threads=0, args=[who, how])
    e0 = int(t.cmd("stats").split()[1])
    for i in range(cycles):
        eq(hotpatch("--pid", t.pid, patch("fix_compute")).returncode, 0, f"apply #{i}")
        eq(hotpatch("--dry-run", "rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0,
           f"dry-run rollback #{i}")
        eq(hotpatch("rollback", "--pid", t.pid, patch("fix_compute")).returncode, 0,
           f"rollback #{i}")
        eq(hotpatch("--dry-run", "--pid", t.pid, patch("fix_compute")).returncode, 0,
           f"dry run #{i}")
        eq(hotpatch("status", "--pid", t.pid).returncode, 0, f"status #{i}")
    events, eintr = (int(x) for x in t.cmd("stats").split()[1::2])
    check(events > e0 + 100, f"events kept flowing ({events - e0})")
    eq(eintr, 0, f"EINTR seen by the event loop ({who} thread, epoll_{how})")
    eq(t.call("compute", 1), 1001, "rolled back")


def test_event_loop_main_thread_epoll_wait():
    event_loop("main", "wait")


def test_event_loop_main_thread_epoll_pwait():
    event_loop("main", "pwait")


def test_event_loop_worker_thread_epoll_wait():
    event_loop("worker", "wait")
