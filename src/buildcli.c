/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "buildcli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "json.h"
#include "util.h"

static const char usage_text[] =
	"Usage: hotpatch build --source DIR --diff FILE --target BIN -o PATCH.so\n"
	"                      [--compile-commands FILE] [--keep DIR] [--jobs N] [--json]\n"
	"  Make a live patch from a unified diff: the translation units it touches are\n"
	"  compiled again as DIR's compile_commands.json says, as they are and patched;\n"
	"  the rebuild must reproduce BIN's code; what changed is replaced, and what\n"
	"  cannot be live-patched safely is refused with the reason.\n"
	"Options:\n"
	"  --source DIR            the tree BIN was built from, as it was built\n"
	"  --diff FILE             the fix, as upstream or a distribution ships it\n"
	"  --target BIN            the executable or library the patch is for\n"
	"  -o, --output PATCH.so   the patch to write\n"
	"  --compile-commands FILE instead of DIR/compile_commands.json\n"
	"  --keep DIR              keep the generated sources and objects in DIR\n"
	"  --jobs N                compilers run at once (default: one per CPU)\n"
	"  --json                  one JSON document on stdout\n"
	"  -h, --help              this help\n"
	"Exit codes: 0 built, 2 usage, 5 the diff or the tree is wrong, 6 refused,\n"
	"  8 nothing to patch.  See hotpatch(8).\n";

static const char *action_name(enum hp_bfunc_action a)
{
	return a == HP_BF_REPLACE ? "replace" : a == HP_BF_PRIVATE ? "private" : "new";
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void json_notes(struct hp_json *j, const char *key, const struct hp_bnote *n, size_t count)
{
	hp_json_arr(j, key);
	for (size_t i = 0; i < count; i++) {
		hp_json_obj(j, NULL);
		hp_json_str(j, "subject", n[i].subject);
		hp_json_str(j, "message", n[i].message);
		hp_json_obj_end(j);
	}
	hp_json_arr_end(j);
}

static void json_strs(struct hp_json *j, const char *key, char **s, size_t n)
{
	hp_json_arr(j, key);
	for (size_t i = 0; i < n; i++)
		hp_json_str(j, NULL, s[i]);
	hp_json_arr_end(j);
}

static void json_timings(struct hp_json *j, const struct hp_build_report *rep)
{
	hp_json_obj(j, "timings_us");
	hp_json_int(j, "prepare", (int64_t)(rep->t_prepare / 1000));
	hp_json_int(j, "compile", (int64_t)(rep->t_compile / 1000));
	hp_json_int(j, "compare", (int64_t)(rep->t_compare / 1000));
	hp_json_int(j, "generate", (int64_t)(rep->t_generate / 1000));
	hp_json_int(j, "total", (int64_t)(rep->t_total / 1000));
	hp_json_obj_end(j);
}

static void report_json(const struct hp_build_report *rep, int r)
{
	struct hp_json j;
	int code = r < 0 ? hp_exit_code(r) : 0;

	hp_json_begin(&j, stdout);
	hp_json_int(&j, "schema", 1);
	hp_json_str(&j, "command", "build");
	hp_json_bool(&j, "ok", r == 0);
	hp_json_int(&j, "exit_code", code);
	hp_json_str(&j, "exit_class", hp_exit_name(code));
	hp_json_str(&j, "error", r < 0 ? hp_err.msg : NULL);
	hp_json_str(&j, "target", rep->target);
	hp_json_str(&j, "build_id", rep->build_id[0] ? rep->build_id : NULL);
	hp_json_str(&j, "output", r == 0 ? rep->output : NULL);
	hp_json_str(&j, "keep", rep->keep);
	json_strs(&j, "units", rep->units, rep->nunits);
	json_strs(&j, "ignored", rep->ignored, rep->nignored);
	hp_json_arr(&j, "functions");
	for (size_t i = 0; i < rep->nfuncs; i++) {
		hp_json_obj(&j, NULL);
		hp_json_str(&j, "name", rep->funcs[i].name);
		hp_json_str(&j, "unit", rep->funcs[i].unit);
		hp_json_str(&j, "action", action_name(rep->funcs[i].action));
		hp_json_str(&j, "why", rep->funcs[i].why);
		hp_json_obj_end(&j);
	}
	hp_json_arr_end(&j);
	json_notes(&j, "warnings", rep->warnings, rep->nwarnings);
	json_notes(&j, "refusals", rep->refusals, rep->nrefusals);
	json_timings(&j, rep);
	hp_json_end(&j);
}

static void report_human(const struct hp_build_report *rep, int r)
{
	FILE *f = r == 0 ? stdout : stderr;

	if (rep->target && rep->build_id[0])
		fprintf(f, "hotpatch build: %s (build-id %s)\n", rep->target, rep->build_id);
	for (size_t i = 0; i < rep->nunits; i++)
		fprintf(f, "  rebuilt  %s\n", rep->units[i]);
	for (size_t i = 0; i < rep->nignored; i++)
		fprintf(f, "  ignored  %s (not compiled into the target)\n", rep->ignored[i]);
	for (size_t i = 0; i < rep->nfuncs; i++)
		fprintf(f, "  %-8s %s (%s: %s)\n", action_name(rep->funcs[i].action),
			rep->funcs[i].name, rep->funcs[i].unit, rep->funcs[i].why);
	for (size_t i = 0; i < rep->nwarnings; i++)
		fprintf(f, "  warning: %s: %s\n", rep->warnings[i].subject,
			rep->warnings[i].message);
	for (size_t i = 0; i < rep->nrefusals; i++)
		fprintf(f, "  refused: %s: %s\n", rep->refusals[i].subject,
			rep->refusals[i].message);
	if (r < 0) {
		fprintf(stderr, "hotpatch build: %s\n",
			hp_err.msg[0] ? hp_err.msg : hp_strerror(r));
		return;
	}
	fprintf(f, "wrote %s; apply it with: hotpatch --pid PID %s\n", rep->output, rep->output);
	if (rep->keep)
		fprintf(f, "the generated sources are in %s/out\n", rep->keep);
	fprintf(f,
		"a build that succeeds does not prove the change safe to apply live: review it\n");
	fprintf(f,
		"time: %.2f s (prepare %.2f, compile %.2f, compare %.2f, generate and link %.2f)\n",
		secs(rep->t_total), secs(rep->t_prepare), secs(rep->t_compile),
		secs(rep->t_compare), secs(rep->t_generate));
}

static const struct option opts[] = {
	{"source", required_argument, NULL, 's'},
	{"diff", required_argument, NULL, 'd'},
	{"target", required_argument, NULL, 't'},
	{"output", required_argument, NULL, 'o'},
	{"compile-commands", required_argument, NULL, 'c'},
	{"keep", required_argument, NULL, 'k'},
	{"jobs", required_argument, NULL, 'J'},
	{"json", no_argument, NULL, 'j'},
	{"no-line-marks", no_argument, NULL, 'L'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "hotpatch build: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
	return HP_EXIT_USAGE;
}

static int parse(int argc, char **argv, struct hp_build_opts *o, bool *json)
{
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		char *end;

		switch (ch) {
		case 's':
			o->source = optarg;
			break;
		case 'd':
			o->diff = optarg;
			break;
		case 't':
			o->target = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'c':
			o->compile_commands = optarg;
			break;
		case 'k':
			o->keep = optarg;
			break;
		case 'j':
			*json = true;
			break;
		case 'L':
			o->no_line_marks = true;
			break;
		case 'J':
			o->jobs = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !o->jobs || o->jobs > 64)
				return usage_error("--jobs takes a number from 1 to 64, not '%s'",
						   optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return HP_EXIT_OK;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->source || !o->diff || !o->target || !o->output)
		return usage_error("%s",
				   "needs --source DIR, --diff FILE, --target BIN and -o PATCH.so");
	return -1;
}

int hp_build_cli(int argc, char **argv)
{
	struct hp_build_opts o = {0};
	struct hp_build_report rep = {0};
	bool json = false;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int code = parse(argc, argv, &o, &json), r;

	if (code >= 0)
		return code;
	if (!o.jobs)
		o.jobs = cpus > 0 ? (unsigned)HP_MIN(cpus, 16) : 1;
	r = hp_build_run(&o, &rep);
	if (json)
		report_json(&rep, r);
	else
		report_human(&rep, r);
	code = r < 0 ? hp_exit_code(r) : HP_EXIT_OK;
	hp_build_report_free(&rep);
	return code;
}
