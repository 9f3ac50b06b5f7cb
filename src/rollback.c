/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rollback reads as its verbs: open the session, recover what an
 * interrupted run left, choose the record, revert it (check, flip back,
 * unload, drop the record), close.
 */
#include "rollback.h"

#include <stdio.h>
#include <string.h>

#include "options.h"
#include "patchfile.h"
#include "recover.h"
#include "report.h"
#include "revert.h"
#include "session.h"
#include "util.h"

static bool is_asked(const uint8_t sha256[32], const char *rpath, const struct hp_patchfile *pf,
		     const char *path)
{
	return pf ? !memcmp(sha256, pf->sha256, 32) : (path && rpath && !strcmp(rpath, path));
}

/* Newest first; a dry run takes none out, so each is judged as the ones
 * before it would leave it. */
static int revert_all(struct hp_session *s, const struct hp_options *o, struct hp_report *rep)
{
	int r = 0;

	for (size_t i = s->reg.n; i-- > 0 && r == 0;)
		r = hp_revert(s, i, o, true, rep);
	return r;
}

static int not_applied(struct hp_session *s, const struct hp_patchfile *pf, const char *path)
{
	struct hp_buf b = {0};
	int r;

	for (size_t i = 0; i < s->reg.n; i++)
		hp_buf_printf(&b, "%s%s", i ? ", " : "", hp_basename(s->reg.p[i].path));
	r = hp_fail(-HP_ENOTAPPLIED, "%s is not applied in pid %d (%s); applied: %s",
		    pf ? pf->path : path, s->t.pid, s->t.comm, b.s ? b.s : "nothing");
	hp_buf_free(&b);
	return r;
}

/* The record asked for, or the rollback an interrupted run began and
 * hp_recover() just finished. */
static int revert_chosen(struct hp_session *s, const struct hp_patchfile *pf, const char *path,
			 const struct hp_options *o, struct hp_report *rep)
{
	for (size_t i = 0; i < s->reg.n; i++)
		if (is_asked(s->reg.p[i].sha256, s->reg.p[i].path, pf, path))
			return hp_revert(s, i, o, false, rep);
	for (size_t i = 0; i < s->nfinished; i++)
		if (is_asked(s->finished[i].sha256, s->finished[i].path, pf, path)) {
			hp_report_patch(rep, &s->finished[i], "rolled-back");
			return 0;
		}
	return not_applied(s, pf, path);
}

int hp_rollback(pid_t pid, struct hp_patchfile *pf, const char *path, bool all,
		const struct hp_options *o, struct hp_report *rep)
{
	struct hp_session s;
	uint64_t t0 = hp_now_ns();
	int r;

	memset(rep, 0, sizeof(*rep));
	r = hp_session_open(&s, pid, "rollback", o, rep);
	if (r == 0 && !o->dry_run)
		r = hp_recover(&s, o);
	if (r < 0)
		goto out;
	if (s.reg.n == 0 && !s.nfinished)
		r = hp_fail(-HP_ENOTAPPLIED, "nothing is applied in pid %d (%s)", pid, s.t.comm);
	else if (all)
		r = revert_all(&s, o, rep);
	else
		r = revert_chosen(&s, pf, path, o, rep);
out:
	rep->remote_calls = s.rc.calls;
	hp_session_close(&s);
	rep->total_ns = hp_now_ns() - t0;
	return r;
}
