/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Is any thread still running a patch's code?  Asked in the stop of a
 * rollback, right after the bytes went back (no thread can enter the patch
 * any more), and then until the threads found inside have left.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hp_session;
struct hp_reg_patch;
struct hp_report;
struct hp_target;

struct hp_active {
	struct hp_session *s;
	const struct hp_reg_patch *p;
	struct hp_report *rep; /* counts those inside, and the looks */
	pid_t *busy;	       /* threads found inside the patch */
	size_t nbusy;
	char reason[512]; /* where the last one found was */
};

/* An hp_flip_check: steps a thread out of the patch if it is a few
 * instructions from leaving; -EAGAIN when some are still inside. */
int hp_active_check(void *ctx, struct hp_target *t);
/* Waits, with the target running, for the threads found inside to leave. */
int hp_active_drain(struct hp_active *c, uint64_t deadline);
void hp_active_free(struct hp_active *c);
