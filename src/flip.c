/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "flip.h"

#include <stdio.h>
#include <string.h>

#include "framescan.h"
#include "freezer.h"
#include "memory.h"
#include "plan.h"
#include "target.h"
#include "util.h"

/* Steps that make progress: a window holds at most a few instructions. */
#define MAX_STEPS 64
/* Flips started over because signals kept a thread in a window. */
#define MAX_RESTARTS 200

static void running_hints(struct hp_target *t)
{
	for (size_t i = 0; i < t->n; i++) {
		char state = 0;

		t->th[i].running_hint =
			hp_task_state(t->pid, t->th[i].tid, &state) == 0 && state == 'R';
	}
}

#define PAGE HP_PLAN_PAGE

static int write_spans(struct hp_target *t, struct hp_write *w, size_t nw, bool new_bytes)
{
	uint8_t buf[PAGE], back[PAGE];

	for (size_t i = 0; i < nw;) {
		size_t j = hp_plan_span_end(w, nw, i);
		uint64_t lo = w[i].addr, hi = w[j - 1].addr + w[j - 1].len;
		int r;

		if (hi - lo > sizeof(buf) || j == i + 1) {
			/* a lone write, or one that crosses a page: as it is */
			for (size_t k = i; k < j; k++) {
				const uint8_t *b = new_bytes ? w[k].new : w[k].old;

				r = hp_mem_write(t, w[k].addr, b, w[k].len);
				if (r == 0 && new_bytes)
					r = hp_mem_read(t, w[k].addr, back, w[k].len);
				if (r < 0)
					return r;
				if (new_bytes && memcmp(back, b, w[k].len))
					return hp_fail(-EIO,
						       "bytes written at 0x%llx did not read back",
						       (unsigned long long)w[k].addr);
			}
			i = j;
			continue;
		}
		r = hp_mem_read(t, lo, buf, hi - lo);
		if (r < 0)
			return r;
		for (size_t k = i; k < j; k++)
			memcpy(buf + (w[k].addr - lo), new_bytes ? w[k].new : w[k].old, w[k].len);
		r = hp_mem_write(t, lo, buf, hi - lo);
		if (r == 0 && new_bytes)
			r = hp_mem_read(t, lo, back, hi - lo);
		if (r < 0)
			return r;
		if (new_bytes && memcmp(back, buf, hi - lo))
			return hp_fail(-EIO, "bytes written at 0x%llx did not read back",
				       (unsigned long long)lo);
		i = j;
	}
	return 0;
}

int hp_flip_write(struct hp_target *t, struct hp_write *w, size_t nw)
{
	int r = write_spans(t, w, nw, true);

	if (r < 0) {
		bool back = true;

		/* put back what was there, last written first */
		hp_unwind_begin();
		for (size_t i = nw; i-- > 0;)
			back &= hp_mem_write(t, w[i].addr, w[i].old, w[i].len) == 0;
		hp_unwind_end();
		hp_fail_suffix(r, back ? "; the old bytes were put back"
				       : "; putting the old bytes back failed too");
	}
	return r;
}

static int window_check(struct hp_target *t, const struct hp_range *f, size_t nf, uint64_t deadline,
			struct hp_flip_stats *st)
{
	for (size_t i = 0; i < t->n; i++) {
		struct hp_thread *th = &t->th[i];
		const struct hp_range *in;
		int r;

		if (!th->stopped || th->gone)
			continue;
		r = hp_thread_getregs(t, th);
		if (r < 0) {
			if (r == -ESRCH) {
				th->gone = true;
				continue;
			}
			return r;
		}
		for (int steps = 0; nf && (in = hp_plan_forbidden(f, nf, th->regs.rip));) {
			uint64_t before = th->regs.rip;
			size_t held = th->nheld;

			if (steps == MAX_STEPS)
				return hp_fail(-HP_EBUSY,
					       "thread %d of pid %d stays inside %s (rip 0x%llx) after %d "
					       "single steps; nothing was written",
					       th->tid, t->pid, in->what,
					       (unsigned long long)th->regs.rip, steps);
			r = hp_thread_step(t, th, deadline);
			if (r < 0)
				return r;
			if (th->gone)
				break;
			r = hp_thread_getregs(t, th);
			if (r < 0)
				return r;
			if (th->regs.rip == before && th->nheld > held) {
				/* A signal stopped it instead of the step.  One held
				 * signal goes back whole with the detach; a second would
				 * need tgkill, which a full queue can refuse: start the
				 * flip over instead, and let the target take its signals. */
				if (th->nheld > 1)
					return -EAGAIN;
				continue;
			}
			if (steps++ == 0)
				st->stepped++;
		}
	}
	return 0;
}

/* Seizes and stops every thread; the pause starts at the first interrupt. */
static int stop_world(struct hp_target *t, uint64_t deadline, struct hp_flip_stats *st,
		      uint64_t *ret_t1)
{
	uint64_t t0 = hp_now_ns(), t1;
	int r;

	st->attempts++;
	hp_trace("stop: seizing");
	r = hp_target_seize_all(t);
	if (r < 0)
		return r;
	hp_trace("stop: seized");
	running_hints(t);
	st->sched_token = hp_sched_boost();
	hp_trace("stop: interrupting");
	t1 = hp_now_ns();
	st->seize_ns += t1 - t0;
	*ret_t1 = t1;
	r = hp_target_stop_all(t, deadline);
	st->stop_ns += hp_now_ns() - t1;
	return r;
}

static int resume_world(struct hp_target *t, struct hp_flip_stats *st, uint64_t t1)
{
	unsigned rewound = t->rewound;
	int r;

	st->threads = 0;
	for (size_t i = 0; i < t->n; i++)
		st->threads += !t->th[i].gone && t->th[i].stopped;
	r = hp_target_detach_all(t);
	st->rewound += t->rewound - rewound;
	st->pause_ns += hp_now_ns() - t1;
	if (st->sched_token)
		hp_sched_restore(st->sched_token);
	st->sched_token = 0;
	return r;
}

/* Never leaves a thread stopped, and keeps the first error's words. */
static int bail(struct hp_target *t, struct hp_flip_stats *st, int r)
{
	bool explained = hp_err.code != 0;

	hp_unwind_begin();
	hp_target_detach_all(t);
	hp_unwind_end();
	if (!explained) /* a retry, not a failure: detaching adds nothing */
		hp_error_clear();
	if (st->sched_token)
		hp_sched_restore(st->sched_token);
	st->sched_token = 0;
	return r;
}

/*
 * The opt-in flip through the freezer: every thread frozen, their pcs
 * checked against `forbid`, written, thawed.  -EAGAIN (nothing written)
 * when a thread sits in a window or the freeze does not complete quickly:
 * the caller then uses ptrace, which can single-step.
 */
static int flip_frozen(struct hp_target *t, struct hp_write *w, size_t nw,
		       const struct hp_range *forbid, size_t nforbid, struct hp_flip_stats *st)
{
	struct hp_freeze fz;
	int r;

	r = hp_freezer_freeze(&fz, t, st);
	for (size_t i = 0; r == 0 && i < fz.npc; i++) {
		uint64_t pc = 0;
		int k = hp_freezer_pc(&fz, i, &pc);

		if (k < 0 || (k == 0 && hp_plan_forbidden(forbid, nforbid, pc)))
			r = -EAGAIN; /* in a window: it needs a single step */
	}
	if (r == 0)
		r = hp_flip_write(t, w, nw);
	return hp_freezer_thaw(&fz, st, r);
}

/* A thread's saved pc in displaced bytes: it waits in a signal handler
 * that will return there.  Nothing was written; the caller looks again
 * until the deadline. */
static int saved_busy(struct hp_framescan *fs, struct hp_target *t, unsigned tries)
{
	return hp_fail(-HP_EBUSY,
		       "thread %d of pid %d keeps a saved instruction pointer (0x%llx, on its "
		       "stack at 0x%llx: a signal handler's frame?) inside the bytes a relocation "
		       "of %s displaces, through %u looks until the timeout; nothing was written. "
		       "Retry when the handler has returned",
		       fs->tid, t->pid, (unsigned long long)fs->value,
		       (unsigned long long)fs->where, fs->what, tries);
}

/* Stops the world with no thread inside a forbidden range and no saved pc
 * in a saved one; restarts while signals or handlers are in the way. */
static int stop_clear(struct hp_target *t, struct hp_range *forbid, size_t nforbid,
		      struct hp_framescan *fs, uint64_t deadline, struct hp_flip_stats *st,
		      uint64_t *t1)
{
	unsigned storms = 0, saved = 0;
	uint64_t now = hp_now_ns();
	/* waiting on a handler stops early enough for the caller to undo what
	 * it prepared (unload the patch) within the command's deadline */
	uint64_t give_up =
		deadline - HP_MIN((deadline > now ? deadline - now : 0) / 4, 1000000000ull);
	int r;

	for (;;) {
		r = stop_world(t, deadline, st, t1);
		if (r == -HP_ETIMEOUT && saved) /* the handler outlasted us: say so */
			r = saved_busy(fs, t, saved);
		if (r < 0)
			return bail(t, st, r);
		r = window_check(t, forbid, nforbid, deadline, st);
		if (r == 0 && fs->n) {
			r = hp_framescan_check(fs, t);
			r = r == 1 ? -EINPROGRESS : r;
		}
		if (r != -EAGAIN && r != -EINPROGRESS)
			return r < 0 ? bail(t, st, r) : 0;
		/* nothing written: every thread goes on with its signals */
		int rr = resume_world(t, st, *t1);
		if (rr < 0)
			return rr;
		if (r == -EAGAIN && (storms++ == MAX_RESTARTS || hp_now_ns() >= deadline))
			return hp_fail(-HP_EBUSY,
				       "a storm of signals kept a thread of pid %d inside a window "
				       "through %u tries; nothing was written",
				       t->pid, storms);
		if (r == -EINPROGRESS &&
		    hp_now_ns() + (200000ull << HP_MIN(saved + 1, 8u)) >= give_up)
			return saved_busy(fs, t, saved + 1);
		saved += r == -EINPROGRESS;
		/* a handler may take a while: look less often the longer it does */
		hp_sleep_us(r == -EAGAIN ? 200 : 200u << HP_MIN(saved, 8u));
	}
}

int hp_flip(struct hp_target *t, struct hp_write *w, size_t nw, struct hp_range *forbid,
	    size_t nforbid, hp_flip_check after, void *ctx, uint64_t deadline,
	    struct hp_flip_stats *st)
{
	struct hp_framescan fs;
	uint64_t t1;
	int r, checked = 0;

	hp_plan_sort(w, nw, forbid, nforbid);
	r = hp_framescan_init(&fs, t->pid, forbid, nforbid);
	if (r < 0)
		return r;
	/* the freezer reads no stacks: saved pcs need ptrace's stop */
	if (t->use_freezer && !after && !fs.n &&
	    (!t->freezer_auto || hp_freezer_wins(t->pid, st->choice, sizeof(st->choice)))) {
		r = flip_frozen(t, w, nw, forbid, nforbid, st);
		st->by_freezer = r != -EAGAIN;
		if (r != -EAGAIN)
			goto out;
		st->freezer_fallback = true; /* a thread in a window: ptrace can step it */
	}
	r = stop_clear(t, forbid, nforbid, &fs, deadline, st, &t1);
	if (r < 0)
		goto out;
	hp_fault_point("flip:stopped");
	r = hp_flip_write(t, w, nw);
	hp_fault_point("flip:written");
	if (r < 0) {
		r = bail(t, st, r);
		goto out;
	}
	if (after)
		checked = after(ctx, t);
	r = resume_world(t, st, t1);
	if (r == 0)
		r = checked;
out:
	hp_framescan_free(&fs);
	return r;
}

int hp_flip_probe(struct hp_target *t, struct hp_range *forbid, size_t nforbid, uint64_t deadline,
		  struct hp_flip_stats *st, unsigned *ret_inside)
{
	struct hp_framescan fs;
	uint64_t t1;
	unsigned inside = 0;
	int r;

	if (nforbid)
		hp_plan_sort(NULL, 0, forbid, nforbid);
	r = hp_framescan_init(&fs, t->pid, forbid, nforbid);
	if (r == 0)
		r = stop_world(t, deadline, st, &t1);
	if (r < 0) {
		hp_framescan_free(&fs);
		return bail(t, st, r);
	}
	for (size_t i = 0; i < t->n; i++) {
		struct hp_thread *th = &t->th[i];

		if (!th->stopped || th->gone)
			continue;
		r = hp_thread_getregs(t, th);
		if (r < 0 && r != -ESRCH) {
			hp_framescan_free(&fs);
			return bail(t, st, r);
		}
		if (r == 0 && hp_plan_forbidden(forbid, nforbid, th->regs.rip))
			inside++;
	}
	if (fs.n && hp_framescan_check(&fs, t) == 1)
		hp_note("thread %d keeps a saved instruction pointer (0x%llx) inside the bytes a "
			"relocation of %s displaces: the apply would wait for it",
			fs.tid, (unsigned long long)fs.value, fs.what);
	hp_error_clear();
	hp_framescan_free(&fs);
	*ret_inside = inside;
	return resume_world(t, st, t1);
}
