/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "framescan.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "plan.h"
#include "target.h"
#include "util.h"

/* A stack that deep is not scanned whole: its first 8 MiB above the stack
 * pointer are (a handler's frames lie right below the frame they
 * interrupted, so that is where a hit would be). */
#define MAX_SCAN (8u << 20)

int hp_framescan_init(struct hp_framescan *fs, pid_t pid, const struct hp_range *f, size_t nf)
{
	memset(fs, 0, sizeof(*fs));
	for (size_t i = 0; i < nf; i++)
		fs->n += f[i].saved;
	if (!fs->n)
		return 0;
	fs->saved = calloc(fs->n, sizeof(*fs->saved));
	if (!fs->saved)
		return hp_fail(-ENOMEM, "out of memory");
	fs->n = 0;
	for (size_t i = 0; i < nf; i++)
		if (f[i].saved)
			fs->saved[fs->n++] = f[i];
	hp_plan_sort(NULL, 0, fs->saved, fs->n);
	return hp_maps_read(pid, &fs->maps);
}

void hp_framescan_free(struct hp_framescan *fs)
{
	free(fs->saved);
	hp_maps_free(&fs->maps);
	memset(fs, 0, sizeof(*fs));
}

/* The end of the mapping holding `sp`: a stack made after the maps were
 * read is looked up again. */
static int stack_end(struct hp_framescan *fs, struct hp_target *t, uint64_t sp, uint64_t *ret)
{
	const struct hp_mapping *mp = hp_maps_find(&fs->maps, sp);
	int r;

	if (!mp) {
		hp_maps_free(&fs->maps);
		r = hp_maps_read(t->pid, &fs->maps);
		if (r < 0)
			return r;
		mp = hp_maps_find(&fs->maps, sp);
	}
	*ret = mp ? mp->end : 0;
	return 0;
}

static int scan_thread(struct hp_framescan *fs, struct hp_target *t, const struct hp_thread *th)
{
	uint64_t words[1024], lo = th->regs.rsp & ~7ull, hi, min = fs->saved[0].lo, max = 0;
	int r;

	for (size_t i = 0; i < fs->n; i++)
		max = HP_MAX(max, fs->saved[i].hi);
	r = stack_end(fs, t, lo, &hi);
	if (r < 0 || !hi)
		return r; /* no mapping holds its stack pointer: no frame to return to */
	hi = HP_MIN(hi, lo + MAX_SCAN);
	for (uint64_t a = lo; a < hi; a += sizeof(words)) {
		size_t n = (size_t)HP_MIN((uint64_t)sizeof(words), hi - a);
		const struct hp_range *in;

		if (hp_mem_pread(t, a, words, n) < 0)
			return 0; /* the mapping ended early (it shrank) */
		for (size_t i = 0; i < n / 8; i++) {
			if (words[i] < min || words[i] >= max)
				continue;
			in = hp_plan_forbidden(fs->saved, fs->n, words[i]);
			if (in) {
				fs->tid = th->tid;
				fs->where = a + 8 * i;
				fs->value = words[i];
				fs->what = in->what;
				return 1;
			}
		}
	}
	return 0;
}

int hp_framescan_check(struct hp_framescan *fs, struct hp_target *t)
{
	for (size_t i = 0; i < t->n && fs->n; i++) {
		struct hp_thread *th = &t->th[i];
		int r;

		if (!th->stopped || th->gone)
			continue;
		r = hp_thread_getregs(t, th);
		if (r == -ESRCH)
			continue;
		if (r == 0)
			r = scan_thread(fs, t, th);
		if (r != 0)
			return r;
	}
	return 0;
}
