# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Ansible module, through a real ansible-playbook run on this machine."""
import json
import os
import shutil
import subprocess

from hptest import HOTPATCH, SOURCE, Skip, Target, check, eq, patch

PLAYBOOK = os.path.join(SOURCE, "scripts", "ansible", "example.yml")


def first_task_result(out):
    """The result of the playbook's first task, as the minimal callback
    prints it: 'localhost | CHANGED => {' then JSON up to a closing '}'."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("localhost | ") and line.endswith("=> {"):
            end = lines.index("}", i)
            res = json.loads("{" + "\n".join(lines[i + 1:end + 1]))
            res["failed"] = "FAILED" in line
            return res
    raise AssertionError(f"no task result in ansible's output:\n{out}")


def playbook(t, patchfile, state, check_mode=False):
    if not shutil.which("ansible-playbook"):
        raise Skip("ansible-playbook is not installed (scripts/deps installs ansible-core)")
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", ANSIBLE_RETRY_FILES_ENABLED="0")
    cmd = ["ansible-playbook", "-c", "local", "-i", "localhost,", PLAYBOOK,
           "-e", f"target_pid={t.pid}", "-e", f"patch={patchfile}",
           "-e", f"hotpatch_state={state}", "-e", f"hotpatch_bin={HOTPATCH}"]
    if check_mode:
        cmd.append("--check")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    task = first_task_result(r.stdout)
    print(f"$ {' '.join(cmd)} -> {r.returncode}: changed={task.get('changed')} "
          f"failed={task.get('failed')} msg={task.get('msg')}")
    return r.returncode, task


def test_playbook_apply_and_rollback_twice():
    t = Target("worker-gcc")
    rc, task = playbook(t, patch("fix_compute"), "present", check_mode=True)
    eq((rc, task["changed"]), (0, True), "check mode: it would change")
    eq(t.call("compute", 1), 1001, "check mode changed nothing")
    rc, task = playbook(t, patch("fix_compute"), "present")
    eq((rc, task["changed"]), (0, True), "first apply changes")
    eq(t.call("compute", 1), 2001, "patched")
    rc, task = playbook(t, patch("fix_compute"), "present")
    eq((rc, task["changed"]), (0, False), "second apply: changed=false")
    rc, task = playbook(t, patch("fix_compute"), "absent")
    eq((rc, task["changed"]), (0, True), "rollback changes")
    eq(t.call("compute", 1), 1001, "rolled back")
    rc, task = playbook(t, patch("fix_compute"), "absent")
    eq((rc, task["changed"]), (0, False), "second rollback: changed=false")
    t.assert_healthy()


def test_playbook_fails_with_hotpatch_message():
    t = Target("worker-gcc")
    rc, task = playbook(t, patch("bad_nosym"), "present")
    check(rc != 0 and task.get("failed"), "the task failed")
    check("compute_typo" in task["msg"] and "not found" in task["msg"],
          f"with hotpatch's words: {task['msg']}")
    eq(task["rc"], 5, "and its exit code")
    t.assert_healthy()
