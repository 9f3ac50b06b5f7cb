/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Choosing target processes: by executable or by a library they map. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include <stdint.h>

/* Every process whose /proc/PID/exe is `path` (as resolved now), sorted;
 * looking up each executable ends by `deadline`. */
int hp_procs_by_exe(const char *path, uint64_t deadline, pid_t **ret, size_t *n);
/* Every process that maps an object called `name`: a file name or soname,
 * or a path, which names a file in each process's own root, as the
 * records of a patch do (hp_modules_find); looking up ends by `deadline`. */
int hp_procs_by_lib(const char *name, uint64_t deadline, pid_t **ret, size_t *n);
