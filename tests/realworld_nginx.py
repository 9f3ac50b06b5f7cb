#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""nginx under wrk load, patched live with hotpatch --exe, reloaded with HUP,
rolled back.  Used by scripts/realworld (a report) and by test_realworld."""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PATCHED = b"patched by hotpatch\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError):
                pass
    return sorted(out)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def get(port, path="/gif"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Connection": "close"})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("X-Worker"), r.getheader("Content-Type"), body


def survey(port, n=80):
    """Which kind of answer each worker gives: {worker pid: {kinds}}."""
    seen = {}
    for _ in range(n):
        status, worker, ctype, body = get(port)
        if status == 200 and body == PATCHED and ctype == "text/plain":
            kind = "patched"
        elif status == 200 and ctype == "image/gif" and body.startswith(b"GIF89a"):
            kind = "original"
        else:
            kind = f"unexpected {status} {ctype} {body[:20]!r}"
        seen.setdefault(int(worker), set()).add(kind)
    return seen


def wrk_start(port, seconds):
    return subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency",
                             f"http://127.0.0.1:{port}/gif"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_result(p):
    out = p.communicate(timeout=120)[0]
    r = {"output": out}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if m:
        r["p99_ms"] = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    return r


def served(port):
    """Requests nginx has handled so far (stub_status's third counter)."""
    body = get(port, "/status")[3].decode()
    return int(body.splitlines()[2].split()[2])


def wait_served(port, more, w, what, timeout=20):
    """Waits until nginx handled `more` requests beyond now, with wrk `w`
    still running: the load is on."""
    base = served(port)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if w.poll() is not None:
            raise RuntimeError(f"wrk ended {what}: {w.communicate()[0]}")
        if served(port) >= base + more:
            return
        time.sleep(0.01)
    raise RuntimeError(f"nginx did not serve {more} requests {what} within {timeout}s")


def under_load(port, action):
    """Runs action() while wrk loads nginx: wrk must have been serving
    before it starts and still serve after it ends (no fixed sleep decides
    that, or it raises); then wrk is stopped (SIGINT makes it report).
    Returns action's result and wrk's."""
    w = wrk_start(port, 300)
    try:
        wait_served(port, 200, w, "before the command")
        got = action()
        wait_served(port, 200, w, "after the command")
    finally:
        if w.poll() is None:
            w.send_signal(signal.SIGINT)
    return got, wrk_result(w)


def hotpatch(hp, *args):
    r = subprocess.run([hp, "--json", *map(str, args)], capture_output=True, text=True,
                       timeout=120)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {}, r.stderr


def scenario(nginx, patchfile, hp, workdir, log=print):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.join(workdir, "logs"))
    port = free_port()
    with open(os.path.join(HERE, "..", "examples", "nginx", "nginx.conf.in")) as f:
        conf = f.read().replace("@DIR@", workdir).replace("@PORT@", str(port))
    with open(os.path.join(workdir, "nginx.conf"), "w") as f:
        f.write(conf)
    master = subprocess.Popen([nginx, "-p", workdir, "-c", os.path.join(workdir, "nginx.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res = {"master": master.pid, "port": port}
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if len(children(master.pid)) == 2 and get(port)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        workers = children(master.pid)
        res["workers"] = workers
        log(f"nginx master {master.pid}, workers {workers}, port {port}")
        res["before"] = wrk_result(wrk_start(port, 3))
        log(f"before: {res['before']['rps']:.0f} requests/s")

        (code, doc, err), res["during_apply"] = under_load(
            port, lambda: hotpatch(hp, "--exe", nginx, patchfile))
        res["apply"] = {"exit": code, "stderr": err, "processes": [
            {"pid": p["pid"], "result": p["result"], "pause_us": p["timings_us"]["pause"],
             "total_us": p["timings_us"]["total"]} for p in doc.get("processes", [])]}
        for p in res["apply"]["processes"]:
            log(f"apply pid {p['pid']}: {p['result']}, paused {p['pause_us']} us "
                f"(command {p['total_us'] / 1000:.1f} ms)")
        log(f"during apply: {res['during_apply']['rps']:.0f} requests/s, "
            f"{res['during_apply']['socket_errors']} socket errors, "
            f"{res['during_apply']['non_2xx']} non-2xx")
        res["after_apply"] = {str(k): sorted(v) for k, v in survey(port).items()}
        log(f"answers after apply, by worker: {res['after_apply']}")

        os.kill(master.pid, signal.SIGHUP)  # new workers forked by the patched master
        deadline = time.time() + 20
        while time.time() < deadline:
            now = children(master.pid)
            if len(now) == 2 and not set(now) & set(workers):
                break
            time.sleep(0.05)
        res["new_workers"] = children(master.pid)
        res["after_reload"] = {str(k): sorted(v) for k, v in survey(port).items()}
        code, doc, err = hotpatch(hp, "status", "--exe", nginx)
        res["status_after_reload"] = {p["pid"]: len(p["patches"]) for p in doc.get("processes", [])}
        log(f"after HUP, new workers {res['new_workers']}: {res['after_reload']}; "
            f"patches per process: {res['status_after_reload']}")

        (code, doc, err), res["during_rollback"] = under_load(
            port, lambda: hotpatch(hp, "rollback", "--exe", nginx, patchfile))
        res["rollback"] = {"exit": code, "stderr": err, "processes": [
            {"pid": p["pid"], "result": p["result"], "pause_us": p["timings_us"]["pause"]}
            for p in doc.get("processes", [])]}
        for p in res["rollback"]["processes"]:
            log(f"rollback pid {p['pid']}: {p['result']}, paused {p['pause_us']} us")
        log(f"during rollback: {res['during_rollback']['rps']:.0f} requests/s, "
            f"{res['during_rollback']['socket_errors']} socket errors, "
            f"{res['during_rollback']['non_2xx']} non-2xx")
        res["after_rollback"] = {str(k): sorted(v) for k, v in survey(port).items()}
        log(f"answers after rollback, by worker: {res['after_rollback']}")
        res["after"] = wrk_result(wrk_start(port, 3))
        log(f"after: {res['after']['rps']:.0f} requests/s")
        res["alive"] = {pid: alive(pid) for pid in [master.pid] + res["new_workers"]}
        log(f"alive at the end: {res['alive']}")
    finally:
        if master.poll() is None:
            master.send_signal(signal.SIGQUIT)
            try:
                master.wait(timeout=10)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
        for pid in res.get("workers", []) + res.get("new_workers", []):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--patch", required=True)
    ap.add_argument("--hotpatch", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    res = scenario(a.nginx, a.patch, a.hotpatch, a.workdir)
    for r in ("before", "during_apply", "during_rollback", "after"):
        res[r].pop("output", None)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    ok = (res["apply"]["exit"] == 0 and res["rollback"]["exit"] == 0 and all(res["alive"].values())
          and all(v == ["patched"] for v in res["after_apply"].values())
          and all(v == ["original"] for v in res["after_rollback"].values()))
    print("realworld: " + ("everything as expected" if ok else "SOMETHING WENT WRONG"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
