/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* apply: the verb. */
#pragma once

#include <sys/types.h>

struct hp_patchfile;
struct hp_options;
struct hp_report;

/* Applies every function of `pf`, or none; `rep` says what was done. */
int hp_apply(pid_t pid, struct hp_patchfile *pf, const struct hp_options *o, struct hp_report *rep);
