/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which program a process runs, to tell an exit or an exec from a failure. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Fields of /proc/PID/stat that an exec changes (the addresses are
 * randomised per exec, and read as 0 without the right to trace it). */
struct hp_proc_id {
	bool valid;
	uint64_t start; /* start time: the same across an exec */
	uint64_t startcode, endcode, startstack, argstart;
	char comm[64];
};

/* Parses the text of /proc/PID/stat; pure, for tests. */
int hp_proc_id_parse(const char *text, struct hp_proc_id *ret);
int hp_proc_id_read(pid_t pid, struct hp_proc_id *ret);

enum hp_proc_change { HP_PROC_SAME, HP_PROC_EXITED, HP_PROC_EXECED };
/* What became of the process `then` described (a zombie has exited, a new
 * process under the same pid too). */
enum hp_proc_change hp_proc_id_changed(pid_t pid, const struct hp_proc_id *then);
