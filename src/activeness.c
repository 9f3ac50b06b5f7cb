/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "activeness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "modules.h"
#include "report.h"
#include "session.h"
#include "stackcheck.h"
#include "symbols.h"
#include "util.h"

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
static int thread_inside(struct hp_active *c, struct hp_thread *th, bool *ret)
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

/* Steps a thread whose instruction pointer is in the patch until it is out:
 * a small replacement is usually a few instructions from returning into
 * the target.  Never over a system call (it could block) and never past a
 * signal: those threads are left to drain(). */
#define LEAVE_STEPS 64

static void step_out(struct hp_active *c, struct hp_target *t, struct hp_thread *th)
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

int hp_active_check(void *vctx, struct hp_target *t)
{
	struct hp_active *c = vctx;

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
int hp_active_drain(struct hp_active *c, uint64_t deadline)
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

void hp_active_free(struct hp_active *c)
{
	free(c->busy);
	c->busy = NULL;
	c->nbusy = 0;
}
