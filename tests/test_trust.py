# SPDX-License-Identifier: LGPL-2.1-or-later
"""Root's hotpatch opens the patch by a walk that checks every directory and
symlink on its path, on the fds it opened, and reads the bytes from the fd it
checked: an unprivileged user who can change anything on the path (a
directory, a symlink, a swap in the middle of the run) gets a refusal, while
root's own symlink layouts keep working."""
import hashlib
import os
import shutil
import subprocess

from hptest import Target, User, check, eq, hotpatch, hotpatch_json, patch, tmpdir

EXIT_PERMISSION = 4

# Run as the user: points `link` at `good` and `evil` in turn, each time by
# renaming a fresh symlink over it, as fast as it can, until its stdin
# closes; then reports how many renames it made.
SWAPPER = r"""
import os, sys
link, good, evil = sys.argv[1:4]
tmp = link + ".new"
renames = 0

def point(target):
    global renames
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.rename(tmp, link)
    renames += 1

point(good)
os.set_blocking(0, False)
print("ready", flush=True)
while True:
    try:
        if os.read(0, 1) == b"":
            break
    except BlockingIOError:
        pass
    point(evil)
    point(good)
print(f"renames {renames}", flush=True)
"""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mkdir(path, mode=0o755):
    os.mkdir(path)
    os.chmod(path, mode)  # not subject to the umask
    return path


def root_patch(name="fix_compute"):
    """Root's patch, in a root-owned 0755 directory under tmpdir."""
    d = mkdir(os.path.join(tmpdir(), "root"))
    p = os.path.join(d, "fix.so")
    shutil.copy(patch(name), p)
    os.chmod(p, 0o644)
    return p


def user_symlink(u, target, link):
    """A symlink made by the user; returns its owner, as proof."""
    r = u.run("ln", "-s", target, link)
    eq(r.returncode, 0, f"the user makes {link}: {r.stderr}")
    st = os.lstat(link)
    eq(st.st_uid, u.uid, f"{link} is the user's")
    eq(os.readlink(link), target, f"{link} points at root's patch")


def untouched(t):
    eq(t.call("compute", 1), 1001, "nothing applied")
    check("memfd:hotpatch:" not in t.maps(), "no patch loaded")
    t.assert_healthy()


def test_symlink_in_user_directory_refused():
    """The review's static case: the user's own directory holds a symlink to
    root's patch. The directory could be changed by the user at any time."""
    u = User()
    t = Target("worker-gcc")
    p = root_patch()
    ud = mkdir(os.path.join(tmpdir(), "alice"))
    u.own(ud)
    link = os.path.join(ud, "fix.so")
    user_symlink(u, p, link)
    eq(os.path.realpath(link), p, "the link resolves to root's patch")
    code, doc = hotpatch_json("--dry-run", "--insecure", "--pid", t.pid, link)
    eq(code, 0, "the path does lead to a patch (--insecure takes it)")
    r = hotpatch("--pid", t.pid, link)
    eq(r.returncode, EXIT_PERMISSION, "refused")
    check(f"refusing the patch {link}" in r.stderr, r.stderr)
    check(ud in r.stderr and f"uid {u.uid}" in r.stderr, f"names the user's directory: {r.stderr}")
    check("--insecure" in r.stderr, r.stderr)
    untouched(t)


def test_user_symlink_in_sticky_directory_refused():
    """In a sticky world-writable directory (like /tmp) the directory is fine,
    but a symlink planted there by another user is not."""
    u = User()
    t = Target("worker-gcc")
    p = root_patch()
    sticky = mkdir(os.path.join(tmpdir(), "sticky"), 0o1777)
    ulink = os.path.join(sticky, "user.so")
    user_symlink(u, p, ulink)
    r = hotpatch("--pid", t.pid, ulink)
    eq(r.returncode, EXIT_PERMISSION, "the user's symlink is refused")
    check(f"the symlink {ulink}" in r.stderr and f"uid {u.uid}" in r.stderr, r.stderr)
    untouched(t)
    rlink = os.path.join(sticky, "root.so")
    os.symlink(p, rlink)
    code, doc = hotpatch_json("--pid", t.pid, rlink)
    eq(code, 0, "root's own symlink there is accepted")
    eq(doc["processes"][0]["patches"][0]["path"], p, "the path reported is the canonical target")
    eq(doc["processes"][0]["patches"][0]["sha256"], sha256(p), "root's bytes")
    eq(t.call("compute", 1), 2001, "patched")
    eq(hotpatch("rollback", "--pid", t.pid, rlink).returncode, 0, "rollback")
    eq(t.call("compute", 1), 1001, "rolled back")
    t.assert_healthy()


def test_symlink_swap_race():
    """The review's race: the user flips a symlink in its own directory
    between root's patch and its own as fast as it can while root runs
    hotpatch. Not one run may take the user's bytes."""
    u = User()
    t = Target("worker-gcc")
    good = root_patch()
    ud = mkdir(os.path.join(tmpdir(), "alice"))
    evil = os.path.join(ud, "evil.so")
    shutil.copy(patch("fix_compute_b"), evil)
    os.chmod(evil, 0o644)
    u.own(ud, evil)
    good_sha, evil_sha = sha256(good), sha256(evil)
    check(good_sha != evil_sha, "the two patches differ")
    script = os.path.join(tmpdir(), "swapper.py")
    with open(script, "w") as f:
        f.write(SWAPPER)
    os.chmod(script, 0o644)
    link = os.path.join(ud, "fix.so")
    sw = subprocess.Popen(u.argv("python3", script, link, good, evil), stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    seen, runs = set(), []
    try:
        eq(sw.stdout.readline().strip(), "ready", "the swapper started")
        for _ in range(40):
            seen.add(os.readlink(link))  # renames are atomic: it is always there
            code, doc = hotpatch_json("--dry-run", "--pid", t.pid, link)
            shas = [p["sha256"] for pr in doc["processes"] for p in pr.get("patches", [])]
            runs.append((code, shas))
        sw.stdin.close()
        out = sw.stdout.readline().strip()
        eq(sw.wait(timeout=30), 0, "the swapper ends")
    finally:
        if sw.poll() is None:
            sw.kill()
            sw.wait()
    check(out.startswith("renames "), f"the swapper reports its renames: {out!r}")
    renames = int(out.split()[1])
    print(f"swapper: {renames} renames; link targets seen: {sorted(seen)}")
    check(renames >= 80, f"the swapper ran throughout ({renames} renames)")
    eq(seen, {good, evil}, "the link pointed at both patches while hotpatch ran")
    took_evil = sum(evil_sha in shas for _, shas in runs)
    eq(took_evil, 0, "runs of 40 that took the user's patch")
    eq([code for code, _ in runs], [EXIT_PERMISSION] * 40, "every run was refused")
    eq([shas for _, shas in runs], [[]] * 40, "no run reported a patch")
    # the path delivers the user's bytes once trust is off: what the walk stops
    r = u.run("ln", "-sfn", evil, link)
    eq(r.returncode, 0, r.stderr)
    code, doc = hotpatch_json("--dry-run", "--insecure", "--pid", t.pid, link)
    eq(code, 0, "--insecure takes it")
    eq(doc["processes"][0]["patches"][0]["sha256"], evil_sha, "and it is the user's patch")
    untouched(t)


def test_dotdot_and_relative_paths():
    """'..' and the current directory are walked and checked like any other
    directory on the path."""
    u = User()
    t = Target("worker-gcc")
    p = root_patch()
    top = tmpdir()
    ud = mkdir(os.path.join(top, "alice"))
    sub = mkdir(os.path.join(ud, "sub"))  # root's, but under the user's directory
    u.own(ud)
    refused = [(top, "alice/../root/fix.so"), (top, os.path.join(ud, "..", "root", "fix.so")),
               (ud, "../root/fix.so"), (sub, "../../root/fix.so")]
    for cwd, path in refused:
        eq(os.path.realpath(os.path.join(cwd, path)), p, f"{path} names root's patch")
        r = hotpatch("--pid", t.pid, path, cwd=cwd)
        eq(r.returncode, EXIT_PERMISSION, f"{path} in {cwd} is refused")
        check(f"the directory {ud} " in r.stderr and f"uid {u.uid}" in r.stderr, r.stderr)
    untouched(t)
    root_dir = os.path.dirname(p)
    for cwd, path in [(root_dir, "fix.so"), (top, "root/./fix.so"), (root_dir, "../root/fix.so")]:
        code, doc = hotpatch_json("--dry-run", "--pid", t.pid, path, cwd=cwd)
        eq(code, 0, f"{path} in {cwd}, all root's, is accepted")
        eq(doc["processes"][0]["patches"][0]["path"], p, "reported by its canonical path")
    untouched(t)


def test_root_symlink_chain_accepted():
    """Root's layouts with symlinks, relative and absolute, to files and to
    directories, followed by '..', keep working; the same chain led through
    a user's directory does not."""
    u = User()
    t = Target("worker-gcc")
    top = tmpdir()
    real = mkdir(os.path.join(top, "real"))
    lib = mkdir(os.path.join(real, "lib"))
    p = os.path.join(lib, "fix.so")
    shutil.copy(patch("fix_compute"), p)
    os.chmod(p, 0o644)
    links = mkdir(os.path.join(top, "links"))
    os.symlink(p, os.path.join(links, "fix.so"))                   # absolute
    os.symlink("../real", os.path.join(links, "realdir"))          # to a directory
    etc = mkdir(os.path.join(top, "etc"))
    os.symlink("../links/fix.so", os.path.join(etc, "current.so"))  # relative, to a link
    os.symlink("../links/realdir/lib", os.path.join(etc, "libdir"))
    for path in [os.path.join(etc, "current.so"), os.path.join(etc, "libdir", "fix.so"),
                 # '..' after a symlink is the target's parent, not the link's
                 os.path.join(etc, "libdir", "..", "lib", "fix.so")]:
        code, doc = hotpatch_json("--dry-run", "--pid", t.pid, path)
        eq(code, 0, f"{path} is accepted")
        eq(doc["processes"][0]["patches"][0]["path"], p, "reported by its canonical path")
    eq(hotpatch("--pid", t.pid, os.path.join(etc, "current.so")).returncode, 0, "applies")
    eq(t.call("compute", 1), 2001, "patched")
    eq(hotpatch("rollback", "--pid", t.pid, os.path.join(etc, "current.so")).returncode, 0,
       "rollback by the same path")
    eq(t.call("compute", 1), 1001, "rolled back")
    # root's link into a user's directory: the target's directories count too
    ud = mkdir(os.path.join(top, "alice"))
    shutil.copy(p, os.path.join(ud, "fix.so"))
    u.own(ud)
    os.symlink(os.path.join(ud, "fix.so"), os.path.join(etc, "alice.so"))
    r = hotpatch("--pid", t.pid, os.path.join(etc, "alice.so"))
    eq(r.returncode, EXIT_PERMISSION, "a root link into the user's directory is refused")
    check(f"the directory {ud} " in r.stderr, r.stderr)
    untouched(t)
