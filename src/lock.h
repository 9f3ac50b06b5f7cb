/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One hotpatch run per target process at a time. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Takes the lock for (pid, start_time), waiting until `deadline`; returns
 * a handle (>= 0) to pass to hp_lock_release, or a negative error. */
int hp_lock_take(pid_t pid, uint64_t start_time, uint64_t deadline);
void hp_lock_release(int handle);
