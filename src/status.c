/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status and list: read-only looks at a target; no thread is stopped. */
#include "status.h"

#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "options.h"
#include "plan.h"
#include "report.h"
#include "session.h"
#include "util.h"

/* One function of patch p: are the bytes what should be there (the
 * topmost patch's; or, for a patch not applied yet, the original)? */
static void judge(struct hp_session *s, const struct hp_reg_patch *p, const struct hp_reg_func *f,
		  struct hp_func_report *fr)
{
	struct hp_reg_patch *topp = NULL;
	struct hp_reg_func *top = hp_registry_top(&s->reg, f->entry, &topp);
	const struct hp_reg_func *want = top ? top : f;
	uint8_t b[HP_PAD_LEN + HP_WIN_LEN];
	const uint8_t *pad = b, *win = b + HP_PAD_LEN;
	bool is_top = topp == p;

	if (hp_mem_read(&s->t, f->pad, b, HP_PAD_LEN) < 0 ||
	    hp_mem_read(&s->t, f->window, b + HP_PAD_LEN, HP_WIN_LEN) < 0) {
		fr->bytes_ok = false;
		snprintf(fr->found, sizeof(fr->found), "unreadable");
		return;
	}
	fr->stacked = !is_top || hp_registry_top(&s->reg, f->entry, NULL) != f;
	fr->bytes_ok = hp_func_state(want->old_pad, want->old_win, want->new_pad, want->new_win,
				     pad, win) == HP_FUNC_OURS ||
		       (p->state != HP_REG_APPLIED &&
			hp_func_state(f->old_pad, f->old_win, f->new_pad, f->new_win, pad, win) ==
				HP_FUNC_ORIGINAL);
	if (!fr->bytes_ok)
		hp_hex(fr->found, sizeof(fr->found), b, sizeof(b));
	fr->layout = is_top ? "active" : "overridden";
}

int hp_status(pid_t pid, const struct hp_options *o, struct hp_report *rep)
{
	struct hp_session s;
	uint64_t t0 = hp_now_ns();
	int r;

	memset(rep, 0, sizeof(*rep));
	r = hp_session_open(&s, pid, "status", o, rep);
	if (r == -HP_EUNSUPPORTED && s.t_open && s.t.pid) {
		/* a process hotpatch cannot patch has nothing applied */
		hp_error_clear();
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	for (size_t i = 0; i < s.reg.n; i++) {
		const struct hp_reg_patch *p = &s.reg.p[i];
		struct hp_patch_report *pr =
			hp_report_patch(rep, p,
					p->state == HP_REG_APPLIED ? "applied" : "incomplete");

		if (!pr)
			break;
		for (size_t k = 0; k < p->nfuncs && k < pr->nfuncs; k++)
			judge(&s, p, &p->funcs[k], &pr->funcs[k]);
	}
out:
	rep->remote_calls = s.rc.calls;
	hp_session_close(&s);
	rep->total_ns = hp_now_ns() - t0;
	return r;
}

void hp_listing_free(struct hp_listing *l)
{
	for (size_t i = 0; i < l->nobjs; i++) {
		for (size_t k = 0; k < l->objs[i].nfuncs; k++)
			free(l->objs[i].funcs[k].name);
		free(l->objs[i].funcs);
		free(l->objs[i].path);
	}
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
	lo->funcs[lo->nfuncs++] = (struct hp_listed_func){hp_strdup(name), entry, layout};
	return 0;
}

/* The functions of one object that can be patched, into lo; an object
 * that does not answer is not one without patchable functions: that is
 * the only error. */
static int list_object(struct hp_target *t, const struct hp_modules *m, struct hp_object *ob,
		       struct hp_listed_object *lo)
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

int hp_list(pid_t pid, const struct hp_options *o, struct hp_listing *ret)
{
	struct hp_target t;
	struct hp_modules m;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->pid = pid;
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
	for (size_t i = 0; i < m.n && r == 0; i++) {
		struct hp_listed_object lo = {0}, *no;

		r = list_object(&t, &m, &m.obj[i], &lo);
		if (r < 0 || !lo.nfuncs) {
			free(lo.funcs);
			continue;
		}
		lo.path = hp_strdup(m.obj[i].path);
		no = realloc(ret->objs, (ret->nobjs + 1) * sizeof(*no));
		if (!no) {
			hp_listing_free(&(struct hp_listing){.objs = &lo, .nobjs = 1});
			break;
		}
		ret->objs = no;
		ret->objs[ret->nobjs++] = lo;
	}
	hp_modules_free(&m);
	hp_target_close(&t);
	return r;
}
