/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status and list: read-only looks at a target; no thread is stopped. */
#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "patch.h"
#include "session.h"
#include "util.h"

int hp_status(pid_t pid, const struct hp_options *o, struct hp_report *rep)
{
	struct hp_session s;
	uint64_t t0 = hp_now_ns();
	int r;

	memset(rep, 0, sizeof(*rep));
	r = hp_session_open(&s, pid, o, rep);
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
			hp_report_patch(rep, p, p->state == HP_REG_APPLIED ? "applied" : "incomplete");

		if (!pr)
			break;
		for (size_t k = 0; k < p->nfuncs && k < pr->nfuncs; k++) {
			const struct hp_reg_func *f = &p->funcs[k];
			struct hp_reg_patch *topp = NULL;
			struct hp_reg_func *top = hp_registry_top(&s.reg, f->entry, &topp);
			uint8_t b[HP_PAD_LEN + HP_WIN_LEN];
			bool is_top = topp == p;

			if (hp_mem_read(&s.t, f->pad, b, HP_PAD_LEN) < 0 ||
			    hp_mem_read(&s.t, f->window, b + HP_PAD_LEN, HP_WIN_LEN) < 0) {
				pr->funcs[k].bytes_ok = false;
				snprintf(pr->funcs[k].found, sizeof(pr->funcs[k].found), "unreadable");
				continue;
			}
			pr->funcs[k].stacked = !is_top || hp_registry_top(&s.reg, f->entry, NULL) != f;
			/* what should be there: the topmost patch's bytes */
			const struct hp_reg_func *want = top ? top : f;
			bool ok = !memcmp(b, want->new_pad, HP_PAD_LEN) &&
				  !memcmp(b + HP_PAD_LEN, want->new_win, HP_WIN_LEN);
			if (p->state != HP_REG_APPLIED)
				ok = ok || (!memcmp(b, f->old_pad, HP_PAD_LEN) &&
					    !memcmp(b + HP_PAD_LEN, f->old_win, HP_WIN_LEN));
			pr->funcs[k].bytes_ok = ok;
			if (!ok)
				hp_hex(pr->funcs[k].found, sizeof(pr->funcs[k].found), b, sizeof(b));
			pr->funcs[k].layout = is_top ? "active" : "overridden";
		}
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

int hp_list(pid_t pid, const struct hp_options *o, struct hp_listing *ret)
{
	struct hp_target t;
	struct hp_modules m;
	int r;

	(void)o;
	memset(ret, 0, sizeof(*ret));
	ret->pid = pid;
	r = hp_target_open(&t, pid);
	if (r < 0) {
		hp_target_close(&t);
		return r;
	}
	snprintf(ret->comm, sizeof(ret->comm), "%s", t.comm);
	r = hp_modules_load(&t, &m);
	if (r < 0) {
		hp_target_close(&t);
		return r;
	}
	for (size_t i = 0; i < m.n; i++) {
		struct hp_object *ob = &m.obj[i];
		struct hp_listed_object lo = {0};
		uint64_t *pads = NULL;
		size_t npads = 0, cap = 0;
		struct hp_elf *e;

		if (hp_object_elf(&t, ob, &e) < 0 || hp_elf_patchable_entries(e, &pads, &npads) < 0) {
			hp_error_clear();
			continue;
		}
		for (size_t k = 0; k < npads; k++) {
			const struct hp_sym *f = hp_elf_func_after(e, pads[k]);
			uint8_t buf[HP_PRO_BEFORE + HP_PRO_AFTER];
			struct hp_prologue pro;
			uint64_t entry;

			if (!f || f->value - pads[k] > 64)
				continue;
			entry = ob->bias + f->value;
			if (hp_mem_read(&t, entry - HP_PRO_BEFORE, buf, sizeof(buf)) < 0 ||
			    hp_prologue_analyze(buf, sizeof(buf), entry - HP_PRO_BEFORE, entry, &pro) < 0) {
				hp_error_clear();
				continue;
			}
			if (hp_grow((void **)&lo.funcs, &cap, lo.nfuncs, sizeof(*lo.funcs)) < 0)
				break;
			lo.funcs[lo.nfuncs++] = (struct hp_listed_func){hp_strdup(f->name), entry, pro.layout};
		}
		free(pads);
		if (!lo.nfuncs) {
			free(lo.funcs);
			continue;
		}
		lo.path = hp_strdup(ob->path);
		struct hp_listed_object *no = realloc(ret->objs, (ret->nobjs + 1) * sizeof(*no));
		if (!no) {
			free(lo.path);
			free(lo.funcs);
			break;
		}
		ret->objs = no;
		ret->objs[ret->nobjs++] = lo;
	}
	hp_modules_free(&m);
	hp_target_close(&t);
	return 0;
}
