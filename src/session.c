/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session.h"

#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "lock.h"
#include "modules.h"
#include "util.h"

int hp_session_open(struct hp_session *s, pid_t pid, const char *verb, const struct hp_options *o,
		    struct hp_report *rep, bool recover)
{
	int r;

	memset(s, 0, sizeof(*s));
	/* On a host whose cores are all busy, a tool at the default priority
	 * gets a sliver of a CPU and holds the target's threads for seconds:
	 * hotpatch runs ahead of them while it holds the target. */
	s->sched_token = hp_sched_raise();
	s->lock = HP_LOCK_INIT;
	s->deadline = o->deadline ? o->deadline : hp_now_ns() + o->timeout_ns;
	rep->pid = pid;
	hp_trace("session open");
	r = hp_target_open(&s->t, pid);
	s->t_open = true;
	snprintf(rep->comm, sizeof(rep->comm), "%s", s->t.comm);
	if (r < 0)
		return r;
	snprintf(rep->exe, sizeof(rep->exe), "%s", s->t.exe);
	s->t.use_freezer = o->freezer;
	s->t.deadline = s->deadline;
	r = hp_lock_take(&s->lock, pid, s->t.start_time, verb, s->deadline);
	if (r < 0)
		return r;
	hp_fault_point("lock:taken");
	r = hp_modules_load(&s->t, &s->m);
	if (r < 0)
		return r;
	s->m_loaded = true;
	hp_trace("modules loaded");
	r = hp_remote_init(&s->rc, &s->t, &s->m);
	if (r < 0)
		return r;
	s->rc_ready = true;
	hp_trace("remote ready");
	r = hp_registry_read(&s->rc, &s->reg);
	hp_trace("registry read");
	rep->has_registry = s->rc.ctl != 0;
	if (r == 0 && recover && !o->dry_run)
		r = hp_recover(s, o);
	return r;
}

void hp_session_close(struct hp_session *s)
{
	hp_trace("session close");
	/* whatever failed, no thread stays stopped or attached */
	if (s->t_open)
		hp_target_close(&s->t);
	hp_registry_free(&s->reg);
	for (size_t i = 0; i < s->nfinished; i++)
		free(s->finished[i].path);
	free(s->finished);
	if (s->rc_ready)
		hp_remote_free(&s->rc);
	if (s->m_loaded)
		hp_modules_free(&s->m);
	hp_trace("session: target closed");
	hp_lock_release(&s->lock);
	hp_sched_restore(s->sched_token);
	hp_trace("session closed");
}

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
	for (size_t k = 0; k < p->nfuncs; k++) {
		const struct hp_reg_func *f = &p->funcs[k];
		struct hp_func_report *fr = &pr->funcs[k];

		fr->symbol = hp_strdup(f->symbol);
		fr->object = hp_strdup(f->object);
		fr->replacement = hp_strdup(f->replacement_name);
		fr->entry = f->entry;
		fr->dest = f->replacement;
		fr->slot = f->slot;
		fr->bytes_ok = true;
		fr->result = action;
	}
	return pr;
}

int hp_remote_error(struct hp_session *s, uint64_t err, const char *what)
{
	long e = -(long)err;

	return hp_fail(e > 0 && e < 4096 ? (int)-e : -EIO, "%s in pid %d failed: %s", what,
		       s->t.pid, e > 0 && e < 4096 ? strerror((int)e) : "bad result");
}

/* Takes a loaded patch back out of the target: unloads it and unmaps its
 * trampolines.  Its pads and windows must already be as before. */
/*
 * dlclose and munmap, only of what is still ours: after a crash the handle
 * may already be closed (and its memory reused by another object), and a
 * trampoline range may already be unmapped (and reused by the target).
 */
int hp_session_unload(struct hp_session *s, const struct hp_reg_patch *rp, bool keep_loaded)
{
	struct hp_rop ops[HP_CALL_MAX_OPS];
	uint64_t ret[HP_CALL_MAX_OPS], base;
	struct hp_maps maps = {0};
	char name[256];
	size_t k = 0;
	int r = 0;

	if (keep_loaded)
		return 0;
	memset(ops, 0, sizeof(ops));
	if (rp->handle && hp_lm_lookup(&s->t, &s->m, rp->handle, &base, name, sizeof(name)) == 0 &&
	    base == rp->base && !strncmp(name, "/proc/self/fd/", 14))
		ops[k++] = (struct hp_rop){.fn = s->rc.fn_dlclose, .args = {rp->handle}};
	if (rp->ntramps && hp_maps_read(s->t.pid, &maps) < 0)
		return hp_err.code;
	for (size_t i = 0; i < rp->ntramps; i++) {
		const struct hp_mapping *mp = hp_maps_find(&maps, rp->tramps[i].addr);

		if (!mp || mp->start != rp->tramps[i].addr ||
		    mp->end != rp->tramps[i].addr + rp->tramps[i].len || !mp->path ||
		    strcmp(mp->path, "/memfd:" HP_TRAMP_NAME) ||
		    mp->prot != (HP_PROT_R | HP_PROT_X))
			continue;
		ops[k++] = (struct hp_rop){.nr = SYS_munmap,
					   .args = {rp->tramps[i].addr, rp->tramps[i].len}};
		if (k == HP_CALL_MAX_OPS) {
			r = hp_remote_call(&s->rc, ops, k, NULL, 0, ret, s->deadline,
					   "unloading the patch");
			if (r < 0)
				goto out;
			k = 0;
			memset(ops, 0, sizeof(ops));
		}
	}
	if (k)
		r = hp_remote_call(&s->rc, ops, k, NULL, 0, ret, s->deadline,
				   "unloading the patch");
out:
	hp_maps_free(&maps);
	return r;
}

int hp_record_remove(struct hp_session *s, uint32_t id)
{
	for (size_t i = 0; i < s->reg.n; i++)
		if (s->reg.p[i].id == id) {
			hp_reg_patch_free(&s->reg.p[i]);
			memmove(&s->reg.p[i], &s->reg.p[i + 1],
				(s->reg.n - i - 1) * sizeof(*s->reg.p));
			s->reg.n--;
			return hp_registry_write(&s->rc, &s->reg);
		}
	return 0;
}
