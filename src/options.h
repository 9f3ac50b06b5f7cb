/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the command line asks of apply, rollback, status and list. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct hp_options {
	uint64_t timeout_ns; /* --timeout */
	uint64_t deadline;   /* when the whole command must be done (monotonic) */
	bool dry_run;
	bool force;		    /* rollback despite a byte mismatch */
	bool keep_loaded;	    /* rollback: leave the patch object loaded */
	const char *default_object; /* --lib: where records naming no object look */
	bool freezer;		    /* flip through the cgroup-v1 freezer */
	bool freezer_auto;	    /* ... only where it beats ptrace */
	bool relocate;		    /* --relocate: functions without a prologue too */
	const char *list_object;    /* list --object: only this one */
};
