/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Several processes at once: forked workers, results in a stable order. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What one item printed and returned, in the parent. */
struct hp_job_result {
	int code;
	const char *out, *err; /* what it wrote on stdout and stderr */
	size_t outlen, errlen;
};

/* Works on item i (printing its report on stdout and stderr); its code. */
typedef int (*hp_job_run_fn)(size_t i, void *ctx);
/* Takes item i's result in the parent, in the order of i. */
typedef void (*hp_job_done_fn)(size_t i, const struct hp_job_result *res, void *ctx);

/*
 * Runs items [from, to) over `jobs` processes: the first in this process
 * (what it reads, such as objcache.c's entries, the workers then share
 * copy-on-write), the others in forked workers that take the next item
 * as they finish one.  done() sees each result in order, as soon as every
 * item before it is done; an item whose worker died is reported with
 * -EPIPE.  With `progress`, "[done/total]" is kept on stderr.
 */
int hp_jobs_run(size_t from, size_t to, unsigned jobs, bool progress, hp_job_run_fn run,
		hp_job_done_fn done, void *ctx);
/* The number of CPUs hotpatch may run on: the default of --jobs. */
unsigned hp_jobs_default(void);
