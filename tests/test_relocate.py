# SPDX-License-Identifier: LGPL-2.1-or-later
"""hotpatch --relocate: functions without a hot-patch prologue (issue 13).

The target `plain` is built as distributions build programs (plain -O2, no
patch flags); its functions have the shapes each case needs (the ones of
plain_cases.S exactly, the ones of plain.c as GCC makes them).  Each test
first asserts the shape it relies on from the built file, so that a change
of compiler or layout fails here loudly instead of testing nothing.  Eight
(or sixteen) threads call every function non-stop and count every answer
that is neither the original's nor a patched one's.
"""
import os
import re
import signal
import subprocess
import time

from hptest import (BUILD, Fail, Skip, Target, check, eq, file_bytes, hotpatch, hotpatch_json,
                    park_thread, patch, wait_for)

EXIT_NOT_PATCHABLE, EXIT_BUSY = 6, 7
CYCLES = int(os.environ.get("HOTPATCH_RELOC_CYCLES", "100"))
BEFORE, AFTER = 8, 24  # the bytes compared around an entry: pad and displaced ones

# The file bytes each function of plain_cases.S starts with (None: a rel32
# the linker chose), what the byte(s) before its entry are, and what list
# --relocate must say of it: (method, displaced, instructions) or the
# refusal's tags.
REL32 = None
SHAPES = {
    "rip_tight": ("8b05", REL32, "01f8c3"),
    "tail_tight": ("e9", REL32),
    "short_fn": ("89f8c3cccccccccccccccc",),
    "padded": ("89f805e8030000c3",),
    "parked": ("5389fb8d83e80300005bc3",),
    "signalled": ("5389fb8d83e80300005bc3",),
    "parked_pad": ("5389fb8d83e80300005bc3",),
    "short_tight": ("89f8c3e8",),
    "call_first": ("e8", REL32, "c3"),
    "loop_back": ("31c083c0643de803000075f601f8c3",),
}
# what precedes the entry: the last byte of another function (no filler:
# found padding cannot apply), or filler
PRECEDED = {
    "rip_tight": "c3", "tail_tight": "c3", "short_fn": "", "padded": "cc" * 8,
    "parked": "c3", "signalled": "c3", "parked_pad": "90" * 6, "short_tight": "c3",
    "call_first": "c3", "loop_back": "c3",
}
ACCEPTED = {
    "rip_tight": ("relocate", 6, 1),
    "tail_tight": ("relocate", 5, 1),
    "short_fn": ("relocate", 5, None),  # mov, ret and int3 filler up to 5 bytes
    "padded": ("padding", 2, 1),
    "parked": ("relocate", 9, 3),
    "signalled": ("relocate", 9, 3),
    "parked_pad": ("padding", 3, 2),
}
REFUSED = {
    "short_tight": ({"short", "symbol-inside"}, ("short", "symbol")),
    "call_first": ({"call"}, ("call",)),
    "loop_back": ({"branch-into"}, ("branch", "jump")),
}


def nm(path, dynamic=False):
    """{name: (vaddr, size)} of the defined functions of an ELF file."""
    out = subprocess.run(["nm", "-S", "--defined-only"] + (["-D"] if dynamic else []) + [path],
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "TtWi":
            syms.setdefault(parts[3].split("@")[0], (int(parts[0], 16), int(parts[1], 16)))
    return syms


def sym(path, name, dynamic=False):
    s = nm(path, dynamic).get(name)
    if not s:
        raise Fail(f"{name} is not a function of {path}")
    return s[0]


def around(t, name, path=None, dynamic=False):
    """(live, file) bytes from BEFORE bytes before the entry of `name` to
    AFTER bytes after it: the pad a found-padding jump takes and every byte
    a relocation displaces."""
    path = path or t.path
    v = sym(path, name, dynamic)
    live = t.read(t.bias(path) + v - BEFORE, BEFORE + AFTER)
    return live, file_bytes(path, v - BEFORE, BEFORE + AFTER)


def entry(t, name, path=None):
    return t.bias(path) + sym(path or t.path, name)


def assert_shape(path, name):
    """The file's bytes at and before `name` are the ones its case needs."""
    disk = file_bytes(path, sym(path, name) - BEFORE, BEFORE + AFTER)
    at, before = disk[BEFORE:], disk[:BEFORE]
    off = 0
    for part in SHAPES[name]:
        if part is REL32:
            off += 4
            continue
        want = bytes.fromhex(part)
        if at[off:off + len(want)] != want:
            raise Fail(f"{name} in {path} starts {at[:16].hex()}, the test needs "
                       f"{' '.join(p or '<rel32>' for p in SHAPES[name])}: was plain_cases.S "
                       "assembled differently?")
        off += len(want)
    pre = bytes.fromhex(PRECEDED[name])
    if pre and not before.endswith(pre):
        raise Fail(f"the bytes before {name} are {before.hex()}, the test needs ...{pre.hex()}")


def plain(threads=8, name="plain"):
    t = Target(name, threads=threads)
    return t


def fn_doc(doc, name):
    for p in doc["processes"][0]["patches"]:
        for f in p["functions"]:
            if f["symbol"] == name:
                return f
    raise Fail(f"{name} is not among the functions of the JSON answer")


def check_method(f, name, method, displaced, instructions):
    eq(f["method"], method, f"{name}: method")
    if displaced is not None:
        eq(f["displaced"], displaced, f"{name}: bytes displaced")
    else:
        check(f["displaced"] >= 5, f"{name}: at least the jump's 5 bytes displaced: {f}")
    if instructions is not None:
        eq(f["instructions"], instructions, f"{name}: instructions displaced")
    else:
        check(f["instructions"] >= 2, f"{name}: every displaced instruction counted: {f}")


def gcc_expectation(path, name):
    """For a function of plain.c (GCC's layout): found padding when the 5
    bytes before the entry are filler no function covers, else relocation."""
    syms = nm(path)
    v = syms[name][0]
    end = max((a + s for a, s in syms.values() if a < v), default=0)
    return "padding" if v - end >= 5 else "relocate"


def apply_rollback(t, patchname, fn, x, old, new, expect=None, path=None, dynamic=False,
                   symbol=None):
    """Apply with --relocate: the answer changes (the target's command `fn`
    calls `symbol`), the bytes changed; roll back: the answer and every byte
    around the entry are the file's; the workers never saw a wrong answer.
    Returns the function's JSON."""
    symbol = symbol or fn
    live, disk = around(t, symbol, path, dynamic)
    eq(live, disk, f"{fn}: bytes before patching are the file's")
    eq(t.call(fn, x), old, f"{fn}({x}) before")
    code, doc = hotpatch_json("--pid", t.pid, "--relocate", patch(patchname))
    eq(code, 0, f"apply --relocate {patchname}")
    eq(doc["processes"][0]["result"], "applied", "result")
    f = fn_doc(doc, symbol)
    if expect:
        check_method(f, fn, *expect)
    eq(t.call(fn, x), new, f"{fn}({x}) after apply")
    check(around(t, symbol, path, dynamic)[0] != disk, f"{fn}: the entry's bytes changed")
    t.assert_healthy()
    code, doc = hotpatch_json("rollback", "--pid", t.pid, patch(patchname))
    eq(code, 0, f"rollback {patchname}")
    eq(t.call(fn, x), old, f"{fn}({x}) after rollback")
    eq(around(t, symbol, path, dynamic)[0].hex(), disk.hex(),
       f"{fn}: every byte around the entry restored from the file")
    check(f"memfd:hotpatch:{patchname}" not in t.maps(), "the patch is unloaded")
    t.assert_healthy()
    return f


def applied(t):
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(code, 0, "status")
    return [os.path.basename(p["path"]) for p in doc["processes"][0]["patches"]]


def unchanged(t, names, what):
    for n in names:
        live, disk = around(t, n)
        eq(live.hex(), disk.hex(), f"{what}: {n}'s bytes untouched")


# ---- each accepted shape ----

def test_apply_rip_relative():
    """A rip-relative load first: relocated, its displacement re-based."""
    t = plain()
    assert_shape(t.path, "rip_tight")
    apply_rollback(t, "reloc_rip", "rip_tight", 5, 1005, 2005, ACCEPTED["rip_tight"])


def test_apply_tail_jump():
    """A function that is one jmp rel32 (the jump is re-encoded)."""
    t = plain()
    assert_shape(t.path, "tail_tight")
    apply_rollback(t, "reloc_tail", "tail_tight", 5, 1005, 2005, ACCEPTED["tail_tight"])


def test_apply_short_function():
    """3 bytes (mov, ret) with int3 filler after them: the jump takes the filler."""
    t = plain()
    assert_shape(t.path, "short_fn")
    apply_rollback(t, "reloc_short", "short_fn", 5, 5, 2005, ACCEPTED["short_fn"])


def test_apply_found_padding():
    """8 int3 of filler before the entry take the long jump; 2 bytes displaced."""
    t = plain()
    assert_shape(t.path, "padded")
    apply_rollback(t, "reloc_padded", "padded", 5, 1005, 2005, ACCEPTED["padded"])
    # the long jump went into the filler: it is the only byte range besides
    # the entry's 2 that changes
    code, doc = hotpatch_json("--pid", t.pid, "--relocate", patch("reloc_padded"))
    eq(code, 0, "apply again")
    live, disk = around(t, "padded")
    eq(live[BEFORE - 5], 0xE9, "jmp rel32 in the filler, 5 bytes before the entry")
    eq(live[BEFORE:BEFORE + 2], bytes.fromhex("ebf9"), "jmp -7 at the entry")
    eq(live[BEFORE + 2:], disk[BEFORE + 2:], "nothing after the 2 displaced bytes changed")
    eq(hotpatch("rollback", "--pid", t.pid, patch("reloc_padded")).returncode, 0, "rollback")


def test_apply_gcc_rip_first():
    """GCC's own rip_first (mov bias_global(%rip),%eax first), whichever
    method its layout allows."""
    t = plain()
    disk = file_bytes(t.path, sym(t.path, "rip_first"), 2)
    eq(disk.hex(), "8b05", "GCC's rip_first starts with a rip-relative mov")
    # either way the 6-byte mov is the one instruction displaced
    m = gcc_expectation(t.path, "rip_first")
    apply_rollback(t, "reloc_ripc", "rip_first", 5, 1005, 2005, (m, 6, 1))


def test_apply_gcc_tail_jump():
    """GCC's tail_jump (add $1,%edi; jmp tail_helper2)."""
    t = plain()
    disk = file_bytes(t.path, sym(t.path, "tail_jump"), 4)
    eq(disk[:3].hex(), "83c701", "GCC's tail_jump adds 1 first")
    check(disk[3] in (0xEB, 0xE9), f"and jumps to tail_helper2: {disk.hex()}")
    # padding displaces the add, relocation the add and the jmp
    m = gcc_expectation(t.path, "tail_jump")
    jmp = 2 if disk[3] == 0xEB else 5
    apply_rollback(t, "reloc_tailc", "tail_jump", 5, 1005, 2005,
                   (m, 3, 1) if m == "padding" else (m, 3 + jmp, 2))


def test_apply_endbr64():
    """-fcf-protection=full: endbr64 stays at the entry, the jump goes after it."""
    t = plain(name="plain-cet")
    disk = file_bytes(t.path, sym(t.path, "rip_first"), 6)
    eq(disk.hex(), "f30f1efa8b05", "endbr64, then a rip-relative mov")
    apply_rollback(t, "reloc_ripc", "rip_first", 5, 1005, 2005)
    eq(hotpatch("--pid", t.pid, "--relocate", patch("reloc_ripc")).returncode, 0, "apply again")
    live, _ = around(t, "rip_first")
    eq(live[BEFORE:BEFORE + 4].hex(), "f30f1efa", "endbr64 kept at the entry")
    check(live[BEFORE + 4] in (0xE9, 0xEB), f"the jump follows it: {live[BEFORE:].hex()}")
    eq(t.call("rip_first", 5), 2005, "patched")
    eq(hotpatch("rollback", "--pid", t.pid, patch("reloc_ripc")).returncode, 0, "rollback")
    eq(around(t, "rip_first")[0], around(t, "rip_first")[1], "bytes exact")
    t.assert_healthy()


# ---- refusals ----

def test_refused_without_relocate():
    """Without --relocate: exit 6, the message shows the bytes and their
    disassembly, the method --relocate would use, and names --relocate."""
    t = plain()
    for name, p, method, nbytes, insn in (("rip_tight", "reloc_rip", "relocation", 6, "mov"),
                                          ("padded", "reloc_padded", "found padding", 2, "mov")):
        assert_shape(t.path, name)
        r = hotpatch("--pid", t.pid, patch(p))
        eq(r.returncode, EXIT_NOT_PATCHABLE, f"{name} without --relocate")
        check("no hot-patch prologue" in r.stderr, f"says why: {r.stderr}")
        check("--relocate" in r.stderr, f"names --relocate: {r.stderr}")
        check(method in r.stderr, f"names the method ({method}): {r.stderr}")
        check(f"{nbytes} bytes" in r.stderr, f"says what it would displace ({nbytes} bytes): "
              f"{r.stderr}")
        check(insn in r.stderr, f"disassembles it ({insn}): {r.stderr}")
        hexes = re.sub(r"[^0-9a-f]", "", r.stderr.lower())
        first = file_bytes(t.path, sym(t.path, name), nbytes).hex()
        check(first in hexes, f"shows the bytes {first}: {r.stderr}")
        unchanged(t, [name], f"{name} refused")
        eq(t.call(name, 5), 1005, "still the original")
    eq(applied(t), [], "nothing recorded")
    t.assert_healthy()


def refused(t, name, patchname):
    tags, words = REFUSED[name]
    assert_shape(t.path, name)
    r = hotpatch("--pid", t.pid, "--relocate", patch(patchname))
    eq(r.returncode, EXIT_NOT_PATCHABLE, f"{name} with --relocate")
    check(name in r.stderr, f"names the function: {r.stderr}")
    check(any(w in r.stderr.lower() for w in words), f"gives the reason ({words}): {r.stderr}")
    unchanged(t, [name], f"{name} refused")
    eq(applied(t), [], "nothing recorded")
    check(f"memfd:hotpatch:{patchname}" not in t.maps(), "nothing left loaded")
    t.assert_healthy()


def test_refused_call():
    """A call in the displaced bytes: its return address would point into them."""
    t = plain()
    refused(t, "call_first", "reloc_call")
    eq(t.call("call_first", 5), 1005, "original")


def test_refused_branch_into():
    """A loop whose back edge goes to entry+2, inside the displaced bytes."""
    t = plain()
    refused(t, "loop_back", "reloc_loop")
    eq(t.call("loop_back", 5), 1005, "original")


def test_refused_short():
    """3 bytes, and the next function starts right after them."""
    t = plain()
    refused(t, "short_tight", "reloc_tight")
    eq(t.call("short_tight", 5), 5, "original")


# ---- HOTPATCH_ORIGINAL, stacking, dry run, JSON, list ----

def test_original_through_copy():
    """Replacements that call HOTPATCH_ORIGINAL run the relocated copies:
    a re-based rip-relative load (bias_global's neighbours hold other
    values), a re-encoded jmp, a padding copy, a copy holding a ret."""
    t = plain()
    for n in ("rip_tight", "tail_tight", "padded", "short_fn"):
        assert_shape(t.path, n)
    fns = {"rip_tight": 1005, "tail_tight": 1005, "padded": 1005, "short_fn": 5,
           "rip_first": 1005}
    disk = {n: around(t, n)[1] for n in fns}
    code, doc = hotpatch_json("--pid", t.pid, "--relocate", patch("reloc_original"))
    eq(code, 0, "apply")
    for n, old in fns.items():
        check(fn_doc(doc, n)["method"] in ("padding", "relocate"), f"{n} relocated")
        for x in (5, -3, 123456):
            eq(t.call(n, x), x + (old - 5) + 5000, f"{n}({x}) through the original's copy")
    t.assert_healthy()
    eq(hotpatch("rollback", "--pid", t.pid, patch("reloc_original")).returncode, 0, "rollback")
    for n, old in fns.items():
        eq(t.call(n, 5), old, f"{n} original")
        eq(around(t, n)[0].hex(), disk[n].hex(), f"{n} bytes exact")
    t.assert_healthy()


def test_stacking():
    """Two patches of one relocated function; rolled back in order."""
    t = plain()
    assert_shape(t.path, "rip_tight")
    disk = around(t, "rip_tight")[1]
    eq(hotpatch("--pid", t.pid, "--relocate", patch("reloc_rip")).returncode, 0, "apply A")
    eq(t.call("rip_tight", 5), 2005, "A")
    code, doc = hotpatch_json("--pid", t.pid, "--relocate", patch("reloc_rip_b"))
    eq(code, 0, "apply B on top")
    eq(fn_doc(doc, "rip_tight")["stacked"], True, "B is stacked")
    eq(t.call("rip_tight", 5), 3005, "B")
    eq(applied(t), ["reloc_rip.so", "reloc_rip_b.so"], "status order")
    r = hotpatch("rollback", "--pid", t.pid, patch("reloc_rip"))
    eq(r.returncode, EXIT_BUSY, "rollback of A under B is refused")
    eq(t.call("rip_tight", 5), 3005, "still B")
    eq(hotpatch("rollback", "--pid", t.pid, patch("reloc_rip_b")).returncode, 0, "rollback B")
    eq(t.call("rip_tight", 5), 2005, "back to A")
    eq(hotpatch("rollback", "--pid", t.pid, patch("reloc_rip")).returncode, 0, "rollback A")
    eq(t.call("rip_tight", 5), 1005, "original")
    eq(around(t, "rip_tight")[0].hex(), disk.hex(), "bytes exact")
    t.assert_healthy()


def test_dry_run_writes_nothing():
    t = plain()
    names = ("rip_tight", "padded")
    maps = t.maps()
    for n, p in (("rip_tight", "reloc_rip"), ("padded", "reloc_padded")):
        code, doc = hotpatch_json("--dry-run", "--pid", t.pid, "--relocate", patch(p))
        eq(code, 0, f"dry run of {p}")
        eq(doc["processes"][0]["result"], "would-apply", "result")
        check_method(fn_doc(doc, n), n, *ACCEPTED[n])
    unchanged(t, names, "dry run")
    eq(t.maps(), maps, "nothing mapped")
    eq((t.call("rip_tight", 5), t.call("padded", 5)), (1005, 1005), "still original")
    r = hotpatch("--dry-run", "--pid", t.pid, "--relocate", patch("reloc_call"))
    eq(r.returncode, EXIT_NOT_PATCHABLE, "a dry run refuses what a real run would")
    t.assert_healthy()


def test_json_fields():
    """method, displaced and instructions in apply's and status's JSON, and
    "prologue", 0, 0 for a function with a hot-patch prologue."""
    t = plain()
    for n in ACCEPTED:
        assert_shape(t.path, n)
    pats = [("reloc_rip", "rip_tight"), ("reloc_tail", "tail_tight"),
            ("reloc_padded", "padded"), ("reloc_parked_pad", "parked_pad")]
    for p, n in pats:
        code, doc = hotpatch_json("--pid", t.pid, "--relocate", patch(p))
        eq(code, 0, f"apply {p}")
        check_method(fn_doc(doc, n), n, *ACCEPTED[n])
    code, doc = hotpatch_json("status", "--pid", t.pid)
    eq(code, 0, "status")
    for p, n in pats:
        check_method(fn_doc(doc, n), n, *ACCEPTED[n])
    eq(hotpatch("rollback", "--all", "--pid", t.pid).returncode, 0, "rollback --all")
    unchanged(t, [n for _, n in pats], "rolled back")
    t.assert_healthy()
    w = Target("worker-gcc", threads=2)
    code, doc = hotpatch_json("--pid", w.pid, "--relocate", patch("fix_compute"))
    eq(code, 0, "a prologue with --relocate")
    f = fn_doc(doc, "compute")
    eq((f["method"], f["displaced"], f["instructions"]), ("prologue", 0, 0), "prologue fields")
    eq(hotpatch("rollback", "--pid", w.pid, patch("fix_compute")).returncode, 0, "rollback")
    w.assert_healthy()


def test_list_relocate():
    """list --relocate says of each function of plain what the apply does."""
    t = plain(threads=2)
    code, doc = hotpatch_json("list", "--pid", t.pid, "--relocate")
    eq(code, 0, "list --relocate")
    objs = {os.path.basename(o["path"]): o for o in doc["processes"][0]["objects"]}
    check("plain" in objs, f"the executable is listed: {list(objs)}")
    check(any(k.startswith("libc.so") for k in objs), f"so is libc: {list(objs)}")
    fns = {f["name"]: f for f in objs["plain"]["functions"]}
    for n, (method, nbytes, ninsn) in ACCEPTED.items():
        assert_shape(t.path, n)
        check(n in fns, f"{n} is listed")
        f = fns[n]
        check_method(f, n, method, nbytes, ninsn)
        eq(f["refused"], None, f"{n}: not refused")
        eq(int(f["address"], 16), entry(t, n), f"{n}: address")
    for n, (tags, _) in REFUSED.items():
        assert_shape(t.path, n)
        f = fns[n]
        eq(f["method"] in (None, "refused"), True, f"{n}: no method ({f['method']})")
        check(f["refused"] in tags, f"{n}: refused as {tags}, not {f['refused']}: {f['reason']}")
        check(f["reason"], f"{n}: with a reason")
    counts = objs["plain"]["counts"]
    for m in ("padding", "relocate"):
        got = sum(1 for f in fns.values() if f["method"] == m)
        eq(counts[m], got, f"counts.{m}")
    eq(sum(counts["refused"].values()), sum(1 for f in fns.values() if f["refused"]),
       "counts.refused")
    r = hotpatch("list", "--pid", t.pid, "--relocate")
    eq(r.returncode, 0, "human list")
    # "  NAME  0xADDRESS  HOW" (the contract put the address first: either)
    lines = {}
    for l in r.stdout.splitlines():
        w = l.split()
        if len(w) > 2:
            lines.setdefault(w[1] if w[0].startswith("0x") else w[0], l)
    check(re.search(r"relocate: 6 bytes / 1 instruction\b", lines.get("rip_tight", "")),
          f"rip_tight line: {lines.get('rip_tight')}")
    check(re.search(r"padding: 2 bytes / 1 instruction\b", lines.get("padded", "")),
          f"padded line: {lines.get('padded')}")
    check(re.search(r"relocate: 9 bytes / 3 instructions", lines.get("parked", "")),
          f"parked line: {lines.get('parked')}")
    check("refused (call)" in lines.get("call_first", ""),
          f"call_first line: {lines.get('call_first')}")
    check("refused (branch-into)" in lines.get("loop_back", ""),
          f"loop_back line: {lines.get('loop_back')}")
    t.assert_healthy()


# ---- threads inside the displaced bytes ----

def test_parked_thread_single_stepped():
    """A thread stopped on an instruction boundary inside the displaced
    bytes (entry+1 after a 1-byte push, entry+3) is single-stepped out
    before the write, under relocation and under found padding."""
    t = plain()
    for n in ("parked", "parked_pad"):
        assert_shape(t.path, n)
    for fn, p, k in (("parked", "reloc_parked", 1), ("parked", "reloc_parked", 3),
                     ("parked_pad", "reloc_parked_pad", 1)):
        at = entry(t, fn) + k
        disk = around(t, fn)[1]
        park_thread(t, at, signal.SIGSTOP)
        wait_for(lambda: t.state() == "T", what="the target to stop")
        code, doc = hotpatch_json("--pid", t.pid, "--relocate", patch(p))
        eq(code, 0, f"apply {p} with a thread at {fn}+{k}")
        check(doc["processes"][0]["threads_single_stepped"] >= 1,
              f"{fn}+{k}: the parked thread was stepped out")
        eq(t.state(), "T", "a stopped process is left stopped")
        os.kill(t.pid, signal.SIGCONT)
        wait_for(lambda: t.state() != "T", what="the target to run on")
        eq(t.call(fn, 5), 2005, f"{fn} patched")
        t.assert_healthy()
        eq(hotpatch("rollback", "--pid", t.pid, patch(p)).returncode, 0, f"rollback {p}")
        eq(t.call(fn, 5), 1005, f"{fn} original")
        eq(around(t, fn)[0].hex(), disk.hex(), f"{fn} bytes exact")
        t.assert_healthy()


def test_signal_frame_busy():
    """A thread interrupted at signalled+3 whose handler blocks: its signal
    frame returns into the displaced bytes, so the apply is busy until
    --timeout (exit 7, nothing written); once the handler returned, it
    succeeds."""
    t = plain()
    assert_shape(t.path, "signalled")
    at = entry(t, "signalled") + 3
    disk = around(t, "signalled")[1]
    tid = park_thread(t, at, signal.SIGUSR1)
    wait_for(lambda: t.cmd("held") == "1", what="the thread to be held in its handler")
    start = time.monotonic()
    r = hotpatch("--pid", t.pid, "--relocate", "--timeout", "2", patch("reloc_signalled"))
    took = time.monotonic() - start
    eq(r.returncode, EXIT_BUSY, "apply while a signal frame points into the displaced bytes")
    check(1.0 <= took < 10, f"retried until --timeout 2, less the quarter kept for the undo ({took:.1f} s)")
    check(f"thread {tid}" in r.stderr and "signalled" in r.stderr,
          f"names the thread and the function: {r.stderr}")
    check(f"memfd:hotpatch:reloc_signalled" not in t.maps(), "the patch was unloaded")
    eq(around(t, "signalled")[0].hex(), disk.hex(), "nothing written")
    eq(applied(t), [], "nothing recorded")
    eq(t.call("signalled", 5), 1005, "original")
    eq(t.cmd("release"), "released", "the handler returns")
    wait_for(lambda: t.cmd("held") == "0", what="the handler to return")
    apply_rollback(t, "reloc_signalled", "signalled", 5, 1005, 2005, ACCEPTED["signalled"])


# ---- all shapes at once, the stress, stock libc ----

EVERY = [("reloc_rip", "rip_tight", 1005), ("reloc_tail", "tail_tight", 1005),
         ("reloc_short", "short_fn", 5), ("reloc_padded", "padded", 1005),
         ("reloc_parked", "parked", 1005), ("reloc_parked_pad", "parked_pad", 1005),
         ("reloc_signalled", "signalled", 1005), ("reloc_ripc", "rip_first", 1005),
         ("reloc_tailc", "tail_jump", 1005)]


def test_every_shape_hammered():
    """Eight threads call every function while every accepted shape is
    patched and rolled back, twice: zero wrong answers."""
    t = plain()
    for n in ACCEPTED:
        assert_shape(t.path, n)
    disk = {n: around(t, n)[1] for _, n, _ in EVERY}
    # in two halves: a ninth patch loaded at once is refused for a reason of
    # its own (see the report of issue 13's tests)
    for i in range(2):
        for half in (EVERY[:5], EVERY[5:]):
            for p, n, old in half:
                eq(hotpatch("--pid", t.pid, "--relocate", patch(p)).returncode, 0,
                   f"#{i} apply {p}")
            for p, n, old in half:
                eq(t.call(n, 5), 2005, f"#{i} {n} patched")
            t.assert_healthy()
            eq(hotpatch("rollback", "--all", "--pid", t.pid).returncode, 0,
               f"#{i} rollback --all")
            for p, n, old in half:
                eq(t.call(n, 5), old, f"#{i} {n} original")
                eq(around(t, n)[0].hex(), disk[n].hex(), f"#{i} {n} bytes exact")
            t.assert_healthy()


def test_stress_signal_storm():
    """16 threads call every function (rip_tight also from their SIGUSR2
    handler) under a storm of SIGALRM and SIGUSR2 (each every 100 us to
    every thread) through CYCLES apply/rollback cycles of the relocated
    rip_tight: zero wrong answers, bytes exact, alive."""
    t = plain(threads=16)
    assert_shape(t.path, "rip_tight")
    disk = around(t, "rip_tight")[1]
    eq(t.cmd("sigstorm"), "storming", "storm started")
    s0 = int(t.cmd("signals"))
    start = time.monotonic()
    for i in range(CYCLES):
        r = hotpatch("--pid", t.pid, "--relocate", patch("reloc_rip"))
        eq(r.returncode, 0, f"apply #{i}")
        r = hotpatch("rollback", "--pid", t.pid, patch("reloc_rip"))
        eq(r.returncode, 0, f"rollback #{i}")
        if i % 25 == 24:
            t.assert_healthy()
    took = time.monotonic() - start
    s1 = int(t.cmd("signals"))
    calls, wrong = t.stats()
    print(f"{CYCLES} cycles in {took:.1f} s, {s1 - s0} storm signals handled, {calls} calls")
    check(s1 - s0 > 100 * CYCLES, f"the storm kept on ({s1 - s0} signals)")
    eq(wrong, 0, "wrong answers")
    eq(t.call("rip_tight", 5), 1005, "original at the end")
    eq(around(t, "rip_tight")[0].hex(), disk.hex(), "bytes exact at the end")
    t.assert_healthy()


def libc_path(t):
    for line in t.maps().splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and os.path.basename(parts[5]).startswith("libc.so"):
            return parts[5]
    raise Skip("the target maps no libc.so")


def test_stock_libc():
    """abs() of the stock libc.so.6 (Debian's, not rebuilt): a dry run says
    how, HOTPATCH_REPLACE_IN patches it, the replacement calls the original
    through its relocated copy, rollback is byte-exact."""
    t = plain()
    lib = libc_path(t)
    disk = file_bytes(lib, sym(lib, "abs", dynamic=True), 2)
    check(disk not in (bytes.fromhex("6690"), bytes.fromhex("9090")),
          "libc's abs has no hot-patch prologue")
    r = hotpatch("--pid", t.pid, patch("reloc_libc"))
    eq(r.returncode, EXIT_NOT_PATCHABLE, "without --relocate")
    check("no hot-patch prologue" in r.stderr and "--relocate" in r.stderr, r.stderr)
    code, doc = hotpatch_json("--dry-run", "--pid", t.pid, "--relocate", patch("reloc_libc"))
    eq(code, 0, "dry run")
    f = fn_doc(doc, "abs")
    check(f["method"] in ("padding", "relocate"), f"abs is patchable: {f}")
    eq(int(f["address"], 16), t.bias(lib) + sym(lib, "abs", dynamic=True), "abs address")
    got = apply_rollback(t, "reloc_libc", "libc_abs", 5, 5, 2005,
                         (f["method"], f["displaced"], f["instructions"]), path=lib,
                         dynamic=True, symbol="abs")
    eq(got["object"], os.path.realpath(lib), "in libc")
    # a negative argument goes through the original's copy (neg, cmovs)
    eq(hotpatch("--pid", t.pid, "--relocate", patch("reloc_libc")).returncode, 0, "apply again")
    eq(t.call("libc_abs", -7), 2007, "abs(-7) + 2000 through the relocated copy")
    eq(hotpatch("rollback", "--pid", t.pid, patch("reloc_libc")).returncode, 0, "rollback")
    eq(t.call("libc_abs", -7), 7, "abs(-7)")
    live, disk = around(t, "abs", lib, True)
    eq(live.hex(), disk.hex(), "libc's bytes exact")
    t.assert_healthy()


def test_list_stock_libc():
    """list --relocate --object libc.so.6 of a process: every function of
    the stock libc with its method or refusal, within --timeout, and abs
    among the patchable ones, as the apply finds it.  (--object, not the
    contract's --lib: --lib selects every process that maps the library.)"""
    t = plain(threads=1)
    lib = libc_path(t)
    start = time.monotonic()
    try:
        code, doc = hotpatch_json("list", "--pid", t.pid, "--relocate", "--object", "libc.so.6",
                                  "--timeout", "30", timeout=90)
    except subprocess.TimeoutExpired:
        raise Fail("list --relocate --object libc.so.6 --timeout 30 still ran after 90 s")
    took = time.monotonic() - start
    eq(code, 0, "list --relocate --object libc.so.6")
    eq(len(doc["processes"]), 1, "one process")
    check(took < 40, f"within its --timeout 30 ({took:.1f} s)")
    objs = doc["processes"][0]["objects"]
    eq([os.path.realpath(o["path"]) for o in objs], [os.path.realpath(lib)], "libc only")
    fns = {f["name"]: f for f in objs[0]["functions"]}
    exported = nm(lib, dynamic=True)
    check(len(fns) >= len(exported) // 2, f"{len(fns)} functions of {len(exported)} exported")
    check(fns.get("abs", {}).get("method") in ("padding", "relocate"), f"abs: {fns.get('abs')}")
    counts = objs[0]["counts"]
    print("libc.so.6:", {k: counts[k] for k in ("prologue", "padding", "relocate")},
          "refused", counts["refused"])
    eq(counts["padding"] + counts["relocate"] + counts["prologue"] +
       sum(counts["refused"].values()), len(objs[0]["functions"]), "counts add up")
    t.assert_healthy()
