/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The patch itself: each unit's rewritten source with its records, compiled
 * with the unit's own flags, its references to the target bound, linked. */
#pragma once

#include <stddef.h>

#include "bplan.h"

struct hp_bemit {
	const char *output;
	const char *banner; /* the comment that opens each generated file */
	const char *object; /* what records name: "" for the executable */
	const char *build_id;
	unsigned jobs;
};

int hp_bemit_run(struct hp_bunit *u, size_t n, struct hp_bplan *pl, const struct hp_tfile *t,
		 struct hp_bwork *w, const struct hp_bemit *e, struct hp_build_report *rep);
