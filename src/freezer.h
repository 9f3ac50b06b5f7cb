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

#include <limits.h>
#include <sys/types.h>

#include "writes.h"

struct hp_target;

/* Whether the freezer hierarchy is there and writable; says why not. */
bool hp_freezer_usable(char *why, size_t whysz);

/* --freezer=auto: whether the freezer would stop this process faster than
 * ptrace (by its threads: how many, and where they sleep); `why` says what
 * was chosen and why, for the report. */
bool hp_freezer_wins(pid_t pid, char *why, size_t whysz);

/* One freeze of one target. */
struct hp_freeze {
	pid_t pid;
	char orig[PATH_MAX], ours[128]; /* its cgroup before, and ours */
	pid_t wd;			/* the watchdog, -1 before it runs */
	int wd_fd, state_fd, token;
	int *pcfd; /* every thread's /proc/.../syscall, opened before the freeze */
	size_t npc;
	uint64_t t1; /* when the pause began */
	bool frozen;
};

/* Freezes every thread of the target: 0 when all are frozen, -EAGAIN when
 * the freeze does not complete quickly (the caller then uses ptrace).
 * hp_freezer_thaw() must follow, whatever it returned. */
int hp_freezer_freeze(struct hp_freeze *fz, struct hp_target *t, struct hp_flip_stats *st);
/* The pc of frozen thread i (of fz->npc): 0, 1 when it had exited, or
 * -EAGAIN when it cannot be read. */
int hp_freezer_pc(struct hp_freeze *fz, size_t i, uint64_t *ret);
/* Thaws the target and puts it back where it was; returns `r`, or the
 * first error of putting it back when r is 0. */
int hp_freezer_thaw(struct hp_freeze *fz, struct hp_flip_stats *st, int r);
