# SPDX-License-Identifier: LGPL-2.1-or-later
"""Debian's nginx, built from its source package with the prologue, patched
with hotpatch --exe under wrk load, reloaded, rolled back."""
import os
import subprocess
import sys

from hptest import HOTPATCH, SOURCE, Skip, check, eq

sys.path.insert(0, os.path.join(SOURCE, "tests"))
import realworld_nginx  # noqa: E402


def test_nginx_under_load():
    work = os.path.join(os.environ["HP_TESTS_BUILD"], "realworld")
    r = subprocess.run([os.path.join(SOURCE, "scripts", "realworld"), "--prepare-only"],
                       env=dict(os.environ, HOTPATCH_REALWORLD_DIR=work),
                       capture_output=True, text=True, timeout=900)
    if r.returncode == 77:
        raise Skip(r.stderr.strip().splitlines()[-1])
    eq(r.returncode, 0, f"fetching and building nginx: {r.stderr}")
    res = realworld_nginx.scenario(os.path.join(work, "inst", "sbin", "nginx"),
                                   os.path.join(work, "fix_empty_gif.so"), HOTPATCH,
                                   os.path.join(work, "run"))
    eq(res["apply"]["exit"], 0, f"apply: {res['apply']['stderr']}")
    eq(sorted(p["pid"] for p in res["apply"]["processes"]),
       sorted([res["master"]] + res["workers"]), "the master and every worker")
    eq(set(p["result"] for p in res["apply"]["processes"]), {"applied"}, "applied everywhere")
    eq(set(map(int, res["after_apply"])), set(res["workers"]), "every worker answered")
    for w, kinds in res["after_apply"].items():
        eq(kinds, ["patched"], f"worker {w} after apply")
    check(not set(res["new_workers"]) & set(res["workers"]), "HUP made new workers")
    for w, kinds in res["after_reload"].items():
        eq(kinds, ["patched"], f"worker {w}, forked after the patch by the patched master")
    for pid in [res["master"]] + res["new_workers"]:
        eq(res["status_after_reload"].get(pid), 1, f"pid {pid} records the patch")
    eq(res["rollback"]["exit"], 0, f"rollback: {res['rollback']['stderr']}")
    for w, kinds in res["after_rollback"].items():
        eq(kinds, ["original"], f"worker {w} after rollback")
    for phase in ("during_apply", "during_rollback"):
        check(res[phase]["requests"] > 0, f"wrk ran {phase}")
        eq(res[phase]["socket_errors"], 0, f"socket errors {phase}")
        eq(res[phase]["non_2xx"], 0, f"non-2xx responses {phase}")
    eq(set(res["alive"].values()), {True}, "every nginx process alive at the end")
    print("pauses (us):", [p["pause_us"] for p in res["apply"]["processes"]],
          "throughput (req/s):", [round(res[p]["rps"]) for p in
                                  ("before", "during_apply", "during_rollback", "after")])
