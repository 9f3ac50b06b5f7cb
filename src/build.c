/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "build.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bemit.h"
#include "bplan.h"
#include "bunit.h"
#include "ccdb.h"
#include "tfile.h"
#include "tunits.h"
#include "udiff.h"
#include "util.h"

/* Everything one build holds, freed in one place. */
struct bstate {
	const struct hp_build_opts *o;
	struct hp_build_report *rep;
	char source[PATH_MAX], target[PATH_MAX];
	char *diff_text;
	size_t diff_len;
	struct hp_diff diff;
	struct hp_ccdb db;
	struct hp_tfile t;
	struct hp_tunits tu;
	struct hp_bwork w;
	bool temp_dir;
	struct hp_bunit *units;
	size_t nunits;
	struct hp_bplan plan;
	bool planned;
};

static int add_str(char ***arr, size_t *n, const char *s)
{
	char **na = realloc(*arr, (*n + 1) * sizeof(*na));

	if (!na)
		return -ENOMEM;
	*arr = na;
	if (!(na[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static bool is_header(const char *p)
{
	return ends_with(p, ".h") || ends_with(p, ".hh") || ends_with(p, ".hpp") ||
	       ends_with(p, ".inc") || ends_with(p, ".def");
}

static bool is_asm(const char *p)
{
	return ends_with(p, ".S") || ends_with(p, ".s") || ends_with(p, ".asm");
}

static int open_inputs(struct bstate *b)
{
	const struct hp_build_opts *o = b->o;
	char *cc = NULL;
	int r;

	if (!realpath(o->source, b->source))
		return hp_fail(-HP_EUSAGE, "--source %s: %m", o->source);
	if (!realpath(o->target, b->target))
		return hp_fail(-HP_EUSAGE, "--target %s: %m", o->target);
	r = hp_read_file(o->diff, &b->diff_text, &b->diff_len);
	if (r < 0)
		return hp_fail(-HP_EUSAGE, "cannot read the diff %s: %s", o->diff, strerror(-r));
	r = hp_diff_parse(b->diff_text, b->diff_len, o->diff, &b->diff);
	if (r == 0)
		r = hp_diff_locate(&b->diff, b->source);
	if (r == -EINVAL || r == -ENOENT)
		r = -HP_EBADPATCH; /* not a diff, or not of this tree: the message says */
	if (r < 0)
		return r;
	if (!o->compile_commands && asprintf(&cc, "%s/compile_commands.json", b->source) < 0)
		return -ENOMEM;
	r = hp_ccdb_load(o->compile_commands ? o->compile_commands : cc, &b->db);
	free(cc);
	if (r == 0)
		r = hp_tfile_open(b->target, &b->t);
	if (r == 0)
		r = hp_tunits_load(b->target, &b->tu);
	if (r == 0)
		snprintf(b->rep->build_id, sizeof(b->rep->build_id), "%s", b->t.build_id);
	return r;
}

static int make_workdir(struct bstate *b)
{
	char tmpl[] = "/tmp/hotpatch-build.XXXXXX";

	b->w.source = b->source;
	b->w.line_marks = !b->o->no_line_marks;
	if (b->o->keep) {
		if (mkdir(b->o->keep, 0700) < 0 && errno != EEXIST)
			return hp_fail(-HP_EUSAGE, "--keep %s: %m", b->o->keep);
		b->w.dir = realpath(b->o->keep, NULL);
		if (!b->w.dir)
			return hp_fail(-HP_EUSAGE, "--keep %s: %m", b->o->keep);
		b->rep->keep = strdup(b->w.dir);
		return 0;
	}
	if (!mkdtemp(tmpl))
		return hp_fail(-errno, "cannot make a temporary directory: %m");
	b->temp_dir = true;
	b->w.dir = strdup(tmpl);
	return b->w.dir ? 0 : -ENOMEM;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Whether the command's file is one the target was linked from: its DWARF
 * says so; without DWARF, a STT_FILE block of its name. */
static bool in_target(const struct bstate *b, const struct hp_ccmd *c)
{
	if (b->tu.n)
		return hp_tunits_find(&b->tu, c->file) != NULL;
	for (size_t i = 0; i < b->t.nblocks; i++)
		if (!strcmp(b->t.blocks[i].file, hp_basename(c->file)))
			return true;
	return false;
}

/* Whether a dependency list (make syntax, as -M writes) names `file`. */
static bool deps_name(const char *deps, const char *dir, const char *file)
{
	const char *base = hp_basename(file);
	char *copy = strdup(deps);
	bool found = false;

	for (char *save = NULL, *w = copy ? strtok_r(copy, " \t\n\\", &save) : NULL; w && !found;
	     w = strtok_r(NULL, " \t\n\\", &save)) {
		char buf[PATH_MAX * 2], real[PATH_MAX];

		if (strcmp(hp_basename(w), base))
			continue;
		snprintf(buf, sizeof(buf), "%s%s%s", w[0] == '/' ? "" : dir, w[0] == '/' ? "" : "/",
			 w);
		found = realpath(buf, real) && !strcmp(real, file);
	}
	free(copy);
	return found;
}

/* The units of the target that include header `file`: each one's
 * preprocessor lists its dependencies (-M). */
static int units_including(struct bstate *b, const char *file, const struct hp_ccmd ***ret,
			   size_t *ret_n)
{
	struct hp_job *j = calloc(b->db.ncmds + 1, sizeof(*j));
	const struct hp_ccmd **cmds = calloc(b->db.ncmds + 1, sizeof(*cmds));
	size_t n = 0, found = 0;
	int r = j && cmds ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < b->db.ncmds; i++) {
		char *mf = NULL;

		if (!in_target(b, &b->db.cmds[i]) || is_asm(b->db.cmds[i].file) ||
		    !b->db.cmds[i].known_cc)
			continue;
		if (asprintf(&mf, "%s/deps-%zu.d", b->w.dir, i) < 0)
			r = -ENOMEM;
		char *post[] = {"-M", "-MF", mf};
		struct hp_recompile rc = {.post = post, .npost = 3};

		j[n] = (struct hp_job){.dir = b->db.cmds[i].directory,
				       .argv = r ? NULL : hp_ccmd_argv(&b->db.cmds[i], &rc),
				       .what = mf};
		cmds[n++] = &b->db.cmds[i];
	}
	if (r == 0)
		r = hp_run_jobs(j, n, b->o->jobs);
	for (size_t i = 0; i < n; i++) {
		char *deps = NULL;
		size_t len;

		if (r == 0 && hp_read_file(j[i].what, &deps, &len) == 0 &&
		    deps_name(deps, cmds[i]->directory, file))
			cmds[found++] = cmds[i];
		free(deps);
		if (j[i].what)
			unlink(j[i].what);
		hp_ccmd_argv_free((char **)j[i].argv);
		free((char *)j[i].what);
	}
	hp_jobs_free(j, n);
	free(j);
	*ret = cmds;
	*ret_n = found;
	return r;
}

static struct hp_file_diff unchanged_file; /* a unit only its headers change */

static int add_unit(struct bstate *b, const struct hp_ccmd *c, struct hp_file_diff *fd)
{
	struct hp_bunit *nu;

	for (size_t i = 0; i < b->nunits; i++)
		if (b->units[i].cmd == c) {
			if (fd)
				b->units[i].fd = fd;
			return 0;
		}
	nu = realloc(b->units, (b->nunits + 1) * sizeof(*nu));
	if (!nu)
		return -ENOMEM;
	b->units = nu;
	nu[b->nunits++] = (struct hp_bunit){.cmd = c, .fd = fd ? fd : &unchanged_file, .block = -1};
	return 0;
}

static int select_file(struct bstate *b, struct hp_file_diff *f)
{
	char abs[PATH_MAX * 2];
	const struct hp_ccmd *c;
	const struct hp_ccmd **inc = NULL;
	size_t ninc = 0;
	int r;

	snprintf(abs, sizeof(abs), "%s/%s", b->source, f->path);
	c = hp_ccdb_find(&b->db, abs);
	if (c && in_target(b, c)) {
		if (is_asm(f->path))
			return hp_bnote_add(&b->rep->refusals, &b->rep->nrefusals, f->path,
					    "an assembler source of the target changes: hotpatch build "
					    "compares and rewrites C only");
		if (f->deletes)
			return hp_bnote_add(&b->rep->refusals, &b->rep->nrefusals, f->path,
					    "the diff deletes a file the target is built from");
		return add_unit(b, c, f);
	}
	if (!is_header(f->path) || f->creates)
		return add_str(&b->rep->ignored, &b->rep->nignored, f->path);
	r = units_including(b, abs, &inc, &ninc);
	for (size_t i = 0; r == 0 && i < ninc; i++)
		r = add_unit(b, inc[i], NULL);
	free(inc);
	if (r == 0 && !ninc)
		r = add_str(&b->rep->ignored, &b->rep->nignored, f->path);
	return r;
}

static int prepare_units(struct bstate *b)
{
	int r = hp_bwork_write_patched(&b->w, &b->diff);

	for (size_t i = 0; r == 0 && i < b->diff.nfiles; i++)
		r = select_file(b, &b->diff.files[i]);
	for (size_t i = 0; r == 0 && i < b->nunits; i++) {
		struct hp_bunit tmp = b->units[i];

		r = hp_bunit_init(&b->units[i], &b->w, tmp.cmd, tmp.fd, i);
		if (r == 0)
			r = add_str(&b->rep->units, &b->rep->nunits, b->units[i].rel);
	}
	return r;
}

static int compile_units(struct bstate *b)
{
	size_t nj = HP_BUNIT_JOBS * b->nunits;
	struct hp_job *j = calloc(nj + 1, sizeof(*j));
	int r = j ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < b->nunits; i++)
		r = hp_bunit_jobs(&b->units[i], &j[HP_BUNIT_JOBS * i]);
	if (r == 0)
		r = hp_run_jobs(j, nj, b->o->jobs);
	for (size_t i = 0; j && i < nj; i++) {
		hp_ccmd_argv_free((char **)j[i].argv);
		free((char *)j[i].what);
	}
	if (j)
		hp_jobs_free(j, nj);
	free(j);
	return r;
}

/* A tag unique to the diff, for the labels of bound statics. */
static void diff_tag(const struct bstate *b, char *out, size_t outsz)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < b->diff_len; i++)
		h = (h ^ (uint8_t)b->diff_text[i]) * 16777619u;
	snprintf(out, outsz, "%08x", h);
}

/* The object records name: "" for an executable, the file for a library. */
static const char *record_object(const struct bstate *b)
{
	const char *base = hp_basename(b->target);

	return strstr(base, ".so") ? base : "";
}

static int analyse_and_plan(struct bstate *b)
{
	char tag[16];
	int r = 0;

	for (size_t i = 0; r == 0 && i < b->nunits; i++) {
		r = hp_bunit_analyse(&b->units[i], &b->t);
		const struct hp_tunit *tu = hp_tunits_find(&b->tu, b->units[i].cmd->file);

		/* the target's own record of how the unit was compiled, to set
		 * beside the compile command that did not reproduce it */
		if (r == -HP_ESOURCE && tu && tu->producer)
			hp_fail_suffix(r, "; the target's DWARF says %s was compiled by: %s",
				       b->units[i].rel, tu->producer);
		if (r == -HP_EREFUSED && hp_bnote_add(&b->rep->refusals, &b->rep->nrefusals,
						      b->units[i].rel, "%s", hp_err.msg) < 0)
			r = -ENOMEM;
	}
	if (r < 0)
		return r;
	diff_tag(b, tag, sizeof(tag));
	r = hp_bplan_make(b->units, b->nunits, &b->t, tag, b->rep, &b->plan);
	if (r < 0)
		return r;
	b->planned = true;
	if (b->rep->nrefusals)
		return hp_fail(-HP_EREFUSED, "%s cannot be live-patched safely: %s: %s", b->target,
			       b->rep->refusals[0].subject, b->rep->refusals[0].message);
	for (size_t i = 0; i < b->rep->nfuncs; i++)
		if (b->rep->funcs[i].action != HP_BF_NEW)
			return 0;
	return hp_fail(-HP_ENOCHANGE, "the diff changes no code of %s: nothing to patch",
		       b->target);
}

static int emit(struct bstate *b)
{
	char *banner = NULL;
	struct hp_bemit e = {.output = b->rep->output,
			     .object = record_object(b),
			     .build_id = b->t.build_id,
			     .jobs = b->o->jobs};
	int r;

	if (asprintf(&banner,
		     "/*\n * Generated by hotpatch build %s from %s\n * for %s (build-id %s).\n"
		     " * What the patch does not bring is declared here and bound to the\n"
		     " * target's own copy when the patch is applied.\n */",
		     HP_VERSION, b->o->diff, b->target, b->t.build_id) < 0)
		return -ENOMEM;
	e.banner = banner;
	r = hp_bemit_run(b->units, b->nunits, &b->plan, &b->t, &b->w, &e, b->rep);
	free(banner);
	return r;
}

static void bstate_free(struct bstate *b)
{
	for (size_t i = 0; i < b->nunits; i++)
		hp_bunit_free(&b->units[i]);
	free(b->units);
	if (b->planned)
		hp_bplan_free(&b->plan, b->nunits);
	if (b->temp_dir && b->w.dir)
		nftw(b->w.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(b->w.dir);
	hp_tunits_free(&b->tu);
	hp_tfile_close(&b->t);
	hp_ccdb_free(&b->db);
	hp_diff_free(&b->diff);
	free(b->diff_text);
}

int hp_build_run(const struct hp_build_opts *o, struct hp_build_report *rep)
{
	struct bstate b = {.o = o, .rep = rep};
	uint64_t t0 = hp_now_ns(), t1, t2, t3;
	char out[PATH_MAX];
	int r;

	*rep = (struct hp_build_report){0};
	r = open_inputs(&b);
	if (r == 0)
		r = make_workdir(&b);
	if (r == 0)
		r = prepare_units(&b);
	rep->target = strdup(b.target[0] ? b.target : o->target);
	if (o->output[0] == '/' || !getcwd(out, sizeof(out) - strlen(o->output) - 2))
		snprintf(out, sizeof(out), "%s", o->output);
	else
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "/%s", o->output);
	rep->output = strdup(out);
	if (r == 0 && !b.nunits)
		r = rep->nrefusals
			    ? hp_fail(-HP_EREFUSED, "%s: %s", rep->refusals[0].subject,
				      rep->refusals[0].message)
			    : hp_fail(-HP_ENOCHANGE,
				      "the diff changes no file compiled into %s: nothing to "
				      "patch (a file counts when %s has a command for it and "
				      "the target's DWARF names it, or its symbol table has a "
				      "file of that name)",
				      b.target, b.db.path);
	t1 = hp_now_ns();
	if (r == 0)
		r = compile_units(&b);
	t2 = hp_now_ns();
	if (r == 0)
		r = analyse_and_plan(&b);
	t3 = hp_now_ns();
	if (r == 0)
		r = emit(&b);
	rep->t_prepare = t1 - t0;
	rep->t_compile = t2 - t1;
	rep->t_compare = t3 - t2;
	rep->t_generate = hp_now_ns() - t3;
	rep->t_total = hp_now_ns() - t0;
	bstate_free(&b);
	return r;
}
