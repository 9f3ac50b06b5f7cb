/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stack walks of stopped threads with libunwind's ptrace accessors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HP_MAX_FRAMES 128

struct hp_stack {
	uint64_t ip[HP_MAX_FRAMES];
	size_t n;
	bool complete; /* reached the outermost frame */
};

struct hp_unwinder;

int hp_unwinder_new(struct hp_unwinder **ret);
void hp_unwinder_free(struct hp_unwinder *u);
/* Walks the stack of a ptrace-stopped thread. */
int hp_stack_walk(struct hp_unwinder *u, pid_t tid, struct hp_stack *ret);
