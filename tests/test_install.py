# SPDX-License-Identifier: LGPL-2.1-or-later
"""meson install gives users the CLI, the header, the pkg-config file and the
man page, and a patch builds with `pkg-config --cflags hotpatch`."""
import os
import subprocess

from hptest import BUILD, SOURCE, Target, check, eq, hotpatch, tmpdir


def test_install_and_build_a_patch():
    dest = os.path.join(tmpdir(), "root")
    build = os.path.dirname(BUILD)
    r = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--quiet"],
                       capture_output=True, text=True)
    eq(r.returncode, 0, f"meson install: {r.stderr}")
    files = [os.path.relpath(os.path.join(d, f), dest)
             for d, _, fs in os.walk(dest) for f in fs]
    for want in ("sbin/hotpatch", "include/hotpatch.h", "pkgconfig/hotpatch.pc",
                 "man8/hotpatch.8", "bash-completion/completions/hotpatch"):
        check(any(f.endswith(want) for f in files), f"{want} installed: {files}")
    pcdir = os.path.dirname(os.path.join(dest, [f for f in files if f.endswith(".pc")][0]))
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir, PKG_CONFIG_SYSROOT_DIR=dest)
    cflags = subprocess.run(["pkg-config", "--cflags", "hotpatch"], env=env,
                            capture_output=True, text=True, check=True).stdout.split()
    out = os.path.join(tmpdir(), "fix.so")
    subprocess.run(["cc", "-shared", "-fPIC", *cflags,
                    os.path.join(SOURCE, "tests", "patches", "fix_compute.c"), "-o", out],
                   check=True)
    tool = os.path.join(dest, [f for f in files if f.endswith("sbin/hotpatch")][0])
    t = Target("worker-gcc")
    r = subprocess.run([tool, "--pid", str(t.pid), out], capture_output=True, text=True)
    eq(r.returncode, 0, f"the installed hotpatch applies it: {r.stderr}")
    eq(t.call("compute", 1), 2001, "patched by the installed tool")
    eq(hotpatch("rollback", "--pid", t.pid, out).returncode, 0, "rollback")
    t.assert_healthy()


def test_bash_completion():
    comp = os.path.join(SOURCE, "completions", "hotpatch")
    script = (f"source {comp}; COMP_WORDS=(hotpatch roll); COMP_CWORD=1; _hotpatch; "
              "echo ${COMPREPLY[@]}; COMP_WORDS=(hotpatch rollback --ke); COMP_CWORD=2; "
              "_hotpatch; echo ${COMPREPLY[@]}")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout.split("\n")
    eq(out[0], "rollback", "verbs complete")
    eq(out[1], "--keep-loaded", "options complete")


test_bash_completion.no_ptrace = True
