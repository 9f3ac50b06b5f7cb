/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One translation unit of `hotpatch build`: its patched copy, its two
 * rebuilt objects, how they differ, and where it lies in the target. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ccdb.h"
#include "dwcheck.h"
#include "objdiff.h"
#include "srcgen.h"
#include "tfile.h"
#include "udiff.h"

/* The working directory of one build and the tree it reads. */
struct hp_bwork {
	const char *source; /* absolute */
	char *dir;	    /* absolute: orig/, new/, out/ below it */
	bool line_marks;
};

struct hp_bunit {
	const struct hp_ccmd *cmd;
	char *rel;			/* the source file, relative to the tree */
	char *patched;			/* the patched copy of it (with #line marks) */
	char *orig_o, *new_o, *exact_o; /* exact_o: the command as it is */
	char **pre;			/* include directories of the patched headers first */
	size_t npre;
	struct hp_obj orig, new, exact;
	struct hp_objdiff diff;
	int block; /* in the target's symbol table */
	struct hp_dwunit *dw_orig, *dw_new;
	struct hp_src src;
	struct hp_file_diff *fd; /* the diff's part for this file */
};

/* Writes a file, creating the directories above it. */
int hp_bwork_write_file(const char *path, const char *text, size_t len);
/* Writes the patched copy of every file of the diff under w->dir/new/
 * (created, deleted and headers too), so that units compile against the
 * patched headers. */
int hp_bwork_write_patched(struct hp_bwork *w, struct hp_diff *d);
/* Sets up `u` for the command `cmd` of the diff's file `fd`: its paths and
 * the extra include directories. */
int hp_bunit_init(struct hp_bunit *u, struct hp_bwork *w, const struct hp_ccmd *cmd,
		  struct hp_file_diff *fd, size_t index);
/* The compiles of a unit as jobs: the original as its command says (what
 * the target's bytes are checked against), and the original and the
 * patched copy with a section per function (what is compared). */
#define HP_BUNIT_JOBS 3
int hp_bunit_jobs(struct hp_bunit *u, struct hp_job ret[HP_BUNIT_JOBS]);
/* Loads both objects, compares them, places the unit in the target and
 * checks that the original reproduces every function the target has of
 * it; then parses the patched source. */
int hp_bunit_analyse(struct hp_bunit *u, const struct hp_tfile *t);
void hp_bunit_free(struct hp_bunit *u);
