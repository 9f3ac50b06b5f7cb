/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remote operations queued and run as few calls as they fit in. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "remote.h"

struct hp_batch {
	struct hp_remote *rc;
	uint64_t deadline;
	const char *what;
	struct hp_rop ops[HP_CALL_MAX_OPS];
	size_t n;
};

void hp_batch_init(struct hp_batch *b, struct hp_remote *rc, uint64_t deadline, const char *what);
/* Queues `op`; runs the queue when it is full.  Returns the call's error. */
int hp_batch_add(struct hp_batch *b, const struct hp_rop *op);
/* Runs what is queued. */
int hp_batch_flush(struct hp_batch *b);
