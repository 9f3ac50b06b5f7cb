/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bunit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; r == 0; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;

		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			r = hp_fail(-errno, "cannot create %s: %m", p);
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return r;
}

int hp_bwork_write_file(const char *path, const char *text, size_t len)
{
	char *dir = strdup(path), *slash;
	int fd, r;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	r = slash ? mkdir_p(dir) : 0;
	free(dir);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return hp_fail(-errno, "cannot write %s: %m", path);
	r = hp_write_all(fd, text, len);
	if (r < 0)
		r = hp_fail(r, "cannot write %s: %s", path, strerror(-r));
	close(fd);
	return r;
}

static int patch_one(struct hp_bwork *w, struct hp_file_diff *f)
{
	char *src = NULL, *dst = NULL, *text = NULL, *out = NULL;
	size_t len = 0, outlen = 0;
	int r;

	if (asprintf(&src, "%s/%s", w->source, f->path) < 0 ||
	    asprintf(&dst, "%s/new/%s", w->dir, f->path) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (f->deletes) {
		r = 0; /* a deleted file compiles into nothing: its unit is refused later */
		goto out;
	}
	if (!f->creates) {
		r = hp_read_file(src, &text, &len);
		if (r < 0) {
			r = hp_fail(r, "cannot read %s, which the diff changes: %s", src,
				    strerror(-r));
			goto out;
		}
	}
	/* the spelling of #line: as the tree names the file; the unit's own
	 * spelling replaces it for the unit's file (hp_bunit_init) */
	r = hp_diff_apply(f, text ? text : "", len, f->path, w->line_marks, &out, &outlen);
	if (r == -EINVAL)
		r = -HP_EBADPATCH; /* the diff does not apply: the message says where */
	if (r < 0)
		goto out;
	r = hp_bwork_write_file(dst, out, outlen);
out:
	free(src);
	free(dst);
	free(text);
	free(out);
	return r;
}

int hp_bwork_write_patched(struct hp_bwork *w, struct hp_diff *d)
{
	for (size_t i = 0; i < d->nfiles; i++) {
		int r = patch_one(w, &d->files[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static int add_arg(char ***v, size_t *n, const char *a, const char *b)
{
	char **nv = realloc(*v, (*n + 3) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(a)) || !(nv[*n + 1] = strdup(b)))
		return -ENOMEM;
	*n += 2;
	nv[*n] = NULL;
	return 0;
}

/* The include option at argv[i] ("-I", "-Idir", "-iquote", "-isystem"),
 * its directory in *dir; how many arguments it takes, 0 if none. */
static int include_opt(char *const *argv, size_t i, const char **opt, const char **dir)
{
	static const char *const opts[] = {"-iquote", "-isystem", "-idirafter", "-I"};

	for (size_t k = 0; k < HP_ARRAY_SIZE(opts); k++) {
		size_t l = strlen(opts[k]);

		if (strncmp(argv[i], opts[k], l))
			continue;
		*opt = opts[k];
		if (argv[i][l]) {
			*dir = argv[i] + l;
			return 1;
		}
		if (!argv[i + 1])
			return 0;
		*dir = argv[i + 1];
		return 2;
	}
	return 0;
}

/* Each include directory of the tree that has patched headers gets its
 * patched copy in front of it; the unit's own directory comes after the
 * copy's, for the headers the diff leaves alone. */
static int overlay_includes(struct hp_bunit *u, struct hp_bwork *w)
{
	const struct hp_ccmd *c = u->cmd;
	size_t sl = strlen(w->source);
	char *own = strdup(c->file), *slash;
	int r;

	if (!own)
		return -ENOMEM;
	slash = strrchr(own, '/');
	*slash = 0;
	/* the patched copy's directory first: the patch's own source is
	 * compiled from elsewhere, and must still see the patched headers */
	char *mine = strdup(u->patched);

	r = mine ? 0 : -ENOMEM;
	if (r == 0) {
		*strrchr(mine, '/') = 0;
		r = add_arg(&u->pre, &u->npre, "-iquote", mine);
	}
	free(mine);
	if (r == 0)
		r = add_arg(&u->pre, &u->npre, "-iquote", own);
	free(own);
	for (size_t i = 1; r == 0 && i < c->argc; i++) {
		const char *opt, *dir;
		char *abs = NULL, *ov = NULL;
		struct stat st;
		int k = include_opt(c->argv, i, &opt, &dir);

		if (!k)
			continue;
		i += (size_t)k - 1;
		if (asprintf(&abs, "%s%s%s", dir[0] == '/' ? "" : c->directory,
			     dir[0] == '/' ? "" : "/", dir) < 0)
			return -ENOMEM;
		char *real = realpath(abs, NULL);

		if (real && !strncmp(real, w->source, sl) && (real[sl] == '/' || !real[sl]) &&
		    asprintf(&ov, "%s/new%s", w->dir, real + sl) >= 0 && stat(ov, &st) == 0)
			r = add_arg(&u->pre, &u->npre, opt, ov);
		free(real);
		free(abs);
		free(ov);
	}
	return r;
}

int hp_bunit_init(struct hp_bunit *u, struct hp_bwork *w, const struct hp_ccmd *cmd,
		  struct hp_file_diff *fd, size_t index)
{
	size_t sl = strlen(w->source);
	const char *base = hp_basename(cmd->file);
	char *text = NULL, *out = NULL;
	size_t len = 0, outlen = 0;
	int r;

	*u = (struct hp_bunit){.cmd = cmd, .fd = fd, .block = -1};
	r = hp_ccmd_check_compiler(cmd);
	if (r < 0)
		return r;
	u->rel = strdup(cmd->file + sl + 1);
	if (!u->rel || asprintf(&u->patched, "%s/new/%s", w->dir, u->rel) < 0 ||
	    asprintf(&u->orig_o, "%s/orig/%zu-%s.o", w->dir, index, base) < 0 ||
	    asprintf(&u->new_o, "%s/new-obj/%zu-%s.o", w->dir, index, base) < 0 ||
	    asprintf(&u->exact_o, "%s/orig/%zu-%s.exact.o", w->dir, index, base) < 0)
		return -ENOMEM;
	/* again, with #line naming the file as its compile command does */
	r = hp_read_file(cmd->file, &text, &len);
	if (r < 0)
		return hp_fail(r, "cannot read %s: %s", cmd->file, strerror(-r));
	r = hp_diff_apply(fd, text, len, cmd->argv[cmd->src_arg], w->line_marks, &out, &outlen);
	if (r == 0)
		r = hp_bwork_write_file(u->patched, out, outlen);
	free(text);
	free(out);
	if (r == 0)
		r = overlay_includes(u, w);
	if (r == 0) {
		char *d1 = NULL, *d2 = NULL;

		if (asprintf(&d1, "%s/orig", w->dir) < 0 || asprintf(&d2, "%s/new-obj", w->dir) < 0)
			r = -ENOMEM;
		else if ((r = mkdir_p(d1)) == 0)
			r = mkdir_p(d2);
		free(d1);
		free(d2);
	}
	return r;
}

/* What the comparison needs of both compiles: a section per function and
 * per variable, and DWARF for types and signatures. */
static char *const extra[] = {"-ffunction-sections", "-fdata-sections", "-g"};

int hp_bunit_jobs(struct hp_bunit *u, struct hp_job ret[HP_BUNIT_JOBS])
{
	struct hp_recompile x = {.output = u->exact_o};
	struct hp_recompile o = {.output = u->orig_o, .post = extra, .npost = HP_ARRAY_SIZE(extra)};
	struct hp_recompile n = {.source = u->patched,
				 .output = u->new_o,
				 .pre = u->pre,
				 .npre = u->npre,
				 .post = extra,
				 .npost = HP_ARRAY_SIZE(extra)};
	char *w1 = NULL, *w2 = NULL, *w3 = NULL;

	if (asprintf(&w1, "compiling %s as it is", u->rel) < 0 ||
	    asprintf(&w2, "compiling %s patched", u->rel) < 0 ||
	    asprintf(&w3, "compiling %s as its command says", u->rel) < 0) {
		free(w1);
		free(w2);
		return -ENOMEM;
	}
	ret[0] = (struct hp_job){.dir = u->cmd->directory,
				 .argv = hp_ccmd_argv(u->cmd, &o),
				 .what = w1};
	ret[1] = (struct hp_job){.dir = u->cmd->directory,
				 .argv = hp_ccmd_argv(u->cmd, &n),
				 .what = w2};
	ret[2] = (struct hp_job){.dir = u->cmd->directory,
				 .argv = hp_ccmd_argv(u->cmd, &x),
				 .what = w3};
	if (!ret[0].argv || !ret[1].argv || !ret[2].argv)
		return -ENOMEM;
	return 0;
}

/* Every function of the unit that the target has must be the target's
 * own bytes: only then does the comparison speak of the running code. */
static int verify_all(struct hp_bunit *u, const struct hp_tfile *t)
{
	for (size_t i = 0; i < u->exact.nsyms; i++) {
		const struct hp_osym *s = &u->exact.syms[i];

		if (!s->defined || s->type != HP_OSYM_FUNC ||
		    !hp_tfile_sym(t, u->block, &u->exact, i))
			continue;
		int r = hp_tfile_verify(t, u->block, &u->exact, i);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether every local function and variable of the unit is in `block`. */
static bool block_has_locals(const struct hp_bunit *u, const struct hp_tfile *t, int block)
{
	for (size_t i = 0; i < u->exact.nsyms; i++) {
		const struct hp_osym *s = &u->exact.syms[i];

		if (s->defined && s->local &&
		    (s->type == HP_OSYM_FUNC || s->type == HP_OSYM_DATA) &&
		    !hp_tfile_sym(t, block, &u->exact, i))
			return false;
	}
	return true;
}

/* The unit's block in the target: by its file name and locals and, when
 * two files of one name have the same locals (two util.c with a static
 * helper each), by which one the rebuilt code reproduces. */
static int place(struct hp_bunit *u, const struct hp_tfile *t)
{
	int r = hp_tfile_place(t, &u->exact, &u->block), found = -1, nfound = 0;
	struct hp_error first = hp_err;

	if (r == 0)
		return verify_all(u, t);
	for (size_t b = 0; u->exact.file && b < t->nblocks; b++) {
		if (strcmp(hp_basename(t->blocks[b].file), hp_basename(u->exact.file)) ||
		    !block_has_locals(u, t, (int)b))
			continue;
		u->block = (int)b;
		if (verify_all(u, t) == 0) {
			found = (int)b;
			nfound++;
		}
	}
	if (nfound == 1) {
		u->block = found;
		return 0;
	}
	hp_err = first;
	return r;
}

static int parse_source(struct hp_bunit *u)
{
	size_t n = 0;
	char **args = hp_ccmd_parse_args(u->cmd, &n), **all;
	int r;

	if (!args)
		return -ENOMEM;
	all = calloc(n + u->npre + 3, sizeof(*all));
	if (!all) {
		hp_ccmd_argv_free(args);
		return -ENOMEM;
	}
	/* relative paths of the command are its directory's */
	all[0] = "-working-directory";
	all[1] = u->cmd->directory;
	for (size_t i = 0; i < u->npre; i++)
		all[2 + i] = u->pre[i];
	for (size_t i = 0; i < n; i++)
		all[2 + u->npre + i] = args[i];
	/* clang parses as "GCC 4.2": claiming the target's GCC would take
	 * glibc's branches for attributes clang 14 lacks (malloc(dealloc)) */
	r = hp_src_parse(u->patched, all, n + u->npre + 2, &u->src);
	free(all);
	hp_ccmd_argv_free(args);
	return r;
}

int hp_bunit_analyse(struct hp_bunit *u, const struct hp_tfile *t)
{
	int r = hp_obj_load(u->orig_o, &u->orig);

	if (r == 0)
		r = hp_obj_load(u->new_o, &u->new);
	if (r == 0)
		r = hp_obj_load(u->exact_o, &u->exact);
	if (r < 0)
		return r;
	if (u->orig.lto || u->new.lto || u->exact.lto)
		return hp_fail(-HP_EREFUSED,
			       "%s is built with link-time optimisation (-flto): its code is "
			       "decided when the whole program is linked, so recompiling one unit "
			       "says nothing of the target's code",
			       u->rel);
	r = hp_obj_diff(&u->orig, &u->new, &u->diff);
	if (r == 0)
		r = place(u, t);
	if (r == 0)
		r = hp_dw_open(u->orig_o, &u->dw_orig);
	if (r == 0)
		r = hp_dw_open(u->new_o, &u->dw_new);
	if (r == 0)
		r = parse_source(u);
	return r;
}

void hp_bunit_free(struct hp_bunit *u)
{
	free(u->rel);
	free(u->patched);
	free(u->orig_o);
	free(u->new_o);
	free(u->exact_o);
	hp_obj_free(&u->exact);
	hp_ccmd_argv_free(u->pre);
	hp_obj_free(&u->orig);
	hp_obj_free(&u->new);
	hp_objdiff_free(&u->diff);
	if (u->dw_orig)
		hp_dw_close(u->dw_orig);
	if (u->dw_new)
		hp_dw_close(u->dw_new);
	hp_src_free(&u->src);
	*u = (struct hp_bunit){0};
}
