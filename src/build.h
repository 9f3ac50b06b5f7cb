/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hotpatch build: a live patch from a source diff.  Each translation unit
 * the diff touches is compiled again as the compile command says, once as
 * it is and once patched; the rebuilt original must reproduce the target's
 * bytes; the two objects are compared function by function; what changed
 * is planned (replaced, private, new; refused or warned about); the
 * patched unit is rewritten so that everything it does not bring is bound
 * to the target's own copy, compiled, and linked with its records.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breport.h"

struct hp_build_opts {
	const char *source;	      /* the tree the target was built from */
	const char *diff;	      /* the unified diff */
	const char *target;	      /* the executable or library */
	const char *output;	      /* the patch to write */
	const char *compile_commands; /* NULL: SOURCE/compile_commands.json */
	const char *keep;	      /* NULL: a temporary directory, removed */
	unsigned jobs;		      /* compilers run at once */
	bool no_line_marks;	      /* for tests: no #line after hunks */
};

/* 0 and the patch written; -HP_EREFUSED with the refusals in the report;
 * -HP_ENOCHANGE when the diff changes no code of the target (nothing is
 * written); other errors with their reason recorded. */
int hp_build_run(const struct hp_build_opts *o, struct hp_build_report *rep);
