/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The flip: the one step that stops every thread, and is kept short. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "writes.h"

struct hp_target;

/* Writes `w` (sorted by phase, then address) as verified spans, with every
 * thread already held still; on failure puts the old bytes back. */
int hp_flip_write(struct hp_target *t, struct hp_write *w, size_t nw);

/* The dry run of a flip: stops every thread, counts those inside the
 * forbidden ranges (they would be single-stepped), resumes; writes nothing
 * and steps nothing. */
int hp_flip_probe(struct hp_target *t, struct hp_range *forbid, size_t nforbid, uint64_t deadline,
		  struct hp_flip_stats *st, unsigned *ret_inside);

/* Looks at the stopped threads: 0 when satisfied, -EAGAIN when the target
 * should run a little and be looked at again, or an error. */
typedef int (*hp_flip_check)(void *ctx, struct hp_target *t);

/*
 * Stops every thread, moves any thread out of the forbidden ranges, writes
 * all of phase 0 then all of phase 1, reads them back, and resumes every
 * thread.  On failure nothing stays written.  `after`, if given, runs in
 * the same stop after the writes; its -EAGAIN is returned (the writes
 * stay), for the caller to wait on.
 */
int hp_flip(struct hp_target *t, struct hp_write *w, size_t nw, struct hp_range *forbid,
	    size_t nforbid, hp_flip_check after, void *ctx, uint64_t deadline,
	    struct hp_flip_stats *st);
