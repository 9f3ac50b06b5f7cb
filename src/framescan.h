/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Saved instruction pointers of stopped threads.  A signal frame keeps the
 * pc it interrupted; after a relocation's jump is written, a return from
 * that handler into the displaced bytes would land inside the new jump.
 * The check is a raw scan: every word of a thread's stack, from its stack
 * pointer to the end of that mapping, is compared with the ranges marked
 * `saved`.  A hit means "busy, look again", never a rewritten frame.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "modules.h"
#include "writes.h"

struct hp_target;

struct hp_framescan {
	struct hp_range *saved; /* the ranges marked saved, sorted */
	size_t n;
	struct hp_maps maps; /* read before the stop; again if a stack is new */
	/* the last hit */
	pid_t tid;
	uint64_t where, value;
	const char *what;
};

/* Takes the saved ranges of `f`; reads the maps when there are any. */
int hp_framescan_init(struct hp_framescan *fs, pid_t pid, const struct hp_range *f, size_t nf);
void hp_framescan_free(struct hp_framescan *fs);
/* Scans every stopped thread (registers read): 0 when no word points into
 * a saved range, 1 with the hit in *fs, or a negative errno. */
int hp_framescan_check(struct hp_framescan *fs, struct hp_target *t);
