/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command line: verbs, options, human and JSON output, exit codes. */
#include <assert.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "audit.h"
#include "buildcli.h"
#include "cs.h"
#include "escape.h"
#include "classify.h"
#include "freezer.h"
#include "jobs.h"
#include "json.h"
#include "objcache.h"
#include "options.h"
#include "patchfile.h"
#include "procid.h"
#include "procsel.h"
#include "report.h"
#include "rollback.h"
#include "list.h"
#include "status.h"
#include "trust.h"
#include "util.h"

#ifndef HP_VERSION
#define HP_VERSION "unknown"
#endif

#define DEFAULT_TIMEOUT_S 10.0
/* --exe and --lib look for processes forked meanwhile at most this often */
#define RESCAN_ROUNDS 8

enum verb_id { VERB_APPLY, VERB_ROLLBACK, VERB_STATUS, VERB_LIST };

/* The options only some verbs take, one bit each; the targets, --help and
 * --version go with every verb. */
enum opt_bit {
	OPT_JSON = 1u << 0,
	OPT_DRY_RUN = 1u << 1,
	OPT_TIMEOUT = 1u << 2,
	OPT_ALL = 1u << 3,
	OPT_KEEP_LOADED = 1u << 4,
	OPT_FORCE = 1u << 5,
	OPT_STOP_ON_ERROR = 1u << 6,
	OPT_SHA256 = 1u << 7,
	OPT_INSECURE = 1u << 8,
	OPT_FREEZER = 1u << 9,
	OPT_RELOCATE = 1u << 10,
	OPT_OBJECT = 1u << 11,
	OPT_JOBS = 1u << 12,
};

struct verb;

/* One command: what the command line asked for. */
struct cli {
	const struct verb *v;
	pid_t *pids;
	struct hp_proc_id *ids; /* each pid's process when it was selected */
	size_t npids;
	unsigned jobs;	 /* --jobs: processes worked on at once */
	const char *exe; /* --exe: every process running it */
	const char *lib; /* --lib: every process mapping it */
	char lib_abs[PATH_MAX + 1];
	unsigned given; /* the opt_bit options on the command line */
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
	enum verb_id id;
	int (*run)(struct cli *c);
	unsigned opts; /* the opt_bit options it takes */
	const char *usage;
};

/* What for_each_pid counts over the processes of one command. */
struct tally {
	size_t nok, nfail, nnothing, ngone;
	int first_err;
	bool stopped; /* --stop-on-error: the rest are skipped */
};

/* The one table of exit classes (util.h), by code. */
static const struct {
	int code;
	const char *name, *meaning;
} exits[] = {
#define HP_X_EXIT(id, code, name, meaning) {id, name, meaning},
	HP_EXITS(HP_X_EXIT)
#undef HP_X_EXIT
};
static_assert(HP_ARRAY_SIZE(exits) == HP_EXIT_PARTIAL + 1, "one entry per exit code");

static const char *exit_name(int exit_code)
{
	for (size_t i = 0; i < HP_ARRAY_SIZE(exits); i++)
		if (exits[i].code == exit_code)
			return exits[i].name;
	return "internal";
}

/* The class of a failure `code` (a negative errno or HP_E*). */
static const char *exit_class(int code)
{
	return exit_name(hp_exit_code(code));
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

/* The actions a report names that the output treats apart. */
enum action {
	ACT_OTHER,
	ACT_APPLIED,
	ACT_ALREADY_APPLIED,
	ACT_ROLLED_BACK,
	ACT_WOULD_APPLY,
	ACT_WOULD_ROLL_BACK,
	ACT_INCOMPLETE,
};

static const struct {
	enum action id;
	const char *name, *words;
} actions[] = {
	{ACT_APPLIED, "applied", "applied"},
	{ACT_ALREADY_APPLIED, "already-applied", "already applied:"},
	{ACT_ROLLED_BACK, "rolled-back", "rolled back"},
	{ACT_WOULD_APPLY, "would-apply", "would apply"},
	{ACT_WOULD_ROLL_BACK, "would-roll-back", "would roll back"},
	{ACT_INCOMPLETE, "incomplete", "INCOMPLETE (an apply did not finish):"},
};

/* The action a patch report names; its words for people in *ret_words
 * (the name itself for one the table does not know). */
static enum action action_of(const struct hp_patch_report *p, const char **ret_words)
{
	for (size_t i = 0; i < HP_ARRAY_SIZE(actions); i++)
		if (!strcmp(actions[i].name, p->action)) {
			if (ret_words)
				*ret_words = actions[i].words;
			return actions[i].id;
		}
	if (ret_words)
		*ret_words = p->action;
	return ACT_OTHER;
}

static void human_patch_line(const struct cli *c, const struct hp_report *rep,
			     const struct hp_patch_report *p)
{
	const char *what;
	enum action act = action_of(p, &what);

	printf("pid %d (%s): %s %s", rep->pid, vis(rep->comm), what, vis(p->path));
	if (c->v->id == VERB_STATUS) {
		char when[64];

		iso_time(p->applied_ns, when, sizeof(when));
		printf(" (id %u, %s, sha256 %.16s...)", p->id,
		       p->state == HP_REG_APPLIED ? when : "did not finish", p->sha256);
	} else if (act == ACT_ALREADY_APPLIED) {
		printf(" (id %u): nothing to do", p->id);
	} else {
		printf(" (id %u, %zu function%s)", p->id, p->nfuncs, p->nfuncs == 1 ? "" : "s");
	}
	putchar('\n');
}

static void human_func(const struct cli *c, const struct hp_patch_report *p,
		       const struct hp_func_report *f)
{
	enum action act = action_of(p, NULL);

	printf("  %-24s %s @0x%llx", vis(f->symbol), vis(hp_basename(f->object ? f->object : "?")),
	       (unsigned long long)f->entry);
	if (act != ACT_ROLLED_BACK && act != ACT_WOULD_ROLL_BACK) {
		printf(" -> %s", vis(f->replacement));
		if (f->dest)
			printf(" @0x%llx", (unsigned long long)f->dest);
		if (f->slot)
			printf(" via trampoline 0x%llx", (unsigned long long)f->slot);
	} else {
		printf(" restored");
	}
	if (f->displaced)
		printf(" [%s: %u bytes displaced]", f->method, f->displaced);
	if (f->stacked)
		printf(" [%s]",
		       c->v->id == VERB_STATUS ? "overridden by a later patch" : "stacked");
	if (!f->bytes_ok)
		printf(" [BYTES CHANGED: found %s]", vis(f->found));
	putchar('\n');
}

/* "; auto: freezer, 250 of 258 threads ...", escaped for the terminal */
static const char *flip_choice(const struct hp_report *rep)
{
	static char buf[160];

	snprintf(buf, sizeof(buf), "; %s", vis(rep->flip.choice));
	return buf;
}

static void human_report(const struct cli *c, const struct hp_report *rep)
{
	for (size_t i = 0; i < rep->npatches; i++) {
		const struct hp_patch_report *p = &rep->patches[i];

		human_patch_line(c, rep, p);
		for (size_t k = 0; k < p->nfuncs; k++)
			human_func(c, p, &p->funcs[k]);
		if (action_of(p, NULL) == ACT_ROLLED_BACK)
			printf("  %s\n",
			       p->unloaded ? "patch object unloaded" : "patch object left loaded");
	}
	if (c->v->id == VERB_STATUS && rep->npatches == 0)
		printf("pid %d (%s): no patches applied\n", rep->pid, vis(rep->comm));
	if (rep->flip.attempts)
		printf("  pause %.0f us (%zu threads stopped%s%s%s%s), total %.1f ms\n",
		       us(rep->flip.pause_ns), rep->flip.threads,
		       rep->flip.stepped ? ", some single-stepped out of a window" : "",
		       rep->flip.rewound ? ", interrupted waits restarted" : "",
		       !c->o.freezer	      ? ""
		       : rep->flip.by_freezer ? ", by the freezer"
					      : ", by ptrace",
		       c->o.freezer_auto && rep->flip.choice[0] ? flip_choice(rep) : "",
		       (double)rep->total_ns / 1e6);
}

/* The outcome for one process: "result", and why when it failed. */
static void json_result(struct hp_json *j, const struct cli *c, const struct hp_report *rep, int r)
{
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

		if (c->v->id == VERB_STATUS)
			res = "ok";
		hp_json_str(j, "result", res);
	}
}

static void json_func(struct hp_json *j, const struct hp_patch_report *p,
		      const struct hp_func_report *f)
{
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
	hp_json_str(j, "method", f->method ? f->method : "prologue");
	hp_json_int(j, "displaced", f->displaced);
	hp_json_int(j, "instructions", f->ninsn);
	hp_json_bool(j, "stacked", f->stacked);
	hp_json_str(j, "result", f->result ? f->result : p->action);
	if (f->reason)
		hp_json_str(j, "reason", f->reason);
	hp_json_bool(j, "bytes_ok", f->bytes_ok);
	if (!f->bytes_ok)
		hp_json_str(j, "bytes_found", f->found);
	hp_json_obj_end(j);
}

/* The `order`th patch of a process (from 1, oldest first). */
static void json_patch(struct hp_json *j, const struct hp_patch_report *p, size_t order)
{
	hp_json_obj(j, NULL);
	hp_json_int(j, "id", p->id);
	hp_json_str(j, "action", p->action);
	hp_json_str(j, "path", p->path);
	hp_json_str(j, "sha256", p->sha256);
	hp_json_str(j, "build_id", p->build_id[0] ? p->build_id : NULL);
	hp_json_str(j, "state", p->state == HP_REG_APPLIED ? "applied" : "incomplete");
	if (p->applied_ns) {
		char when[64];

		iso_time(p->applied_ns, when, sizeof(when));
		hp_json_str(j, "applied_at", when);
		hp_json_int(j, "applied_at_ns", (int64_t)p->applied_ns);
	} else {
		hp_json_null(j, "applied_at");
	}
	hp_json_int(j, "order", (int64_t)order);
	hp_json_hex(j, "handle", p->handle);
	hp_json_hex(j, "base", p->base);
	if (action_of(p, NULL) == ACT_ROLLED_BACK)
		hp_json_bool(j, "unloaded", p->unloaded);
	hp_json_arr(j, "functions");
	for (size_t k = 0; k < p->nfuncs; k++)
		json_func(j, p, &p->funcs[k]);
	hp_json_arr_end(j);
	hp_json_obj_end(j);
}

static void json_timings(struct hp_json *j, const struct hp_report *rep)
{
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
}

/* How the threads were stopped, and what the flip met. */
static void json_flip(struct hp_json *j, const struct cli *c, const struct hp_report *rep)
{
	hp_json_int(j, "threads_stopped", (int64_t)rep->flip.threads);
	hp_json_int(j, "threads_single_stepped", rep->flip.stepped);
	if (c->o.dry_run)
		hp_json_int(j, "threads_in_window", rep->in_window);
	hp_json_int(j, "waits_restarted", rep->flip.rewound);
	if (c->v->id == VERB_ROLLBACK) {
		hp_json_int(j, "threads_inside_patch", rep->inside);
		hp_json_int(j, "drain_rounds", rep->drain_rounds);
	}
	hp_json_int(j, "stop_attempts", rep->flip.attempts);
	hp_json_str(j, "flip_path", rep->flip.by_freezer ? "freezer" : "ptrace");
	if (c->o.freezer_auto)
		hp_json_str(j, "flip_choice", rep->flip.choice[0] ? rep->flip.choice : NULL);
	hp_json_int(j, "remote_calls", rep->remote_calls);
}

static void json_report(struct hp_json *j, const struct cli *c, const struct hp_report *rep, int r)
{
	hp_json_obj(j, NULL);
	hp_json_int(j, "pid", rep->pid);
	hp_json_str(j, "comm", rep->comm);
	hp_json_str(j, "exe", rep->exe[0] ? rep->exe : NULL);
	json_result(j, c, rep, r);
	hp_json_arr(j, "patches");
	for (size_t i = 0; i < rep->npatches; i++)
		json_patch(j, &rep->patches[i], i + 1);
	hp_json_arr_end(j);
	json_timings(j, rep);
	json_flip(j, c, rep);
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

/* The head every JSON document starts with, up to its "processes". */
static void json_head(struct hp_json *j, const struct cli *c, bool with_dry_run)
{
	hp_json_begin(j, stdout);
	hp_json_int(j, "schema", 1);
	hp_json_str(j, "command", c->v->name);
	hp_json_str(j, "version", HP_VERSION);
	if (with_dry_run)
		hp_json_bool(j, "dry_run", c->o.dry_run);
	hp_json_arr(j, "processes");
}

static int combine(int first_err, size_t nok, size_t nfail, bool nothing)
{
	if (nfail && nok)
		return HP_EXIT_PARTIAL;
	if (nfail)
		return hp_exit_code(first_err);
	return nothing ? HP_EXIT_NOTHING : HP_EXIT_OK;
}

static int tally_code(const struct tally *t)
{
	/* every process exited or exec'd: as a selection that found none */
	if (t->ngone && !t->nok && !t->nfail && !t->nnothing)
		return HP_EXIT_NOPROCESS;
	return combine(t->first_err, t->nok + (t->nnothing && t->nok ? t->nnothing : 0), t->nfail,
		       t->nnothing && !t->nok && !t->nfail);
}

/* What run_pid returns for a process that exited or exec'd meanwhile. */
#define RUN_GONE 1

static void tally_add(struct tally *t, const struct cli *c, int r)
{
	if (r == RUN_GONE) {
		t->ngone++;
	} else if (r == -HP_ENOTAPPLIED) {
		t->nnothing++;
	} else if (r < 0) {
		t->nfail++;
		if (!t->first_err)
			t->first_err = r;
		t->stopped = c->stop_on_error;
	} else {
		t->nok++;
	}
}

static void report_one(struct hp_json *j, const struct cli *c, pid_t pid,
		       const struct hp_report *rep, int r)
{
	if (c->json) {
		json_report(j, c, rep, r);
	} else if (r < 0) {
		fprintf(stderr, "hotpatch: pid %d%s%s%s: %s\n", pid, rep->comm[0] ? " (" : "",
			vis(rep->comm), rep->comm[0] ? ")" : "",
			vis(hp_err.msg[0] ? hp_err.msg : hp_strerror(r)));
	} else {
		human_report(c, rep);
	}
}

static void report_skipped(struct hp_json *j, const struct cli *c, pid_t pid)
{
	if (c->json)
		json_skipped(j, pid, "--stop-on-error: an earlier process failed");
	else
		fprintf(stderr, "hotpatch: pid %d: skipped (--stop-on-error)\n", pid);
}

/* What one verb does to one process; `userdata` is the verb's own state. */
typedef int (*per_pid_fn)(const struct cli *c, pid_t pid, void *userdata, struct hp_report *rep);

/* Where for_each_pid sends each outcome to the audit log (verb NULL: no
 * audit). */
struct audit_as {
	const char *verb, *path, *sha256;
};

/* One for_each_pid: the verb, and where its reports go. */
struct pid_run {
	const struct cli *c;
	per_pid_fn fn;
	void *userdata;
	const struct audit_as *audit;
	struct hp_json *j;
	struct tally *t;
	bool fragment; /* a worker's: each report a JSON value of its own */
};

/* A process that exited or exec'd while the command worked on it: said
 * so, and not counted. */
static void report_gone(const struct pid_run *pr, pid_t pid, enum hp_proc_change what)
{
	const char *name = what == HP_PROC_EXITED ? "exited" : "execed";
	const char *why =
		what == HP_PROC_EXITED
			? "the process exited while hotpatch worked on it"
			: "the process executed another program while hotpatch worked on it";

	if (pr->c->json) {
		struct hp_json local = *pr->j;

		if (pr->fragment)
			local.need_comma[local.depth] = false;
		hp_json_obj(&local, NULL);
		hp_json_int(&local, "pid", pid);
		hp_json_str(&local, "result", name);
		hp_json_str(&local, "reason", why);
		hp_json_arr(&local, "patches");
		hp_json_arr_end(&local);
		hp_json_obj_end(&local);
		pr->j->need_comma[pr->j->depth] = true;
	} else {
		fprintf(stderr, "hotpatch: pid %d: %s (%s; not counted)\n", pid, name, why);
	}
}

/* The verb on process i, reported on stdout and stderr; its outcome. */
static int run_pid(size_t i, void *ctx)
{
	struct pid_run *pr = ctx;
	const struct cli *c = pr->c;
	pid_t pid = c->pids[i];
	struct hp_json local = *pr->j;
	enum hp_proc_change gone = HP_PROC_SAME;
	struct hp_report rep;
	int r;

	hp_error_clear();
	r = pr->fn(c, pid, pr->userdata, &rep);
	if (r < 0 && r != -HP_ENOTAPPLIED)
		gone = hp_proc_id_changed(pid, &c->ids[i]);
	if (gone == HP_PROC_SAME && pr->audit->verb && !c->o.dry_run && r != -HP_ENOTAPPLIED)
		hp_audit(pr->audit->verb, &rep, pr->audit->path, pr->audit->sha256, r);
	if (gone != HP_PROC_SAME) {
		report_gone(pr, pid, gone);
		r = RUN_GONE;
	} else if (pr->fragment) {
		local.need_comma[local.depth] = false;
		report_one(&local, c, pid, &rep, r);
	} else {
		report_one(pr->j, c, pid, &rep, r);
	}
	hp_report_free(&rep);
	return r;
}

/* A worker's report of process i, in the order of the selection. */
static void pid_done(size_t i, const struct hp_job_result *res, void *ctx)
{
	struct pid_run *pr = ctx;

	(void)i;
	if (pr->c->json)
		hp_json_raw(pr->j, res->out, res->outlen);
	else
		fwrite(res->out, 1, res->outlen, stdout);
	fwrite(res->err, 1, res->errlen, stderr);
	tally_add(pr->t, pr->c, res->code);
}

/* Processes [from, npids), one after another: the output as it always was. */
static void run_in_turn(struct pid_run *pr, size_t from)
{
	const struct cli *c = pr->c;
	bool progress = !c->json && c->npids > 1 && isatty(STDERR_FILENO);

	for (size_t i = from; i < c->npids; i++) {
		if (pr->t->stopped) {
			report_skipped(pr->j, c, c->pids[i]);
			continue;
		}
		if (progress)
			fprintf(stderr, "\r\033[K[%zu/%zu] pid %d ...", i + 1, c->npids,
				c->pids[i]);
		int r = run_pid(i, pr);

		if (progress)
			fprintf(stderr, "\r\033[K");
		tally_add(pr->t, c, r);
	}
}

static int rescan_targets(struct cli *c);

/* Runs one verb on every selected process, reports each, and sums up the
 * exit code.  A failing process does not stop the others, unless
 * --stop-on-error.  --exe and --lib look again once every process was
 * done, until no new one appears: a child forked meanwhile is covered. */
static int for_each_pid(struct cli *c, per_pid_fn fn, void *userdata, const struct audit_as *audit)
{
	struct hp_json j = {0};
	struct tally t = {0};
	struct pid_run pr = {c, fn, userdata, audit, &j, &t, false};
	int code;

	if (c->json)
		json_head(&j, c, true);
	for (size_t from = 0, round = 0; from < c->npids; round++) {
		size_t to = c->npids;

		if (c->jobs > 1 && to - from > 1 && !c->stop_on_error) {
			pr.fragment = true;
			hp_jobs_run(from, to, c->jobs, !c->json && isatty(STDERR_FILENO), run_pid,
				    pid_done, &pr);
			pr.fragment = false;
		} else {
			run_in_turn(&pr, from);
		}
		from = to;
		if (t.stopped || round >= RESCAN_ROUNDS || hp_now_ns() >= c->o.deadline)
			break;
		if (rescan_targets(c) < 0)
			break;
	}
	code = tally_code(&t);
	if (c->json) {
		hp_json_arr_end(&j);
		json_notes(&j);
		hp_json_bool(&j, "ok", code == HP_EXIT_OK);
		hp_json_int(&j, "exit_code", code);
		hp_json_str(&j, "exit_class", exit_name(code));
		hp_json_end(&j);
	} else {
		human_notes();
	}
	return code;
}

/* ---------------------------------------------------------------- verbs */

static int apply_one(const struct cli *c, pid_t pid, void *userdata, struct hp_report *rep)
{
	struct hp_patchfile *pf = userdata;

	return hp_apply(pid, pf, &c->o, rep);
}

/* One open of the patch, checked on its fd; the bytes read from that fd
 * are the bytes hashed, checked and copied into the target.  On failure
 * *pf is left empty. */
static int load_apply_pf(const struct cli *c, struct hp_patchfile *pf)
{
	_cleanup_free_ char *real = NULL;
	_cleanup_close_ int fd = hp_trust_open(c->patch, c->insecure, &real);
	int r;

	if (fd < 0)
		return fd;
	r = hp_patchfile_load_fd(fd, c->patch, real, pf);
	if (r == 0)
		r = hp_trust_pin(c->patch, pf, c->sha256);
	if (r < 0)
		hp_patchfile_free(pf);
	return r;
}

/* A command that failed before any process: the document says why. */
static void json_failed(const struct cli *c, int r)
{
	struct hp_json j;

	json_head(&j, c, false);
	hp_json_arr_end(&j);
	hp_json_obj(&j, "error");
	hp_json_str(&j, "class", exit_class(r));
	hp_json_str(&j, "message", hp_err.msg);
	hp_json_obj_end(&j);
	hp_json_bool(&j, "ok", false);
	hp_json_int(&j, "exit_code", hp_exit_code(r));
	hp_json_str(&j, "exit_class", exit_class(r));
	hp_json_end(&j);
}

static int cmd_apply(struct cli *c)
{
	struct hp_patchfile pf = {0};
	struct audit_as audit = {.verb = "apply"};
	int r, code;

	if (!c->patch) {
		fprintf(stderr, "hotpatch: apply needs a patch file (see hotpatch --help)\n");
		return HP_EXIT_USAGE;
	}
	r = load_apply_pf(c, &pf);
	if (r < 0) {
		if (c->json)
			json_failed(c, r);
		else
			fprintf(stderr, "hotpatch: %s\n", vis(hp_err.msg));
		return hp_exit_code(r);
	}
	audit.path = pf.path;
	audit.sha256 = pf.sha256_hex;
	code = for_each_pid(c, apply_one, &pf, &audit);
	hp_patchfile_free(&pf);
	return code;
}

/* What rollback takes out: the patch a file names, or every patch. */
struct rollback_what {
	struct hp_patchfile pf;
	bool have_pf;
	char path[PATH_MAX];
};

static int rollback_one(const struct cli *c, pid_t pid, void *userdata, struct hp_report *rep)
{
	struct rollback_what *w = userdata;

	return hp_rollback(pid, w->have_pf ? &w->pf : NULL, w->path, c->all, &c->o, rep);
}

static void rollback_load(const struct cli *c, struct rollback_what *w)
{
	/* Only the hash matters here: a file that no longer checks out as
	 * a patch still names the patch that was applied. */
	hp_patchfile_load(c->patch, &w->pf);
	w->have_pf = w->pf.data != NULL;
	/* the name of the file read, when it was opened and read */
	if (w->pf.path && w->pf.path[0] == '/')
		snprintf(w->path, sizeof(w->path), "%s", w->pf.path);
	else if (!realpath(c->patch, w->path))
		snprintf(w->path, sizeof(w->path), "%s", c->patch);
	hp_error_clear();
}

static int cmd_rollback(struct cli *c)
{
	struct rollback_what w = {0};
	struct audit_as audit = {.verb = "rollback"};
	int code;

	if ((!c->patch && !c->all) || (c->patch && c->all)) {
		fprintf(stderr, "hotpatch: rollback needs either a patch file or --all\n");
		return HP_EXIT_USAGE;
	}
	if (c->patch)
		rollback_load(c, &w);
	audit.path = c->all ? "--all" : w.path;
	audit.sha256 = w.have_pf ? w.pf.sha256_hex : NULL;
	code = for_each_pid(c, rollback_one, &w, &audit);
	hp_patchfile_free(&w.pf);
	return code;
}

static int status_one(const struct cli *c, pid_t pid, void *userdata, struct hp_report *rep)
{
	(void)userdata;
	return hp_status(pid, &c->o, rep);
}

static int cmd_status(struct cli *c)
{
	const struct audit_as no_audit = {0};

	if (c->patch) {
		fprintf(stderr, "hotpatch: status takes no patch file\n");
		return HP_EXIT_USAGE;
	}
	return for_each_pid(c, status_one, NULL, &no_audit);
}

/* --relocate: how many functions of an object each way, refusals by tag. */
static void json_counts(struct hp_json *j, const struct hp_listed_object *lo)
{
	const char *tags[64];
	size_t ntags = 0, by_method[4] = {0};

	for (size_t k = 0; k < lo->nfuncs; k++) {
		by_method[lo->funcs[k].method & 3]++;
		bool seen = !lo->funcs[k].code;

		for (size_t q = 0; q < ntags && !seen; q++)
			seen = !strcmp(tags[q], lo->funcs[k].code);
		if (!seen && ntags < HP_ARRAY_SIZE(tags))
			tags[ntags++] = lo->funcs[k].code;
	}
	hp_json_obj(j, "counts");
	for (unsigned m = HP_METHOD_PROLOGUE; m <= HP_METHOD_RELOCATE; m++)
		hp_json_int(j, hp_method_name(m), (int64_t)by_method[m]);
	hp_json_obj(j, "refused");
	for (size_t q = 0; q < ntags; q++) {
		size_t n = 0;

		for (size_t k = 0; k < lo->nfuncs; k++)
			n += lo->funcs[k].code && !strcmp(lo->funcs[k].code, tags[q]);
		hp_json_int(j, tags[q], (int64_t)n);
	}
	hp_json_obj_end(j);
	hp_json_obj_end(j);
}

static void json_listed(struct hp_json *j, const struct hp_listed_func *f, bool relocate)
{
	hp_json_obj(j, NULL);
	hp_json_str(j, "name", f->name);
	hp_json_hex(j, "address", f->addr);
	if (f->layout)
		hp_json_str(j, "layout", f->layout);
	else
		hp_json_null(j, "layout");
	if (relocate) {
		hp_json_str(j, "method", hp_method_name(f->method));
		hp_json_bool(j, "global", f->global);
		hp_json_int(j, "displaced", f->displaced);
		hp_json_int(j, "instructions", f->ninsn);
		if (f->code) {
			hp_json_str(j, "refused", f->code);
			hp_json_str(j, "reason", f->reason ? f->reason : "");
		} else {
			hp_json_null(j, "refused");
		}
	}
	hp_json_obj_end(j);
}

static void json_listing(struct hp_json *j, pid_t pid, const struct hp_listing *l, int r)
{
	hp_json_obj(j, NULL);
	hp_json_int(j, "pid", pid);
	hp_json_str(j, "comm", l->comm);
	if (r < 0) {
		hp_json_obj(j, "error");
		hp_json_str(j, "class", exit_class(r));
		hp_json_str(j, "message", hp_err.msg);
		hp_json_obj_end(j);
	}
	hp_json_arr(j, "objects");
	for (size_t o = 0; o < l->nobjs; o++) {
		hp_json_obj(j, NULL);
		hp_json_str(j, "path", l->objs[o].path);
		if (l->relocate)
			json_counts(j, &l->objs[o]);
		hp_json_arr(j, "functions");
		for (size_t k = 0; k < l->objs[o].nfuncs; k++)
			json_listed(j, &l->objs[o].funcs[k], l->relocate);
		hp_json_arr_end(j);
		hp_json_obj_end(j);
	}
	hp_json_arr_end(j);
	hp_json_obj_end(j);
}

/* "prologue (gcc)", "relocate: 6 bytes / 2 instructions", "refused (call): ..." */
static void human_how(const struct hp_listed_func *f, bool relocate, char *out, size_t outsz)
{
	if (!relocate || f->method == HP_METHOD_PROLOGUE)
		snprintf(out, outsz, "%s%s%s%s", relocate ? "prologue" : "", relocate ? " (" : "",
			 f->layout ? f->layout : "?", relocate ? ")" : "");
	else if (f->method == HP_METHOD_REFUSED)
		snprintf(out, outsz, "refused (%s): %s", f->code ? f->code : "?",
			 f->reason ? f->reason : "");
	else
		snprintf(out, outsz, "%s: %u byte%s / %u instruction%s", hp_method_name(f->method),
			 f->displaced, f->displaced == 1 ? "" : "s", f->ninsn,
			 f->ninsn == 1 ? "" : "s");
}

static void human_listing(pid_t pid, const struct hp_listing *l)
{
	size_t total = 0;
	char how[1024];

	for (size_t o = 0; o < l->nobjs; o++) {
		printf("%s:\n", vis(l->objs[o].path));
		for (size_t k = 0; k < l->objs[o].nfuncs; k++) {
			human_how(&l->objs[o].funcs[k], l->relocate, how, sizeof(how));
			printf("  %-32s 0x%llx  %s\n", vis(l->objs[o].funcs[k].name),
			       (unsigned long long)l->objs[o].funcs[k].addr, vis(how));
		}
		total += l->objs[o].nfuncs;
	}
	if (!total)
		printf("pid %d (%s): no patchable functions (build with "
		       "-fpatchable-function-entry=7,5, or see list --relocate)\n",
		       pid, vis(l->comm));
}

static int cmd_list(struct cli *c)
{
	struct hp_json j;
	int code = HP_EXIT_OK;

	if (c->patch) {
		fprintf(stderr, "hotpatch: list takes no patch file\n");
		return HP_EXIT_USAGE;
	}
	if (c->json)
		json_head(&j, c, false);
	for (size_t i = 0; i < c->npids; i++) {
		struct hp_listing l;
		int r = hp_list(c->pids[i], &c->o, &l);

		if (r < 0) {
			code = hp_exit_code(r);
			if (!c->json)
				fprintf(stderr, "hotpatch: pid %d: %s\n", c->pids[i],
					vis(hp_err.msg));
		}
		if (c->json)
			json_listing(&j, c->pids[i], &l, r);
		else if (r == 0)
			human_listing(c->pids[i], &l);
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
	{"apply", VERB_APPLY, cmd_apply,
	 OPT_JSON | OPT_DRY_RUN | OPT_TIMEOUT | OPT_STOP_ON_ERROR | OPT_SHA256 | OPT_INSECURE |
		 OPT_FREEZER | OPT_RELOCATE | OPT_JOBS,
	 "hotpatch [apply] TARGETS PATCH.so [--relocate] [--dry-run] [--json] [--timeout S]\n"
	 "                [--sha256 HEX] [--stop-on-error] [--insecure] [--jobs N]\n"
	 "  Load PATCH.so into each process and redirect the functions it replaces."},
	{"rollback", VERB_ROLLBACK, cmd_rollback,
	 OPT_JSON | OPT_DRY_RUN | OPT_TIMEOUT | OPT_STOP_ON_ERROR | OPT_ALL | OPT_KEEP_LOADED |
		 OPT_FORCE | OPT_FREEZER | OPT_JOBS,
	 "hotpatch rollback TARGETS (PATCH.so | --all) [--keep-loaded] [--force] [--dry-run]\n"
	 "                  [--json] [--timeout S] [--stop-on-error] [--jobs N]\n"
	 "  Take a patch (or every patch, newest first) back out and unload it."},
	{"status", VERB_STATUS, cmd_status, OPT_JSON | OPT_TIMEOUT | OPT_STOP_ON_ERROR | OPT_JOBS,
	 "hotpatch status TARGETS [--json] [--jobs N]\n"
	 "  Show the patches applied in each process, read from the process itself."},
	{"list", VERB_LIST, cmd_list, OPT_JSON | OPT_TIMEOUT | OPT_RELOCATE | OPT_OBJECT,
	 "hotpatch list TARGETS [--relocate] [--object NAME] [--json]\n"
	 "  Show the functions of each process that can be patched, by object; with\n"
	 "  --relocate every function, with how it can be patched or why not."},
};

/* The exit codes, from the one table, wrapped as the rest of the usage. */
static void usage_exits(FILE *f)
{
	int col = fprintf(f, "Exit codes:");

	for (size_t i = 0; i < HP_ARRAY_SIZE(exits); i++) {
		char item[128];
		int n = snprintf(item, sizeof(item), "%d %s%s", exits[i].code, exits[i].meaning,
				 i + 1 < HP_ARRAY_SIZE(exits) ? "," : ".");

		if (col + 1 + n > 79) {
			fputs("\n ", f);
			col = 1;
		}
		col += fprintf(f, " %s", item);
	}
	fputs("  See hotpatch(8).\n", f);
}

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
		fprintf(f,
			"  hotpatch build --source DIR --diff FILE --target BIN -o PATCH.so [--json]\n"
			"  Make a live patch from a source diff (hotpatch build --help).\n\n");
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
		"  --freezer[=auto] flip through the cgroup-v1 freezer, not ptrace (root);\n"
		"                   auto: only where it is faster (many threads asleep in\n"
		"                   futex waits), ptrace elsewhere\n"
		"  --relocate       patch functions without a hot-patch prologue too (found\n"
		"                   padding, or a jump over relocated first instructions)\n"
		"  --object NAME    list: only the object NAME (file name, soname or path)\n"
		"  --jobs N         work on N processes at once (default: one per CPU)\n"
		"  -h, --help       this help;  -V, --version  the version\n",
		DEFAULT_TIMEOUT_S);
	usage_exits(f);
}

/* ---------------------------------------------------------------- parsing */

/* Every option; `bit` 0 for those every verb takes. */
static const struct cli_option {
	const char *name;
	int has_arg;
	int val;
	unsigned bit;
} cli_options[] = {
	{"pid", required_argument, 'p', 0},
	{"exe", required_argument, 'e', 0},
	{"lib", required_argument, 'l', 0},
	{"json", no_argument, 'j', OPT_JSON},
	{"dry-run", no_argument, 'n', OPT_DRY_RUN},
	{"timeout", required_argument, 't', OPT_TIMEOUT},
	{"all", no_argument, 'a', OPT_ALL},
	{"keep-loaded", no_argument, 'k', OPT_KEEP_LOADED},
	{"force", no_argument, 'f', OPT_FORCE},
	{"stop-on-error", no_argument, 's', OPT_STOP_ON_ERROR},
	{"insecure", no_argument, 'i', OPT_INSECURE},
	{"sha256", required_argument, 'S', OPT_SHA256},
	{"freezer", optional_argument, 'F', OPT_FREEZER},
	{"relocate", no_argument, 'R', OPT_RELOCATE},
	{"object", required_argument, 'O', OPT_OBJECT},
	{"jobs", required_argument, 'J', OPT_JOBS},
	{"help", no_argument, 'h', 0},
	{"version", no_argument, 'V', 0},
};

static const struct cli_option *option_by_val(int val)
{
	for (size_t i = 0; i < HP_ARRAY_SIZE(cli_options); i++)
		if (cli_options[i].val == val)
			return &cli_options[i];
	return NULL;
}

/* What parse() gathers before it knows the verb. */
struct words {
	const char *pos[3];
	size_t npos;
	bool help;
	double timeout;
	unsigned jobs; /* 0: as many as CPUs */
};

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

static int add_pid(struct cli *c, pid_t pid)
{
	pid_t *np = realloc(c->pids, (c->npids + 1) * sizeof(*np));
	struct hp_proc_id *ni;

	if (!np)
		return -ENOMEM;
	c->pids = np;
	ni = realloc(c->ids, (c->npids + 1) * sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	c->ids = ni;
	/* one that is gone already is refused as ever (no valid id) */
	hp_proc_id_read(pid, &c->ids[c->npids]);
	c->pids[c->npids++] = pid;
	return 0;
}

/* --pid, --exe, --lib; returns -1 to go on, or an exit code. */
static int parse_target(struct cli *c, int opt, const char *arg)
{
	pid_t pid;

	switch (opt) {
	case 'p':
		if (parse_pid(arg, &pid) < 0) {
			fprintf(stderr, "hotpatch: --pid needs a process id, not '%s'\n", vis(arg));
			return HP_EXIT_USAGE;
		}
		return add_pid(c, pid) < 0 ? HP_EXIT_INTERNAL : -1;
	case 'e':
		c->exe = arg;
		return -1;
	default:
		c->lib = arg;
		/* a relative path is the operator's, from here: the
		 * records and the selection then name the same file */
		if (strchr(arg, '/') && arg[0] != '/' && getcwd(c->lib_abs, PATH_MAX) &&
		    strlen(c->lib_abs) + 1 + strlen(arg) < sizeof(c->lib_abs)) {
			strcat(c->lib_abs, "/");
			strcat(c->lib_abs, arg);
			c->lib = c->lib_abs;
		}
		return -1;
	}
}

/* --timeout, --jobs and --sha256; returns -1 to go on, or an exit code. */
static int parse_value(struct cli *c, struct words *w, int opt, const char *arg)
{
	char *end;

	if (opt == 'J') {
		unsigned long n = strtoul(arg, &end, 10);

		if (*end || !*arg || n < 1 || n > 256 || arg[0] == '-') {
			fprintf(stderr, "hotpatch: --jobs needs a number from 1 to 256, not '%s'\n",
				vis(arg));
			return HP_EXIT_USAGE;
		}
		w->jobs = (unsigned)n;
		return -1;
	}
	if (opt == 't') {
		w->timeout = strtod(arg, &end);
		if (*end || !(w->timeout > 0) || w->timeout > 86400) {
			fprintf(stderr,
				"hotpatch: --timeout needs seconds (0 < S <= 86400), not '%s'\n",
				vis(arg));
			return HP_EXIT_USAGE;
		}
		return -1;
	}
	if (strlen(arg) != 64 || strspn(arg, "0123456789abcdefABCDEF") != 64) {
		fprintf(stderr, "hotpatch: --sha256 needs 64 hex digits\n");
		return HP_EXIT_USAGE;
	}
	c->sha256 = arg;
	return -1;
}

/* One option or word from getopt; returns -1 to go on, or an exit code. */
static int parse_one(struct cli *c, struct words *w, int opt, const char *arg)
{
	const struct cli_option *o = option_by_val(opt);

	switch (opt) {
	case 1: /* a word, in order */
		if (w->npos == HP_ARRAY_SIZE(w->pos)) {
			fprintf(stderr, "hotpatch: unexpected argument '%s'\n", vis(arg));
			return HP_EXIT_USAGE;
		}
		w->pos[w->npos++] = arg;
		return -1;
	case 'p':
	case 'e':
	case 'l':
		return parse_target(c, opt, arg);
	case 't':
	case 'S':
	case 'J':
		c->given |= o->bit;
		return parse_value(c, w, opt, arg);
	case 'F':
		c->given |= o->bit;
		if (arg && strcmp(arg, "auto")) {
			fprintf(stderr, "hotpatch: --freezer=%s: the only value is auto\n",
				vis(arg));
			return HP_EXIT_USAGE;
		}
		c->o.freezer_auto = arg != NULL;
		return -1;
	case 'O':
		c->given |= o->bit;
		c->o.list_object = arg;
		return -1;
	case 'h':
		w->help = true;
		return -1;
	case 'V':
		printf("hotpatch %s\n", HP_VERSION);
		return HP_EXIT_OK;
	default:
		if (!o) {
			usage(stderr, NULL);
			return HP_EXIT_USAGE;
		}
		c->given |= o->bit;
		return -1;
	}
}

/* The words and options, in argv order; returns -1 to go on, or an exit
 * code.  The verb is the first word that is not an option, wherever it is:
 * "hotpatch --json status --pid 1" works as "hotpatch status ...". */
static int parse_argv(int argc, char **argv, struct cli *c, struct words *w)
{
	struct option opts[HP_ARRAY_SIZE(cli_options) + 1] = {0};
	int opt, code;

	for (size_t i = 0; i < HP_ARRAY_SIZE(cli_options); i++)
		opts[i] = (struct option){cli_options[i].name, cli_options[i].has_arg, NULL,
					  cli_options[i].val};
	while ((opt = getopt_long(argc, argv, "-hVp:", opts, NULL)) != -1) {
		code = parse_one(c, w, opt, optarg);
		if (code >= 0)
			return code;
	}
	return -1;
}

/* "it is for rollback", "it is for apply and rollback", ... */
static void verbs_taking(unsigned bit, char *out, size_t outsz)
{
	size_t n = 0, k = 0, len = 0;

	for (size_t i = 0; i < HP_ARRAY_SIZE(verbs); i++)
		n += !!(verbs[i].opts & bit);
	out[0] = 0;
	for (size_t i = 0; i < HP_ARRAY_SIZE(verbs) && len < outsz; i++) {
		if (!(verbs[i].opts & bit))
			continue;
		k++;
		len += (size_t)snprintf(out + len, outsz - len, "%s%s",
					k == 1	 ? ""
					: k == n ? " and "
						 : ", ",
					verbs[i].name);
	}
}

/* A verb refuses the options it does not take, rather than ignore them. */
static int check_options(const struct cli *c)
{
	unsigned extra = c->given & ~c->v->opts;
	char takers[128];

	for (size_t i = 0; i < HP_ARRAY_SIZE(cli_options) && extra; i++) {
		if (!(cli_options[i].bit & extra))
			continue;
		verbs_taking(cli_options[i].bit, takers, sizeof(takers));
		fprintf(stderr,
			"hotpatch %s: --%s is not an option of %s (it is for %s); see hotpatch "
			"--help\n",
			c->v->name, cli_options[i].name, c->v->name, takers);
		return HP_EXIT_USAGE;
	}
	return -1;
}

/* The options as the library and the verbs take them; returns -1 to go
 * on, or an exit code. */
static int settle_options(struct cli *c, double timeout, unsigned jobs)
{
	char why[256];

	c->json = c->given & OPT_JSON;
	c->o.dry_run = c->given & OPT_DRY_RUN;
	c->all = c->given & OPT_ALL;
	c->o.keep_loaded = c->given & OPT_KEEP_LOADED;
	c->o.force = c->given & OPT_FORCE;
	c->stop_on_error = c->given & OPT_STOP_ON_ERROR;
	c->insecure = c->given & OPT_INSECURE;
	c->o.relocate = c->given & OPT_RELOCATE;
	if (c->given & OPT_FREEZER) {
		/* auto says in its report why it took ptrace */
		if (!c->o.freezer_auto && !hp_freezer_usable(why, sizeof(why))) {
			fprintf(stderr, "hotpatch: --freezer: %s\n", vis(why));
			return HP_EXIT_USAGE;
		}
		c->o.freezer = true;
	}
	c->jobs = jobs ? jobs : hp_jobs_default();
	c->o.timeout_ns = (uint64_t)(timeout * 1e9);
	/* one deadline for the command, however many processes it covers */
	c->o.deadline = hp_now_ns() + c->o.timeout_ns;
	c->o.default_object = c->lib;
	return -1;
}

/* The verb the words name (apply if none); returns -1 to go on, or an
 * exit code (help asked for). */
static int parse_verb(struct cli *c, const struct words *w, size_t *ret_first)
{
	bool explicit_verb = false;

	c->v = &verbs[0];
	if (w->npos > 0) {
		if (!strcmp(w->pos[0], "help")) {
			usage(stdout, NULL);
			return HP_EXIT_OK;
		}
		for (size_t i = 0; i < HP_ARRAY_SIZE(verbs); i++)
			if (!strcmp(w->pos[0], verbs[i].name)) {
				c->v = &verbs[i];
				explicit_verb = true;
			}
	}
	if (w->help) {
		usage(stdout, explicit_verb ? c->v : NULL);
		return HP_EXIT_OK;
	}
	*ret_first = explicit_verb;
	return -1;
}

/* Parses the words and options; returns -1 to go on, or an exit code. */
static int parse(int argc, char **argv, struct cli *c)
{
	struct words w = {.timeout = DEFAULT_TIMEOUT_S};
	size_t first = 0;
	int code;

	if (argc <= 1) {
		usage(stderr, NULL);
		return HP_EXIT_USAGE;
	}
	code = parse_argv(argc, argv, c, &w);
	if (code < 0)
		code = parse_verb(c, &w, &first);
	if (code < 0)
		code = check_options(c);
	if (code < 0)
		code = settle_options(c, w.timeout, w.jobs);
	if (code >= 0)
		return code;
	if (w.npos > first + 1) {
		fprintf(stderr, "hotpatch: unexpected argument '%s'\n", vis(w.pos[first + 1]));
		return HP_EXIT_USAGE;
	}
	c->patch = w.npos > first ? w.pos[first] : NULL;
	if (!c->npids && !c->exe && !c->lib) {
		fprintf(stderr,
			"hotpatch: %s needs a target: --pid PID, --exe PATH or --lib NAME\n",
			c->v->name);
		return HP_EXIT_USAGE;
	}
	return -1;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Adds those of `found` (sorted) not selected yet; how many were added. */
static int add_new_pids(struct cli *c, const pid_t *found, size_t n)
{
	_cleanup_free_ pid_t *have = malloc((c->npids + 1) * sizeof(*have));
	size_t nhave = c->npids, added = 0;

	if (!have)
		return -ENOMEM;
	if (nhave) /* c->pids is NULL before the first */
		memcpy(have, c->pids, nhave * sizeof(*have));
	qsort(have, nhave, sizeof(*have), cmp_pid);
	for (size_t i = 0; i < n; i++) {
		if (bsearch(&found[i], have, nhave, sizeof(*have), cmp_pid))
			continue;
		if (add_pid(c, found[i]) < 0)
			return -ENOMEM;
		added++;
	}
	return (int)added;
}

/* The processes --exe (k 0) or --lib (k 1) selects now, sorted. */
static int select_now(const struct cli *c, int k, pid_t **ret, size_t *n)
{
	return k == 0 ? hp_procs_by_exe(c->exe, c->o.deadline, ret, n)
		      : hp_procs_by_lib(c->lib, c->o.deadline, ret, n);
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
		r = select_now(c, k, &found, &n);
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
		r = add_new_pids(c, found, n);
		free(found);
		if (r < 0)
			return HP_EXIT_INTERNAL;
	}
	return -1;
}

/* Looks again for processes --exe and --lib select (children forked while
 * the command ran); how many new ones were added. */
static int rescan_targets(struct cli *c)
{
	const char *what[2] = {c->exe, c->lib};
	int added = 0;

	for (int k = 0; k < 2; k++) {
		pid_t *found = NULL;
		size_t n = 0;
		int r;

		if (!what[k])
			continue;
		r = select_now(c, k, &found, &n);
		if (r == 0)
			r = add_new_pids(c, found, n);
		free(found);
		hp_error_clear();
		if (r < 0)
			return r;
		added += r;
	}
	return added;
}

int main(int argc, char **argv)
{
	struct cli c = {0};
	int code;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* build makes a patch and touches no process: a command of its own */
	if (argc > 1 && !strcmp(argv[1], "build"))
		return hp_build_cli(argc - 1, argv + 1);
	code = parse(argc, argv, &c);
	if (code < 0)
		code = select_targets(&c);
	if (code < 0)
		code = c.v->run(&c);
	free(c.pids);
	free(c.ids);
	hp_notes_clear();
	vis_free();
	hp_cs_close();
	hp_objcache_clear();
	return code;
}
