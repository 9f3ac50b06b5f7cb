#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Ansible module: apply or roll back a live patch with hotpatch(8)."""

DOCUMENTATION = r"""
module: hotpatch
short_description: Live-patch running processes with hotpatch
description:
  - Runs C(hotpatch --json) and reports, per process, what it did.
  - Idempotent, by the patch's SHA-256 recorded inside each process; a
    second run with the same patch reports C(changed=false).
  - Supports check mode (C(hotpatch --dry-run)).
options:
  patch: {description: The patch (a shared object). Required unless all=true., type: path}
  state: {description: present applies, absent rolls back., choices: [present, absent], default: present}
  pid: {description: Target processes., type: list, elements: int}
  exe: {description: Every process running this executable., type: path}
  lib: {description: Every process mapping this library; the patch applies to it., type: str}
  all: {description: With state=absent, roll back every patch., type: bool, default: false}
  keep_loaded: {description: With state=absent, leave the patch loaded., type: bool, default: false}
  sha256: {description: Apply only if the patch has this SHA-256., type: str}
  timeout: {description: Seconds for the whole command., type: float, default: 10}
  stop_on_error: {description: Stop at the first process that fails., type: bool, default: false}
  hotpatch: {description: Path of the hotpatch program., type: path, default: hotpatch}
"""

EXAMPLES = r"""
- name: fix the VAT bug in every running shop
  hotpatch:
    exe: /usr/sbin/shop
    patch: /srv/patches/fix_vat.so
    sha256: "{{ fix_vat_sha256 }}"
"""

import json

from ansible.module_utils.basic import AnsibleModule

CHANGED = {"applied", "rolled-back"}
WOULD_CHANGE = {"would-apply", "would-roll-back"}


def main():
    m = AnsibleModule(
        argument_spec=dict(
            patch=dict(type="path"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            pid=dict(type="list", elements="int"),
            exe=dict(type="path"),
            lib=dict(type="str"),
            all=dict(type="bool", default=False),
            keep_loaded=dict(type="bool", default=False),
            sha256=dict(type="str"),
            timeout=dict(type="float", default=10),
            stop_on_error=dict(type="bool", default=False),
            hotpatch=dict(type="path", default="hotpatch"),
        ),
        required_one_of=[["pid", "exe", "lib"]],
        supports_check_mode=True,
    )
    p = m.params
    if p["state"] == "present" and not p["patch"]:
        m.fail_json(msg="state=present needs a patch")
    if p["state"] == "absent" and not (p["patch"] or p["all"]):
        m.fail_json(msg="state=absent needs a patch or all=true")

    cmd = [p["hotpatch"], "apply" if p["state"] == "present" else "rollback", "--json",
           "--timeout", str(p["timeout"])]
    for pid in p["pid"] or []:
        cmd += ["--pid", str(pid)]
    if p["exe"]:
        cmd += ["--exe", p["exe"]]
    if p["lib"]:
        cmd += ["--lib", p["lib"]]
    # each is an option of one verb only, which refuses the other's
    if p["sha256"] and p["state"] == "present":
        cmd += ["--sha256", p["sha256"]]
    if p["keep_loaded"] and p["state"] == "absent":
        cmd.append("--keep-loaded")
    if p["stop_on_error"]:
        cmd.append("--stop-on-error")
    if m.check_mode:
        cmd.append("--dry-run")
    cmd += ["--all"] if p["state"] == "absent" and p["all"] else [p["patch"]]

    rc, out, err = m.run_command(cmd)
    try:
        doc = json.loads(out)
    except ValueError:
        m.fail_json(msg=(err or out or "hotpatch printed nothing").strip(), rc=rc, cmd=cmd)

    results = [pr.get("result") for pr in doc.get("processes", [])]
    changed = any(r in (WOULD_CHANGE if m.check_mode else CHANGED) for r in results)
    # 0 done, 8 nothing to do: both mean the state asked for holds
    if rc not in (0, 8):
        errors = [f"pid {pr['pid']}: {pr['error']['message']}"
                  for pr in doc.get("processes", []) if "error" in pr]
        if "error" in doc:
            errors.append(doc["error"]["message"])
        m.fail_json(msg="; ".join(errors) or f"hotpatch failed ({doc.get('exit_class')})",
                    rc=rc, changed=changed, hotpatch=doc)
    # ansible fails any result with a non-zero "rc": name it otherwise
    m.exit_json(changed=changed, hotpatch_rc=rc, hotpatch=doc)


if __name__ == "__main__":
    main()
