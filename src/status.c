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
