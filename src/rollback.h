/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rollback: the verb. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct hp_patchfile;
struct hp_options;
struct hp_report;

/* Rolls back the patch `pf` (or, NULL, the one recorded under `path`, for
 * a patch whose file is gone); with `all` every patch, newest first. */
int hp_rollback(pid_t pid, struct hp_patchfile *pf, const char *path, bool all,
		const struct hp_options *o, struct hp_report *rep);
