/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "memory.h"
#include "modules.h"
#include "options.h"
#include "prologue.h"
#include "symbols.h"
#include "target.h"
#include "util.h"

static void free_object(struct hp_listed_object *lo)
{
	for (size_t k = 0; k < lo->nfuncs; k++) {
		free(lo->funcs[k].name);
		free(lo->funcs[k].reason);
	}
	free(lo->funcs);
	free(lo->path);
}

void hp_listing_free(struct hp_listing *l)
{
	for (size_t i = 0; i < l->nobjs; i++)
		free_object(&l->objs[i]);
	free(l->objs);
	memset(l, 0, sizeof(*l));
}

/* An executable mapping's bytes, read once: every prologue in it is
 * analysed from this copy. */
struct text_copy {
	uint64_t lo, hi;
	uint8_t *bytes;
};

static int read_text(struct hp_target *t, const struct hp_modules *m, const struct hp_object *ob,
		     struct text_copy **ret, size_t *nret)
{
	struct text_copy *tc = NULL;
	size_t n = 0;

	for (size_t i = 0; i < m->maps.n; i++) {
		const struct hp_mapping *mp = &m->maps.m[i];
		struct text_copy *nt;

		if (!(mp->prot & HP_PROT_X) || !mp->path || strcmp(mp->path, ob->path) ||
		    mp->inode != ob->inode || mp->end - mp->start > (256u << 20))
			continue;
		nt = realloc(tc, (n + 1) * sizeof(*tc));
		if (!nt)
			break;
		tc = nt;
		tc[n].lo = mp->start;
		tc[n].hi = mp->end;
		tc[n].bytes = malloc(mp->end - mp->start);
		if (!tc[n].bytes ||
		    hp_mem_read(t, mp->start, tc[n].bytes, mp->end - mp->start) < 0) {
			free(tc[n].bytes);
			hp_error_clear();
			continue;
		}
		n++;
	}
	*ret = tc;
	*nret = n;
	return 0;
}

static bool analyse_at(const struct text_copy *tc, size_t n, uint64_t entry, struct hp_prologue *p)
{
	for (size_t i = 0; i < n; i++)
		if (entry >= tc[i].lo + HP_PRO_BEFORE && entry + HP_PRO_AFTER <= tc[i].hi) {
			const uint8_t *b = tc[i].bytes + (entry - tc[i].lo) - HP_PRO_BEFORE;
			bool ok = hp_prologue_analyze(b, HP_PRO_BEFORE + HP_PRO_AFTER,
						      entry - HP_PRO_BEFORE, entry, p) == 0;

			hp_error_clear();
			return ok;
		}
	return false;
}

static int add_listed(struct hp_listed_object *lo, size_t *cap, const char *name, uint64_t entry,
		      const char *layout)
{
	for (size_t k = 0; k < lo->nfuncs; k++)
		if (lo->funcs[k].addr == entry)
			return 0; /* an alias, or found both ways */
	if (hp_grow((void **)&lo->funcs, cap, lo->nfuncs, sizeof(*lo->funcs)) < 0)
		return -ENOMEM;
	lo->funcs[lo->nfuncs++] = (struct hp_listed_func){.name = hp_strdup(name),
							  .addr = entry,
							  .layout = layout,
							  .method = HP_METHOD_PROLOGUE};
	return 0;
}

/* --relocate: every function of the file, as the classifier sees it. */
static int list_classified(struct hp_target *t, struct hp_elf *e, const struct hp_object *ob,
			   struct hp_listed_object *lo)
{
	struct hp_sym *const *funcs;
	size_t nf = hp_elf_funcs(e, &funcs), cap = 0;

	for (size_t k = 0; k < nf; k++) {
		const struct hp_sym *f = funcs[k];
		struct hp_patchability c;
		struct hp_listed_func *lf;

		if (lo->nfuncs && lo->funcs[lo->nfuncs - 1].addr == ob->bias + f->value)
			continue; /* an alias */
		if ((k & 63) == 0 && hp_now_ns() >= t->deadline)
			return hp_fail(-HP_ETIMEOUT,
				       "classifying the functions of %s took longer than --timeout "
				       "(%zu of %zu done); give a longer one, or --object NAME",
				       ob->path, k, nf);
		if (hp_classify(e, f, &c) < 0) {
			if (hp_err.code == -HP_ETIMEOUT)
				return hp_err.code;
			hp_error_clear();
			continue;
		}
		if (hp_grow((void **)&lo->funcs, &cap, lo->nfuncs, sizeof(*lo->funcs)) < 0)
			return hp_fail(-ENOMEM, "out of memory");
		lf = &lo->funcs[lo->nfuncs++];
		*lf = (struct hp_listed_func){.name = hp_strdup(f->name),
					      .addr = ob->bias + f->value,
					      .layout = c.method == HP_METHOD_PROLOGUE ? "prologue"
										       : NULL,
					      .method = (uint8_t)c.method,
					      .global = f->bind != STB_LOCAL};
		if (c.method == HP_METHOD_REFUSED) {
			lf->code = c.code;
			lf->reason = hp_strdup(c.reason);
		} else if (c.method != HP_METHOD_PROLOGUE) {
			lf->displaced = c.rel.len;
			lf->ninsn = c.rel.ninsn;
		}
	}
	return 0;
}

/* The functions of one object that can be patched, into lo; an object
 * that does not answer is not one without patchable functions: that is
 * the only error. */
static int list_object(struct hp_target *t, const struct hp_modules *m, struct hp_object *ob,
		       bool relocate, struct hp_listed_object *lo)
{
	struct text_copy *tc = NULL;
	uint64_t *pads = NULL;
	size_t npads = 0, ntc = 0, cap = 0, nf;
	struct hp_sym *const *funcs;
	struct hp_prologue pro;
	struct hp_elf *e;

	if (hp_object_elf(t, ob, &e) < 0 || hp_elf_load_symbols(e) < 0 ||
	    hp_elf_patchable_entries(e, &pads, &npads) < 0) {
		if (hp_err.code == -HP_ETIMEOUT)
			return hp_err.code;
		hp_error_clear();
		return 0;
	}
	if (relocate) {
		free(pads);
		return list_classified(t, e, ob, lo);
	}
	read_text(t, m, ob, &tc, &ntc);
	/* what the compiler listed ... */
	for (size_t k = 0; k < npads; k++) {
		const struct hp_sym *f = hp_elf_func_after(e, pads[k]);

		if (f && f->value - pads[k] <= 64 && analyse_at(tc, ntc, ob->bias + f->value, &pro))
			add_listed(lo, &cap, f->name, ob->bias + f->value, pro.layout);
	}
	/* ... and every other function with a prologue hotpatch knows
	 * (ms_hook_prologue is not listed by the compiler) */
	nf = hp_elf_funcs(e, &funcs);
	for (size_t k = 0; k < nf; k++) {
		const struct hp_sym *f = funcs[k];

		if (f->type == STT_FUNC && f->size &&
		    analyse_at(tc, ntc, ob->bias + f->value, &pro))
			add_listed(lo, &cap, f->name, ob->bias + f->value, pro.layout);
	}
	for (size_t k = 0; k < ntc; k++)
		free(tc[k].bytes);
	free(tc);
	free(pads);
	return 0;
}

static int find_only(struct hp_target *t, struct hp_modules *m, const char *name,
		     struct hp_object **ret)
{
	char why[512] = "";
	int r = hp_modules_find(t, m, name, ret, why, sizeof(why));

	if (r == -ENOENT)
		return hp_fail(-HP_ENOSYM, "pid %d maps no object %s%s", t->pid, name, why);
	return r;
}

int hp_list(pid_t pid, const struct hp_options *o, struct hp_listing *ret)
{
	struct hp_object *only = NULL;
	struct hp_target t;
	struct hp_modules m;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->pid = pid;
	ret->relocate = o->relocate;
	r = hp_target_open(&t, pid);
	snprintf(ret->comm, sizeof(ret->comm), "%s", t.comm);
	if (r < 0) {
		hp_target_close(&t);
		return r;
	}
	t.deadline = o->deadline ? o->deadline : hp_now_ns() + o->timeout_ns;
	r = hp_modules_load(&t, &m);
	if (r < 0) {
		hp_target_close(&t);
		return r;
	}
	if (o->list_object && (r = find_only(&t, &m, o->list_object, &only)) < 0) {
		hp_modules_free(&m);
		hp_target_close(&t);
		return r;
	}
	for (size_t i = 0; i < m.n && r == 0; i++) {
		struct hp_listed_object lo = {0}, *no;

		if (only && &m.obj[i] != only)
			continue;
		r = list_object(&t, &m, &m.obj[i], o->relocate, &lo);
		if (r < 0 || !lo.nfuncs) {
			free_object(&lo);
			continue;
		}
		lo.path = hp_strdup(m.obj[i].path);
		no = realloc(ret->objs, (ret->nobjs + 1) * sizeof(*no));
		if (!no) {
			free_object(&lo);
			break;
		}
		ret->objs = no;
		ret->objs[ret->nobjs++] = lo;
	}
	hp_modules_free(&m);
	hp_target_close(&t);
	return r;
}
