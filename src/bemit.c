/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bemit.h"

#include <fcntl.h>
#include <stdarg.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "patchfile.h"
#include "util.h"

extern const char hp_public_header[]; /* include/hotpatch.h (embed_header.py) */

/* Per unit: where its generated source and object go. */
struct out {
	char *c, *o;
	struct hp_obj obj;
};

/* A C string literal of `s` (names here are plain, but files may not be). */
static void quoted(struct hp_buf *b, const char *s)
{
	hp_buf_printf(b, "\"");
	for (; *s; s++)
		hp_buf_printf(b, (*s == '"' || *s == '\\') ? "\\%c" : "%c", *s);
	hp_buf_printf(b, "\"");
}

static int gen_unit(struct hp_bunit *u, size_t i, struct hp_bplan *pl, const struct hp_bemit *e,
		    struct out *o)
{
	char *text = NULL;
	size_t len = 0;
	struct hp_buf b = {0};
	int r = hp_src_generate(&u->src, pl->rules[i], pl->nrules[i], pl->lrules[i], pl->nlrules[i],
				e->banner, &text, &len);

	if (r < 0)
		return hp_fail_prefix(r, "%s: ", u->rel);
	hp_buf_printf(&b,
		      "%s\n/* The records hotpatch reads: what this unit replaces. */\n#include \"hotpatch.h\"\n",
		      text);
	if (i == 0) {
		hp_buf_printf(&b, "HOTPATCH_BUILD_ID(");
		quoted(&b, e->object);
		hp_buf_printf(&b, ", \"%s\");\n", e->build_id);
	}
	for (size_t k = 0; k < pl->nredirects; k++) {
		if (pl->redirects[k].unit != i)
			continue;
		hp_buf_printf(&b, "HOTPATCH_REPLACE_NAMED(");
		quoted(&b, e->object);
		hp_buf_printf(&b, ", ");
		quoted(&b, pl->redirects[k].target);
		hp_buf_printf(&b, ", %s);\n", pl->redirects[k].newname);
	}
	free(text);
	r = b.oom ? -ENOMEM : hp_bwork_write_file(o->c, b.s, b.len);
	free(b.s);
	return r;
}

static char *const fix_flags[] = {"-fPIC", "-Wno-error"};

static int compile_units(struct hp_bunit *u, size_t n, struct out *o, unsigned jobs)
{
	struct hp_job *j = calloc(n, sizeof(*j));
	int r = 0;

	if (!j)
		return -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct hp_recompile rc = {.source = o[i].c,
					  .output = o[i].o,
					  .pre = u[i].pre,
					  .npre = u[i].npre,
					  .post = fix_flags,
					  .npost = HP_ARRAY_SIZE(fix_flags)};
		char *what = NULL;

		if (asprintf(&what, "compiling the patch's %s", hp_basename(o[i].c)) < 0)
			r = -ENOMEM;
		j[i] = (struct hp_job){.dir = u[i].cmd->directory,
				       .argv = hp_ccmd_argv(u[i].cmd, &rc),
				       .what = what};
		if (!j[i].argv)
			r = -ENOMEM;
	}
	if (r == 0)
		r = hp_run_jobs(j, n, jobs);
	for (size_t i = 0; i < n; i++) {
		hp_ccmd_argv_free((char **)j[i].argv);
		free((char *)j[i].what);
	}
	hp_jobs_free(j, n);
	free(j);
	return r;
}

static const struct hp_bbind *bind_of(const struct hp_bplan *pl, const char *local)
{
	for (size_t i = 0; i < pl->nbinds; i++)
		if (!strcmp(pl->binds[i].local, local))
			return &pl->binds[i];
	return NULL;
}

/* A variable the patch defines that the target has too, and the plan did
 * not mean to copy (one a header defines), would be a second copy. */
static int check_defined(struct hp_bunit *u, size_t i, struct hp_bplan *pl,
			 const struct hp_tfile *t, struct hp_obj *fo, struct hp_build_report *rep)
{
	for (size_t k = 0; k < fo->nsyms; k++) {
		const struct hp_osym *s = &fo->syms[k];
		int oi;
		bool kept = false;

		if (!s->defined || s->readonly ||
		    (s->type != HP_OSYM_DATA && s->type != HP_OSYM_TLS))
			continue;
		oi = hp_obj_find(&u->orig, s->key);
		if (oi < 0 || !hp_tfile_sym(t, u->block, &u->orig, (size_t)oi))
			continue;
		for (char **kp = pl->keep[i]; kp && *kp; kp++)
			kept |= !strcmp(*kp, s->name);
		if (!kept)
			hp_bnote_add(&rep->refusals, &rep->nrefusals, s->name,
				     "the patch would define a second %s beside the target's (a "
				     "definition in a header, or one hotpatch build could not turn "
				     "into a declaration) (%s)",
				     s->name, u->rel);
	}
	return 0;
}

/* Every undefined symbol of a patch object that the target defines is
 * bound to the target's copy: the labels of statics, as planned, and the
 * globals by their names (the target need not export them). */
static int collect_binds(struct hp_bunit *u, struct hp_bplan *pl, const struct hp_tfile *t,
			 struct hp_obj *fo, struct hp_bplan *used)
{
	for (size_t k = 0; k < fo->nsyms; k++) {
		const struct hp_osym *s = &fo->syms[k];
		const struct hp_bbind *b;
		char *q = NULL;

		if (s->defined || bind_of(used, s->name))
			continue;
		b = bind_of(pl, s->name);
		if (b)
			q = strdup(b->target);
		else if (!s->local)
			q = hp_bplan_qualified(t, u->block, fo, k);
		if (!q)
			continue; /* the C library's, and the like: ld.so binds them */
		struct hp_bbind *nb = realloc(used->binds, (used->nbinds + 1) * sizeof(*nb));

		if (!nb) {
			free(q);
			return -ENOMEM;
		}
		used->binds = nb;
		nb[used->nbinds].local = strdup(s->name);
		nb[used->nbinds++].target = q;
	}
	return 0;
}

/* The bound references become weak: the dynamic loader leaves them zero
 * rather than refuse the patch, and hotpatch fills them in. */
static int weaken(const char *path, const struct hp_bplan *used)
{
	int fd = open(path, O_RDWR | O_CLOEXEC), r = 0;
	Elf *elf;
	Elf_Scn *scn = NULL;

	if (fd < 0)
		return hp_fail(-errno, "cannot open %s: %m", path);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_RDWR, NULL);
	if (!elf) {
		close(fd);
		return hp_fail(-EINVAL, "%s: %s", path, elf_errmsg(-1));
	}
	elf_flagelf(elf, ELF_C_SET, ELF_F_LAYOUT);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx != SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !bind_of(used, name))
				continue;
			sym.st_info = GELF_ST_INFO(STB_WEAK, GELF_ST_TYPE(sym.st_info));
			gelf_update_sym(d, (int)i, &sym);
			elf_flagdata(d, ELF_C_SET, ELF_F_DIRTY);
		}
	}
	if (elf_update(elf, ELF_C_WRITE) < 0)
		r = hp_fail(-EIO, "cannot update %s: %s", path, elf_errmsg(-1));
	elf_end(elf);
	close(fd);
	return r;
}

static int write_binds(const char *path, const struct hp_bplan *used, const struct hp_bemit *e)
{
	struct hp_buf b = {0};
	int r;

	hp_buf_printf(&b,
		      "%s\n/* What the patch takes from the target: each name below is a weak "
		      "reference of\n * the patch, which hotpatch points at the target's own "
		      "copy after loading it. */\n#include \"hotpatch.h\"\n\n",
		      e->banner);
	for (size_t i = 0; i < used->nbinds; i++) {
		hp_buf_printf(&b, "HOTPATCH_BIND_NAMED(");
		quoted(&b, e->object);
		hp_buf_printf(&b, ", ");
		quoted(&b, used->binds[i].target);
		hp_buf_printf(&b, ", ");
		quoted(&b, used->binds[i].local);
		hp_buf_printf(&b, ");\n");
	}
	r = b.oom ? -ENOMEM : hp_bwork_write_file(path, b.s, b.len);
	hp_buf_free(&b);
	return r;
}

static int link_patch(struct hp_bunit *u, size_t n, struct out *o, const char *binds_o,
		      const char *out, const char *dir)
{
	char **argv = calloc(n + 10, sizeof(*argv));
	size_t k = 0;
	struct hp_job j = {.dir = dir, .what = "linking the patch"};
	int r;

	if (!argv)
		return -ENOMEM;
	argv[k++] = u[0].cmd->argv[0];
	argv[k++] = "-shared";
	argv[k++] = "-Wl,-z,now";
	argv[k++] = "-Wl,-z,relro";
	argv[k++] = "-Wl,--build-id";
	for (size_t i = 0; i < n; i++)
		argv[k++] = o[i].o;
	if (binds_o)
		argv[k++] = (char *)binds_o;
	argv[k++] = "-o";
	argv[k++] = (char *)out;
	j.argv = argv;
	r = hp_run_jobs(&j, 1, 1);
	hp_jobs_free(&j, 1);
	free(argv);
	return r;
}

static int compile_binds(struct hp_bunit *u, const char *c, const char *obj, const char *dir)
{
	char *argv[] = {u[0].cmd->argv[0], "-c", "-fPIC", (char *)c, "-o", (char *)obj, NULL};
	struct hp_job j = {.dir = dir, .argv = argv, .what = "compiling the patch's bindings"};
	int r = hp_run_jobs(&j, 1, 1);

	hp_jobs_free(&j, 1);
	return r;
}

/* The patch must read back as hotpatch will read it when it applies. */
static int self_check(const char *path, const struct hp_bplan *pl)
{
	struct hp_patchfile pf = {0};
	int r = hp_patchfile_load(path, &pf);

	if (r < 0)
		return hp_fail_prefix(r, "the patch just built does not load: ");
	if (pf.nreplace != pl->nredirects)
		r = hp_fail(-EPROTO, "the patch just built has %zu replacements, not %zu",
			    pf.nreplace, pl->nredirects);
	hp_patchfile_free(&pf);
	return r;
}

static int out_paths(struct hp_bunit *u, size_t n, struct hp_bwork *w, struct out *o)
{
	for (size_t i = 0; i < n; i++) {
		const char *base = hp_basename(u[i].cmd->file);
		size_t bl = strlen(base);

		if (bl > 2 && !strcmp(base + bl - 2, ".c"))
			bl -= 2;
		if (asprintf(&o[i].c, "%s/out/fix-%zu-%.*s.c", w->dir, i, (int)bl, base) < 0 ||
		    asprintf(&o[i].o, "%s/out/fix-%zu-%.*s.o", w->dir, i, (int)bl, base) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Compiles the units' patch sources and binds what they take. */
static int build_objects(struct hp_bunit *u, size_t n, struct hp_bplan *pl,
			 const struct hp_tfile *t, const struct hp_bemit *e, struct out *o,
			 struct hp_bplan *used, struct hp_build_report *rep)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++)
		r = gen_unit(&u[i], i, pl, e, &o[i]);
	if (r == 0)
		r = compile_units(u, n, o, e->jobs);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = hp_obj_load(o[i].o, &o[i].obj);
		if (r == 0)
			r = check_defined(&u[i], i, pl, t, &o[i].obj, rep);
		if (r == 0)
			r = collect_binds(&u[i], pl, t, &o[i].obj, used);
	}
	if (r == 0 && rep->nrefusals)
		r = hp_fail(-HP_EREFUSED, "%zu refusal%s", rep->nrefusals,
			    rep->nrefusals == 1 ? "" : "s");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = weaken(o[i].o, used);
	return r;
}

int hp_bemit_run(struct hp_bunit *u, size_t n, struct hp_bplan *pl, const struct hp_tfile *t,
		 struct hp_bwork *w, const struct hp_bemit *e, struct hp_build_report *rep)
{
	struct out *o = calloc(n, sizeof(*o));
	struct hp_bplan used = {0};
	char *hdr = NULL, *bc = NULL, *bo = NULL, *tmp = NULL;
	int r = o ? out_paths(u, n, w, o) : -ENOMEM;

	if (r == 0 && (asprintf(&hdr, "%s/out/hotpatch.h", w->dir) < 0 ||
		       asprintf(&bc, "%s/out/binds.c", w->dir) < 0 ||
		       asprintf(&bo, "%s/out/binds.o", w->dir) < 0 ||
		       asprintf(&tmp, "%s.tmp%d", e->output, (int)getpid()) < 0))
		r = -ENOMEM;
	if (r == 0)
		r = hp_bwork_write_file(hdr, hp_public_header, strlen(hp_public_header));
	if (r == 0)
		r = build_objects(u, n, pl, t, e, o, &used, rep);
	if (r == 0 && used.nbinds && (r = write_binds(bc, &used, e)) == 0)
		r = compile_binds(u, bc, bo, w->dir);
	if (r == 0)
		r = link_patch(u, n, o, used.nbinds ? bo : NULL, tmp, w->dir);
	if (r == 0)
		r = self_check(tmp, pl);
	if (r == 0 && rename(tmp, e->output) < 0)
		r = hp_fail(-errno, "cannot write %s: %m", e->output);
	if (r < 0 && tmp)
		unlink(tmp);
	for (size_t i = 0; o && i < n; i++) {
		free(o[i].c);
		free(o[i].o);
		hp_obj_free(&o[i].obj);
	}
	free(o);
	hp_bplan_free(&used, 0);
	free(hdr);
	free(bc);
	free(bo);
	free(tmp);
	return r;
}
