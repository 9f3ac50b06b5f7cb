/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recover.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "batch.h"
#include "load.h"
#include "memory.h"
#include "modules.h"
#include "options.h"
#include "plan.h"
#include "record.h"
#include "report.h"
#include "revert.h"
#include "session.h"
#include "util.h"

/* Did every function of an interrupted apply get its new bytes? */
static bool flip_happened(struct hp_session *s, const struct hp_reg_patch *p)
{
	for (size_t k = 0; k < p->nfuncs; k++) {
		const struct hp_reg_func *f = &p->funcs[k];
		uint8_t pad[HP_PAD_LEN], win[HP_WIN_LEN];

		if (hp_mem_read(&s->t, f->pad, pad, HP_PAD_LEN) < 0 ||
		    hp_mem_read(&s->t, f->window, win, HP_WIN_LEN) < 0 ||
		    hp_func_state(f->old_pad, f->old_win, f->new_pad, f->new_win, pad, win) !=
			    HP_FUNC_OURS)
			return false;
	}
	return true;
}

static bool owned_by_record(const struct hp_session *s, uint64_t handle, uint64_t tramp)
{
	for (size_t i = 0; i < s->reg.n; i++) {
		if (handle && s->reg.p[i].handle == handle)
			return true;
		for (size_t k = 0; tramp && k < s->reg.p[i].ntramps; k++)
			if (s->reg.p[i].tramps[k].addr == tramp)
				return true;
	}
	return false;
}

/* The patch's memfd, still open in the target. */
static void close_our_fds(struct hp_session *s, struct hp_batch *b)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", s->t.pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char fdpath[400], link[256];
		ssize_t n;

		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		n = de->d_name[0] == '.' ? -1 : readlink(fdpath, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (hp_load_is_our_fd(link))
			hp_batch_add(b, &(struct hp_rop){.nr = SYS_close,
							 .args = {strtoull(de->d_name, NULL, 10)}});
	}
	if (d)
		closedir(d);
}

/* The patch loaded with no record, and trampoline pages no record names. */
static void unload_unowned(struct hp_session *s, struct hp_batch *b, const struct hp_maps *maps,
			   const uint64_t *nodes, size_t nnodes)
{
	for (size_t i = 0; i < nnodes; i++) {
		uint64_t base;
		char name[256];

		if (hp_lm_lookup(&s->t, &s->m, nodes[i], &base, name, sizeof(name)) < 0 ||
		    !hp_load_is_patch_name(name) || owned_by_record(s, nodes[i], 0))
			continue;
		if (hp_load_is_patch_mapping(hp_maps_find(maps, base)))
			hp_batch_add(b,
				     &(struct hp_rop){.fn = s->rc.fn_dlclose, .args = {nodes[i]}});
	}
	for (size_t i = 0; i < maps->n; i++) {
		const struct hp_mapping *mp = &maps->m[i];

		if (hp_load_is_tramp_mapping(mp) && !owned_by_record(s, 0, mp->start))
			hp_batch_add(b, &(struct hp_rop){.nr = SYS_munmap,
							 .args = {mp->start, mp->end - mp->start}});
	}
}

/*
 * What a load killed before its record was written left in the target.  No
 * other hotpatch runs (we hold the lock), so whatever of ours no record
 * owns is such a leftover.  Best effort: what cannot be taken out now is
 * found again by the next run, whose mark is still set.
 */
static void take_out_orphans(struct hp_session *s)
{
	struct hp_batch b;
	struct hp_maps maps = {0};
	uint64_t *nodes = NULL;
	size_t nnodes = 0;

	if (!hp_record_pending(s))
		return;
	hp_batch_init(&b, &s->rc, s->deadline, "cleaning up");
	close_our_fds(s, &b);
	if (hp_maps_read(s->t.pid, &maps) == 0 && hp_lm_nodes(&s->t, &s->m, &nodes, &nnodes) == 0)
		unload_unowned(s, &b, &maps, nodes, nnodes);
	hp_batch_flush(&b);
	free(nodes);
	hp_maps_free(&maps);
	hp_record_mark_pending(s, false);
	hp_error_clear();
}

/* A rollback an interrupted run began: the rollback asked for now may be
 * that one, and is then already done. */
static void remember_finished(struct hp_session *s, const struct hp_reg_patch *p, const char *path)
{
	struct hp_reg_patch *nf = realloc(s->finished, (s->nfinished + 1) * sizeof(*nf));

	if (!nf)
		return;
	s->finished = nf;
	nf[s->nfinished] = (struct hp_reg_patch){.id = p->id, .path = hp_strdup(path)};
	memcpy(nf[s->nfinished++].sha256, p->sha256, 32);
}

/* Record idx is not applied: finish its apply or take it out. */
static int finish_one(struct hp_session *s, size_t idx, const struct hp_options *o)
{
	struct hp_reg_patch *p = &s->reg.p[idx];
	struct hp_options ro = *o;
	struct hp_report scratch = {0};
	char path[4096];
	uint32_t id = p->id, state = p->state;
	int r;

	snprintf(path, sizeof(path), "%s", p->path ? p->path : "?");
	if (p->state == HP_REG_LOADED && flip_happened(s, p)) {
		r = hp_record_mark_applied(s, p);
		if (r == 0)
			hp_note("completed the apply of %s (id %u) that an earlier hotpatch began",
				path, id);
		return r;
	}
	ro.dry_run = false;
	ro.keep_loaded = false;
	ro.force = false;
	if (state == HP_REG_ROLLING_BACK)
		remember_finished(s, p, path);
	r = hp_revert(s, idx, &ro, false, &scratch);
	hp_report_free(&scratch);
	if (r < 0)
		return hp_fail_prefix(r,
				      "cleaning up after an earlier hotpatch that did not finish with "
				      "%s: ",
				      path);
	/* p is gone now */
	hp_note("took out %s (id %u), which an earlier hotpatch left half %s", path, id,
		state == HP_REG_LOADED ? "applied" : "rolled back");
	return 0;
}

int hp_recover(struct hp_session *s, const struct hp_options *o)
{
	take_out_orphans(s);
	/* newest first: an interrupted run leaves at most its own record */
	for (size_t i = s->reg.n; i-- > 0;) {
		int r;

		if (s->reg.p[i].state == HP_REG_APPLIED)
			continue;
		r = finish_one(s, i, o);
		if (r < 0)
			return r;
	}
	return 0;
}
