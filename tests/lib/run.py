# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs one test function of one test file: run.py FILE.py NAME.

Exit 0 pass, 1 fail, 77 skip (meson's convention). Every process the test
started is stopped by PID and its temporary folder removed, also on failure.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hptest  # noqa: E402


def ptrace_allowed():
    """hotpatch needs ptrace; say why not when it is not there."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        r = subprocess.run([hptest.HOTPATCH, "status", "--pid", str(child.pid)],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 4:
            return False, r.stderr.strip()
        return True, ""
    finally:
        child.kill()
        child.wait()


def main():
    path, name = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("t", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn = getattr(mod, name)
    hptest._tmp[0] = tempfile.mkdtemp(prefix=f"hotpatch-{name}-")
    code = 1
    try:
        if not getattr(fn, "no_ptrace", False):
            ok, why = ptrace_allowed()
            if not ok:
                raise hptest.Skip(f"ptrace is not permitted here: {why}")
        fn()
        code = 0
        print(f"PASS {name}")
    except hptest.Skip as e:
        print(f"SKIP {name}: {e}")
        code = 77
    except Exception:
        traceback.print_exc()
        print(f"FAIL {name}")
        code = 1
    finally:
        hptest.cleanup()
        shutil.rmtree(hptest._tmp[0], ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
