/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a stop of the target writes, where no thread may stand, and what it
 * cost: the types the flip, the freezer and the planner share. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hp_write {
	uint64_t addr;
	uint8_t len;
	uint8_t phase; /* all of phase 0 is written before any of phase 1 */
	uint8_t old[8], new[8];
};

/* No thread may be stopped with rip in [lo, hi): it would resume in the
 * middle of an instruction we rewrite. */
struct hp_range {
	uint64_t lo, hi;
	const char *what;
	/* nor may a saved one (a signal frame's, a word on the stack) point
	 * here: bytes whose instructions a relocation displaced, where a
	 * return from a signal handler would land inside the new jump */
	bool saved;
};

struct hp_flip_stats {
	uint64_t pause_ns; /* first interrupt to last resume */
	uint64_t stop_ns;  /* until every thread was stopped */
	uint64_t seize_ns; /* attaching, before the pause */
	size_t threads;
	unsigned stepped;      /* threads single-stepped out of a window */
	unsigned rewound;      /* EINTRs our stop caused, undone */
	unsigned attempts;     /* stops it took (the check may ask to retry) */
	int sched_token;       /* hotpatch's own priority while it holds the stop */
	bool freezer_fallback; /* --freezer could not do it; ptrace did */
	bool by_freezer;       /* the last stop was the freezer's */
	char choice[128];      /* --freezer=auto: the path chosen, and why */
};
