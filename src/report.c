/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/hotpatch.h"
#include "classify.h"
#include "patchfile.h"
#include "resolve.h"
#include "util.h"

void hp_report_free(struct hp_report *r)
{
	for (size_t i = 0; i < r->npatches; i++) {
		struct hp_patch_report *p = &r->patches[i];

		for (size_t k = 0; k < p->nfuncs; k++) {
			free(p->funcs[k].symbol);
			free(p->funcs[k].object);
			free(p->funcs[k].replacement);
			free(p->funcs[k].reason);
		}
		free(p->funcs);
		free(p->path);
	}
	free(r->patches);
	memset(r, 0, sizeof(*r));
}

static void report_func(struct hp_func_report *fr, const struct hp_reg_func *f, const char *action)
{
	fr->symbol = hp_strdup(f->symbol);
	fr->object = hp_strdup(f->object);
	fr->replacement = hp_strdup(f->replacement_name);
	fr->entry = f->entry;
	fr->dest = f->replacement;
	fr->slot = f->slot;
	fr->method = hp_method_name(f->method);
	if (f->method != HP_METHOD_PROLOGUE) {
		fr->displaced = f->window_len;
		fr->ninsn = f->ninsn;
	}
	fr->bytes_ok = true;
	fr->result = action;
}

struct hp_patch_report *hp_report_patch(struct hp_report *rep, const struct hp_reg_patch *p,
					const char *action)
{
	struct hp_patch_report *pr;
	struct hp_patch_report *np = realloc(rep->patches, (rep->npatches + 1) * sizeof(*np));

	if (!np)
		return NULL;
	rep->patches = np;
	pr = &rep->patches[rep->npatches++];
	memset(pr, 0, sizeof(*pr));
	pr->id = p->id;
	pr->action = action;
	pr->path = hp_strdup(p->path);
	for (int i = 0; i < 32; i++)
		snprintf(pr->sha256 + 2 * i, 3, "%02x", p->sha256[i]);
	hp_build_id_hex(p->build_id, p->build_id_len, pr->build_id, sizeof(pr->build_id));
	pr->applied_ns = p->applied_ns;
	pr->state = p->state;
	pr->handle = p->handle;
	pr->base = p->base;
	pr->ntramps = p->ntramps;
	pr->funcs = calloc(p->nfuncs ? p->nfuncs : 1, sizeof(*pr->funcs));
	if (!pr->funcs)
		return pr;
	pr->nfuncs = p->nfuncs;
	for (size_t k = 0; k < p->nfuncs; k++)
		report_func(&pr->funcs[k], &p->funcs[k], action);
	return pr;
}

void hp_report_failure(struct hp_report *rep, const struct hp_patchfile *pf,
		       const struct hp_patch_rec *failed, const char *reason)
{
	struct hp_reg_patch rp = {.path = pf->path};
	struct hp_patch_report *pr;
	size_t k = 0;
	char shown[sizeof(((struct hp_symname *)0)->name) + sizeof(((struct hp_symname *)0)->file)];

	memcpy(rp.sha256, pf->sha256, 32);
	pr = hp_report_patch(rep, &rp, "failed");
	if (!pr)
		return;
	free(pr->funcs);
	pr->funcs = calloc(pf->nreplace ? pf->nreplace : 1, sizeof(*pr->funcs));
	if (!pr->funcs) {
		pr->nfuncs = 0;
		return;
	}
	for (size_t i = 0; i < pf->nrec; i++) {
		const struct hp_patch_rec *rec = &pf->rec[i];
		struct hp_func_report *f;

		if (rec->kind != HOTPATCH_KIND_REPLACE)
			continue;
		f = &pr->funcs[k++];
		f->symbol = hp_strdup(hp_symname_show(rec->symbol, shown, sizeof(shown)));
		f->object = hp_strdup(rec->object[0] ? rec->object : NULL);
		f->replacement = hp_strdup(rec->replacement_name);
		f->bytes_ok = true;
		if (rec == failed) {
			f->result = "failed";
			f->reason = hp_strdup(reason);
		} else {
			f->result = "skipped";
			f->reason = hp_strdup(failed ? "not applied: a patch applies all of its "
						       "functions or none"
						     : "not applied: the patch as a whole failed");
		}
	}
	pr->nfuncs = k;
}
