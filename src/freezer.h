/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The opt-in flip through the cgroup-v1 freezer (--freezer): freezing parks
 * sleeping threads without waking them, so the flip costs less than
 * interrupting every thread with ptrace.  The target joins a freezer cgroup
 * of its own only for the flip and returns to where it was.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hp_target;
struct hp_write;
struct hp_range;
struct hp_flip_stats;

/* Whether the freezer hierarchy is there and writable; says why not. */
bool hp_freezer_usable(char *why, size_t whysz);

/*
 * Freezes the target, checks every thread's pc against `forbid`, writes,
 * thaws.  Returns -EAGAIN (having written nothing) when a thread sits in a
 * window or the freeze does not complete quickly: the caller then uses the
 * ptrace flip, which can single-step.
 */
int hp_freezer_flip(struct hp_target *t, struct hp_write *w, size_t nw, struct hp_range *forbid,
		    size_t nforbid, uint64_t deadline, struct hp_flip_stats *st);
