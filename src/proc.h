/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Readers of /proc/PID files that need no tracing: stat, status, schedstat. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Fields of /proc/PID/stat, each output optional (NULL): the command name,
 * the state letter and the start time (field 22, tells PID reuse apart). */
int hp_proc_stat(pid_t pid, char *comm, size_t commsz, char *state, uint64_t *start);

/* The state letter of a thread (R, S, D, T, Z, ...) from its stat file. */
int hp_task_state(pid_t pid, pid_t tid, char *state);

/* The text of /proc/PID[/task/TID]/status (tid 0: the process); free it. */
int hp_proc_status(pid_t pid, pid_t tid, char **ret);
/* The value of "Key:" in the text of a status file. */
int hp_status_value(const char *text, const char *key, char *out, size_t outsz);
/* The value of "Key:" in /proc/PID[/task/TID]/status (tid 0: the process). */
int hp_status_field(pid_t pid, pid_t tid, const char *key, char *out, size_t outsz);

/* Waits until thread `tid` has been on a CPU again (per schedstat), or
 * `max_us` passed: cheaper than stopping the whole process to find out. */
void hp_thread_wait_ran(pid_t pid, pid_t tid, unsigned max_us);
