/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rollback: check (stacking, bytes against the record and the file on
 * disk), flip back once no thread is inside the patch (window first, then
 * pad), drop the record, unload.
 */
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "memory.h"
#include "patch.h"
#include "patchfile.h"
#include "session.h"
#include "stackcheck.h"
#include "util.h"

struct active_ctx {
	struct hp_session *s;
	const struct hp_reg_patch *p;
	pid_t *busy; /* threads found inside the patch */
	size_t nbusy;
	char reason[512];
	struct hp_report *rep;
};

static bool in_patch(const struct hp_reg_patch *p, uint64_t ip)
{
	if (p->text.len && ip >= p->text.addr && ip < p->text.addr + p->text.len)
		return true;
	for (size_t i = 0; i < p->ntramps; i++)
		if (ip >= p->tramps[i].addr && ip < p->tramps[i].addr + p->tramps[i].len)
			return true;
	return false;
}

static void frame_name(struct hp_session *s, uint64_t ip, char *out, size_t outsz)
{
	struct hp_object *o = hp_modules_at(&s->m, ip);
	const struct hp_sym *sym = NULL;
	struct hp_elf *e;

	if (o && hp_object_elf(&s->t, o, &e) == 0)
		sym = hp_elf_func_at(e, ip - o->bias);
	hp_error_clear();
	if (sym)
		snprintf(out, outsz, "%s+0x%llx", sym->name,
			 (unsigned long long)(ip - o->bias - sym->value));
	else
		snprintf(out, outsz, "0x%llx (a trampoline)", (unsigned long long)ip);
}

/*
 * Cheap first look: every frame of a thread keeps its return address on the
 * thread's stack, so a stack with no word pointing into the patch has no
 * patch frame.  Only a thread with such a word gets a full libunwind walk
 * (the word may be a stale value, not a frame).
 */
static bool may_be_inside(struct hp_session *s, const struct hp_reg_patch *p, struct hp_thread *th)
{
	const struct hp_mapping *mp;
	uint64_t lo, hi, words[512];

	if (hp_thread_getregs(&s->t, th) < 0)
		return true;
	if (in_patch(p, th->regs.rip))
		return true;
	mp = hp_maps_find(&s->m.maps, th->regs.rsp);
	if (!mp)
		return true; /* a stack made after we looked: walk it */
	lo = th->regs.rsp & ~7ull;
	hi = mp->end;
	if (hi - lo > (4u << 20))
		return true;
	for (uint64_t a = lo; a < hi; a += sizeof(words)) {
		size_t n = (size_t)HP_MIN((uint64_t)sizeof(words), hi - a);

		if (hp_mem_read(&s->t, a, words, n) < 0)
			return true;
		for (size_t i = 0; i < n / 8; i++)
			if (in_patch(p, words[i]))
				return true;
	}
	return false;
}

/* Is this stopped thread running patch code?  Says where, in c->reason. */
static int thread_inside(struct active_ctx *c, struct hp_thread *th, bool *ret)
{
	struct hp_stack st;

	*ret = false;
	if (!may_be_inside(c->s, c->p, th))
		return 0;
	if (hp_stack_walk(c->s->rc.unw, th, &st) < 0)
		return hp_err.code;
	for (size_t f = 0; f < st.n; f++) {
		uint64_t ip = hp_frame_pc(&st, f);
		char name[256];

		if (!in_patch(c->p, ip))
			continue;
		frame_name(c->s, ip, name, sizeof(name));
		snprintf(c->reason, sizeof(c->reason),
			 "thread %d is running patch code (frame #%zu: %s)", th->tid, f, name);
		*ret = true;
		return 0;
	}
	return 0;
}

/* With every thread stopped, right after the bytes went back: which
 * threads are still inside the patch?  No other thread can enter it now. */
/* Steps a thread whose instruction pointer is in the patch until it is out:
 * a small replacement is usually a few instructions from returning into
 * the target.  Never over a system call (it could block) and never past a
 * signal: those threads are left to drain(). */
#define LEAVE_STEPS 64

static void step_out(struct active_ctx *c, struct hp_target *t, struct hp_thread *th)
{
	for (int k = 0; k < LEAVE_STEPS && in_patch(c->p, th->regs.rip); k++) {
		uint8_t insn[2];
		size_t held = th->nheld;

		if (hp_mem_pread(t, th->regs.rip, insn, 2) < 0 ||
		    (insn[0] == 0x0f && (insn[1] == 0x05 || insn[1] == 0x34)) ||
		    (insn[0] == 0xcd && insn[1] == 0x80))
			return;
		if (hp_thread_step(t, th, c->s->deadline) < 0 || th->gone || th->nheld > held ||
		    hp_thread_getregs(t, th) < 0) {
			hp_error_clear();
			return;
		}
	}
}

static int activeness(void *vctx, struct hp_target *t)
{
	struct active_ctx *c = vctx;

	c->nbusy = 0;
	free(c->busy);
	c->busy = calloc(t->n ? t->n : 1, sizeof(*c->busy));
	if (!c->busy)
		return hp_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n; i++) {
		struct hp_thread *th = &t->th[i];
		if (!th->stopped || th->gone)
			continue;
		/* only the cheap look here, in the pause; drain() walks them */
		if (!may_be_inside(c->s, c->p, th))
			continue;
		c->rep->inside++;
		step_out(c, t, th);
		if (may_be_inside(c->s, c->p, th))
			c->busy[c->nbusy++] = th->tid;
	}
	return c->nbusy ? -EAGAIN : 0;
}

/*
 * Waits for the threads found inside to leave.  No thread can enter the
 * patch any more, so each look stops all that are left at once and walks
 * their stacks: on a host whose cores are busy, a thread waits for a CPU to
 * reach its stop, and those waits overlap instead of adding up.
 */
static int drain(struct active_ctx *c, uint64_t deadline)
{
	struct hp_target *t = &c->s->t;
	unsigned pause_us = 200;

	while (c->nbusy) {
		size_t left = 0;
		int r;

		c->rep->drain_rounds++;
		hp_sleep_us(pause_us); /* let them run on a little */
		pause_us = HP_MIN(pause_us * 2, 20000u);
		hp_target_scan_threads(t, NULL);
		r = hp_threads_stop(t, c->busy, c->nbusy, deadline);
		for (size_t i = 0; i < c->nbusy; i++) {
			struct hp_thread *th = hp_target_find(t, c->busy[i]);
			bool inside = false;

			if (!th || th->gone)
				continue;
			if (r == 0 && th->stopped)
				r = thread_inside(c, th, &inside);
			if (inside && th->group_stop) {
				/* it will not leave until the process is continued */
				size_t l = strlen(c->reason);

				snprintf(c->reason + l, sizeof(c->reason) - l,
					 ", and the process is stopped (SIGSTOP): continue it, or "
					 "roll back with --keep-loaded");
				r = -HP_ETIMEOUT;
			}
			hp_thread_detach(t, th);
			if (inside)
				c->busy[left++] = c->busy[i];
		}
		c->nbusy = left;
		if (r < 0)
			return r;
		if (c->nbusy && hp_now_ns() >= deadline)
			return -HP_ETIMEOUT;
	}
	return 0;
}

static int check_bytes(struct hp_session *s, const struct hp_reg_patch *p, size_t idx, bool force)
{
	for (size_t k = 0; k < p->nfuncs; k++) {
		const struct hp_reg_func *f = &p->funcs[k];
		uint8_t pad[HP_PAD_LEN], win[HP_WIN_LEN];
		bool ok_pad, ok_win, bottom = true;
		int r;

		if ((r = hp_mem_read(&s->t, f->pad, pad, HP_PAD_LEN)) < 0 ||
		    (r = hp_mem_read(&s->t, f->window, win, HP_WIN_LEN)) < 0)
			return r;
		ok_pad = !memcmp(pad, f->new_pad, HP_PAD_LEN) ||
			 (p->state != HP_REG_APPLIED && !memcmp(pad, f->old_pad, HP_PAD_LEN));
		ok_win = !memcmp(win, f->new_win, HP_WIN_LEN) ||
			 (p->state != HP_REG_APPLIED && !memcmp(win, f->old_win, HP_WIN_LEN));
		if (!(ok_pad && ok_win) && !force) {
			char have[64], want[64], b[HP_PAD_LEN + HP_WIN_LEN];

			memcpy(b, pad, HP_PAD_LEN);
			memcpy(b + HP_PAD_LEN, win, HP_WIN_LEN);
			hp_hex(have, sizeof(have), (uint8_t *)b, sizeof(b));
			memcpy(b, f->new_pad, HP_PAD_LEN);
			memcpy(b + HP_PAD_LEN, f->new_win, HP_WIN_LEN);
			hp_hex(want, sizeof(want), (uint8_t *)b, sizeof(b));
			return hp_fail(-HP_EMISMATCH,
				       "%s in pid %d no longer holds what hotpatch wrote (pad and window: "
				       "%s, recorded: %s): a debugger or another tool changed it. Nothing "
				       "was written; --force puts the recorded original back anyway",
				       f->symbol, s->t.pid, have, want);
		}
		/* The bottom patch of a function knows its original bytes: they
		 * must be the ones in the file the process runs. */
		for (size_t j = 0; j < idx; j++)
			for (size_t q = 0; q < s->reg.p[j].nfuncs; q++)
				if (s->reg.p[j].funcs[q].entry == f->entry)
					bottom = false;
		if (!bottom)
			continue;
		struct hp_object *o = hp_modules_at(&s->m, f->entry);
		uint8_t fpad[HP_PAD_LEN], fwin[HP_WIN_LEN];
		struct hp_elf *e;

		if (!o || hp_object_elf(&s->t, o, &e) < 0 ||
		    hp_elf_vaddr_read(e, f->pad - o->bias, fpad, HP_PAD_LEN) < 0 ||
		    hp_elf_vaddr_read(e, f->window - o->bias, fwin, HP_WIN_LEN) < 0) {
			hp_error_clear();
			hp_note("could not compare the original bytes of %s with its file on disk",
				f->symbol);
			continue;
		}
		if ((memcmp(fpad, f->old_pad, HP_PAD_LEN) ||
		     memcmp(fwin, f->old_win, HP_WIN_LEN)) &&
		    !force)
			return hp_fail(-HP_EMISMATCH,
				       "the original bytes recorded for %s differ from %s on disk; the "
				       "record may be damaged. Nothing was written; --force restores the "
				       "recorded bytes anyway",
				       f->symbol, o->path);
	}
	return 0;
}

static int rollback_one(struct hp_session *s, size_t idx, const struct hp_options *o,
			struct hp_report *rep)
{
	struct hp_reg_patch *p = &s->reg.p[idx];
	struct hp_write *w = calloc(2 * p->nfuncs + 1, sizeof(*w));
	struct hp_range *forbid = calloc(2 * p->nfuncs + 1, sizeof(*forbid));
	struct active_ctx ctx = {.s = s, .p = p, .rep = rep};
	struct hp_patch_report *pr;
	size_t nw = 0, nf = 0;
	int r;

	if (!w || !forbid) {
		r = hp_fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t j = idx + 1; j < s->reg.n; j++)
		for (size_t k = 0; k < p->nfuncs; k++)
			for (size_t q = 0; q < s->reg.p[j].nfuncs; q++)
				if (s->reg.p[j].funcs[q].entry == p->funcs[k].entry) {
					r = hp_fail(-HP_ESTACKED,
						    "%s cannot be rolled back in pid %d: %s (id %u) lies on "
						    "top of it for %s; roll that back first, or use --all",
						    p->path, s->t.pid, s->reg.p[j].path,
						    s->reg.p[j].id, p->funcs[k].symbol);
					goto out;
				}
	r = check_bytes(s, p, idx, o->force);
	if (r < 0)
		goto out;
	hp_fault_point("rollback:checked");
	hp_trace("rollback: building writes");
	for (size_t k = 0; k < p->nfuncs; k++) {
		const struct hp_reg_func *f = &p->funcs[k];
		uint8_t pad[HP_PAD_LEN], win[HP_WIN_LEN];

		hp_mem_read(&s->t, f->pad, pad, HP_PAD_LEN);
		hp_mem_read(&s->t, f->window, win, HP_WIN_LEN);
		if (memcmp(win, f->old_win, HP_WIN_LEN)) {
			w[nw] = (struct hp_write){.addr = f->window, .len = HP_WIN_LEN, .phase = 0};
			memcpy(w[nw].old, win, HP_WIN_LEN);
			memcpy(w[nw++].new, f->old_win, HP_WIN_LEN);
		}
		if (memcmp(pad, f->old_pad, HP_PAD_LEN)) {
			w[nw] = (struct hp_write){.addr = f->pad, .len = HP_PAD_LEN, .phase = 1};
			memcpy(w[nw].old, pad, HP_PAD_LEN);
			memcpy(w[nw++].new, f->old_pad, HP_PAD_LEN);
		}
		forbid[nf++] =
			(struct hp_range){f->window + 1,
					  f->window + HP_MAX(f->window_len, HP_WIN_LEN), f->symbol};
		forbid[nf++] = (struct hp_range){f->pad + 1, f->pad + HP_PAD_LEN, f->symbol};
	}
	if (o->dry_run) {
		hp_report_patch(rep, p, "would-roll-back");
		goto out;
	}
	/* say so in the record first: a run killed from here on leaves a record
	 * the next run knows to finish */
	if (p->state != HP_REG_ROLLING_BACK) {
		uint32_t was = p->state;

		p->state = HP_REG_ROLLING_BACK;
		r = hp_registry_write(&s->rc, &s->reg);
		if (r < 0) {
			p->state = was;
			goto out;
		}
		p->state = was; /* for the report and the byte checks */
	}
	/*
	 * Window first, then pad, in one stop: from then on no call enters the
	 * patch.  Unloading it waits until no thread is still inside it; if
	 * one stays inside past --timeout the bytes go back to the patch's, so
	 * that a refusal leaves the target as it was.  With --keep-loaded the
	 * code stays, and threads may stay in it.
	 */
	hp_trace("rollback: flipping");
	r = hp_flip(&s->t, w, nw, forbid, nf, o->keep_loaded ? NULL : activeness, &ctx, s->deadline,
		    &rep->flip);
	hp_fault_point("rollback:flipped");
	if (r == -EAGAIN)
		r = drain(&ctx, s->deadline);
	hp_fault_point("rollback:drained");
	if (r == -HP_ETIMEOUT) {
		char reason[sizeof(ctx.reason)];
		struct hp_flip_stats again = {0};
		int rr;

		memcpy(reason, ctx.reason, sizeof(reason));
		for (size_t i = 0; i < nw; i++) { /* the same writes, the other way */
			uint8_t tmp[8];

			memcpy(tmp, w[i].old, sizeof(tmp));
			memcpy(w[i].old, w[i].new, sizeof(tmp));
			memcpy(w[i].new, tmp, sizeof(tmp));
			w[i].phase = !w[i].phase; /* pad before window */
		}
		rr = hp_flip(&s->t, w, nw, forbid, nf, NULL, NULL, hp_now_ns() + 5000000000ull,
			     &again);
		if (rr == 0)
			hp_registry_write(&s->rc, &s->reg); /* its state is still APPLIED */
		r = hp_fail(-HP_EBUSY, "cannot roll back %s in pid %d: %s; %s", p->path, s->t.pid,
			    reason,
			    rr == 0 ? "the patch stays applied, as before"
				    : "and putting the patch back failed too: check hotpatch status");
	}
	if (r < 0)
		goto out;
	pr = hp_report_patch(rep, p, "rolled-back");
	/* keep what unloading needs: the record goes first */
	struct hp_reg_patch gone = {.handle = p->handle,
				    .base = p->base,
				    .text = p->text,
				    .ntramps = p->ntramps};
	gone.tramps = calloc(p->ntramps ? p->ntramps : 1, sizeof(*gone.tramps));
	if (!gone.tramps) {
		r = hp_fail(-ENOMEM, "out of memory");
		goto out;
	}
	memcpy(gone.tramps, p->tramps, p->ntramps * sizeof(*gone.tramps));
	/* unload first, then drop the record: a run killed in between leaves
	 * a ROLLING_BACK record, and unloading again is harmless */
	if (!o->keep_loaded) {
		uint64_t t1 = hp_now_ns();

		r = hp_session_unload(s, &gone, false);
		hp_fault_point("rollback:unloaded");
		rep->unload_ns += hp_now_ns() - t1;
		if (r < 0) {
			hp_fail_prefix(r, "the patch is rolled back, but unloading it failed: ");
			goto out_gone;
		}
		if (pr)
			pr->unloaded = true;
		if (gone.text.len) {
			struct hp_maps maps;

			if (hp_maps_read(s->t.pid, &maps) == 0) {
				const struct hp_mapping *mp = hp_maps_find(&maps, gone.text.addr);

				if (mp && mp->path && !strncmp(mp->path, "/memfd:hotpatch:", 16)) {
					hp_note("dlclose left the patch mapped in pid %d: something "
						"else holds a reference to it",
						s->t.pid);
					if (pr)
						pr->unloaded = false;
				}
				hp_maps_free(&maps);
			}
		}
	}
	r = hp_record_remove(s, p->id);
	hp_fault_point("rollback:unrecorded");
out_gone:
	free(gone.tramps);
out:
	free(ctx.busy);
	free(w);
	free(forbid);
	return r;
}

/* Did every function of an interrupted apply get its new bytes? */
static bool flip_happened(struct hp_session *s, const struct hp_reg_patch *p)
{
	for (size_t k = 0; k < p->nfuncs; k++) {
		const struct hp_reg_func *f = &p->funcs[k];
		uint8_t pad[HP_PAD_LEN], win[HP_WIN_LEN];

		if (hp_mem_read(&s->t, f->pad, pad, HP_PAD_LEN) < 0 ||
		    hp_mem_read(&s->t, f->window, win, HP_WIN_LEN) < 0 ||
		    memcmp(pad, f->new_pad, HP_PAD_LEN) || memcmp(win, f->new_win, HP_WIN_LEN))
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

/* Queues one op; runs the queue when it is full (or at the end). */
static void queue_op(struct hp_session *s, struct hp_rop *ops, size_t *k, const struct hp_rop *op)
{
	uint64_t ret[HP_CALL_MAX_OPS];

	if (op)
		ops[(*k)++] = *op;
	if (*k == HP_CALL_MAX_OPS || (!op && *k)) {
		hp_remote_call(&s->rc, ops, *k, NULL, 0, ret, s->deadline, "cleaning up");
		*k = 0;
		memset(ops, 0, HP_CALL_MAX_OPS * sizeof(*ops));
	}
}

/*
 * What a load killed before its record was written left in the target: the
 * patch's memfd still open, the patch loaded with no record, trampoline
 * pages no record names.  No other hotpatch runs (we hold the lock), so
 * whatever of ours no record owns is such a leftover.
 */
static void take_out_orphans(struct hp_session *s)
{
	struct hp_rop ops[HP_CALL_MAX_OPS];
	struct hp_ctl_hdr hdr;
	struct hp_maps maps = {0};
	struct dirent *de;
	uint64_t *nodes = NULL;
	size_t k = 0, nnodes = 0;
	char path[64];
	DIR *d;

	if (!s->rc.ctl || hp_ctl_read(&s->rc, &hdr) < 0 || !hdr.pending_load)
		return;
	memset(ops, 0, sizeof(ops));
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
		if (!strncmp(link, "/memfd:hotpatch", 15)) {
			struct hp_rop op = {.nr = SYS_close,
					    .args = {strtoull(de->d_name, NULL, 10)}};

			queue_op(s, ops, &k, &op);
		}
	}
	if (d)
		closedir(d);
	if (hp_maps_read(s->t.pid, &maps) == 0 && hp_lm_nodes(&s->t, &s->m, &nodes, &nnodes) == 0) {
		for (size_t i = 0; i < nnodes; i++) {
			uint64_t base;
			char name[256];
			const struct hp_mapping *mp;

			if (hp_lm_lookup(&s->t, &s->m, nodes[i], &base, name, sizeof(name)) < 0 ||
			    strncmp(name, "/proc/self/fd/", 14) || owned_by_record(s, nodes[i], 0))
				continue;
			mp = hp_maps_find(&maps, base);
			if (mp && mp->path && !strncmp(mp->path, "/memfd:hotpatch:", 16)) {
				struct hp_rop op = {.fn = s->rc.fn_dlclose, .args = {nodes[i]}};

				queue_op(s, ops, &k, &op);
			}
		}
		for (size_t i = 0; i < maps.n; i++) {
			const struct hp_mapping *mp = &maps.m[i];

			if (mp->path && !strcmp(mp->path, "/memfd:" HP_TRAMP_NAME) &&
			    !owned_by_record(s, 0, mp->start)) {
				struct hp_rop op = {.nr = SYS_munmap,
						    .args = {mp->start, mp->end - mp->start}};

				queue_op(s, ops, &k, &op);
			}
		}
	}
	queue_op(s, ops, &k, NULL);
	free(nodes);
	hp_maps_free(&maps);
	if (hp_ctl_read(&s->rc, &hdr) == 0) {
		hdr.pending_load = 0;
		hp_ctl_write(&s->rc, &hdr);
	}
	hp_error_clear();
}

int hp_recover(struct hp_session *s, const struct hp_options *o)
{
	take_out_orphans(s);
	/* newest first: an interrupted run leaves at most its own record */
	for (size_t i = s->reg.n; i-- > 0;) {
		struct hp_reg_patch *p = &s->reg.p[i];
		struct hp_options ro = *o;
		struct hp_report scratch = {0};
		char path[4096];
		uint32_t id = p->id, state = p->state;
		int r;

		if (p->state == HP_REG_APPLIED)
			continue;
		snprintf(path, sizeof(path), "%s", p->path ? p->path : "?");
		if (p->state == HP_REG_LOADED && flip_happened(s, p)) {
			p->state = HP_REG_APPLIED;
			p->applied_ns = hp_wall_ns();
			r = hp_registry_write(&s->rc, &s->reg);
			if (r < 0)
				return r;
			hp_note("completed the apply of %s (id %u) that an earlier hotpatch began",
				path, id);
			continue;
		}
		ro.dry_run = false;
		ro.keep_loaded = false;
		ro.force = false;
		if (state == HP_REG_ROLLING_BACK) {
			struct hp_reg_patch *nf =
				realloc(s->finished, (s->nfinished + 1) * sizeof(*nf));

			if (nf) {
				s->finished = nf;
				nf[s->nfinished] =
					(struct hp_reg_patch){.id = id, .path = hp_strdup(path)};
				memcpy(nf[s->nfinished++].sha256, p->sha256, 32);
			}
		}
		r = rollback_one(s, i, &ro, &scratch);
		hp_report_free(&scratch);
		if (r < 0)
			return hp_fail_prefix(r,
					      "cleaning up after an earlier hotpatch that did not finish "
					      "with %s: ",
					      path);
		/* p is gone now */
		hp_note("took out %s (id %u), which an earlier hotpatch left half %s", path, id,
			state == HP_REG_LOADED ? "applied" : "rolled back");
	}
	return 0;
}

int hp_rollback(pid_t pid, struct hp_patchfile *pf, const char *path, bool all,
		const struct hp_options *o, struct hp_report *rep)
{
	struct hp_session s;
	uint64_t t0 = hp_now_ns();
	int r;

	memset(rep, 0, sizeof(*rep));
	r = hp_session_open(&s, pid, "rollback", o, rep, true);
	if (r < 0)
		goto out;
	if (s.reg.n == 0 && !s.nfinished) {
		r = hp_fail(-HP_ENOTAPPLIED, "nothing is applied in pid %d (%s)", pid, s.t.comm);
		goto out;
	}
	if (all) {
		while (s.reg.n > 0 && r == 0)
			r = rollback_one(&s, s.reg.n - 1, o, rep);
		goto out;
	}
	for (size_t i = 0; i < s.reg.n; i++) {
		bool match = pf ? !memcmp(s.reg.p[i].sha256, pf->sha256, 32)
				: (path && s.reg.p[i].path && !strcmp(s.reg.p[i].path, path));

		if (match) {
			r = rollback_one(&s, i, o, rep);
			goto out;
		}
	}
	/* the rollback asked for was the one an interrupted run began and
	 * hp_recover() just finished */
	for (size_t i = 0; i < s.nfinished; i++)
		if (pf ? !memcmp(s.finished[i].sha256, pf->sha256, 32)
		       : (path && !strcmp(s.finished[i].path, path))) {
			hp_report_patch(rep, &s.finished[i], "rolled-back");
			r = 0;
			goto out;
		}
	{
		struct hp_buf b = {0};

		for (size_t i = 0; i < s.reg.n; i++)
			hp_buf_printf(&b, "%s%s", i ? ", " : "", hp_basename(s.reg.p[i].path));
		r = hp_fail(-HP_ENOTAPPLIED, "%s is not applied in pid %d (%s); applied: %s",
			    pf ? pf->path : path, pid, s.t.comm, b.s ? b.s : "nothing");
		hp_buf_free(&b);
	}
out:
	rep->remote_calls = s.rc.calls;
	hp_session_close(&s);
	rep->total_ns = hp_now_ns() - t0;
	return r;
}
