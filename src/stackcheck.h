/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stack walks of stopped threads: libunwind's unwinder over the target's
 * memory and registers; no file of the target is opened. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HP_MAX_FRAMES 128

struct hp_stack {
	uint64_t ip[HP_MAX_FRAMES];
	/* ip is where the thread is or was interrupted (the innermost frame,
	 * and a frame a signal interrupted), not a return address */
	bool exact[HP_MAX_FRAMES];
	size_t n;
	bool complete; /* reached the outermost frame */
};

/* The address inside frame i's instruction: a return address points after
 * its call, an interrupted pc (say, the first byte of a page) at itself. */
static inline uint64_t hp_frame_pc(const struct hp_stack *st, size_t i)
{
	return st->exact[i] ? st->ip[i] : st->ip[i] - 1;
}

struct hp_unwinder;
struct hp_target;
struct hp_thread;

int hp_unwinder_new(struct hp_target *t, struct hp_unwinder **ret);
void hp_unwinder_free(struct hp_unwinder *u);
/* Walks the stack of a ptrace-stopped thread whose registers were read. */
int hp_stack_walk(struct hp_unwinder *u, const struct hp_thread *th, struct hp_stack *ret);
