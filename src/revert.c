/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "revert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activeness.h"
#include "load.h"
#include "memory.h"
#include "modules.h"
#include "options.h"
#include "plan.h"
#include "record.h"
#include "report.h"
#include "session.h"
#include "symbols.h"
#include "util.h"

/* The first function at `entry` in records [lo, hi). */
static const struct hp_reg_func *func_in(struct hp_session *s, size_t lo, size_t hi, uint64_t entry)
{
	for (size_t j = lo; j < hi; j++)
		for (size_t q = 0; q < s->reg.p[j].nfuncs; q++)
			if (s->reg.p[j].funcs[q].entry == entry)
				return &s->reg.p[j].funcs[q];
	return NULL;
}

/* A patch above this one for the same function must go first. */
static int check_on_top(struct hp_session *s, size_t idx)
{
	const struct hp_reg_patch *p = &s->reg.p[idx];

	for (size_t j = idx + 1; j < s->reg.n; j++)
		for (size_t k = 0; k < p->nfuncs; k++)
			if (func_in(s, j, j + 1, p->funcs[k].entry))
				return hp_fail(-HP_ESTACKED,
					       "%s cannot be rolled back in pid %d: %s (id %u) lies on "
					       "top of it for %s; roll that back first, or use --all",
					       p->path, s->t.pid, s->reg.p[j].path, s->reg.p[j].id,
					       p->funcs[k].symbol);
	return 0;
}

/* The function's pad and window now; with `above_gone`, as the lowest
 * patch above it for the same function would leave them. */
static int now_bytes(struct hp_session *s, size_t idx, const struct hp_reg_func *f, bool above_gone,
		     uint8_t pad[HP_PAD_LEN], uint8_t win[HP_WIN_LEN])
{
	const struct hp_reg_func *above =
		above_gone ? func_in(s, idx + 1, s->reg.n, f->entry) : NULL;
	int r;

	if (above) {
		memcpy(pad, above->old_pad, HP_PAD_LEN);
		memcpy(win, above->old_win, HP_WIN_LEN);
		return 0;
	}
	if ((r = hp_mem_read(&s->t, f->pad, pad, HP_PAD_LEN)) < 0 ||
	    (r = hp_mem_read(&s->t, f->window, win, HP_WIN_LEN)) < 0)
		return r;
	return 0;
}

static int foreign_bytes(struct hp_session *s, const struct hp_reg_func *f, const uint8_t *pad,
			 const uint8_t *win)
{
	char have[64], want[64];
	uint8_t b[HP_PAD_LEN + HP_WIN_LEN];

	memcpy(b, pad, HP_PAD_LEN);
	memcpy(b + HP_PAD_LEN, win, HP_WIN_LEN);
	hp_hex(have, sizeof(have), b, sizeof(b));
	memcpy(b, f->new_pad, HP_PAD_LEN);
	memcpy(b + HP_PAD_LEN, f->new_win, HP_WIN_LEN);
	hp_hex(want, sizeof(want), b, sizeof(b));
	return hp_fail(-HP_EMISMATCH,
		       "%s in pid %d no longer holds what hotpatch wrote (pad and window: %s, "
		       "recorded: %s): a debugger or another tool changed it. Nothing was "
		       "written; --force puts the recorded original back anyway",
		       f->symbol, s->t.pid, have, want);
}

/* The bottom patch of a function knows its original bytes: they must be
 * the ones in the file the process runs. */
static int check_original(struct hp_session *s, size_t idx, const struct hp_reg_func *f, bool force)
{
	uint8_t fpad[HP_PAD_LEN], fwin[HP_WIN_LEN];
	struct hp_object *o;
	struct hp_elf *e;

	if (func_in(s, 0, idx, f->entry))
		return 0; /* not the bottom one */
	o = hp_modules_at(&s->m, f->entry);
	if (!o || hp_object_elf(&s->t, o, &e) < 0 ||
	    hp_elf_vaddr_read(e, f->pad - o->bias, fpad, HP_PAD_LEN) < 0 ||
	    hp_elf_vaddr_read(e, f->window - o->bias, fwin, HP_WIN_LEN) < 0) {
		hp_error_clear();
		hp_note("could not compare the original bytes of %s with its file on disk",
			f->symbol);
		return 0;
	}
	if ((memcmp(fpad, f->old_pad, HP_PAD_LEN) || memcmp(fwin, f->old_win, HP_WIN_LEN)) &&
	    !force)
		return hp_fail(-HP_EMISMATCH,
			       "the original bytes recorded for %s differ from %s on disk; the "
			       "record may be damaged. Nothing was written; --force restores the "
			       "recorded bytes anyway",
			       f->symbol, o->path);
	return 0;
}

/* Checks every function's bytes and builds the writes that put the
 * recorded originals back. */
static int make_plan(struct hp_session *s, size_t idx, bool force, bool above_gone,
		     struct hp_plan *ret)
{
	const struct hp_reg_patch *p = &s->reg.p[idx];
	_cleanup_free_ struct hp_plan_func *pf = calloc(p->nfuncs + 1, sizeof(*pf));
	int r;

	if (!pf)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t k = 0; k < p->nfuncs; k++) {
		const struct hp_reg_func *f = &p->funcs[k];
		uint8_t pad[HP_PAD_LEN], win[HP_WIN_LEN];
		enum hp_func_state st;

		r = now_bytes(s, idx, f, above_gone, pad, win);
		if (r < 0)
			return r;
		st = hp_func_state(f->old_pad, f->old_win, f->new_pad, f->new_win, pad, win);
		if (st != HP_FUNC_OURS && (p->state == HP_REG_APPLIED || st == HP_FUNC_FOREIGN) &&
		    !force)
			return foreign_bytes(s, f, pad, win);
		r = check_original(s, idx, f, force);
		if (r < 0)
			return r;
		pf[k] = (struct hp_plan_func){.symbol = f->symbol,
					      .pad = f->pad,
					      .window = f->window,
					      .window_len = f->window_len,
					      .method = f->method};
		memcpy(pf[k].pad_now, pad, HP_PAD_LEN);
		memcpy(pf[k].win_now, win, HP_WIN_LEN);
		memcpy(pf[k].pad_want, f->old_pad, HP_PAD_LEN);
		memcpy(pf[k].win_want, f->old_win, HP_WIN_LEN);
	}
	r = hp_plan_build(HP_PLAN_REVERSE, pf, p->nfuncs, ret);
	return r < 0 ? hp_fail(r, "out of memory") : 0;
}

/* Says so in the record first: a run killed from here on leaves a record
 * the next run knows to finish.  The copy in memory keeps its state, for
 * the report, and for the record to be written back as it was should the
 * rollback be refused. */
static int mark_rolling_back(struct hp_session *s, struct hp_reg_patch *p)
{
	uint32_t was = p->state;
	int r;

	if (p->state == HP_REG_ROLLING_BACK)
		return 0;
	p->state = HP_REG_ROLLING_BACK;
	r = hp_registry_write(&s->rc, &s->reg);
	p->state = was;
	return r;
}

/* A thread stayed inside past --timeout: the same writes the other way,
 * so that the refusal leaves the target as it was. */
static int put_back(struct hp_session *s, const struct hp_reg_patch *p, const struct hp_plan *plan,
		    const char *reason)
{
	struct hp_flip_stats again = {0};
	struct hp_plan back = {0};
	int rr;

	rr = hp_plan_invert(plan, &back);
	if (rr == 0)
		rr = hp_flip(&s->t, back.w, back.nw, back.forbid, back.nforbid, NULL, NULL,
			     hp_now_ns() + 5000000000ull, &again);
	if (rr == 0)
		hp_registry_write(&s->rc, &s->reg); /* its state is still APPLIED */
	hp_plan_free(&back);
	return hp_fail(-HP_EBUSY, "cannot roll back %s in pid %d: %s; %s", p->path, s->t.pid,
		       reason,
		       rr == 0 ? "the patch stays applied, as before"
			       : "and putting the patch back failed too: check hotpatch status");
}

/*
 * Window first, then pad, in one stop: from then on no call enters the
 * patch.  Unloading it waits until no thread is still inside it.  With
 * --keep-loaded the code stays, and threads may stay in it.
 */
static int flip_back(struct hp_session *s, const struct hp_reg_patch *p, const struct hp_plan *plan,
		     const struct hp_options *o, struct hp_report *rep)
{
	struct hp_active act = {.s = s, .p = p, .rep = rep};
	int r;

	hp_trace("rollback: flipping");
	r = hp_flip(&s->t, plan->w, plan->nw, plan->forbid, plan->nforbid,
		    o->keep_loaded ? NULL : hp_active_check, &act, s->deadline, &rep->flip);
	hp_fault_point("rollback:flipped");
	if (r == -EAGAIN)
		r = hp_active_drain(&act, s->deadline);
	hp_fault_point("rollback:drained");
	if (r == -HP_ETIMEOUT)
		r = put_back(s, p, plan, act.reason);
	hp_active_free(&act);
	return r;
}

/* Did dlclose unmap it?  Something else may hold a reference. */
static bool still_mapped(struct hp_session *s, const struct hp_reg_range *text)
{
	struct hp_maps maps;
	bool mapped = false;

	if (text->len && hp_maps_read(s->t.pid, &maps) == 0) {
		mapped = hp_load_is_patch_mapping(hp_maps_find(&maps, text->addr));
		hp_maps_free(&maps);
	}
	return mapped;
}

/* Unload first, then drop the record: a run killed in between leaves a
 * ROLLING_BACK record, and unloading again is harmless. */
static int take_out(struct hp_session *s, struct hp_reg_patch *p, const struct hp_options *o,
		    struct hp_report *rep, struct hp_patch_report *pr)
{
	int r;

	if (!o->keep_loaded) {
		uint64_t t1 = hp_now_ns();

		r = hp_load_unload(s, p);
		hp_fault_point("rollback:unloaded");
		rep->unload_ns += hp_now_ns() - t1;
		if (r < 0)
			return hp_fail_prefix(r, "the patch is rolled back, but unloading it "
						 "failed: ");
		bool mapped = still_mapped(s, &p->text);

		if (pr)
			pr->unloaded = !mapped;
		if (mapped)
			hp_note("dlclose left the patch mapped in pid %d: something else holds a "
				"reference to it",
				s->t.pid);
	}
	r = hp_record_remove(s, p->id);
	hp_fault_point("rollback:unrecorded");
	return r;
}

int hp_revert(struct hp_session *s, size_t idx, const struct hp_options *o, bool above_gone,
	      struct hp_report *rep)
{
	struct hp_reg_patch *p = &s->reg.p[idx];
	struct hp_plan plan = {0};
	int r;

	r = above_gone ? 0 : check_on_top(s, idx);
	if (r == 0)
		r = make_plan(s, idx, o->force, above_gone, &plan);
	if (r < 0)
		goto out;
	hp_fault_point("rollback:checked");
	if (o->dry_run) {
		hp_report_patch(rep, p, "would-roll-back");
		goto out;
	}
	r = mark_rolling_back(s, p);
	if (r == 0)
		r = flip_back(s, p, &plan, o, rep);
	if (r == 0)
		r = take_out(s, p, o, rep, hp_report_patch(rep, p, "rolled-back"));
out:
	hp_plan_free(&plan);
	return r;
}
