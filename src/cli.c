/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command line: verbs, options, human and JSON output, exit codes. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "escape.h"
#include "freezer.h"
#include "json.h"
#include "apply.h"
#include "options.h"
#include "report.h"
#include "rollback.h"
#include "status.h"
#include "patchfile.h"
#include "procsel.h"
#include "trust.h"
#include "util.h"

#ifndef HP_VERSION
#define HP_VERSION "unknown"
#endif

#define DEFAULT_TIMEOUT_S 10.0

struct cli {
	const char *verb;
	pid_t *pids;
	size_t npids;
	const char *exe; /* --exe: every process running it */
	const char *lib; /* --lib: every process mapping it */
	char lib_abs[PATH_MAX + 1];
	bool json;
	bool all;
	bool stop_on_error;
	bool insecure;
	const char *sha256; /* --sha256: the patch must hash to this */
	struct hp_options o;
	const char *patch;
};

struct verb {
	const char *name;
	int (*run)(struct cli *c);
	const char *usage;
};

static const char *exit_class(int code)
{
	switch (hp_exit_code(code)) {
	case HP_EXIT_OK:
		return "ok";
	case HP_EXIT_USAGE:
		return "usage";
	case HP_EXIT_NOPROCESS:
		return "no-such-process";
	case HP_EXIT_PERMISSION:
		return "permission-denied";
	case HP_EXIT_BADPATCH:
		return "invalid-patch";
	case HP_EXIT_NOTPATCHABLE:
		return "not-patchable";
	case HP_EXIT_BUSY:
		return "busy";
	case HP_EXIT_NOTHING:
		return "nothing-to-do";
	case HP_EXIT_PARTIAL:
		return "partial";
	default:
		return "internal";
	}
}

static void iso_time(uint64_t ns, char *out, size_t outsz)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* ---------------------------------------------------------------- output */

/*
 * Text hotpatch did not write (comm, paths, symbol names, messages that
 * quote them) as a terminal may show it: every string printed in human
 * output goes through vis().  The result lives until VIS_RING more calls,
 * enough for any one printf.
 */
#define VIS_RING 8
static struct hp_buf vis_ring[VIS_RING];

static const char *vis(const char *s)
{
	static size_t next;
	struct hp_buf *b = &vis_ring[next++ % VIS_RING];

	if (!s)
		return "?";
	b->len = 0;
	b->oom = false;
	hp_buf_add(b, "", 0);
	hp_escape_buf(b, s, strlen(s), 0);
	return b->oom || !b->s ? "(out of memory)" : b->s;
}

static void vis_free(void)
{
	for (size_t i = 0; i < VIS_RING; i++)
		hp_buf_free(&vis_ring[i]);
}

static void human_report(const struct cli *c, const struct hp_report *rep)
{
	for (size_t i = 0; i < rep->npatches; i++) {
		const struct hp_patch_report *p = &rep->patches[i];
		static const struct {
			const char *action, *words;
		} words[] = {
			{"applied", "applied"},
			{"already-applied", "already applied:"},
			{"rolled-back", "rolled back"},
			{"would-apply", "would apply"},
			{"would-roll-back", "would roll back"},
			{"incomplete", "INCOMPLETE (an apply did not finish):"},
		};
		const char *what = p->action;

		for (size_t w = 0; w < HP_ARRAY_SIZE(words); w++)
			if (!strcmp(words[w].action, p->action))
				what = words[w].words;
		printf("pid %d (%s): %s %s", rep->pid, vis(rep->comm), what, vis(p->path));
		if (!strcmp(c->verb, "status")) {
			char when[64];

			iso_time(p->applied_ns, when, sizeof(when));
			printf(" (id %u, %s, sha256 %.16s...)", p->id,
			       p->state == HP_REG_APPLIED ? when : "did not finish", p->sha256);
		} else if (!strcmp(p->action, "already-applied")) {
			printf(" (id %u): nothing to do", p->id);
		} else {
			printf(" (id %u, %zu function%s)", p->id, p->nfuncs,
			       p->nfuncs == 1 ? "" : "s");
		}
		putchar('\n');
		for (size_t k = 0; k < p->nfuncs; k++) {
			const struct hp_func_report *f = &p->funcs[k];

			printf("  %-24s %s @0x%llx", vis(f->symbol),
			       vis(hp_basename(f->object ? f->object : "?")),
			       (unsigned long long)f->entry);
			if (strcmp(p->action, "rolled-back") &&
			    strcmp(p->action, "would-roll-back")) {
				printf(" -> %s", vis(f->replacement));
				if (f->dest)
					printf(" @0x%llx", (unsigned long long)f->dest);
				if (f->slot)
					printf(" via trampoline 0x%llx",
					       (unsigned long long)f->slot);
			} else {
				printf(" restored");
			}
			if (f->stacked)
				printf(" [%s]", !strcmp(c->verb, "status")
							? "overridden by a later patch"
							: "stacked");
			if (!f->bytes_ok)
				printf(" [BYTES CHANGED: found %s]", vis(f->found));
			putchar('\n');
		}
		if (!strcmp(p->action, "rolled-back"))
			printf("  %s\n",
			       p->unloaded ? "patch object unloaded" : "patch object left loaded");
	}
	if (!strcmp(c->verb, "status") && rep->npatches == 0)
		printf("pid %d (%s): no patches applied\n", rep->pid, vis(rep->comm));
	if (rep->flip.attempts)
		printf("  pause %.0f us (%zu threads stopped%s%s), total %.1f ms\n",
		       us(rep->flip.pause_ns), rep->flip.threads,
		       rep->flip.stepped ? ", some single-stepped out of a window" : "",
		       rep->flip.rewound ? ", interrupted waits restarted" : "",
		       (double)rep->total_ns / 1e6);
}

static void json_report(struct hp_json *j, const struct cli *c, const struct hp_report *rep, int r)
{
	hp_json_obj(j, NULL);
	hp_json_int(j, "pid", rep->pid);
	hp_json_str(j, "comm", rep->comm);
	hp_json_str(j, "exe", rep->exe[0] ? rep->exe : NULL);
	if (r == -HP_ENOTAPPLIED) {
		hp_json_str(j, "result", "not-applied");
		hp_json_str(j, "reason", hp_err.msg);
	} else if (r < 0) {
		hp_json_str(j, "result", "error");
		hp_json_obj(j, "error");
		hp_json_str(j, "class", exit_class(r));
		hp_json_int(j, "exit_code", hp_exit_code(r));
		hp_json_str(j, "message", hp_err.msg[0] ? hp_err.msg : hp_strerror(r));
		hp_json_obj_end(j);
	} else {
		const char *res = rep->npatches ? rep->patches[0].action : "ok";

		if (!strcmp(c->verb, "status"))
			res = "ok";
		hp_json_str(j, "result", res);
	}
	hp_json_arr(j, "patches");
	for (size_t i = 0; i < rep->npatches; i++) {
		const struct hp_patch_report *p = &rep->patches[i];
		char when[64];

		hp_json_obj(j, NULL);
		hp_json_int(j, "id", p->id);
		hp_json_str(j, "action", p->action);
		hp_json_str(j, "path", p->path);
		hp_json_str(j, "sha256", p->sha256);
		hp_json_str(j, "build_id", p->build_id[0] ? p->build_id : NULL);
		hp_json_str(j, "state", p->state == HP_REG_APPLIED ? "applied" : "incomplete");
		if (p->applied_ns) {
			iso_time(p->applied_ns, when, sizeof(when));
			hp_json_str(j, "applied_at", when);
			hp_json_int(j, "applied_at_ns", (int64_t)p->applied_ns);
		} else {
			hp_json_null(j, "applied_at");
		}
		hp_json_int(j, "order", (int64_t)i + 1);
		hp_json_hex(j, "handle", p->handle);
		hp_json_hex(j, "base", p->base);
		if (!strcmp(p->action, "rolled-back"))
			hp_json_bool(j, "unloaded", p->unloaded);
		hp_json_arr(j, "functions");
		for (size_t k = 0; k < p->nfuncs; k++) {
			const struct hp_func_report *f = &p->funcs[k];

			hp_json_obj(j, NULL);
			hp_json_str(j, "symbol", f->symbol);
			hp_json_str(j, "object", f->object);
			hp_json_hex(j, "address", f->entry);
			hp_json_str(j, "replacement", f->replacement);
			hp_json_hex(j, "replacement_address", f->dest);
			if (f->slot)
				hp_json_hex(j, "trampoline", f->slot);
			else
				hp_json_null(j, "trampoline");
			hp_json_str(j, "layout", f->layout);
			hp_json_bool(j, "stacked", f->stacked);
			hp_json_str(j, "result", f->result ? f->result : p->action);
			if (f->reason)
				hp_json_str(j, "reason", f->reason);
			hp_json_bool(j, "bytes_ok", f->bytes_ok);
			if (!f->bytes_ok)
				hp_json_str(j, "bytes_found", f->found);
			hp_json_obj_end(j);
		}
		hp_json_arr_end(j);
		hp_json_obj_end(j);
	}
	hp_json_arr_end(j);
	hp_json_obj(j, "timings_us");
	hp_json_int(j, "total", (int64_t)us(rep->total_ns));
	hp_json_int(j, "resolve", (int64_t)us(rep->resolve_ns));
	hp_json_int(j, "load", (int64_t)us(rep->load_ns));
	hp_json_int(j, "seize", (int64_t)us(rep->flip.seize_ns));
	hp_json_int(j, "stop", (int64_t)us(rep->flip.stop_ns));
	hp_json_int(j, "pause", (int64_t)us(rep->flip.pause_ns));
	hp_json_int(j, "record", (int64_t)us(rep->record_ns));
	hp_json_int(j, "unload", (int64_t)us(rep->unload_ns));
	hp_json_obj_end(j);
	hp_json_int(j, "threads_stopped", (int64_t)rep->flip.threads);
	hp_json_int(j, "threads_single_stepped", rep->flip.stepped);
	if (c->o.dry_run)
		hp_json_int(j, "threads_in_window", rep->in_window);
	hp_json_int(j, "waits_restarted", rep->flip.rewound);
	if (!strcmp(c->verb, "rollback")) {
		hp_json_int(j, "threads_inside_patch", rep->inside);
		hp_json_int(j, "drain_rounds", rep->drain_rounds);
	}
	hp_json_int(j, "stop_attempts", rep->flip.attempts);
	hp_json_str(j, "flip_path",
		    c->o.freezer && !rep->flip.freezer_fallback ? "freezer" : "ptrace");
	hp_json_int(j, "remote_calls", rep->remote_calls);
	hp_json_obj_end(j);
}

static void json_skipped(struct hp_json *j, pid_t pid, const char *why)
{
	hp_json_obj(j, NULL);
	hp_json_int(j, "pid", pid);
	hp_json_str(j, "result", "skipped");
	hp_json_str(j, "reason", why);
	hp_json_arr(j, "patches");
	hp_json_arr_end(j);
	hp_json_obj_end(j);
}

static void json_notes(struct hp_json *j)
{
	hp_json_arr(j, "notes");
	for (size_t i = 0; i < hp_notes_count(); i++)
		hp_json_str(j, NULL, hp_note_at(i));
	hp_json_arr_end(j);
}

static void human_notes(void)
{
	for (size_t i = 0; i < hp_notes_count(); i++)
		fprintf(stderr, "hotpatch: note: %s\n", vis(hp_note_at(i)));
}

static int combine(int first_err, size_t nok, size_t nfail, bool nothing)
{
	if (nfail && nok)
		return HP_EXIT_PARTIAL;
	if (nfail)
		return hp_exit_code(first_err);
	return nothing ? HP_EXIT_NOTHING : HP_EXIT_OK;
}

/* Runs one verb on every selected process, reports each, and sums up the
 * exit code.  A failing process does not stop the others, unless
 * --stop-on-error. */
static int for_each_pid(struct cli *c, int (*fn)(struct cli *c, pid_t pid, struct hp_report *rep),
			const char *audit_verb, const char *audit_path, const char *audit_sha)
{
	struct hp_json j;
	size_t nok = 0, nfail = 0, nnothing = 0;
	bool progress = !c->json && c->npids > 1 && isatty(STDERR_FILENO), stopped = false;
	int first_err = 0;

	if (c->json) {
		hp_json_begin(&j, stdout);
		hp_json_int(&j, "schema", 1);
		hp_json_str(&j, "command", c->verb);
		hp_json_str(&j, "version", HP_VERSION);
		hp_json_bool(&j, "dry_run", c->o.dry_run);
		hp_json_arr(&j, "processes");
	}
	for (size_t i = 0; i < c->npids; i++) {
		struct hp_report rep;
		int r;

		if (stopped) {
			if (c->json)
				json_skipped(&j, c->pids[i],
					     "--stop-on-error: an earlier process failed");
			else
				fprintf(stderr, "hotpatch: pid %d: skipped (--stop-on-error)\n",
					c->pids[i]);
			continue;
		}
		if (progress)
			fprintf(stderr, "\r\033[K[%zu/%zu] pid %d ...", i + 1, c->npids,
				c->pids[i]);
		hp_error_clear();
		r = fn(c, c->pids[i], &rep);
		if (progress)
			fprintf(stderr, "\r\033[K");
		if (audit_verb && !c->o.dry_run && r != -HP_ENOTAPPLIED)
			hp_audit(audit_verb, &rep, audit_path, audit_sha, r);
		if (r == -HP_ENOTAPPLIED) {
			nnothing++;
		} else if (r < 0) {
			nfail++;
			if (!first_err)
				first_err = r;
			stopped = c->stop_on_error;
		} else {
			nok++;
		}
		if (c->json) {
			json_report(&j, c, &rep, r);
		} else {
			if (r < 0)
				fprintf(stderr, "hotpatch: pid %d%s%s%s: %s\n", c->pids[i],
					rep.comm[0] ? " (" : "", vis(rep.comm),
					rep.comm[0] ? ")" : "",
					vis(hp_err.msg[0] ? hp_err.msg : hp_strerror(r)));
			if (r >= 0)
				human_report(c, &rep);
		}
		hp_report_free(&rep);
	}
	int code = combine(first_err, nok + (nnothing && nok ? nnothing : 0), nfail,
			   nnothing && !nok && !nfail);
	if (c->json) {
		hp_json_arr_end(&j);
		json_notes(&j);
		hp_json_bool(&j, "ok", code == HP_EXIT_OK);
		hp_json_int(&j, "exit_code", code);
		hp_json_str(&j, "exit_class",
			    code == HP_EXIT_PARTIAL   ? "partial"
			    : code == HP_EXIT_NOTHING ? "nothing-to-do"
						      : exit_class(code == 0 ? 0 : first_err));
		hp_json_end(&j);
	} else {
		human_notes();
	}
	return code;
}

/* ---------------------------------------------------------------- verbs */

static struct hp_patchfile apply_pf;

static int apply_one(struct cli *c, pid_t pid, struct hp_report *rep)
{
	return hp_apply(pid, &apply_pf, &c->o, rep);
}

/* One open of the patch, checked on its fd; the bytes read from that fd
 * are the bytes hashed, checked and copied into the target.  On failure
 * apply_pf is left empty. */
static int load_apply_pf(struct cli *c)
{
	_cleanup_free_ char *real = NULL;
	_cleanup_close_ int fd = hp_trust_open(c->patch, c->insecure, &real);
	int r;

	if (fd < 0)
		return fd;
	r = hp_patchfile_load_fd(fd, c->patch, real, &apply_pf);
	if (r == 0)
		r = hp_trust_pin(c->patch, &apply_pf, c->sha256);
	if (r < 0)
		hp_patchfile_free(&apply_pf);
	return r;
}

static int cmd_apply(struct cli *c)
{
	int r, code;

	if (!c->patch) {
		fprintf(stderr, "hotpatch: apply needs a patch file (see hotpatch --help)\n");
		return HP_EXIT_USAGE;
	}
	r = load_apply_pf(c);
	if (r < 0) {
		if (c->json) {
			struct hp_json j;

			hp_json_begin(&j, stdout);
			hp_json_int(&j, "schema", 1);
			hp_json_str(&j, "command", c->verb);
			hp_json_str(&j, "version", HP_VERSION);
			hp_json_arr(&j, "processes");
			hp_json_arr_end(&j);
			hp_json_obj(&j, "error");
			hp_json_str(&j, "class", exit_class(r));
			hp_json_str(&j, "message", hp_err.msg);
			hp_json_obj_end(&j);
			hp_json_bool(&j, "ok", false);
			hp_json_int(&j, "exit_code", hp_exit_code(r));
			hp_json_str(&j, "exit_class", exit_class(r));
			hp_json_end(&j);
		} else {
			fprintf(stderr, "hotpatch: %s\n", vis(hp_err.msg));
		}
		return hp_exit_code(r);
	}
	code = for_each_pid(c, apply_one, "apply", apply_pf.path, apply_pf.sha256_hex);
	hp_patchfile_free(&apply_pf);
	return code;
}

static struct hp_patchfile rollback_pf;
static bool rollback_have_pf;
static char rollback_path[PATH_MAX];

static int rollback_one(struct cli *c, pid_t pid, struct hp_report *rep)
{
	return hp_rollback(pid, rollback_have_pf ? &rollback_pf : NULL, rollback_path, c->all,
			   &c->o, rep);
}

static int cmd_rollback(struct cli *c)
{
	int code;

	if ((!c->patch && !c->all) || (c->patch && c->all)) {
		fprintf(stderr, "hotpatch: rollback needs either a patch file or --all\n");
		return HP_EXIT_USAGE;
	}
	if (c->patch) {
		/* Only the hash matters here: a file that no longer checks out as
		 * a patch still names the patch that was applied. */
		hp_patchfile_load(c->patch, &rollback_pf);
		rollback_have_pf = rollback_pf.data != NULL;
		/* the name of the file read, when it was opened and read */
		if (rollback_pf.path && rollback_pf.path[0] == '/')
			snprintf(rollback_path, sizeof(rollback_path), "%s", rollback_pf.path);
		else if (!realpath(c->patch, rollback_path))
			snprintf(rollback_path, sizeof(rollback_path), "%s", c->patch);
		hp_error_clear();
	}
	code = for_each_pid(c, rollback_one, "rollback", c->all ? "--all" : rollback_path,
			    rollback_have_pf ? rollback_pf.sha256_hex : NULL);
	hp_patchfile_free(&rollback_pf);
	return code;
}

static int status_one(struct cli *c, pid_t pid, struct hp_report *rep)
{
	return hp_status(pid, &c->o, rep);
}

static int cmd_status(struct cli *c)
{
	if (c->patch) {
		fprintf(stderr, "hotpatch: status takes no patch file\n");
		return HP_EXIT_USAGE;
	}
	return for_each_pid(c, status_one, NULL, NULL, NULL);
}

static int cmd_list(struct cli *c)
{
	struct hp_json j;
	int code = HP_EXIT_OK;

	if (c->patch) {
		fprintf(stderr, "hotpatch: list takes no patch file\n");
		return HP_EXIT_USAGE;
	}
	if (c->json) {
		hp_json_begin(&j, stdout);
		hp_json_int(&j, "schema", 1);
		hp_json_str(&j, "command", "list");
		hp_json_str(&j, "version", HP_VERSION);
		hp_json_arr(&j, "processes");
	}
	for (size_t i = 0; i < c->npids; i++) {
		struct hp_listing l;
		int r = hp_list(c->pids[i], &c->o, &l);

		if (r < 0) {
			code = hp_exit_code(r);
			if (!c->json)
				fprintf(stderr, "hotpatch: pid %d: %s\n", c->pids[i],
					vis(hp_err.msg));
		}
		if (c->json) {
			hp_json_obj(&j, NULL);
			hp_json_int(&j, "pid", c->pids[i]);
			hp_json_str(&j, "comm", l.comm);
			if (r < 0) {
				hp_json_obj(&j, "error");
				hp_json_str(&j, "class", exit_class(r));
				hp_json_str(&j, "message", hp_err.msg);
				hp_json_obj_end(&j);
			}
			hp_json_arr(&j, "objects");
			for (size_t o = 0; o < l.nobjs; o++) {
				hp_json_obj(&j, NULL);
				hp_json_str(&j, "path", l.objs[o].path);
				hp_json_arr(&j, "functions");
				for (size_t k = 0; k < l.objs[o].nfuncs; k++) {
					hp_json_obj(&j, NULL);
					hp_json_str(&j, "name", l.objs[o].funcs[k].name);
					hp_json_hex(&j, "address", l.objs[o].funcs[k].addr);
					hp_json_str(&j, "layout", l.objs[o].funcs[k].layout);
					hp_json_obj_end(&j);
				}
				hp_json_arr_end(&j);
				hp_json_obj_end(&j);
			}
			hp_json_arr_end(&j);
			hp_json_obj_end(&j);
		} else if (r == 0) {
			size_t total = 0;

			for (size_t o = 0; o < l.nobjs; o++) {
				printf("%s:\n", vis(l.objs[o].path));
				for (size_t k = 0; k < l.objs[o].nfuncs; k++)
					printf("  %-32s 0x%llx  %s\n", vis(l.objs[o].funcs[k].name),
					       (unsigned long long)l.objs[o].funcs[k].addr,
					       l.objs[o].funcs[k].layout);
				total += l.objs[o].nfuncs;
			}
			if (!total)
				printf("pid %d (%s): no patchable functions (build with "
				       "-fpatchable-function-entry=7,5)\n",
				       c->pids[i], vis(l.comm));
		}
		hp_listing_free(&l);
	}
	if (c->json) {
		hp_json_arr_end(&j);
		hp_json_bool(&j, "ok", code == 0);
		hp_json_int(&j, "exit_code", code);
		hp_json_end(&j);
	}
	return code;
}

static const struct verb verbs[] = {
	{"apply", cmd_apply,
	 "hotpatch [apply] TARGETS PATCH.so [--dry-run] [--json] [--timeout S] [--sha256 HEX]\n"
	 "                [--stop-on-error] [--insecure]\n"
	 "  Load PATCH.so into each process and redirect the functions it replaces."},
	{"rollback", cmd_rollback,
	 "hotpatch rollback TARGETS (PATCH.so | --all) [--keep-loaded] [--force] [--dry-run]\n"
	 "                  [--json] [--timeout S] [--stop-on-error]\n"
	 "  Take a patch (or every patch, newest first) back out and unload it."},
	{"status", cmd_status,
	 "hotpatch status TARGETS [--json]\n"
	 "  Show the patches applied in each process, read from the process itself."},
	{"list", cmd_list,
	 "hotpatch list TARGETS [--json]\n"
	 "  Show the functions of each process that can be patched, by object."},
};

static void usage(FILE *f, const struct verb *only)
{
	if (only) {
		fprintf(f, "Usage: %s\n", only->usage);
	} else {
		fprintf(f,
			"hotpatch %s - live-patch functions of running x86-64 Linux processes\n\nUsage:\n",
			HP_VERSION);
		for (size_t i = 0; i < HP_ARRAY_SIZE(verbs); i++)
			fprintf(f, "  %s\n\n", verbs[i].usage);
	}
	fprintf(f,
		"Targets (combine freely):\n"
		"  --pid PID        a process (repeatable)\n"
		"  --exe PATH       every process running the executable PATH\n"
		"  --lib NAME       every process that maps the library NAME; records that\n"
		"                   name no object then patch that library\n"
		"Options:\n"
		"  --json           one JSON document on stdout (schema 1)\n"
		"  --dry-run        check everything, change nothing\n"
		"  --timeout S      bound the whole command (default %.0f s)\n"
		"  --all            rollback: every patch, newest first\n"
		"  --keep-loaded    rollback: redirect back but leave the patch loaded\n"
		"  --force          rollback: restore recorded bytes despite a mismatch\n"
		"  --stop-on-error  stop at the first process that fails (default: go on)\n"
		"  --sha256 HEX     apply only if the patch file has this SHA-256\n"
		"  --insecure       as root, accept a patch others could have written\n"
		"  --freezer        flip through the cgroup-v1 freezer, not ptrace (root)\n"
		"  -h, --help       this help;  -V, --version  the version\n"
		"Exit codes: 0 ok, 1 internal, 2 usage, 3 no such process, 4 permission denied,\n"
		"  5 invalid patch, 6 not patchable, 7 busy or timed out, 8 nothing to do,\n"
		"  9 partial success over several processes.  See hotpatch(8).\n",
		DEFAULT_TIMEOUT_S);
}

static int parse_pid(const char *s, pid_t *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*ret = (pid_t)v;
	return 0;
}

/* Parses the words and options; returns -1 to go on, or an exit code. */
static int parse(int argc, char **argv, struct cli *c, const struct verb **ret_verb)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
		{"dry-run", no_argument, NULL, 'n'},   {"timeout", required_argument, NULL, 't'},
		{"all", no_argument, NULL, 'a'},       {"keep-loaded", no_argument, NULL, 'k'},
		{"force", no_argument, NULL, 'f'},     {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},   {"exe", required_argument, NULL, 'e'},
		{"lib", required_argument, NULL, 'l'}, {"stop-on-error", no_argument, NULL, 's'},
		{"insecure", no_argument, NULL, 'i'},  {"sha256", required_argument, NULL, 'S'},
		{"freezer", no_argument, NULL, 'F'},   {0, 0, 0, 0},
	};
	const struct verb *v = &verbs[0];
	const char *pos[3];
	size_t npos = 0, first = 0;
	bool help = false, explicit_verb = false;
	double timeout = DEFAULT_TIMEOUT_S;
	int opt;

	if (argc <= 1) {
		usage(stderr, NULL);
		return HP_EXIT_USAGE;
	}
	/* The verb is the first word that is not an option, wherever it is:
	 * "hotpatch --json status --pid 1" works as "hotpatch status ...". */
	while ((opt = getopt_long(argc, argv, "-hVp:", opts, NULL)) != -1) {
		char *end;
		pid_t pid, *np;

		switch (opt) {
		case 1: /* a word, in order */
			if (npos == HP_ARRAY_SIZE(pos)) {
				fprintf(stderr, "hotpatch: unexpected argument '%s'\n",
					vis(optarg));
				return HP_EXIT_USAGE;
			}
			pos[npos++] = optarg;
			break;
		case 'p':
			if (parse_pid(optarg, &pid) < 0) {
				fprintf(stderr, "hotpatch: --pid needs a process id, not '%s'\n",
					vis(optarg));
				return HP_EXIT_USAGE;
			}
			np = realloc(c->pids, (c->npids + 1) * sizeof(*np));
			if (!np)
				return HP_EXIT_INTERNAL;
			c->pids = np;
			c->pids[c->npids++] = pid;
			break;
		case 'j':
			c->json = true;
			break;
		case 'n':
			c->o.dry_run = true;
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || !(timeout > 0) || timeout > 86400) {
				fprintf(stderr,
					"hotpatch: --timeout needs seconds (0 < S <= 86400), not '%s'\n",
					vis(optarg));
				return HP_EXIT_USAGE;
			}
			break;
		case 'a':
			c->all = true;
			break;
		case 'k':
			c->o.keep_loaded = true;
			break;
		case 'f':
			c->o.force = true;
			break;
		case 'h':
			help = true;
			break;
		case 'e':
			c->exe = optarg;
			break;
		case 'l':
			c->lib = optarg;
			/* a relative path is the operator's, from here: the
			 * records and the selection then name the same file */
			if (strchr(optarg, '/') && optarg[0] != '/' &&
			    getcwd(c->lib_abs, PATH_MAX) &&
			    strlen(c->lib_abs) + 1 + strlen(optarg) < sizeof(c->lib_abs)) {
				strcat(c->lib_abs, "/");
				strcat(c->lib_abs, optarg);
				c->lib = c->lib_abs;
			}
			break;
		case 's':
			c->stop_on_error = true;
			break;
		case 'i':
			c->insecure = true;
			break;
		case 'F': {
			char why[256];

			if (!hp_freezer_usable(why, sizeof(why))) {
				fprintf(stderr, "hotpatch: --freezer: %s\n", vis(why));
				return HP_EXIT_USAGE;
			}
			c->o.freezer = true;
			break;
		}
		case 'S':
			if (strlen(optarg) != 64 ||
			    strspn(optarg, "0123456789abcdefABCDEF") != 64) {
				fprintf(stderr, "hotpatch: --sha256 needs 64 hex digits\n");
				return HP_EXIT_USAGE;
			}
			c->sha256 = optarg;
			break;
		case 'V':
			printf("hotpatch %s\n", HP_VERSION);
			return HP_EXIT_OK;
		default:
			usage(stderr, NULL);
			return HP_EXIT_USAGE;
		}
	}
	if (npos > 0) {
		if (!strcmp(pos[0], "help")) {
			usage(stdout, NULL);
			return HP_EXIT_OK;
		}
		for (size_t i = 0; i < HP_ARRAY_SIZE(verbs); i++)
			if (!strcmp(pos[0], verbs[i].name)) {
				v = &verbs[i];
				explicit_verb = true;
			}
		first = explicit_verb;
	}
	if (help) {
		usage(stdout, explicit_verb ? v : NULL);
		return HP_EXIT_OK;
	}
	if (npos > first + 1) {
		fprintf(stderr, "hotpatch: unexpected argument '%s'\n", vis(pos[first + 1]));
		return HP_EXIT_USAGE;
	}
	c->verb = v->name;
	c->patch = npos > first ? pos[first] : NULL;
	if (!strcmp(c->verb, "apply") && c->all) {
		fprintf(stderr, "hotpatch: --all is for rollback\n");
		return HP_EXIT_USAGE;
	}
	c->o.timeout_ns = (uint64_t)(timeout * 1e9);
	/* one deadline for the command, however many processes it covers */
	c->o.deadline = hp_now_ns() + c->o.timeout_ns;
	c->o.default_object = c->lib;
	if (!c->npids && !c->exe && !c->lib) {
		fprintf(stderr,
			"hotpatch: %s needs a target: --pid PID, --exe PATH or --lib NAME\n",
			c->verb);
		return HP_EXIT_USAGE;
	}
	*ret_verb = v;
	return -1;
}

/* Adds the processes --exe and --lib select to the --pid ones. */
static int select_targets(struct cli *c)
{
	const char *what[2] = {c->exe, c->lib};

	for (int k = 0; k < 2; k++) {
		pid_t *found = NULL;
		size_t n = 0;
		int r;

		if (!what[k])
			continue;
		r = k == 0 ? hp_procs_by_exe(what[k], c->o.deadline, &found, &n)
			   : hp_procs_by_lib(what[k], c->o.deadline, &found, &n);
		if (r < 0) {
			fprintf(stderr, "hotpatch: %s\n", vis(hp_err.msg));
			return hp_exit_code(r);
		}
		if (!n) {
			fprintf(stderr, "hotpatch: no process %s %s\n", k == 0 ? "runs" : "maps",
				vis(what[k]));
			free(found);
			return HP_EXIT_NOPROCESS;
		}
		for (size_t i = 0; i < n; i++) {
			bool dup = false;

			for (size_t q = 0; q < c->npids; q++)
				dup |= c->pids[q] == found[i];
			if (dup)
				continue;
			pid_t *np = realloc(c->pids, (c->npids + 1) * sizeof(*np));
			if (!np) {
				free(found);
				return HP_EXIT_INTERNAL;
			}
			c->pids = np;
			c->pids[c->npids++] = found[i];
		}
		free(found);
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct cli c = {.verb = "apply"};
	const struct verb *v = NULL;
	int code;

	setvbuf(stdout, NULL, _IOLBF, 0);
	code = parse(argc, argv, &c, &v);
	if (code < 0)
		code = select_targets(&c);
	if (code < 0)
		code = v->run(&c);
	free(c.pids);
	hp_notes_clear();
	vis_free();
	return code;
}
