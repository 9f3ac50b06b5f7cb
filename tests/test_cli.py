# SPDX-License-Identifier: LGPL-2.1-or-later
"""The command line itself: each verb takes its own options and refuses the
others, and the exit codes are the same in the code, --help, hotpatch(8)
and the README."""
import hashlib
import json
import os
import re

from hptest import SOURCE, Target, check, eq, hotpatch, hotpatch_json, patch

EXIT_USAGE, EXIT_NOPROC = 2, 3
VERBS = ("apply", "rollback", "status", "list")


def absent_pid():
    pid = 4194000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    return pid


def source(*path):
    with open(os.path.join(SOURCE, *path)) as f:
        return f.read()


# ------------------------------------------------------------ exit codes

def exit_table():
    """(code, name, meaning) from the one table, HP_EXITS in src/util.h."""
    rows = re.findall(r'X\((HP_EXIT_\w+),\s*(\d+),\s*"([^"]*)",\s*"([^"]*)"\)',
                      source("src", "util.h"))
    check(rows, "HP_EXITS found in src/util.h")
    return [(int(code), name, meaning) for _, code, name, meaning in rows]


def help_exits():
    r = hotpatch("--help")
    eq(r.returncode, 0, "--help")
    text = r.stdout[r.stdout.index("Exit codes:") + len("Exit codes:"):]
    text = " ".join(text[:text.index("See hotpatch(8).")].split())
    return [(int(c), m) for c, m in re.findall(r"(\d+) ([^,.]+)[,.]", text)]


def man_exits():
    man = source("man", "hotpatch.8")
    sect = man[man.index(".SH EXIT STATUS\n"):]
    sect = sect[:sect.index("\n.SH ", 1)]
    return {int(c): " ".join(t.split())
            for c, t in re.findall(r"\.TP\n\.B (\d+)\n(.*?)(?=\n\.TP|\Z)", sect, re.S)}


def readme_exits():
    readme = source("README.md")
    sect = readme[readme.index("### Exit codes"):]
    sect = sect[:sect.index("\n#", 1)]
    return {int(c): t.strip() for c, t in re.findall(r"^\| (\d+) \|(.*)\|$", sect, re.M)}


def says(text, meaning):
    """`text` opens with `meaning`, as a whole word or phrase."""
    return (text.lower().startswith(meaning.lower())
            and not text[len(meaning):len(meaning) + 1].isalnum())


def test_exit_codes_documented():
    table = exit_table()
    eq([c for c, _, _ in table], list(range(len(table))), "codes 0..N, in order")
    eq(help_exits(), [(c, m) for c, _, m in table], "--help lists the table")
    for what, doc in (("hotpatch(8)", man_exits()), ("README", readme_exits())):
        eq(sorted(doc), [c for c, _, _ in table], f"{what} lists every code, and no other")
        for code, _, meaning in table:
            check(says(doc[code], meaning),
                  f"{what}: exit {code} is {meaning!r}, not {doc[code]!r}")
    row = [line for line in source("doc", "json.md").splitlines() if "`exit_class`" in line]
    eq(len(row), 1, "doc/json.md has one exit_class row")
    eq(set(re.findall(r"`([a-z-]+)`", row[0].split("|")[3])), {n for _, n, _ in table},
       "doc/json.md names the table's classes")


test_exit_codes_documented.no_ptrace = True


# ------------------------------------------------------------ options per verb

# what each verb takes besides the targets, --help and --version
TAKES = {
    "apply": {"--json", "--dry-run", "--timeout", "--sha256", "--stop-on-error", "--insecure",
              "--freezer", "--relocate", "--jobs"},
    "rollback": {"--json", "--dry-run", "--timeout", "--all", "--keep-loaded", "--force",
                 "--stop-on-error", "--freezer", "--jobs"},
    "status": {"--json", "--timeout", "--stop-on-error", "--jobs"},
    "list": {"--json", "--timeout", "--relocate", "--object"},
}
VALUE = {"--timeout": "30", "--sha256": "0" * 64, "--object": "libc.so.6", "--jobs": "2"}


def with_value(opt):
    return [opt, VALUE[opt]] if opt in VALUE else [opt]


def takers(opt):
    names = [v for v in VERBS if opt in TAKES[v]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def refused_message(verb, opt):
    return (f"hotpatch {verb}: {opt} is not an option of {verb} (it is for {takers(opt)}); "
            "see hotpatch --help\n")


def test_option_refused_by_verb():
    """Every option a verb does not take: exit 2, the verbs it is for named,
    nothing on stdout, even with --json, wherever the option stands."""
    every = set().union(*TAKES.values())
    for verb in VERBS:
        words = {"apply": ["x.so"], "rollback": ["x.so"]}.get(verb, [])
        for opt in sorted(every - TAKES[verb]):
            for args in ([verb, "--pid", 1, *with_value(opt), *words],
                         [*with_value(opt), "--json", verb, *words, "--pid", 1]):
                r = hotpatch(*args)
                eq(r.returncode, EXIT_USAGE, f"exit code of {args}")
                eq(r.stderr, refused_message(verb, opt), "the message")
                eq(r.stdout, "", "nothing on stdout")
    # the default verb is apply
    r = hotpatch("--pid", 1, "x.so", "--force")
    eq(r.returncode, EXIT_USAGE, "apply --force")
    eq(r.stderr, refused_message("apply", "--force"), "the message")
    # --help still answers, and --version
    eq(hotpatch("apply", "--force", "--help").returncode, 0, "apply --force --help")
    eq(hotpatch("status", "--all", "--version").returncode, 0, "status --all --version")


test_option_refused_by_verb.no_ptrace = True


def synopsis_options():
    """verb -> the options each synopsis (--help, README, hotpatch(8)) shows."""
    found = {}
    for verb in VERBS:
        r = hotpatch(verb, "--help")
        usage = r.stdout[:r.stdout.index("\n  ", r.stdout.index("Usage:"))]
        found.setdefault("--help", {})[verb] = set(re.findall(r"--[a-z0-9-]+", usage))
    readme = source("README.md")
    block = readme[readme.index("## Use it"):]
    block = block[:block.index("\n\n", block.index("    hotpatch"))]
    for verb, text in re.findall(r"    hotpatch \[?(\w+)\]? (.*?)(?=\n    hotpatch|\Z)", block, re.S):
        found.setdefault("README", {})[verb] = set(re.findall(r"--[a-z0-9-]+", text))
    man = source("man", "hotpatch.8")
    man = man[man.index(".SH SYNOPSIS\n"):man.index(".SH DESCRIPTION\n")]
    for part in man.split(".br\n"):
        if part.startswith(".B hotpatch build"):
            continue  # its own command line (test_build_documented_options)
        verb = re.search(r"\.B(?: hotpatch| \[)?\s*\[?\s*(?:\.RB \[ )?(apply|rollback|status|list)",
                         part)
        opts = {o.replace("\\-", "-") for o in re.findall(r"(?:\\-){2}[a-z0-9]+(?:\\-[a-z0-9]+)*", part)}
        found.setdefault("hotpatch(8)", {})[verb.group(1)] = {
            o for o in opts if o not in ("--pid", "--exe", "--lib")}
    return found


BUILD_TAKES = {"--source", "--diff", "--target", "--output", "--compile-commands", "--keep",
               "--jobs", "--json", "--help"}


def test_build_documented_options():
    """hotpatch build: what its --help and hotpatch(8) show, it takes, and
    an option it does not take is a usage error (exit 2)."""
    r = hotpatch("build", "--help")
    eq(r.returncode, 0, "build --help exit code")
    shown = set(re.findall(r"--[a-z0-9-]+", r.stdout))
    eq(shown, BUILD_TAKES, "build --help shows every option it takes")
    man = source("man", "hotpatch.8")
    man = man[man.index(".B hotpatch build"):]
    man = man[:man.index(".PP\n")]
    opts = {o.replace("\\-", "-") for o in re.findall(r"(?:\\-){2}[a-z0-9]+(?:\\-[a-z0-9]+)*", man)}
    eq(opts | {"--output", "--help"}, BUILD_TAKES, "hotpatch(8) shows every option of build")
    r = hotpatch("build", "--pid", "1")
    eq(r.returncode, 2, "build --pid is a usage error")
    check("unknown option '--pid'" in r.stderr, f"the error names the option: {r.stderr!r}")
    r = hotpatch("build", "--source", "/")
    eq(r.returncode, 2, "build without --diff is a usage error")


def test_documented_options_accepted():
    """What --help, the README and hotpatch(8) show for a verb, it takes;
    the README and hotpatch(8) show all it takes.  (On a pid that does not
    exist: the command line is accepted, the process is not found.)"""
    pid = absent_pid()
    fix = patch("fix_compute")
    with open(fix, "rb") as f:
        VALUE["--sha256"] = hashlib.sha256(f.read()).hexdigest()
    docs = synopsis_options()
    for where, verbs in docs.items():
        eq(sorted(verbs), sorted(VERBS), f"{where} shows every verb")
        for verb, opts in verbs.items():
            check(opts <= TAKES[verb], f"{where}: {verb} shows {opts - TAKES[verb]}, "
                  "which it does not take")
            if where != "--help":
                eq(opts, TAKES[verb], f"{where} shows every option of {verb}")
    freezer = hotpatch("--freezer", "--pid", pid, fix)
    usable = "--freezer:" not in freezer.stderr
    for verb in VERBS:
        words = {"apply": [fix], "rollback": [fix]}.get(verb, [])
        opts = sorted(TAKES[verb] - ({"--freezer"} if not usable else set()))
        runs = [[o] for o in opts] + [[o for o in opts if o != "--all"]]
        for run in runs:
            args = [a for o in run for a in with_value(o)]
            r = hotpatch(verb, "--pid", pid, *args, *([] if "--all" in run else words))
            eq(r.returncode, EXIT_NOPROC, f"{verb} {' '.join(args)} is accepted")
            if "--json" in run:
                doc = json.loads(r.stdout)
                eq(doc["command"], verb, "JSON command")
                eq(doc["exit_code"], EXIT_NOPROC, "JSON exit_code")


test_documented_options_accepted.no_ptrace = True


def test_refused_option_changes_nothing():
    """A refused command line does nothing to the target; the same command
    without the stray option does what it says."""
    t = Target("worker-gcc")
    fix = patch("fix_compute")
    eq(hotpatch("--force", "--pid", t.pid, fix).returncode, EXIT_USAGE, "apply --force")
    eq(t.call("compute", 5), 1005, "not applied")
    check("memfd:hotpatch:" not in t.maps(), "nothing loaded")
    with open(fix, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    code, doc = hotpatch_json("--dry-run", "--timeout", "30", "--stop-on-error", "--insecure",
                              "--sha256", sha, "--pid", t.pid, fix)
    eq(code, 0, "apply's own options")
    eq(doc["processes"][0]["result"], "would-apply", "dry run")
    eq(hotpatch("--timeout", "30", "--sha256", sha, "--pid", t.pid, fix).returncode, 0, "apply")
    eq(t.call("compute", 5), 2005, "applied")

    r = hotpatch("rollback", "--sha256", sha, "--pid", t.pid, fix)
    eq(r.returncode, EXIT_USAGE, "rollback --sha256")
    r = hotpatch("status", "--dry-run", "--pid", t.pid)
    eq(r.returncode, EXIT_USAGE, "status --dry-run")
    eq(t.call("compute", 5), 2005, "still applied")

    code, doc = hotpatch_json("status", "--timeout", "30", "--stop-on-error", "--pid", t.pid)
    eq(code, 0, "status's own options")
    eq(len(doc["processes"][0]["patches"]), 1, "one patch")
    code, doc = hotpatch_json("list", "--timeout", "30", "--pid", t.pid)
    eq(code, 0, "list's own options")
    code, doc = hotpatch_json("rollback", "--dry-run", "--timeout", "30", "--stop-on-error",
                              "--pid", t.pid, fix)
    eq(code, 0, "rollback --dry-run")
    eq(doc["processes"][0]["result"], "would-roll-back", "dry run")
    eq(hotpatch("rollback", "--keep-loaded", "--force", "--pid", t.pid, fix).returncode, 0,
       "rollback --keep-loaded --force")
    eq(t.call("compute", 5), 1005, "rolled back")
    eq(hotpatch("--pid", t.pid, patch("fix_compute_b")).returncode, 0, "apply another")
    code, doc = hotpatch_json("rollback", "--all", "--pid", t.pid)
    eq(code, 0, "rollback --all")
    eq(t.call("compute", 5), 1005, "all rolled back")
    t.assert_healthy()
